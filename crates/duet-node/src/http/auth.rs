//! Who is calling: contact-center users sign in with their password
//! (argon2-hashed in the configuration tree) and get a session token
//! signed with the pair's session key, so it holds on either node and
//! across a switchover; every request reads the user again, so a changed
//! password or role takes effect at once. Customers hold a token per
//! conversation, signed with the same key. Nothing that changes state is
//! open.

use std::collections::BTreeSet;
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;
use serde::{Deserialize, Serialize};

use super::{Refusal, ask};
use crate::directory::{ContactUser, Supervises, UserRole};
use crate::replication::IxRequest;
use crate::shared::Shared;

/// How long a session lasts.
pub const SESSION_S: u64 = 12 * 3600;

/// Hashes a password for the configuration tree (argon2id, random salt).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn password_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A fingerprint of the password hash a session was issued under: a new
/// password ends every session.
fn fingerprint(user: &ContactUser) -> String {
    let hash = user.password_hash.as_deref().unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, hash.as_bytes());
    B64.encode(&digest.as_ref()[..9])
}

/// Bytes from hex text; `None` if it is not hex.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

fn sign(key: &hmac::Key, payload: &str) -> String {
    B64.encode(hmac::sign(key, payload.as_bytes()).as_ref())
}

fn verify(key: &hmac::Key, payload: &str, signature: &str) -> bool {
    B64.decode(signature)
        .is_ok_and(|sig| hmac::verify(key, payload.as_bytes(), &sig).is_ok())
}

/// A customer's token for one conversation.
pub fn customer_token(key: &hmac::Key, interaction: &str) -> String {
    sign(key, &format!("customer\n{interaction}"))
}

/// Whether `token` is the customer's token for `interaction`.
pub fn customer_may(shared: &Shared, interaction: &str, token: &str) -> Result<(), Refusal> {
    let key = session_key(shared)?;
    if verify(key, &format!("customer\n{interaction}"), token) {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            format!("the token is not this conversation's ({interaction})"),
        ))
    }
}

pub(super) fn session_key(shared: &Shared) -> Result<&hmac::Key, Refusal> {
    shared.session_key.as_ref().ok_or_else(|| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node has no session key: set [contact_center] session_key in its bootstrap file (duet certs init writes one), the same file on both nodes",
        )
    })
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub roles: BTreeSet<UserRole>,
    /// The queues whose interactions a supervisor reads and acts on.
    pub supervises: Supervises,
}

impl Caller {
    pub fn is(&self, role: UserRole) -> bool {
        self.roles.contains(&role)
    }
}

async fn user(shared: &Shared, name: &str) -> Result<Option<ContactUser>, Refusal> {
    let name = name.to_string();
    ask(shared, |reply| IxRequest::User { name, reply }).await
}

/// The user a session token names, whatever its roles.
pub async fn signed_in(shared: &Shared, token: Option<&str>) -> Result<Caller, Refusal> {
    let unauthorized = |why: &str| Refusal::new(StatusCode::UNAUTHORIZED, why.to_string());
    let token = token.ok_or_else(|| {
        unauthorized(
            "no session: sign in with POST /api/sessions and send Authorization: Bearer <token>",
        )
    })?;
    let key = session_key(shared)?;
    let (payload, signature) = token
        .split_once('.')
        .ok_or_else(|| unauthorized("a malformed session token"))?;
    if !verify(key, payload, signature) {
        return Err(unauthorized("the session token is not signed by this pair"));
    }
    let payload = B64
        .decode(payload)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| unauthorized("a malformed session token"))?;
    let mut fields = payload.splitn(3, '\n');
    let (Some(name), Some(expires), Some(fp)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(unauthorized("a malformed session token"));
    };
    let expires: u64 = expires
        .parse()
        .map_err(|_| unauthorized("a malformed session token"))?;
    if expires <= crate::events::unix_ms() / 1000 {
        return Err(unauthorized("the session has expired; sign in again"));
    }
    let (roles, supervises) = match user(shared, name).await? {
        Some(user) if fingerprint(&user) == fp => (user.roles, user.supervises),
        Some(_) => {
            return Err(unauthorized(
                "the password changed since this session began; sign in again",
            ));
        }
        // A master administrator from the bootstrap file.
        None if shared.boot.users.iter().any(|u| u.name == name && u.master)
            && fp == "bootstrap" =>
        {
            (
                [UserRole::Supervisor, UserRole::Admin].into(),
                Supervises::Every,
            )
        }
        None => return Err(unauthorized("no such user any more")),
    };
    Ok(Caller {
        name: name.to_string(),
        roles,
        supervises,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Login {
    user: String,
    password: String,
}

#[derive(Serialize)]
struct Session {
    token: String,
    user: String,
    roles: Vec<String>,
    expires_at_unix_s: u64,
}

/// `POST /api/sessions`: signs a user in.
#[utoipa::path(
    post,
    path = "/api/sessions",
    tag = "sessions",
    description = "Sign in: a session token for `Authorization: Bearer`, valid on both nodes.",
    request_body = Login,
    responses(super::openapi::Answers)
)]
pub(super) async fn login(State(shared): State<Arc<Shared>>, Json(login): Json<Login>) -> Response {
    match sign_in(&shared, login).await {
        Ok(session) => Json(session).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn sign_in(shared: &Shared, login: Login) -> Result<Session, Refusal> {
    let key = session_key(shared)?;
    let wrong = || {
        tracing::warn!("a sign-in as {:?} was refused", login.user);
        Refusal::new(StatusCode::UNAUTHORIZED, "wrong user or password")
    };
    let (roles, fp) = match user(shared, &login.user).await? {
        Some(user) => {
            let hash = user.password_hash.clone().ok_or_else(wrong)?;
            let password = login.password.clone();
            // argon2 is slow by design: off the async threads.
            let ok = tokio::task::spawn_blocking(move || password_matches(&password, &hash))
                .await
                .unwrap_or(false);
            if !ok {
                return Err(wrong());
            }
            (user.roles.clone(), fingerprint(&user))
        }
        None if shared
            .boot
            .users
            .iter()
            .any(|u| u.name == login.user && u.password == login.password && u.master) =>
        {
            (
                [UserRole::Supervisor, UserRole::Admin].into(),
                "bootstrap".to_string(),
            )
        }
        None => return Err(wrong()),
    };
    let expires = crate::events::unix_ms() / 1000 + SESSION_S;
    let payload = B64.encode(format!("{}\n{expires}\n{fp}", login.user));
    let signature = sign(key, &payload);
    Ok(Session {
        token: format!("{payload}.{signature}"),
        user: login.user,
        roles: roles
            .iter()
            .map(|r| format!("{r:?}").to_lowercase())
            .collect(),
        expires_at_unix_s: expires,
    })
}

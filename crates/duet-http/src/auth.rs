//! Who is calling: contact-center users sign in with their password
//! (argon2-hashed in the configuration tree) and get a session token
//! signed with the pair's session key, so it holds on either node and
//! across a switchover; every request reads the user again, so a changed
//! password or role takes effect at once. Customers hold a token per
//! conversation, signed with the same key. Nothing that changes state is
//! open.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use duet_api::{Login, Session};
use ring::hmac;

use super::{Refusal, ask};
use duet_node::bootstrap::User;
use duet_node::directory::{ContactUser, Supervises, UserRole};
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

/// How long a session lasts.
pub const SESSION_S: u64 = 12 * 3600;

/// A fingerprint of the password hash a session was issued under: a new
/// password ends every session.
fn fingerprint(user: &ContactUser) -> String {
    fingerprint_of(user.password_hash.as_deref().unwrap_or_default())
}

/// A bootstrap user's sessions end when the bootstrap file gives it
/// another password (and the node is restarted with it).
fn bootstrap_fingerprint(user: &User) -> String {
    format!("b{}", fingerprint_of(&user.password))
}

fn fingerprint_of(stored: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, stored.as_bytes());
    B64.encode(&digest.as_ref()[..9])
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
    shared.secrets.session_key.as_ref().ok_or_else(|| {
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

/// The user a session token names, whatever its roles: the token is the
/// pair's, not expired, issued under the user's current password and after
/// the user's last sign-out.
pub async fn signed_in(shared: &Shared, token: Option<&str>) -> Result<Caller, Refusal> {
    let unauthorized = |why: &str| Refusal::new(StatusCode::UNAUTHORIZED, why.to_string());
    let token = token.ok_or_else(|| {
        unauthorized(
            "no session: sign in with POST /api/sessions and send Authorization: Bearer <token>",
        )
    })?;
    let key = session_key(shared)?;
    let token = Token::decode(key, token).map_err(unauthorized)?;
    if token.expires_unix_s <= duet_node::events::unix_ms() / 1000 {
        return Err(unauthorized("the session has expired; sign in again"));
    }
    let name = token.name.as_str();
    let password_changed =
        || unauthorized("the password changed since this session began; sign in again");
    let (roles, supervises) = match user(shared, name).await? {
        Some(user) if fingerprint(&user) == token.fingerprint => (user.roles, user.supervises),
        Some(_) => return Err(password_changed()),
        // A master administrator from the bootstrap file.
        None => match shared
            .boot
            .users
            .iter()
            .find(|u| u.name == name && u.master)
        {
            Some(u) if bootstrap_fingerprint(u) == token.fingerprint => (
                [UserRole::Supervisor, UserRole::Admin].into(),
                Supervises::Every,
            ),
            Some(_) => return Err(password_changed()),
            None => return Err(unauthorized("no such user any more")),
        },
    };
    if super::signouts::signed_out_after(shared, name, token.issued_unix_ms).await? {
        return Err(unauthorized("this session was signed out; sign in again"));
    }
    Ok(Caller {
        name: name.to_string(),
        roles,
        supervises,
    })
}

/// What a session token says: who, until when, under which password, and
/// since when.
struct Token {
    name: String,
    expires_unix_s: u64,
    fingerprint: String,
    issued_unix_ms: u64,
}

impl Token {
    fn encode(&self, key: &hmac::Key) -> String {
        let payload = B64.encode(format!(
            "{}\n{}\n{}\n{}",
            self.name, self.expires_unix_s, self.fingerprint, self.issued_unix_ms
        ));
        let signature = sign(key, &payload);
        format!("{payload}.{signature}")
    }

    fn decode(key: &hmac::Key, token: &str) -> Result<Token, &'static str> {
        let (payload, signature) = token.split_once('.').ok_or("a malformed session token")?;
        if !verify(key, payload, signature) {
            return Err("the session token is not signed by this pair");
        }
        let payload = B64
            .decode(payload)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or("a malformed session token")?;
        let mut fields = payload.splitn(4, '\n');
        let (Some(name), Some(expires), Some(fp), Some(issued)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err("a malformed session token (from an older release?); sign in again");
        };
        Ok(Token {
            name: name.to_string(),
            expires_unix_s: expires.parse().map_err(|_| "a malformed session token")?,
            fingerprint: fp.to_string(),
            issued_unix_ms: issued.parse().map_err(|_| "a malformed session token")?,
        })
    }
}

/// `POST /api/sessions`: signs a user in.
#[utoipa::path(
    post,
    path = "/api/sessions",
    tag = "sessions",
    description = "Sign in: a session token for `Authorization: Bearer`, valid on both nodes.",
    request_body = Login,
    responses((status = 200, description = "Signed in", body = duet_api::Session), super::openapi::Answers)
)]
pub(super) async fn login(State(shared): State<Arc<Shared>>, Json(login): Json<Login>) -> Response {
    match sign_in(&shared, login).await {
        Ok(session) => Json(session).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn sign_in(shared: &Shared, login: Login) -> Result<Session, Refusal> {
    let key = session_key(shared)?;
    let wrong = || Refusal::new(StatusCode::UNAUTHORIZED, "wrong user or password");
    let known = user(shared, &login.user).await?;
    let bootstrap = shared
        .boot
        .users
        .iter()
        .find(|u| u.name == login.user && u.master);
    // Every sign-in runs one argon2 check, whether the user is known or
    // not, so the answer's timing tells nothing.
    let stored = match (&known, bootstrap) {
        (Some(user), _) => user.password_hash.clone(),
        (None, Some(boot)) => Some(boot.password.clone()),
        (None, None) => None,
    };
    if !duet_node::passwords::check(login.password.clone(), stored).await {
        return Err(wrong());
    }
    let (roles, fp) = match (known, bootstrap) {
        (Some(user), _) => (user.roles.clone(), fingerprint(&user)),
        (None, Some(boot)) => (
            [UserRole::Supervisor, UserRole::Admin].into(),
            bootstrap_fingerprint(boot),
        ),
        (None, None) => return Err(wrong()),
    };
    let now_ms = duet_node::events::unix_ms();
    let token = Token {
        name: login.user.clone(),
        expires_unix_s: now_ms / 1000 + SESSION_S,
        fingerprint: fp,
        issued_unix_ms: now_ms,
    };
    Ok(Session {
        token: token.encode(key),
        user: login.user,
        roles: roles
            .iter()
            .map(|r| format!("{r:?}").to_lowercase())
            .collect(),
        expires_at_unix_s: token.expires_unix_s,
    })
}

/// `DELETE /api/sessions`: signs out. Every session of the caller issued
/// until now is refused from then on, on both nodes.
#[utoipa::path(
    delete,
    path = "/api/sessions",
    tag = "sessions",
    description = "Sign out (on the active node): every session of the caller issued until now is refused afterwards, on both nodes.",
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
pub(super) async fn logout(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match signed_in(&shared, token).await {
        Ok(caller) => super::signouts::sign_out(&shared, &caller.name).await,
        Err(refusal) => refusal.into_response(),
    }
}

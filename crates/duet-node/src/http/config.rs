//! The configuration tree: read on either node; changed on the active node
//! only, by a master administrator.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::oneshot;

use super::{Refusal, authenticate, error, write_refusal};
use crate::bootstrap::User;
use crate::replication::ReplicationMsg;
use crate::shared::Shared;

#[derive(Deserialize)]
pub(super) struct PathQuery {
    path: String,
    #[serde(default)]
    client_id: Option<String>,
}

fn parse_path(text: &str) -> Result<duet_config::TreePath, Refusal> {
    duet_config::TreePath::parse(text)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))
}

#[utoipa::path(
    get,
    path = "/api/config",
    tag = "configuration",
    description = "An object, its children and its history (`path`); password hashes are not shown.",
    responses(super::openapi::Answers)
)]
pub(super) async fn config_get(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<PathQuery>,
) -> Response {
    let path = match parse_path(&q.path) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let (reply, view) = oneshot::channel();
    shared.to_replication(ReplicationMsg::ConfigRead { path, reply });
    match tokio::time::timeout(std::time::Duration::from_secs(5), view).await {
        Ok(Ok(view))
            if view.object.is_none() && view.children.is_empty() && view.history.is_empty() =>
        {
            error(StatusCode::NOT_FOUND, format!("nothing at {}", view.path))
        }
        Ok(Ok(mut view)) => {
            redact(&mut view);
            Json(view).into_response()
        }
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not answer in time; try again",
        ),
    }
}

/// The conflict records (changes that lost when the pair healed after both
/// nodes served), oldest first; either node answers (both hold them).
#[utoipa::path(
    get,
    path = "/api/config/conflicts",
    tag = "configuration",
    description = "Changes that lost when the pair healed after both nodes served.",
    responses(super::openapi::Answers)
)]
pub(super) async fn config_conflicts(State(shared): State<Arc<Shared>>) -> Response {
    let (reply, conflicts) = oneshot::channel();
    shared.to_replication(ReplicationMsg::ConfigConflicts(reply));
    match tokio::time::timeout(std::time::Duration::from_secs(5), conflicts).await {
        Ok(Ok(conflicts)) => Json(conflicts).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not answer in time; try again",
        ),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct PutBody {
    path: String,
    class: String,
    #[serde(default)]
    attributes: std::collections::BTreeMap<String, String>,
    /// The client's own id for this change, so a retry is applied once.
    #[serde(default)]
    client_id: Option<String>,
}

/// Checks that a configuration change may be made here, by this user.
fn config_writer<'a>(shared: &'a Shared, headers: &HeaderMap) -> Result<&'a User, Refusal> {
    let user = authenticate(shared, headers, "configuration change")?;
    if !user.master {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "configuration change refused: user {} is not a master administrator",
                user.name
            ),
        ));
    }
    match super::not_active(shared, "configuration changes") {
        Some(refusal) => Err(refusal),
        None => Ok(user),
    }
}

async fn write(
    shared: &Shared,
    user: &User,
    client_id: Option<String>,
    op: duet_config::Op,
) -> Response {
    let client = match super::client_id(client_id) {
        Ok(client) => client,
        Err(refusal) => return refusal.into_response(),
    };
    let (reply, done) = oneshot::channel();
    shared.to_replication(ReplicationMsg::ConfigWrite {
        client,
        who: user.name.clone(),
        op,
        reply,
    });
    match tokio::time::timeout(std::time::Duration::from_secs(10), done).await {
        Ok(Ok(Ok(seq))) => Json(serde_json::json!({ "seq": seq })).into_response(),
        Ok(Ok(Err(e))) => write_refusal(e).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the change was not acknowledged in time; retry it with the same client_id",
        ),
    }
}

#[utoipa::path(
    put,
    path = "/api/config",
    tag = "configuration",
    description = "Put an object (a master administrator, on the active node). A user's `password` is stored as its argon2 hash.",
    request_body = PutBody,
    responses(super::openapi::Answers)
)]
pub(super) async fn config_put(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<PutBody>,
) -> Response {
    let user = match config_writer(&shared, &headers) {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    let path = match parse_path(&body.path) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let class = match duet_config::Class::parse(&body.class) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mut attributes = body.attributes;
    // A user's password is stored only as its argon2 hash.
    if class == duet_config::Class::User
        && let Some(password) = attributes.remove("password")
    {
        let hashed =
            tokio::task::spawn_blocking(move || super::auth::hash_password(&password)).await;
        match hashed {
            Ok(Ok(hash)) => {
                attributes.insert("password_hash".into(), hash);
            }
            _ => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the password could not be hashed",
                );
            }
        }
    }
    let object = duet_config::Object { class, attributes };
    write(
        &shared,
        user,
        body.client_id,
        duet_config::Op::Put { path, object },
    )
    .await
}

#[utoipa::path(
    delete,
    path = "/api/config",
    tag = "configuration",
    description = "Remove an object (`path`, `client_id`).",
    responses(super::openapi::Answers)
)]
pub(super) async fn config_delete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<PathQuery>,
) -> Response {
    let user = match config_writer(&shared, &headers) {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    let path = match parse_path(&q.path) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    write(&shared, user, q.client_id, duet_config::Op::Remove { path }).await
}

/// Password hashes are not shown, in the object or its history.
fn redact(view: &mut crate::shared::ConfigView) {
    let objects = view.object.iter_mut().chain(
        view.history
            .iter_mut()
            .flat_map(|r| r.old.iter_mut().chain(r.new.iter_mut())),
    );
    for object in objects {
        if let Some(hash) = object.attributes.get_mut("password_hash") {
            *hash = "(set)".into();
        }
    }
}

//! The configuration tree: read on either node by an administrator or a
//! supervisor (users and conflict records by an administrator only),
//! changed on the active node only, by a master administrator. Secrets
//! (password hashes and any attribute named like a secret) never leave the
//! node: objects, history and conflict records are redacted alike.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use duet_api::PutBody;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::auth::signed_in;
use super::{Refusal, authenticate, error, write_refusal};
use duet_node::bootstrap::User;
use duet_node::directory::UserRole;
use duet_node::replication::ReplicationMsg;
use duet_node::shared::Shared;

/// The path a read or a removal is of.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AtPath {
    /// A configuration path: `/config` and names below it (at most 32
    /// names of 255 bytes, without control characters).
    #[param(
        max_length = 1024,
        pattern = r"^/([^/\\\x00-\x1f\x7f-\x9f]{1,255}(/[^/\\\x00-\x1f\x7f-\x9f]{1,255}){0,31})?$"
    )]
    path: String,
}

/// A removal: the path (as [`AtPath`]) and the client's id for it.
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
    params(AtPath),
    tag = "configuration",
    description = "An object, its children and its history (`path`). Needs a session (`Authorization: Bearer`) of a supervisor or administrator, or a bootstrap user's Basic credentials; paths under `/config/Users` need an administrator (or a master bootstrap user). Password hashes and secrets are shown as `(set)`.",
    responses((status = 200, description = "The path, its object, its children ([name, class]) and its history records", body = duet_node::status::ConfigView), super::openapi::Answers)
)]
pub(super) async fn config_get(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<AtPath>,
) -> Response {
    let path = match parse_path(&q.path) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let reading = if path.to_string().starts_with(duet_node::directory::USERS) {
        Reading::Users
    } else {
        Reading::Tree
    };
    if let Err(refusal) = config_reader(&shared, &headers, reading).await {
        return refusal.into_response();
    }
    let (reply, view) = oneshot::channel();
    let message = ReplicationMsg::ConfigRead { path, reply };
    match super::from_replication(&shared, message, view, READ_WAIT, super::LATE).await {
        Ok(view)
            if view.object.is_none() && view.children.is_empty() && view.history.is_empty() =>
        {
            error(StatusCode::NOT_FOUND, format!("nothing at {}", view.path))
        }
        Ok(mut view) => {
            redact(&mut view);
            Json(view).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// The conflict records (changes that lost when the pair healed after both
/// nodes served), oldest first; either node answers (both hold them).
#[utoipa::path(
    get,
    path = "/api/config/conflicts",
    tag = "configuration",
    description = "Changes that lost when the pair healed after both nodes served (an administrator's session or a master bootstrap user's Basic credentials; secrets shown as `(set)`).",
    responses((status = 200, description = "Conflict records (history records with `conflict`: the value that lost and the change it lost to), oldest first", body = Vec<duet_config::HistoryRecord>), super::openapi::Answers)
)]
pub(super) async fn config_conflicts(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    // Conflict records may be any path's, users' included.
    if let Err(refusal) = config_reader(&shared, &headers, Reading::Users).await {
        return refusal.into_response();
    }
    let (reply, conflicts) = oneshot::channel();
    let message = ReplicationMsg::ConfigConflicts(reply);
    match super::from_replication(&shared, message, conflicts, READ_WAIT, super::LATE).await {
        Ok(mut conflicts) => {
            conflicts.iter_mut().for_each(redact_record);
            Json(conflicts).into_response()
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// How long a read of the configuration waits for replication's answer.
const READ_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Checks that a configuration change may be made here, by this user.
async fn config_writer<'a>(shared: &'a Shared, headers: &HeaderMap) -> Result<&'a User, Refusal> {
    let user = authenticate(shared, headers, "configuration change").await?;
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

/// Makes a configuration change as `who`; answers its sequence number
/// once acknowledged, or the refusal.
pub(super) async fn write(
    shared: &Shared,
    who: &str,
    client_id: Option<String>,
    op: duet_config::Op,
) -> Response {
    match acknowledged(send_change(shared, who, client_id, op)).await {
        Ok(seq) => Json(duet_api::Changed { seq }).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// A change's sequence number once acknowledged, or the refusal (of its
/// sending, or its answer's).
async fn acknowledged(
    sent: Result<super::Sent<Result<u64, duet_node::replication::WriteError>>, Refusal>,
) -> Result<u64, Refusal> {
    sent?
        .answer(super::ANSWER_WAIT, WRITE_LATE)
        .await?
        .map_err(write_refusal)
}

/// What a change not acknowledged in time is refused with.
const WRITE_LATE: &str =
    "the change was not acknowledged in time; retry it with the same client_id";

/// Hands a configuration change to the replication task; its answer comes
/// later.
fn send_change(
    shared: &Shared,
    who: &str,
    client_id: Option<String>,
    op: duet_config::Op,
) -> Result<super::Sent<Result<u64, duet_node::replication::WriteError>>, Refusal> {
    let client = super::client_id(client_id)?;
    let (reply, done) = oneshot::channel();
    let write = ReplicationMsg::ConfigWrite {
        client,
        who: who.to_string(),
        op,
        reply,
    };
    super::to_replication(shared, write, done)
}

#[utoipa::path(
    put,
    path = "/api/config",
    tag = "configuration",
    description = "Put an object (a master administrator, on the active node). A user's `password` is stored as its argon2 hash.",
    request_body = PutBody,
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
pub(super) async fn config_put(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(body): Json<PutBody>,
) -> Response {
    let user = match config_writer(&shared, &headers).await {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    let client_id = body.client_id.clone();
    match put_op(body).await {
        Ok(op) => write(&shared, &user.name, client_id, op).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// The change a put asks for; a user's `password` is stored only as its
/// argon2 hash.
async fn put_op(body: PutBody) -> Result<duet_config::Op, Refusal> {
    let path = parse_path(&body.path)?;
    let class = duet_config::Class::parse(&body.class)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let mut attributes = body.attributes;
    if class == duet_config::Class::User
        && let Some(password) = attributes.remove("password")
    {
        let hashed =
            tokio::task::spawn_blocking(move || duet_node::passwords::hash(&password)).await;
        let Ok(Ok(hash)) = hashed else {
            return Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the password could not be hashed",
            ));
        };
        attributes.insert("password_hash".into(), hash);
    }
    let object = duet_config::Object { class, attributes };
    Ok(duet_config::Op::Put { path, object })
}

#[utoipa::path(
    post,
    path = "/api/config/batch",
    tag = "configuration",
    description = "Make up to 500 configuration changes in one request (a master administrator, on the active node): each a `put` (as `PUT /api/config`) or a `remove` (as `DELETE /api/config`), made in the order given (users' passwords are hashed first) and acknowledged on its own. The answer lists each change's sequence number or refusal, in order; a change refused with 503, or not acknowledged in time, may be sent again with the same `client_id`.",
    request_body = duet_api::ConfigBatch,
    responses((status = 200, description = "Each change's result, in the batch's order", body = duet_api::BatchAnswer), super::openapi::Answers)
)]
pub(super) async fn config_batch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(batch): Json<duet_api::ConfigBatch>,
) -> Response {
    let user = match config_writer(&shared, &headers).await {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    if batch.changes.is_empty() || batch.changes.len() > duet_api::CONFIG_BATCH_MAX {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "a batch holds 1 to {} changes; this one holds {}",
                duet_api::CONFIG_BATCH_MAX,
                batch.changes.len()
            ),
        );
    }
    // Every change made ready first (a password's hash takes a while), so
    // they reach the stream in the batch's order.
    let mut ready = Vec::with_capacity(batch.changes.len());
    for change in batch.changes {
        ready.push(match change {
            duet_api::ConfigChange::Put(body) => {
                let client_id = body.client_id.clone();
                put_op(body).await.map(|op| (client_id, op))
            }
            duet_api::ConfigChange::Remove(body) => parse_path(&body.path)
                .map(|path| (body.client_id, duet_config::Op::Remove { path })),
        });
    }
    // Handed to the replication task one after another, in order; then
    // their answers awaited together.
    let sent: Vec<_> = ready
        .into_iter()
        .map(|change| {
            let (client_id, op) = change?;
            send_change(&shared, &user.name, client_id, op)
        })
        .collect();
    let results = futures::future::join_all(sent.into_iter().map(acknowledged))
        .await
        .into_iter()
        .map(|result| match result {
            Ok(seq) => duet_api::BatchResult {
                seq: Some(seq),
                error: None,
            },
            Err(refusal) => duet_api::BatchResult {
                seq: None,
                error: Some(duet_api::ErrorBody::new(
                    refusal.status.as_u16(),
                    refusal.message,
                )),
            },
        })
        .collect();
    Json(duet_api::BatchAnswer { results }).into_response()
}

#[utoipa::path(
    delete,
    path = "/api/config",
    params(AtPath, ("client_id" = Option<String>, Query, min_length = 1, max_length = 128, description = "The client's own id for the change")),
    tag = "configuration",
    description = "Remove an object (`path`, `client_id`).",
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
pub(super) async fn config_delete(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<PathQuery>,
) -> Response {
    let user = match config_writer(&shared, &headers).await {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    let path = match parse_path(&q.path) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    write(
        &shared,
        &user.name,
        q.client_id,
        duet_config::Op::Remove { path },
    )
    .await
}

/// What a read shows: the users' objects (and conflict records, which may
/// be anyone's) are an administrator's; the rest a supervisor's too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    Tree,
    Users,
}

/// Checks that the caller may read the configuration: a bootstrap user by
/// Basic credentials (a master for users), or a session of a supervisor
/// or administrator (an administrator for users).
async fn config_reader(
    shared: &Shared,
    headers: &HeaderMap,
    reading: Reading,
) -> Result<(), Refusal> {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "));
    if basic {
        let user = authenticate(shared, headers, "configuration read").await?;
        if reading == Reading::Users && !user.master {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!(
                    "configuration read refused: users and conflict records are a master administrator's, and {} is not one",
                    user.name
                ),
            ));
        }
        return Ok(());
    }
    let role = match reading {
        Reading::Users => UserRole::Admin,
        Reading::Tree => UserRole::Supervisor,
    };
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let caller = signed_in(shared, token).await?;
    if caller.is(role) || caller.is(UserRole::Admin) {
        Ok(())
    } else {
        Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "configuration read refused: {} is not a{} {role:?}",
                caller.name,
                if role == UserRole::Admin { "n" } else { "" }
            ),
        ))
    }
}

/// Secrets are not shown: in the object, its history, and conflict records.
fn redact(view: &mut duet_node::status::ConfigView) {
    if let Some(object) = view.object.as_mut() {
        redact_object(object);
    }
    view.history.iter_mut().for_each(redact_record);
}

fn redact_record(record: &mut duet_config::HistoryRecord) {
    let conflict = record.conflict.as_mut().and_then(|c| c.value.as_mut());
    record
        .old
        .iter_mut()
        .chain(record.new.iter_mut())
        .chain(conflict)
        .for_each(redact_object);
}

/// What an attribute named like a secret holds is replaced by `(set)`.
fn redact_object(object: &mut duet_config::Object) {
    for (name, value) in object.attributes.iter_mut() {
        if is_secret(name) {
            *value = "(set)".into();
        }
    }
}

/// Attribute names whose values are secrets: password hashes (and a
/// password, should one ever be stored), keys, tokens, secrets.
fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "token", "key"]
        .iter()
        .any(|word| name.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_config::{Conflict, HistoryRecord, Object, Origin};

    fn user(hash: &str) -> Object {
        Object {
            class: duet_config::Class::User,
            attributes: [
                ("password_hash".to_string(), hash.to_string()),
                ("roles".to_string(), "agent".to_string()),
            ]
            .into(),
        }
    }

    #[test]
    fn a_conflict_records_losing_value_is_redacted_with_old_and_new() {
        let origin = Origin {
            epoch: 3,
            seq: 9,
            at_unix_ms: 2,
            who: "admin".into(),
            client: "d".into(),
        };
        let mut record = HistoryRecord {
            epoch: 2,
            seq: 7,
            at_unix_ms: 1,
            who: "admin".into(),
            client: "c".into(),
            path: duet_config::TreePath::parse("/config/Users/alice").expect("a path"),
            old: Some(user("$argon2id$old")),
            new: Some(user("$argon2id$new")),
            healed_from: None,
            conflict: Some(Box::new(Conflict {
                value: Some(user("$argon2id$lost")),
                lost_to: origin,
            })),
        };
        redact_record(&mut record);
        let text = serde_json::to_string(&record).expect("json");
        assert!(!text.contains("argon2"), "{text}");
        assert!(text.contains("\"roles\":\"agent\""), "{text}");
    }

    #[test]
    fn secret_names_are_recognised_and_others_kept() {
        for secret in [
            "password_hash",
            "webhook_secret",
            "api_token",
            "session_key",
        ] {
            assert!(is_secret(secret), "{secret}");
        }
        for plain in ["roles", "skills", "smtp_relay", "members"] {
            assert!(!is_secret(plain), "{plain}");
        }
    }
}

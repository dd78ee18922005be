//! Files in conversations: a customer or an agent shares a file (the raw
//! body; `?name=` and the content type from its header) and it joins the
//! transcript and is kept with the interaction, replicated like any other
//! change; files and email attachments are downloaded whole.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use duet_interactions::model::{Attachment, Content, FileRef, Sender};
use duet_interactions::{Actor, Change, Interaction};
use serde::Deserialize;

use super::access::Held;
use super::auth::Caller;
use super::{Refusal, ask, done};
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

/// The largest file shared in a conversation: it travels in one change.
pub const FILE_MAX_BYTES: usize = 512 * 1024;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/chats/{id}/files", post(customer_shares))
        .route("/api/chats/{id}/files/{file}", get(customer_downloads))
        .route("/api/interactions/{id}/files", post(agent_shares))
        .route("/api/interactions/{id}/files/{file}", get(agent_downloads))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Share {
    /// The file's name.
    #[param(min_length = 1, max_length = 256)]
    name: String,
    /// The message's own id in the transcript (a resend is kept once).
    #[param(min_length = 1, max_length = 128)]
    message_id: String,
}

fn shared_file(
    id: &str,
    share: Share,
    headers: &HeaderMap,
    bytes: Bytes,
    sender: Sender,
) -> Result<Change, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "the file is empty; a file is the request's body, 1 byte or more",
        ));
    }
    if bytes.len() > FILE_MAX_BYTES {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the file is {} bytes; at most {FILE_MAX_BYTES}",
                bytes.len()
            ),
        ));
    }
    if share.name.trim().is_empty() || share.message_id.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "a file needs ?name= and ?message_id=",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    Ok(Change::FileShared {
        id: id.to_string(),
        file: FileRef {
            file_id: format!("{id}/{}", share.message_id),
            name: share.name,
            size_bytes: bytes.len() as u64,
            content_type,
        },
        message_id: share.message_id,
        sender,
        bytes: bytes.to_vec(),
    })
}

#[utoipa::path(
    post,
    path = "/api/chats/{id}/files",
    tag = "customer",
    description = "The customer shares a file (the raw body, at most 512 KiB; the token in `x-duet-token` or `?token=`); it joins the transcript.",
    params(("id" = String, Path), Share),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
pub(super) async fn customer_shares(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(share): Query<Share>,
    bytes: Bytes,
) -> Response {
    let result = async {
        // The guard checked the customer's token; the chat's room here.
        super::bounds::room_in_chat(&shared, &id, Some(bytes.len() as u64)).await?;
        let client = format!("{id}/{}", share.message_id);
        let c = shared_file(&id, share, &headers, bytes, Sender::Customer)?;
        super::commit(&shared, client, Actor::Customer, c).await
    }
    .await;
    done(result)
}

#[utoipa::path(
    post,
    path = "/api/interactions/{id}/files",
    tag = "agent",
    description = "The agent shares a file (the raw body, at most 512 KiB); it joins the transcript.",
    params(("id" = String, Path), Share),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
pub(super) async fn agent_shares(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Extension(Held(ix)): Extension<Held>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(share): Query<Share>,
    bytes: Bytes,
) -> Response {
    let actor = super::access::actor(&me, &ix);
    let result = async {
        let client = super::scoped(format!("{id}/{}", share.message_id), &actor);
        let c = shared_file(&id, share, &headers, bytes, Sender::Agent(me.name.clone()))?;
        super::commit(&shared, client, actor, c).await
    }
    .await;
    done(result)
}

/// A file shared in the conversation, or (`email_parts`: agents) an
/// email's attachment.
fn find<'a>(ix: &'a Interaction, file: &str, email_parts: bool) -> Option<&'a Attachment> {
    let email = match &ix.content {
        Content::Email(email) if email_parts => email.attachments.as_slice(),
        _ => &[],
    };
    ix.files
        .iter()
        .find(|f| f.id == file || f.id.rsplit('/').next() == Some(file))
        .or_else(|| email.iter().find(|a| a.id == file))
}

fn download(ix: Option<&Interaction>, id: &str, file: &str, email_parts: bool) -> Response {
    let Some(ix) = ix else {
        return Refusal::new(StatusCode::NOT_FOUND, format!("no live interaction {id}"))
            .into_response();
    };
    match find(ix, file, email_parts) {
        Some(a) => (
            [
                (
                    header::CONTENT_TYPE,
                    super::headers::safe_content_type(&a.content_type),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    super::headers::attachment(&a.name),
                ),
                (
                    header::HeaderName::from_static(super::headers::FILE_POLICY.0),
                    super::headers::FILE_POLICY.1.to_string(),
                ),
            ],
            a.bytes.clone(),
        )
            .into_response(),
        None => {
            Refusal::new(StatusCode::NOT_FOUND, format!("no file {file} in {id}")).into_response()
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/chats/{id}/files/{file}",
    tag = "customer",
    description = "A file shared in the customer's conversation (its message id).",
    params(("id" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "The file", body = Vec<u8>, content_type = "application/octet-stream"), super::openapi::Answers)
)]
pub(super) async fn customer_downloads(
    State(shared): State<Arc<Shared>>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let wanted = id.clone();
    match ask(&shared, |reply| IxRequest::Get { id: wanted, reply }).await {
        // The customer sees the conversation's files, not an email's parts.
        Ok(ix) => download(ix.as_deref(), &id, &file, false),
        Err(refusal) => refusal.into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/api/interactions/{id}/files/{file}",
    tag = "agent",
    description = "A file shared in the interaction (its message id), or an email attachment (its id); the agent on it or a supervisor.",
    params(("id" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "The file", body = Vec<u8>, content_type = "application/octet-stream"), super::openapi::Answers)
)]
pub(super) async fn agent_downloads(
    Extension(Held(ix)): Extension<Held>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    download(Some(&ix), &id, &file, true)
}

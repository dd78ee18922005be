//! Files in conversations: a customer or an agent shares a file (the raw
//! body; `?name=` and the content type from its header): its bytes are
//! stored as chunks on the stream first (`duet_node::content`), then the
//! change that shares it, so it is acknowledged only once both nodes hold
//! all of it; files and email attachments are downloaded as a stream of
//! their chunks.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use duet_interactions::model::{Attachment, Blob, Content, FileRef, Sender};
use duet_interactions::{Actor, Change, Interaction};
use serde::Deserialize;

use super::access::Held;
use super::auth::Caller;
use super::{Refusal, ask, done};
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

/// The most bytes a shared file's request body may carry; the setting
/// `content_bytes_max` (25 MiB by default) bounds what is kept.
pub const FILE_BODY_MAX_BYTES: usize = 64 * 1024 * 1024;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/chats/{id}/files", post(customer_shares))
        .route("/api/chats/{id}/files/{file}", get(customer_downloads))
        .route("/api/interactions/{id}/files", post(agent_shares))
        .route("/api/interactions/{id}/files/{file}", get(agent_downloads))
        .route("/api/interactions/{id}/content", post(agent_stores))
        .layer(axum::extract::DefaultBodyLimit::max(FILE_BODY_MAX_BYTES))
}

/// Stores `bytes` as chunks on the stream (those the state lacks), each
/// acknowledged, for the change `client` by `actor` that will refer to
/// them; the blob that names them. The chunks share `bytes`: no copy.
pub(super) async fn keep(
    shared: &Shared,
    client: &str,
    actor: &Actor,
    bytes: Bytes,
) -> Result<Blob, Refusal> {
    let size_bytes = bytes.len();
    let split = duet_node::content::split(vec![bytes]).await;
    let Some((blob, pieces)) = split.ok().and_then(|mut s| s.pop()) else {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node is shutting down",
        ));
    };
    let names = blob.chunks.clone();
    let held = ask(shared, |reply| IxRequest::ChunksHeld { names, reply }).await?;
    held.check_size(size_bytes)
        .map_err(|e| super::write_refusal(duet_node::replication::WriteError::Interaction(e)))?;
    let at_ms = duet_node::events::unix_ms();
    duet_node::content::store(pieces, &held, (client, at_ms), |client, chunk| {
        let actor = actor.clone();
        async move {
            super::commit(shared, client, actor, chunk)
                .await
                .map(|_| ())
        }
    })
    .await?;
    Ok(blob)
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

/// The file shared by `bytes`, checked; its bytes are not kept yet.
fn shared_file(share: &Share, headers: &HeaderMap, bytes: &Bytes) -> Result<String, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "the file is empty; a file is the request's body, 1 byte or more",
        ));
    }
    if share.name.trim().is_empty() || share.message_id.is_empty() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "a file needs ?name= and ?message_id=",
        ));
    }
    Ok(headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string())
}

/// Shares `bytes` in interaction `id` as `sender`: its chunks, then the
/// change, under `client`.
async fn share_file(
    shared: &Shared,
    (id, client, actor): (&str, String, Actor),
    share: Share,
    headers: &HeaderMap,
    bytes: Bytes,
    sender: Sender,
) -> Result<u64, Refusal> {
    let content_type = shared_file(&share, headers, &bytes)?;
    let content = keep(shared, &client, &actor, bytes).await?;
    let change = Change::FileShared {
        id: id.to_string(),
        file: FileRef {
            file_id: format!("{id}/{}", share.message_id),
            name: share.name,
            size_bytes: content.size_bytes,
            content_type,
        },
        message_id: share.message_id,
        sender,
        content,
    };
    super::commit(shared, client, actor, change).await
}

#[utoipa::path(
    post,
    path = "/api/chats/{id}/files",
    tag = "customer",
    description = "The customer shares a file (the raw body, at most the setting `content_bytes_max`, 25 MiB by default; the token in `x-duet-token` or `?token=`); it joins the transcript once both nodes hold all of it. A file sent again (the same `message_id`, after a switchover cut it off) sends only what the node lacks.",
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
        let who = (id.as_str(), client, Actor::Customer);
        share_file(&shared, who, share, &headers, bytes, Sender::Customer).await
    }
    .await;
    done(result)
}

#[utoipa::path(
    post,
    path = "/api/interactions/{id}/files",
    tag = "agent",
    description = "The agent shares a file (the raw body, at most the setting `content_bytes_max`, 25 MiB by default); it joins the transcript once both nodes hold all of it.",
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
        let sender = Sender::Agent(me.name.clone());
        share_file(
            &shared,
            (&id, client, actor),
            share,
            &headers,
            bytes,
            sender,
        )
        .await
    }
    .await;
    done(result)
}

#[utoipa::path(
    post,
    path = "/api/interactions/{id}/content",
    tag = "agent",
    description = "The agent stores content (the raw body, at most the setting `content_bytes_max`, 25 MiB by default) for a reply's attachment: answered with the `Blob` that names its chunks once both nodes hold it, to give as an attachment's `content` in the `draft` action. Content no draft refers to is let go an hour later.",
    params(("id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, description = "The content stored", body = Blob), super::openapi::Answers)
)]
pub(super) async fn agent_stores(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Extension(Held(ix)): Extension<Held>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let actor = super::access::actor(&me, &ix);
    let result = async {
        if bytes.is_empty() {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "the content is empty; it is the request's body, 1 byte or more",
            ));
        }
        let client = super::scoped(format!("{id}/content"), &actor);
        keep(&shared, &client, &actor, bytes).await
    }
    .await;
    super::answer(result)
}

/// A file's name, type and content.
struct Found<'a> {
    name: &'a str,
    content_type: &'a str,
    content: &'a Blob,
}

impl<'a> From<&'a Attachment> for Found<'a> {
    fn from(a: &'a Attachment) -> Found<'a> {
        Found {
            name: &a.name,
            content_type: &a.content_type,
            content: &a.content,
        }
    }
}

/// A file shared in the conversation, or (`email_parts`: agents) an
/// email's attachment, or its whole message as received (`mime`).
fn find<'a>(ix: &'a Interaction, file: &str, email_parts: bool) -> Option<Found<'a>> {
    let email = match &ix.content {
        Content::Email(email) if email_parts => Some(email),
        _ => None,
    };
    if let Some(email) = email
        && file == MIME
    {
        return Some(Found {
            name: "message.eml",
            content_type: "message/rfc822",
            content: &email.mime,
        });
    }
    let attachments = email.map_or(&[][..], |e| e.attachments.as_slice());
    ix.files
        .iter()
        .find(|f| f.id == file || f.id.rsplit('/').next() == Some(file))
        .or_else(|| attachments.iter().find(|a| a.id == file))
        .map(Found::from)
}

/// The file name of an email's whole message as received.
const MIME: &str = "mime";

/// The file's bytes, streamed chunk by chunk as the state holds them.
async fn download(
    shared: &Shared,
    ix: Option<&Interaction>,
    id: &str,
    file: &str,
    email_parts: bool,
) -> Response {
    let Some(ix) = ix else {
        return Refusal::new(StatusCode::NOT_FOUND, format!("no live interaction {id}"))
            .into_response();
    };
    let Some(a) = find(ix, file, email_parts) else {
        return Refusal::new(StatusCode::NOT_FOUND, format!("no file {file} in {id}"))
            .into_response();
    };
    let names = a.content.chunks.clone();
    let chunks = match ask(shared, |reply| IxRequest::Chunks { names, reply }).await {
        Ok(Some(chunks)) => chunks,
        // Held while an interaction refers to it: a node that lacks it is
        // not serving this interaction as it stands (it moved on).
        Ok(None) => {
            return Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("file {file} of {id} is not held here now; try again"),
            )
            .into_response();
        }
        Err(refusal) => return refusal.into_response(),
    };
    // Each chunk's bytes shared with the state (no copy) while sent.
    let body = futures::stream::iter(
        chunks
            .into_iter()
            .map(|chunk| Ok::<_, std::convert::Infallible>(chunk.bytes.clone())),
    );
    (
        [
            (
                header::CONTENT_TYPE,
                super::headers::safe_content_type(a.content_type),
            ),
            (
                header::CONTENT_DISPOSITION,
                super::headers::attachment(a.name),
            ),
            (
                header::HeaderName::from_static(super::headers::FILE_POLICY.0),
                super::headers::FILE_POLICY.1.to_string(),
            ),
            (header::CONTENT_LENGTH, a.content.size_bytes.to_string()),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
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
        Ok(ix) => download(&shared, ix.as_deref(), &id, &file, false).await,
        Err(refusal) => refusal.into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/api/interactions/{id}/files/{file}",
    tag = "agent",
    description = "A file shared in the interaction (its message id), an email attachment (its id), or an email as received (`mime`); the agent on it or a supervisor. Streamed as the node holds it, in chunks.",
    params(("id" = String, Path), ("file" = String, Path)),
    responses((status = 200, description = "The file", body = Vec<u8>, content_type = "application/octet-stream"), super::openapi::Answers)
)]
pub(super) async fn agent_downloads(
    State(shared): State<Arc<Shared>>,
    Extension(Held(ix)): Extension<Held>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    download(&shared, Some(&ix), &id, &file, true).await
}

//! The supervisor's API: live queue figures (waiting, longest wait,
//! agents by status, service level, ASA, AHT, abandoned), agents, an
//! interaction's history, and setting an agent's status; plus the shadow
//! (position and digest of the interaction state) by which the backup is
//! compared with the active node.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_interactions::{Actor, Change};
use serde::Serialize;

use super::access::Held;
use super::agent::{StatusRequest, WithClient, chosen};
use super::archive::FromArchive;
use super::auth::Caller;
use super::{ask, change, done};
use crate::replication::IxRequest;
use crate::shared::Shared;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/queues", get(queues))
        .route("/api/agents", get(agents))
        .route("/api/statistics/intervals", get(intervals))
        .route("/api/agents/{name}/status", post(set_status))
        .route("/api/interactions/conflicts", get(conflicts))
        .route("/api/interactions/{id}", get(interaction))
        .route("/api/shadow", get(shadow))
        .route("/api/agent/ws", get(super::live::agent))
}

/// A supervisor's read (the guard let only supervisors through).
async fn read<T: Serialize>(
    shared: &Shared,
    request: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> IxRequest,
) -> Response {
    match ask(shared, request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /api/queues`: every workgroup queue's figures now.
#[utoipa::path(
    get,
    path = "/api/queues",
    tag = "supervisor",
    description = "Every queue now: waiting, longest wait, agents by status, service level, ASA, AHT, abandoned.",
    responses(super::openapi::Answers)
)]
async fn queues(State(shared): State<Arc<Shared>>) -> Response {
    read(&shared, IxRequest::Queues).await
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
struct Since {
    /// Only records ending after this time (unix ms).
    #[serde(default)]
    since_ms: u64,
}

/// `GET /api/statistics/intervals`: the statistics interval records.
#[utoipa::path(
    get,
    path = "/api/statistics/intervals",
    tag = "supervisor",
    description = "Queue statistics per interval (statistics_interval_s, 1800 by default): a record per queue at each boundary, and one at each takeover, so an interval a switchover falls in is two records; the same on both nodes. Also the interval in progress.",
    params(Since),
    responses(super::openapi::Answers)
)]
async fn intervals(
    State(shared): State<Arc<Shared>>,
    axum::extract::Query(since): axum::extract::Query<Since>,
) -> Response {
    read(&shared, |reply| IxRequest::Intervals {
        since_ms: since.since_ms,
        reply,
    })
    .await
}

/// `GET /api/agents`.
#[utoipa::path(
    get,
    path = "/api/agents",
    tag = "supervisor",
    description = "Every agent: status, media, interactions held.",
    responses(super::openapi::Answers)
)]
async fn agents(State(shared): State<Arc<Shared>>) -> Response {
    read(&shared, IxRequest::Agents).await
}

/// `GET /api/interactions/{id}`: the whole interaction (segments, parties,
/// content), to the caller related to it (see `access`); once the live
/// state has forgotten it, its archived copy.
#[utoipa::path(
    get,
    path = "/api/interactions/{id}",
    tag = "supervisor",
    description = "An interaction whole: state, parties, segments (its history), content; a supervisor's or its agent's. Once the live state has forgotten it (closed_retention_s after it closed), its copy in the reporting databases, with `archive` (disposition, figures) and without what the archive does not keep (docs/reporting.md, \"The archive\").",
    params(("id" = String, Path)),
    responses(super::openapi::Answers)
)]
async fn interaction(
    held: Option<Extension<Held>>,
    archived: Option<Extension<FromArchive>>,
) -> Response {
    match (held, archived) {
        (Some(Extension(Held(ix))), _) => Json(ix).into_response(),
        (None, Some(Extension(FromArchive(ix)))) => Json(ix).into_response(),
        (None, None) => super::error(
            axum::http::StatusCode::NOT_FOUND,
            "no interaction by that id, live or archived",
        ),
    }
}

/// `POST /api/agents/{name}/status`: a supervisor sets an agent's status.
#[utoipa::path(
    post,
    path = "/api/agents/{name}/status",
    tag = "supervisor",
    description = "A supervisor sets an agent's status.",
    params(("name" = String, Path)),
    request_body = StatusRequest,
    responses(super::openapi::Answers)
)]
async fn set_status(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Path(agent): Path<String>,
    Json(r): Json<WithClient<StatusRequest>>,
) -> Response {
    let status = chosen(r.body);
    let result = change(
        &shared,
        r.client_id,
        Actor::User(me.name),
        Change::AgentStatus { agent, status },
    )
    .await;
    done(result, serde_json::json!({}))
}

/// `GET /api/interactions/conflicts`: what heals could not make as changes.
#[utoipa::path(
    get,
    path = "/api/interactions/conflicts",
    tag = "supervisor",
    description = "Interaction conflict records: changes a node acknowledged while both nodes served that the state of the node whose history serves overrode (who holds an interaction, its state), each with the node, position, client id, actor, time, the change and why; oldest first, the same on both nodes. Messages and files are never conflicts: they join the transcript.",
    responses(super::openapi::Answers)
)]
async fn conflicts(State(shared): State<Arc<Shared>>) -> Response {
    read(&shared, IxRequest::Conflicts).await
}

/// `GET /api/shadow`: the interaction state's position and digest on this
/// node (open: it tells nothing about the contents).
#[utoipa::path(
    get,
    path = "/api/shadow",
    tag = "node",
    description = "The interaction state's position and digest here (equal on the backup at the same position).",
    responses(super::openapi::Answers)
)]
async fn shadow(State(shared): State<Arc<Shared>>) -> Response {
    match ask(&shared, IxRequest::Shadow).await {
        Ok(view) => Json(view).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

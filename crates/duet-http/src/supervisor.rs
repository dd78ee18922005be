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
use duet_api::StatusRequest;
use duet_interactions::{Actor, Change};
use duet_report::archive::view::Whole;

use super::access::Held;
use super::agent::chosen;
use super::archive::FromArchive;
use super::auth::Caller;
use super::{answer, ask, change, done};
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

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

/// `GET /api/queues`: every workgroup queue's figures now.
#[utoipa::path(
    get,
    path = "/api/queues",
    tag = "supervisor",
    description = "Every queue now: waiting, longest wait, agents by status, service level, ASA, AHT, abandoned.",
    responses((status = 200, description = "Every queue", body = Vec<duet_api::QueueState>), super::openapi::Answers)
)]
async fn queues(State(shared): State<Arc<Shared>>) -> Response {
    let queues = ask(&shared, IxRequest::Queues).await;
    answer(queues)
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Since {
    /// Only records ending after this time (unix ms; before 1970: all).
    #[serde(default)]
    since_ms: i64,
}

/// `GET /api/statistics/intervals`: the statistics interval records.
#[utoipa::path(
    get,
    path = "/api/statistics/intervals",
    tag = "supervisor",
    description = "Queue statistics per interval (statistics_interval_s, 1800 by default): a record per queue at each boundary, and one at each takeover, so an interval a switchover falls in is two records; the same on both nodes. Also the interval in progress.",
    params(Since),
    responses((status = 200, description = "The records and the interval in progress", body = duet_api::IntervalsState), super::openapi::Answers)
)]
async fn intervals(
    State(shared): State<Arc<Shared>>,
    axum::extract::Query(since): axum::extract::Query<Since>,
) -> Response {
    let view = ask(&shared, |reply| IxRequest::Intervals {
        since_ms: u64::try_from(since.since_ms).unwrap_or(0),
        reply,
    })
    .await;
    answer(view)
}

/// `GET /api/agents`.
#[utoipa::path(
    get,
    path = "/api/agents",
    tag = "supervisor",
    description = "Every agent: status, media, interactions held.",
    responses((status = 200, description = "Every agent", body = Vec<duet_interactions::model::Agent>), super::openapi::Answers)
)]
async fn agents(State(shared): State<Arc<Shared>>) -> Response {
    answer(ask(&shared, IxRequest::Agents).await)
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
    responses((status = 200, description = "The interaction whole, or its archived copy (with `archive`)", body = duet_report::archive::view::Whole), super::openapi::Answers)
)]
async fn interaction(
    held: Option<Extension<Held>>,
    archived: Option<Extension<FromArchive>>,
) -> Response {
    match (held, archived) {
        (Some(Extension(Held(ix))), _) => {
            Json(Whole::Live(Box::new(Arc::unwrap_or_clone(ix)))).into_response()
        }
        (None, Some(Extension(FromArchive(ix)))) => Json(Whole::Archived(ix)).into_response(),
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
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
async fn set_status(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Path(agent): Path<String>,
    Json(r): Json<StatusRequest>,
) -> Response {
    let client_id = r.client_id.clone();
    let status = chosen(r);
    let result = change(
        &shared,
        client_id,
        Actor::User(me.name),
        Change::AgentStatus { agent, status },
    )
    .await;
    done(result)
}

/// `GET /api/interactions/conflicts`: what heals could not make as changes.
#[utoipa::path(
    get,
    path = "/api/interactions/conflicts",
    tag = "supervisor",
    description = "Interaction conflict records: changes a node acknowledged while both nodes served that the state of the node whose history serves overrode (who holds an interaction, its state), each with the node, position, client id, actor, time, the change and why; oldest first, the same on both nodes. Messages and files are never conflicts: they join the transcript.",
    responses((status = 200, description = "Interaction conflict records", body = Vec<duet_interactions::model::HealConflict>), super::openapi::Answers)
)]
async fn conflicts(State(shared): State<Arc<Shared>>) -> Response {
    answer(ask(&shared, IxRequest::Conflicts).await)
}

/// `GET /api/shadow`: the interaction state's position and digest on this
/// node (open: it tells nothing about the contents).
#[utoipa::path(
    get,
    path = "/api/shadow",
    tag = "node",
    description = "The interaction state's position and digest here (equal on the backup at the same position).",
    responses((status = 200, description = "Position and digest", body = duet_api::Shadow), super::openapi::Answers)
)]
async fn shadow(State(shared): State<Arc<Shared>>) -> Response {
    answer(ask(&shared, IxRequest::Shadow).await)
}

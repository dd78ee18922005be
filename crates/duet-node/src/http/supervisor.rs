//! The supervisor's API: live queue figures (waiting, longest wait,
//! agents by status, service level, ASA, AHT, abandoned), agents, an
//! interaction's history, and setting an agent's status; plus the shadow
//! (position and digest of the interaction state) by which the backup is
//! compared with the active node.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_interactions::{Actor, Change};
use serde::Serialize;

use super::agent::{StatusRequest, WithClient, chosen};
use super::auth::caller;
use super::{Refusal, ask, change, done};
use crate::directory::UserRole;
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

async fn read<T: Serialize>(
    shared: &Shared,
    headers: &HeaderMap,
    request: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> IxRequest,
) -> Response {
    let result = async {
        caller(shared, headers, UserRole::Supervisor).await?;
        ask(shared, request).await
    }
    .await;
    match result {
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
async fn queues(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    read(&shared, &headers, IxRequest::Queues).await
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
    headers: HeaderMap,
    axum::extract::Query(since): axum::extract::Query<Since>,
) -> Response {
    read(&shared, &headers, |reply| IxRequest::Intervals {
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
async fn agents(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    read(&shared, &headers, IxRequest::Agents).await
}

/// `GET /api/interactions/{id}`: the whole interaction (segments, parties,
/// content). A supervisor's, or an agent's that holds it.
#[utoipa::path(
    get,
    path = "/api/interactions/{id}",
    tag = "supervisor",
    description = "An interaction whole: state, parties, segments (its history), content; a supervisor's or its agent's.",
    params(("id" = String, Path)),
    responses(super::openapi::Answers)
)]
async fn interaction(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let result = interaction_for(&shared, &headers, &id).await;
    match result {
        Ok(ix) => Json(ix).into_response(),
        Err(refusal) => refusal.into_response(),
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
    headers: HeaderMap,
    Path(agent): Path<String>,
    Json(r): Json<WithClient<StatusRequest>>,
) -> Response {
    let result = async {
        let me = caller(&shared, &headers, UserRole::Supervisor).await?;
        let status = chosen(r.body);
        change(
            &shared,
            r.client_id,
            Actor::User(me.name),
            Change::AgentStatus { agent, status },
        )
        .await
    }
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
async fn conflicts(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    read(&shared, &headers, IxRequest::Conflicts).await
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

/// An interaction as the caller may see it whole: a supervisor's, or an
/// agent's that holds it.
pub(super) async fn interaction_for(
    shared: &Shared,
    headers: &HeaderMap,
    id: &str,
) -> Result<duet_interactions::Interaction, Refusal> {
    let me = caller(shared, headers, UserRole::Agent).await;
    let supervisor = match &me {
        Ok(me) => me.is(UserRole::Supervisor),
        Err(_) => {
            caller(shared, headers, UserRole::Supervisor).await?;
            true
        }
    };
    let wanted = id.to_string();
    let ix = ask(shared, |reply| IxRequest::Get { id: wanted, reply })
        .await?
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("no live interaction {id}")))?;
    let on_it = me.as_ref().is_ok_and(|me| ix.has_agent(&me.name));
    if !supervisor && !on_it {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!("interaction {id} is not yours"),
        ));
    }
    Ok(ix)
}

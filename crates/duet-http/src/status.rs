//! Reading the node: status, role (the seed's Query Backup), events,
//! parameters in effect, Prometheus metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use duet_api::{NodeRole, RoleAnswer};
use duet_link::protocol::Role;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::error;
use duet_node::driver_inbox::DriverMsg;
use duet_node::metrics::label;
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

#[utoipa::path(
    get,
    path = "/api/status",
    tag = "node",
    description = "This node: role, switchover state, links, replication, the right to serve.",
    responses((status = 200, description = "This node's status, as `duet ctl status --json` shows it", body = duet_node::status::NodeStatus), super::openapi::Answers)
)]
pub(super) async fn status(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.view.status()).into_response()
}

#[utoipa::path(
    get,
    path = "/api/role",
    tag = "node",
    description = "The seed's Query Backup: this node's role and the active node.",
    responses((status = 200, description = "The role", body = duet_api::RoleAnswer), super::openapi::Answers)
)]
pub(super) async fn role(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.view.status();
    let active = if status.serving {
        Some(status.node.clone())
    } else if status.peer.role == Some(Role::Active) {
        Some(status.peer.name.clone())
    } else {
        None
    };
    Json(RoleAnswer {
        role: node_role(status.role),
        backup: status.role == Role::Backup,
        node: status.node,
        active,
        epoch: status.epoch,
    })
    .into_response()
}

/// The role as the API names it.
fn node_role(role: Role) -> NodeRole {
    match role {
        Role::Starting => NodeRole::Starting,
        Role::Active => NodeRole::Active,
        Role::Backup => NodeRole::Backup,
        Role::Inactive => NodeRole::Inactive,
    }
}

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    500
}

#[utoipa::path(
    get,
    path = "/api/events",
    tag = "node",
    description = "The event log, after a number (`after`, `limit`).",
    responses((status = 200, description = "Event log entries, oldest first", body = Vec<duet_node::events::LoggedEvent>), super::openapi::Answers)
)]
pub(super) async fn events(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<EventsQuery>,
) -> Response {
    Json(shared.events.since(q.after, q.limit.min(5_000))).into_response()
}

/// The server parameters in effect on this node.
#[utoipa::path(
    get,
    path = "/api/params",
    tag = "node",
    description = "The server parameters in effect.",
    responses((status = 200, description = "The parameters in effect, by name", body = duet_params::ServerParams), super::openapi::Answers)
)]
pub(super) async fn params(State(shared): State<Arc<Shared>>) -> Response {
    let (reply, answer) = oneshot::channel();
    shared.driver.send(DriverMsg::ParamsRead(reply));
    match tokio::time::timeout(std::time::Duration::from_secs(5), answer).await {
        Ok(Ok(params)) => Json(*params).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not answer in time; try again",
        ),
    }
}

/// `GET /metrics`: the registry, with the gauges read now from the
/// status and the interaction state.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    description = "Prometheus metrics (text format).",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"), super::openapi::Answers)
)]
pub(super) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.view.status();
    let m = &shared.metrics;
    let s = &m.snapshot;
    s.serving.set(i64::from(status.serving));
    s.epoch.set(status.epoch as i64);
    s.main_link_up.set(i64::from(status.main_link_up));
    s.aux_link_up.set(i64::from(status.aux_link_up));
    s.peer_reachable.set(i64::from(status.peer.reachable));
    s.switchovers.set(status.switchovers as i64);
    // The live counts: a node too busy to answer still shows the rest.
    if let Ok(census) = super::ask(&shared, IxRequest::Census).await {
        s.interactions.clear();
        for ((media, state), n) in census.interactions {
            s.interactions
                .get_or_create(&vec![
                    ("media", media.to_string()),
                    ("state", state.to_string()),
                ])
                .set(n);
        }
        s.agents.clear();
        for (status, n) in census.agents {
            s.agents.get_or_create(&label("status", status)).set(n);
        }
    }
    if let Ok(queues) = super::ask(&shared, IxRequest::Queues).await {
        for q in queues {
            s.queue_waiting
                .get_or_create(&label("queue", q.queue.clone()))
                .set(q.figures.waiting as i64);
            s.queue_longest_wait_seconds
                .get_or_create(&label("queue", q.queue))
                .set((q.figures.longest_wait_ms / 1000) as i64);
        }
    }
    match m.encode() {
        Ok(text) => ([("content-type", "text/plain; version=0.0.4")], text).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics"),
    }
}

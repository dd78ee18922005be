//! Reading the node: status, role (the seed's Query Backup), events,
//! parameters in effect, Prometheus metrics.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::error;
use crate::shared::{DriverMsg, Shared};

pub(super) async fn status(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.status()).into_response()
}

pub(super) async fn role(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status();
    let active = if status.serving {
        Some(status.node.clone())
    } else if status.peer.role == Some(duet_link::protocol::Role::Active) {
        Some(status.peer.name.clone())
    } else {
        None
    };
    Json(serde_json::json!({
        "node": status.node,
        "role": status.role,
        "backup": status.role == duet_link::protocol::Role::Backup,
        "active": active,
        "epoch": status.epoch,
    }))
    .into_response()
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

pub(super) async fn events(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<EventsQuery>,
) -> Response {
    Json(shared.events.since(q.after, q.limit.min(5_000))).into_response()
}

/// The server parameters in effect on this node.
pub(super) async fn params(State(shared): State<Arc<Shared>>) -> Response {
    let (reply, answer) = oneshot::channel();
    shared.to_driver(DriverMsg::ParamsRead(reply));
    match tokio::time::timeout(std::time::Duration::from_secs(5), answer).await {
        Ok(Ok(params)) => Json(*params).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not answer in time; try again",
        ),
    }
}

pub(super) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status();
    let mut registry = Registry::with_prefix("duet");
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: i64| {
        let g: Gauge = Gauge::default();
        g.set(value);
        registry.register(name, help, g);
    };
    gauge(
        &mut registry,
        "serving",
        "1 while this node serves as the active node",
        i64::from(status.serving),
    );
    gauge(
        &mut registry,
        "epoch",
        "The fencing epoch this node holds",
        status.epoch as i64,
    );
    gauge(
        &mut registry,
        "main_link_up",
        "1 while the main link connection is up (backup)",
        i64::from(status.main_link_up),
    );
    gauge(
        &mut registry,
        "aux_link_up",
        "1 while the auxiliary link connection is up (backup)",
        i64::from(status.aux_link_up),
    );
    gauge(
        &mut registry,
        "peer_reachable",
        "1 while the peer answers role queries",
        i64::from(status.peer.reachable),
    );
    gauge(
        &mut registry,
        "switchovers",
        "Switchovers this node made since it started",
        status.switchovers as i64,
    );
    let mut text = String::new();
    if encode(&mut text, &registry).is_err() {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics");
    }
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

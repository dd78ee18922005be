//! Operating the pair: a switch (needs the Remote Control right) and fault
//! injection (only when the bootstrap turns it on).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use duet_api::{FaultRequest, Injected, SwitchRequest, Switching};
use tokio::sync::oneshot;

use super::{authenticate, error};
use duet_node::driver_inbox::DriverMsg;
use duet_node::shared::Shared;
use duet_node::supervisor::ModuleFault;

#[utoipa::path(
    post,
    path = "/api/switch",
    tag = "node",
    description = "Ask the backup to become active (the Remote Control right; HTTP basic credentials of the bootstrap file).",
    request_body = SwitchRequest,
    responses((status = 202, description = "The backup took the request", body = duet_api::Switching), super::openapi::Answers)
)]
pub(super) async fn switch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Option<Json<SwitchRequest>>,
) -> Response {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let user = match authenticate(&shared, &headers, "switch").await {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    // The seed: the Remote Control right is not checked with /Immediate (for
    // a master administrator) or when there is no primary server.
    let status = shared.view.status();
    let no_primary =
        !status.serving && !status.main_link_up && !status.aux_link_up && !status.peer.reachable;
    let allowed = user.remote_control || no_primary || (request.immediate && user.master);
    if !allowed {
        tracing::warn!(
            "refused switch: user {} lacks the Remote Control right",
            user.name
        );
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "switch refused: user {} does not have the Remote Control right",
                user.name
            ),
        );
    }
    let (reply, answer) = oneshot::channel();
    shared.driver.send(DriverMsg::Switch {
        force: request.force || request.immediate,
        reply,
    });
    match tokio::time::timeout(std::time::Duration::from_secs(10), answer)
        .await
        .map(|r| r.ok())
        .ok()
        .flatten()
    {
        Some(Ok(())) => {
            tracing::info!("switch requested by {}", user.name);
            (StatusCode::ACCEPTED, Json(Switching { switching: true })).into_response()
        }
        Some(Err(refused)) => error(StatusCode::CONFLICT, refused.to_string()),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not take the request in time (starting up, busy or shutting down); try again",
        ),
    }
}

/// The fault-injection name of the file monitor.
const FILE_MONITOR: &str = "file-monitor";
/// The fault-injection name of the active node's answers to the backup's
/// configuration sync requests.
const CONFIG_SYNC: &str = "config-sync";

#[utoipa::path(
    post,
    path = "/api/fault",
    tag = "node",
    description = "Fault injection on test systems (bootstrap [fault_injection]).",
    request_body = FaultRequest,
    responses((status = 202, description = "The fault is injected", body = duet_api::Injected), super::openapi::Answers)
)]
pub(super) async fn fault(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Json(request): Json<FaultRequest>,
) -> Response {
    if !shared.boot.fault_injection.enabled {
        return error(
            StatusCode::NOT_FOUND,
            "fault injection is off; turn it on in the bootstrap file ([fault_injection] enabled = true) on test systems only",
        );
    }
    if let Err(refusal) = authenticate(&shared, &headers, "fault injection").await {
        return refusal.into_response();
    }
    let injected = match (request.module.as_str(), request.fault) {
        (FILE_MONITOR | CONFIG_SYNC, ModuleFault::Crash) => false,
        (FILE_MONITOR, fault) => shared
            .mirror
            .file_monitor
            .control
            .try_send(duet_node::mirror::monitor::MonitorMsg::Fault(fault))
            .is_ok(),
        (CONFIG_SYNC, fault) => {
            shared
                .sync_requests_held
                .store(fault == ModuleFault::Hang, Ordering::Relaxed);
            true
        }
        (module, fault) => shared.supervisor.inject(module, fault),
    };
    if injected {
        (
            StatusCode::ACCEPTED,
            Json(Injected {
                injected: request.fault,
            }),
        )
            .into_response()
    } else {
        error(
            StatusCode::CONFLICT,
            format!(
                "module {:?} is not running on this node (the {FILE_MONITOR} and {CONFIG_SYNC} take hang and recover only)",
                request.module
            ),
        )
    }
}

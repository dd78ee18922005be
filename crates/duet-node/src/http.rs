//! The node's HTTP API: status, role (the seed's Query Backup), events,
//! switch (needs the Remote Control right), fault injection (only when the
//! bootstrap turns it on) and Prometheus metrics. Every answer carries the
//! node's epoch in `x-duet-epoch`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::bootstrap::User;
use crate::replication::WriteError;
use crate::shared::{DriverMsg, Shared};
use crate::supervisor::ModuleFault;

pub const EPOCH_HEADER: &str = "x-duet-epoch";

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/api/role", get(role))
        .route("/api/events", get(events))
        .route("/api/switch", post(switch))
        .route("/api/fault", post(fault))
        .route(
            "/api/config",
            get(config_get).put(config_put).delete(config_delete),
        )
        .route("/api/config/conflicts", get(config_conflicts))
        .route("/api/params", get(params))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(shared.clone(), epochs))
        .with_state(shared)
}

/// Stamps our epoch on every answer, so clients can ignore a stale node.
/// A client's own epoch header is not trusted to fence this node: only the
/// peer, over the authenticated link and arbiter, can do that.
async fn epochs(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&shared.epoch().to_string()) {
        response.headers_mut().insert(EPOCH_HEADER, value);
    }
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.status()).into_response()
}

async fn role(State(shared): State<Arc<Shared>>) -> Response {
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
struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    500
}

async fn events(State(shared): State<Arc<Shared>>, Query(q): Query<EventsQuery>) -> Response {
    Json(shared.events.since(q.after, q.limit.min(5_000))).into_response()
}

/// A refused request: its status and what to tell the client.
struct Refusal {
    status: StatusCode,
    message: String,
    /// The active node, for a request that must go there.
    active: Option<String>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
            active: None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = error(self.status, self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static("Basic realm=\"duet\""),
            );
        }
        if let Some(name) = self.active.and_then(|n| HeaderValue::from_str(&n).ok()) {
            response.headers_mut().insert("x-duet-active", name);
        }
        response
    }
}

/// The user named by HTTP basic credentials, or the refusal to send.
fn authenticate<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    action: &str,
) -> Result<&'a User, Refusal> {
    let refuse = |why: String| {
        tracing::warn!("refused {action}: {why}");
        Refusal::new(StatusCode::UNAUTHORIZED, format!("{action} refused: {why}"))
    };
    let Some(credentials) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return Err(refuse("no credentials; give a user and password".into()));
    };
    let (name, password) = credentials.split_once(':').unwrap_or((&credentials, ""));
    shared
        .boot
        .users
        .iter()
        .find(|u| u.name == name && u.password == password)
        .ok_or_else(|| refuse(format!("wrong user or password for {name:?}")))
}

#[derive(Deserialize, Default)]
struct SwitchRequest {
    /// Switch even though file replication is reported stopped (or in an
    /// Upgrade state).
    #[serde(default)]
    force: bool,
    /// The seed's /Immediate: a master administrator may switch without the
    /// Remote Control right.
    #[serde(default)]
    immediate: bool,
}

async fn switch(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Option<Json<SwitchRequest>>,
) -> Response {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    let user = match authenticate(&shared, &headers, "switch") {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    // The seed: the Remote Control right is not checked with /Immediate (for
    // a master administrator) or when there is no primary server.
    let status = shared.status();
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
    shared.to_driver(DriverMsg::Switch {
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
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "switching": true })),
            )
                .into_response()
        }
        Some(Err(why)) => error(StatusCode::CONFLICT, why),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not take the request in time (starting up, busy or shutting down); try again",
        ),
    }
}

/// The server parameters in effect on this node.
async fn params(State(shared): State<Arc<Shared>>) -> Response {
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

#[derive(Deserialize)]
struct PathQuery {
    path: String,
    #[serde(default)]
    client_id: Option<String>,
}

fn parse_path(text: &str) -> Result<duet_config::TreePath, Refusal> {
    duet_config::TreePath::parse(text)
        .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn config_get(State(shared): State<Arc<Shared>>, Query(q): Query<PathQuery>) -> Response {
    let path = match parse_path(&q.path) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let (reply, view) = oneshot::channel();
    shared.to_driver(DriverMsg::ConfigRead { path, reply });
    match tokio::time::timeout(std::time::Duration::from_secs(5), view).await {
        Ok(Ok(view))
            if view.object.is_none() && view.children.is_empty() && view.history.is_empty() =>
        {
            error(StatusCode::NOT_FOUND, format!("nothing at {}", view.path))
        }
        Ok(Ok(view)) => Json(view).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not answer in time; try again",
        ),
    }
}

/// The conflict records (changes that lost when the pair healed after both
/// nodes served), oldest first; either node answers (both hold them).
async fn config_conflicts(State(shared): State<Arc<Shared>>) -> Response {
    let (reply, conflicts) = oneshot::channel();
    shared.to_driver(DriverMsg::ConfigConflicts(reply));
    match tokio::time::timeout(std::time::Duration::from_secs(5), conflicts).await {
        Ok(Ok(conflicts)) => Json(conflicts).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node did not answer in time; try again",
        ),
    }
}

#[derive(Deserialize)]
struct PutBody {
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
    // A node holding the role takes the write even while its lease is
    // being confirmed again: the write then waits (bounded) for it.
    let status = shared.status();
    if status.role != duet_link::protocol::Role::Active {
        let active = (status.peer.role == Some(duet_link::protocol::Role::Active))
            .then(|| status.peer.name.clone());
        let message = match &active {
            Some(name) => format!(
                "{} is the backup: make configuration changes on the active node, {name}",
                status.node
            ),
            None => format!(
                "{} is not the active node: make configuration changes on the active node",
                status.node
            ),
        };
        return Err(Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message,
            active,
        });
    }
    Ok(user)
}

/// The one mapping from a write's error to its HTTP answer.
fn write_refusal(e: WriteError) -> Refusal {
    match e {
        WriteError::Rejected(duet_config::TreeError::NotFound(_)) => {
            Refusal::new(StatusCode::NOT_FOUND, e.to_string())
        }
        WriteError::Rejected(_) => Refusal::new(StatusCode::BAD_REQUEST, e.to_string()),
        WriteError::Unavailable { message, active } => Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message,
            active,
        },
    }
}

static CLIENT_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A client's id for a change travels with it into history and the stream.
const CLIENT_ID_MAX_BYTES: usize = 128;

async fn write(
    shared: &Shared,
    user: &User,
    client_id: Option<String>,
    op: duet_config::Op,
) -> Response {
    if client_id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.len() > CLIENT_ID_MAX_BYTES)
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("client_id: 1 to {CLIENT_ID_MAX_BYTES} bytes"),
        );
    }
    let client = client_id.unwrap_or_else(|| {
        format!(
            "api-{}-{}",
            crate::events::unix_ms(),
            CLIENT_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )
    });
    let (reply, done) = oneshot::channel();
    shared.to_driver(DriverMsg::ConfigWrite {
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

async fn config_put(
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
    let object = duet_config::Object {
        class,
        attributes: body.attributes,
    };
    write(
        &shared,
        user,
        body.client_id,
        duet_config::Op::Put { path, object },
    )
    .await
}

async fn config_delete(
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

/// The fault-injection name of the file monitor.
const FILE_MONITOR: &str = "file-monitor";
/// The fault-injection name of the active node's answers to the backup's
/// configuration sync requests.
const CONFIG_SYNC: &str = "config-sync";

#[derive(Deserialize)]
struct FaultRequest {
    module: String,
    fault: ModuleFault,
}

async fn fault(
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
    if let Err(refusal) = authenticate(&shared, &headers, "fault injection") {
        return refusal.into_response();
    }
    let injected = match (request.module.as_str(), request.fault) {
        (FILE_MONITOR | CONFIG_SYNC, ModuleFault::Crash) => false,
        (FILE_MONITOR, fault) => shared
            .file_monitor
            .control
            .try_send(crate::file_monitor::MonitorMsg::Fault(fault))
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
            Json(serde_json::json!({ "injected": request.fault })),
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

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
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

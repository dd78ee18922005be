//! A node's HTTP and WebSocket API and its web pages (`pages.rs`), over
//! the node's handles (`duet_node::shared::Shared`): status, role (the
//! seed's Query Backup), events, switch (needs the Remote Control right),
//! fault injection (only when the bootstrap turns it on), Prometheus
//! metrics, configuration, the contact center's routes for agents,
//! supervisors, customers and integrations, and the OpenAPI document.
//! Every answer carries the node's epoch in `x-duet-epoch`. The node
//! starts it through [`serve`], which `duet serve` hands to
//! `duet_node::node::run`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use duet_node::bootstrap::User;
use duet_node::replication::WriteError;
use duet_node::shared::Shared;

mod access;
mod admin;
mod agent;
mod archive;
mod auth;
mod bounds;

mod config;
mod connections;
mod cors;
mod customer;
mod customer_view;
mod desktops;
mod files;
mod guard;
mod headers;
mod live;
mod openapi;
mod pages;
mod presence;
mod reports;
mod signature;
mod signouts;
mod sockets;
mod status;
mod stream;
mod supervisor;
mod tls;

const EPOCH_HEADER: &str = "x-duet-epoch";

/// Serves the API on the node's HTTP listener (over TLS with `tls`), at
/// most the bootstrap's `[limits] http_connections_max` connections at
/// once, until the node stops it.
pub fn serve(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> futures::future::BoxFuture<'static, ()> {
    let connections_max = shared.boot.limits.http_connections_max;
    Box::pin(tls::serve(listener, router(shared), tls, connections_max))
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/status", get(status::status))
        .route("/api/role", get(status::role))
        .route("/api/events", get(status::events))
        .route("/api/switch", post(admin::switch))
        .route("/api/fault", post(admin::fault))
        .route(
            "/api/config",
            get(config::config_get)
                .put(config::config_put)
                .delete(config::config_delete),
        )
        .route("/api/config/conflicts", get(config::config_conflicts))
        .route("/api/config/batch", post(config::config_batch))
        .route("/api/params", get(status::params))
        .route("/metrics", get(status::metrics))
        .route("/api/sessions", post(auth::login).delete(auth::logout))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/stream/ws", get(stream::stream))
        .merge(agent::routes())
        .merge(customer::routes())
        .merge(supervisor::routes())
        .merge(reports::routes())
        .merge(archive::routes())
        .merge(files::routes())
        .route_layer(middleware::from_fn(rejections))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            access::guard,
        ))
        // Outside the access guard: a flood is refused before any work.
        .route_layer(middleware::from_fn_with_state(
            guard::Guard::new(&shared.boot.limits),
            guard::limit,
        ))
        // The pages (and `GET /api/pair`, open to anyone) are served to
        // anyone: what they show comes from the API, which is guarded.
        .merge(pages::routes())
        .route_layer(middleware::from_fn_with_state(shared.clone(), observe))
        .layer(middleware::from_fn_with_state(shared.clone(), epochs))
        .layer(middleware::from_fn_with_state(shared.clone(), cors::cors))
        .layer(axum::Extension(Arc::new(sockets::Sockets::new(
            &shared.boot.limits,
        ))))
        .layer(middleware::from_fn(headers::security))
        .with_state(shared)
}

/// Counts every routed request by route, method and status, with its
/// duration.
async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let metrics = &shared.metrics;
    metrics
        .http_requests
        .get_or_create(&vec![
            ("route", route.clone()),
            ("method", method),
            ("status", response.status().as_u16().to_string()),
        ])
        .inc();
    metrics
        .http_seconds
        .get_or_create(&duet_node::metrics::label("route", route))
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Stamps our epoch on every answer, so clients can ignore a stale node.
/// A client's own epoch header is not trusted to fence this node: only the
/// peer, over the authenticated link and arbiter, can do that.
async fn epochs(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&shared.view.epoch().to_string()) {
        response.headers_mut().insert(EPOCH_HEADER, value);
    }
    response
}

/// The largest refusal in words an extractor gives that is carried over
/// into an error body.
const REJECTION_MAX_BYTES: usize = 4 * 1024;

/// A request the framework's extractors refused (a malformed JSON body
/// or query, a wrong content type, a failed WebSocket upgrade) answers in
/// plain text; it is given the error body every other refusal has, so a
/// client reads `status` whatever refused it.
async fn rejections(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if !response.status().is_client_error() || !plain {
        return response;
    }
    let status = response.status();
    let words = axum::body::to_bytes(response.into_body(), REJECTION_MAX_BYTES)
        .await
        .map_or_else(
            |_| "the request was refused".to_string(),
            |b| String::from_utf8_lossy(&b).into_owned(),
        );
    error(status, words)
}

/// A refusal's answer: the status, and the body saying it again with
/// what was wrong.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = duet_api::ErrorBody::new(status.as_u16(), message);
    (status, Json(body)).into_response()
}

/// A refused request: its status and what to tell the client.
struct Refusal {
    status: StatusCode,
    message: String,
    /// The active node, for a request that must go there.
    active: Option<String>,
    /// When to try again (`Retry-After`, seconds), for a node or source
    /// that holds its most of something now.
    retry_after_s: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
            active: None,
            retry_after_s: None,
        }
    }

    /// The refusal, telling the client to try again in `seconds`.
    fn retry_after(self, seconds: u64) -> Refusal {
        Refusal {
            retry_after_s: Some(seconds),
            ..self
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
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }
}

/// The user named by HTTP basic credentials, or the refusal to send. One
/// argon2 check whatever the name, so timing tells nothing; failures are
/// counted per address and per user by the guard.
async fn authenticate<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    action: &str,
) -> Result<&'a User, Refusal> {
    let refuse =
        |why: String| Refusal::new(StatusCode::UNAUTHORIZED, format!("{action} refused: {why}"));
    let Some((name, password)) = guard::basic_credentials(headers) else {
        return Err(refuse("no credentials; give a user and password".into()));
    };
    static REMEMBERED: std::sync::OnceLock<duet_node::passwords::Remembered> =
        std::sync::OnceLock::new();
    let remembered = REMEMBERED.get_or_init(Default::default);
    let now_ms = duet_node::events::unix_ms();
    let user = shared.boot.users.iter().find(|u| u.name == name);
    // Remembered under the user as this node's file has it, so another
    // password for the same name (another file) is checked afresh.
    let who = user.map(|u| format!("{}\n{}", u.name, u.password));
    if let (Some(user), Some(who)) = (user, &who)
        && remembered.knows(who, &password, now_ms)
    {
        return Ok(user);
    }
    let stored = user.map(|u| u.password.clone());
    if duet_node::passwords::check(password.clone(), stored).await {
        let (Some(user), Some(who)) = (user, who) else {
            return Err(refuse("wrong user or password".into()));
        };
        remembered.remember(&who, &password, now_ms);
        Ok(user)
    } else {
        Err(refuse(format!("wrong user or password for {name:?}")))
    }
}

/// The refusal of a change on a node that does not hold the active role
/// (503 naming the active node when it knows it), or `None`. A node
/// holding the role takes the change even while its lease is being
/// confirmed again: the change then waits (bounded) for it.
fn not_active(shared: &Shared, what: &str) -> Option<Refusal> {
    let status = shared.view.status();
    if status.role == duet_link::protocol::Role::Active {
        return None;
    }
    let active = (status.peer.role == Some(duet_link::protocol::Role::Active))
        .then(|| status.peer.name.clone());
    let message = match &active {
        Some(name) => format!(
            "{} is the backup: make {what} on the active node, {name}",
            status.node
        ),
        None => format!(
            "{} is not the active node: make {what} on the active node",
            status.node
        ),
    };
    Some(Refusal {
        active,
        ..Refusal::new(StatusCode::SERVICE_UNAVAILABLE, message)
    })
}

/// The one mapping from a write's error to its HTTP answer.
fn write_refusal(e: WriteError) -> Refusal {
    match e {
        WriteError::Rejected(duet_config::TreeError::NotFound(_)) => {
            Refusal::new(StatusCode::NOT_FOUND, e.to_string())
        }
        WriteError::Rejected(_) | WriteError::Invalid(_) => {
            Refusal::new(StatusCode::BAD_REQUEST, e.to_string())
        }
        WriteError::Interaction(ref ix) => Refusal::new(interaction_status(ix), e.to_string()),
        WriteError::Unavailable { message, active } => Refusal {
            active,
            ..Refusal::new(StatusCode::SERVICE_UNAVAILABLE, message)
        },
    }
}

/// The status for an interaction change that cannot be made: what is not
/// there is 404, a conflict with the state 409, a malformed request 400.
fn interaction_status(e: &duet_interactions::Error) -> StatusCode {
    use duet_interactions::Error as E;
    match e {
        E::UnknownInteraction { .. }
        | E::UnknownQueue { .. }
        | E::UnknownAgent { .. }
        | E::UnknownItem { .. } => StatusCode::NOT_FOUND,
        E::TooLarge { .. } | E::ContentTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        // Try again later; content let go meanwhile is sent again.
        E::Full { .. } | E::ContentFull { .. } | E::ContentMissing { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        // The request is well-formed; the interaction's media does not
        // take it.
        E::WrongMedia { .. } => StatusCode::CONFLICT,
        E::Invalid { .. } | E::InvalidWrapUpCode { .. } | E::UnknownStatus { .. } => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::CONFLICT,
    }
}

/// How long a request waits for the replication task's answer.
const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// What a request refused because the node is full asks the client to
/// wait, in seconds.
const BUSY_RETRY_AFTER_S: u64 = 1;
/// What a request that waited past its bound is told.
const LATE: &str = "the node did not answer in time (busy or shutting down); try again";

/// The answer when the replication task's inbox is full: at once, not
/// after a wait.
fn busy() -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the node is busy (its replication inbox is full); try again shortly",
    )
    .retry_after(BUSY_RETRY_AFTER_S)
}

/// A place among the requests waiting for replication's answer (at most
/// `max` at once), or 503 with `Retry-After` at once when they are all
/// taken.
fn enter(
    waiting: &duet_node::replication::Waiting,
    max: usize,
) -> Result<tokio::sync::OwnedSemaphorePermit, Refusal> {
    waiting.try_enter(max).ok_or_else(|| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the node is busy ({max} requests wait for it, its most at once); try again shortly"
            ),
        )
        .retry_after(BUSY_RETRY_AFTER_S)
    })
}

/// Sends `message` to the replication task and waits (at most `wait`)
/// for its answer on `answer`; refused at once when the node is full
/// (requests waiting, or its inbox), and with `late` when no answer came
/// in time.
async fn from_replication<T>(
    shared: &Shared,
    message: duet_node::replication::ReplicationMsg,
    answer: tokio::sync::oneshot::Receiver<T>,
    wait: std::time::Duration,
    late: &str,
) -> Result<T, Refusal> {
    to_replication(shared, message, answer)?
        .answer(wait, late)
        .await
}

/// A message the replication task holds, with a place among the requests
/// waiting for it.
struct Sent<T> {
    _waiting: tokio::sync::OwnedSemaphorePermit,
    answer: tokio::sync::oneshot::Receiver<T>,
}

impl<T> Sent<T> {
    /// Its answer, within `wait`; refused with `late` when none came.
    async fn answer(self, wait: std::time::Duration, late: &str) -> Result<T, Refusal> {
        tokio::time::timeout(wait, self.answer)
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| Refusal::new(StatusCode::SERVICE_UNAVAILABLE, late))
    }
}

/// Hands `message` to the replication task without waiting for its answer
/// (messages sent one after another are taken in that order); refused at
/// once when the node is full (requests waiting, or its inbox).
fn to_replication<T>(
    shared: &Shared,
    message: duet_node::replication::ReplicationMsg,
    answer: tokio::sync::oneshot::Receiver<T>,
) -> Result<Sent<T>, Refusal> {
    let waiting = enter(
        &shared.answers_waiting,
        shared.boot.limits.answers_waiting_max,
    )?;
    if !shared.replication.offer(message) {
        return Err(busy());
    }
    Ok(Sent {
        _waiting: waiting,
        answer,
    })
}

/// Asks the replication task about the contact center; waits (bounded)
/// for the answer.
async fn ask<T>(
    shared: &Shared,
    request: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> duet_node::replication::IxRequest,
) -> Result<T, Refusal> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let message = duet_node::replication::ReplicationMsg::Interactions(request(reply));
    from_replication(shared, message, answer, ANSWER_WAIT, LATE).await
}

/// The object at a configuration path, if there is one; waits (bounded)
/// for the replication task's answer.
async fn config_object(
    shared: &Shared,
    path: duet_config::TreePath,
) -> Result<Option<duet_config::Object>, Refusal> {
    let (reply, view) = tokio::sync::oneshot::channel();
    let message = duet_node::replication::ReplicationMsg::ConfigRead { path, reply };
    let view = from_replication(shared, message, view, ANSWER_WAIT, LATE).await?;
    Ok(view.object)
}

/// A fresh client id for a change whose client gave none.
fn client_id(given: Option<String>) -> Result<String, Refusal> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    match given {
        Some(id) if id.is_empty() || id.chars().count() > CLIENT_ID_MAX_CHARS => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("client_id: 1 to {CLIENT_ID_MAX_CHARS} characters"),
        )),
        Some(id) => Ok(id),
        None => Ok(format!(
            "api-{}-{}-{}",
            duet_node::events::unix_ms(),
            rand::random::<u32>(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )),
    }
}

/// A client's id for a change travels with it into history and the stream.
const CLIENT_ID_MAX_CHARS: usize = 128;

/// Makes an interaction change on the stream and answers once it is
/// acknowledged (on the backup too, while in sync), with its sequence
/// number; or the refusal, mapped in one place.
async fn change(
    shared: &Shared,
    client: Option<String>,
    actor: duet_interactions::Actor,
    change: duet_interactions::Change,
) -> Result<u64, Refusal> {
    // A user's client id is scoped to the user: another who reuses it
    // makes a change of its own and is never answered with this one's.
    let client = match client {
        Some(given) => scoped(client_id(Some(given))?, &actor),
        None => client_id(None)?,
    };
    commit(shared, client, actor, change).await
}

/// A client id a caller chose, scoped to the user acting (if one is).
fn scoped(client: String, actor: &duet_interactions::Actor) -> String {
    match actor {
        duet_interactions::Actor::Agent(name) | duet_interactions::Actor::User(name) => {
            format!("user/{name}/{client}")
        }
        _ => client,
    }
}

/// Makes an interaction change under a client id the node made (from a
/// client's, checked, or from what the request names, bounded).
async fn commit(
    shared: &Shared,
    client: String,
    actor: duet_interactions::Actor,
    change: duet_interactions::Change,
) -> Result<u64, Refusal> {
    let command =
        duet_interactions::Command::new(client, duet_node::events::unix_ms(), actor, change);
    let written = ask(shared, |reply| duet_node::replication::IxRequest::Write {
        command: Box::new(command),
        reply,
    })
    .await?;
    written.map_err(write_refusal)
}

/// The answer to a request: `answer` as JSON, or the refusal.
fn answer<T: serde::Serialize>(result: Result<T, Refusal>) -> Response {
    match result {
        Ok(answer) => Json(answer).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The answer to a change: `{"seq": N}`, or the refusal.
fn done(result: Result<u64, Refusal>) -> Response {
    answer(result.map(|seq| duet_api::Changed { seq }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the framework refuses (malformed JSON, a body of the wrong
    /// shape) is answered with the error body and its status, as every
    /// other refusal.
    #[tokio::test]
    async fn a_body_the_framework_refuses_gets_the_error_body() {
        let app = Router::new()
            .route(
                "/sessions",
                post(|Json(_): Json<duet_api::Login>| async { "signed in" }),
            )
            .route_layer(middleware::from_fn(rejections));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let answers = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            [
                "{not json",
                r#"{"user": 1}"#,
                r#"{"user": "a", "password": "b"}"#,
            ]
            .map(|body| {
                let mut answer = agent
                    .post(&format!("http://{address}/sessions"))
                    .header("content-type", "application/json")
                    .send(body)
                    .unwrap();
                let status = answer.status().as_u16();
                (status, answer.body_mut().read_to_string().unwrap())
            })
        })
        .await
        .unwrap();
        for (status, text) in &answers[..2] {
            let body: duet_api::ErrorBody = serde_json::from_str(text).unwrap();
            assert!((400..500).contains(status), "{status} {text}");
            assert_eq!(body.status, *status, "{text}");
            assert!(!body.error.is_empty());
        }
        assert_eq!(answers[2], (200, "signed in".to_string()));
    }

    /// Requests waiting for replication are bounded: one more is refused
    /// at once with 503, the error body and `Retry-After`, and a place
    /// given back serves the next.
    #[tokio::test]
    async fn waiting_requests_over_their_most_are_refused_at_once() {
        let waiting = duet_node::replication::Waiting::default();
        let Ok(first) = enter(&waiting, 2) else {
            panic!("a place")
        };
        let Ok(_second) = enter(&waiting, 2) else {
            panic!("a place")
        };
        let Err(refused) = enter(&waiting, 2) else {
            panic!("refused")
        };
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        let response = refused.into_response();
        assert_eq!(response.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: duet_api::ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.status, 503);
        drop(first);
        assert!(enter(&waiting, 2).is_ok(), "a place given back");
    }
}

//! Reports for the pages: `GET /api/reports/queues` and
//! `GET /api/reports/agents`, read from the reporting databases the
//! bootstrap file names (`reporting_databases`), the same figures as
//! `duet report` (docs/reporting.md). A supervisor narrowed to some
//! queues sees those queues, and the agents their members were at each
//! interval's start (the configuration in effect).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use duet_report::config::queues_of;
use duet_report::queues::{DEFAULT_INTERVAL_MS, Window};
use duet_report::read::{ReadError, Reads, sources, unix_ms};
use serde::Deserialize;

use super::auth::Caller;
use super::error;
use duet_node::directory::UserRole;
use duet_node::shared::Shared;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/reports/queues", get(queues))
        .route("/api/reports/agents", get(agents))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// Start of the window: RFC 3339 or unix ms.
    from: String,
    /// End of the window (exclusive), as `from`.
    to: String,
    /// The interval length in seconds: 1800 by default, 900 allowed (any
    /// whole number of minutes that divides a day).
    #[serde(default)]
    interval_s: Option<u64>,
    /// Queues: the service level time for every queue, in seconds; each
    /// queue's own in effect when not given.
    #[serde(default)]
    service_level_s: Option<u64>,
}

fn refusal(e: ReadError) -> Response {
    match e {
        ReadError::Database { .. } => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        _ => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// The report `make` makes of the window, on a blocking thread (the
/// databases' clients block).
async fn run<T: serde::Serialize + Send + 'static>(
    shared: &Shared,
    q: ReportQuery,
    reads: Reads,
    make: impl FnOnce(&Window, &[duet_report::source::Source]) -> Result<T, ReadError> + Send + 'static,
) -> Response {
    let databases = shared.boot.reporting_databases.clone();
    if databases.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            "this node reads no reporting database: name one in its bootstrap file's reporting_databases",
        );
    }
    let window = match (unix_ms(&q.from), unix_ms(&q.to)) {
        (Ok(from_ms), Ok(to_ms)) => Window {
            from_ms,
            to_ms,
            interval_ms: q
                .interval_s
                .map_or(DEFAULT_INTERVAL_MS, |s| s.saturating_mul(1000)),
            service_level_ms: q.service_level_s.map(|s| s.saturating_mul(1000)),
        },
        (Err(e), _) | (_, Err(e)) => return refusal(e),
    };
    let work = tokio::task::spawn_blocking(move || {
        let sources = sources(&databases, &window, reads)?;
        make(&window, &sources)
    });
    match work.await {
        Ok(Ok(lines)) => Json(lines).into_response(),
        Ok(Err(e)) => refusal(e),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the report stopped before it was made; try again",
        ),
    }
}

/// Whether `caller` sees every queue.
fn sees_all(caller: &Caller) -> bool {
    caller.is(UserRole::Admin) || caller.supervises == duet_node::directory::Supervises::Every
}

#[utoipa::path(
    get,
    path = "/api/reports/queues",
    tag = "reports",
    description = "Queue figures per interval from the node's reporting databases (`duet report queues` as JSON; docs/reporting.md): offered, answered, abandoned, handled, transferred, lost at switchover, the three service levels, ASA, AHT; each interval from a database that covers it with no gap, else marked `gap`. A supervisor's queues only.",
    params(ReportQuery),
    responses((status = 200, description = "Report lines, per queue and interval", body = Vec<duet_report::queues::QueueLine>), super::openapi::Answers)
)]
async fn queues(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ReportQuery>,
) -> Response {
    run(&shared, q, Reads::Queues, move |window, sources| {
        let mut lines = duet_report::queues::report(window, sources)?;
        lines.retain(|l| sees_all(&caller) || caller.supervises.covers(&l.queue));
        Ok(lines)
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/reports/agents",
    tag = "reports",
    description = "Agent figures per interval from the node's reporting databases (`duet report agents` as JSON; docs/reporting.md): logged-in, ready and not-ready time by reason, answered, handled, transfers, talk, hold, wrap-up, AHT, occupancy. A supervisor narrowed to some queues sees the agents that were their members at the interval's start.",
    params(ReportQuery),
    responses((status = 200, description = "Report lines, per agent and interval", body = Vec<duet_report::agents::AgentLine>), super::openapi::Answers)
)]
async fn agents(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ReportQuery>,
) -> Response {
    run(&shared, q, Reads::Agents, move |window, sources| {
        let mut lines = duet_report::agents::report(window, sources)?;
        if !sees_all(&caller) {
            let config: Vec<_> = sources.iter().flat_map(|s| s.config.clone()).collect();
            lines.retain(|l| {
                queues_of(&config, &l.agent, l.start_ms).any(|q| caller.supervises.covers(q))
            });
        }
        Ok(lines)
    })
    .await
}

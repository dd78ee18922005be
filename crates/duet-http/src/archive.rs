//! The archive through the API: `GET /api/interactions` searches the
//! live interactions (shared by the replication task, read here) and
//! the reporting databases the bootstrap file names
//! (`reporting_databases`), on a blocking thread bounded in time, one
//! result per interaction (a
//! live one wins over its archived copy), a page at a time; and the
//! archived copy of an interaction the live state has forgotten, for
//! `GET /api/interactions/{id}` (the guard falls back to it).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use duet_report::Database;
use duet_report::archive::view::Archived;
use duet_report::archive::{Asked, Search, live_page, merge};
use duet_report::read::ReadError;

use super::access::scope;
use super::auth::Caller;
use super::{Refusal, ask};
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

/// The longest query string a search takes.
const QUERY_MAX_BYTES: usize = 4096;
/// How long a request waits for the reporting databases.
const ARCHIVE_WAIT: Duration = Duration::from_secs(10);

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/api/interactions", get(search))
}

/// An archived interaction the guard let the caller read (handlers take
/// it from the request's extensions).
#[derive(Debug, Clone)]
pub struct FromArchive(pub Box<Archived>);

/// `read` over the reporting databases (none when the node names
/// none) on a blocking thread, bounded in time.
async fn databases<T: Send + 'static>(
    shared: &Shared,
    read: impl FnOnce(&[Database]) -> Result<T, ReadError> + Send + 'static,
) -> Result<T, Refusal> {
    let reporting = shared.boot.reporting_databases.clone();
    let work = tokio::task::spawn_blocking(move || read(&reporting));
    match tokio::time::timeout(ARCHIVE_WAIT, work).await {
        Ok(Ok(Ok(found))) => Ok(found),
        // The search was checked before: what fails is the databases.
        Ok(Ok(Err(e))) => Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        Ok(Err(_)) | Err(_) => Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the reporting databases did not answer in time; try again",
        )),
    }
}

/// Interaction `id` from the archive, if a database keeps it.
pub(super) async fn fetch(shared: &Shared, id: &str) -> Result<Option<Archived>, Refusal> {
    let id = id.to_string();
    databases(shared, move |reporting| {
        duet_report::archive::read::fetch(reporting, &id)
    })
    .await
}

/// `GET /api/interactions`: live and archived interactions, newest first.
#[utoipa::path(
    get,
    path = "/api/interactions",
    tag = "supervisor",
    description = "Live and archived interactions (docs/reporting.md, \"The archive\"), newest first by creation, then id: {\"interactions\": [{id, media, queue, created_ms, closed_ms, agents, customer, disposition, message_id, found: live|archive}], \"next\"}. Every filter given must hold. Each caller sees what it is related to: an administrator all, a supervisor its queues', an agent those it is offered or holds and the closed ones it was connected to. One result per interaction: the live one, else the closed archived copy, else the later written.",
    params(
        ("from" = Option<String>, Query, pattern = r"^[ \t\n\x0b\x0c\r]*([0-9]{1,19}|(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|\+00:00)?)?[ \t\n\x0b\x0c\r]*$", description = "Created at or after: RFC 3339 or unix ms"),
        ("to" = Option<String>, Query, pattern = r"^[ \t\n\x0b\x0c\r]*([0-9]{1,19}|(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|\+00:00)?)?[ \t\n\x0b\x0c\r]*$", description = "Created before: RFC 3339 or unix ms"),
        ("queue" = Option<String>, Query, max_length = 320, description = "The queue it is in, or ended in"),
        ("agent" = Option<String>, Query, max_length = 320, description = "An agent that was connected to it"),
        ("media" = Option<String>, Query, pattern = r"^[ \t\n\x0b\x0c\r]*(call|chat|email|callback|sms|social_conversation|social_direct_message)?[ \t\n\x0b\x0c\r]*$", description = "call, chat, email, callback, sms, social_conversation, social_direct_message"),
        ("customer" = Option<String>, Query, max_length = 320, description = "A piece of the customer's address or name (ASCII case ignored)"),
        ("message_id" = Option<String>, Query, max_length = 320, description = "An email's Message-ID, exactly (angle brackets ignored)"),
        ("disposition" = Option<String>, Query, pattern = r"^[ \t\n\x0b\x0c\r]*(customer_ended|agent_ended|system_ended|abandoned|ended_in_queue|ended_by_failover|path_went_down)?[ \t\n\x0b\x0c\r]*$", description = "How it ended (archived ones): customer_ended, agent_ended, system_ended, abandoned, ended_in_queue, ended_by_failover, path_went_down"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100; 50 when not given"),
        ("next" = Option<String>, Query, max_length = 320, pattern = r"^[ \t\n\x0b\x0c\r]*((3[0-9]){1,19}2[eE]([0-7][0-9a-fA-F])*)?[ \t\n\x0b\x0c\r]*$", description = "The `next` of the page before (an opaque token)"),
    ),
    responses((status = 200, description = "A page: {interactions, next}", body = duet_report::archive::Page), super::openapi::Answers)
)]
async fn search(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
    asked: Result<Query<Asked>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match page(&shared, &caller, raw.as_deref().unwrap_or_default(), asked).await {
        Ok(page) => Json(page).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn page(
    shared: &Shared,
    caller: &Caller,
    raw: &str,
    asked: Result<Query<Asked>, axum::extract::rejection::QueryRejection>,
) -> Result<duet_report::archive::Page, Refusal> {
    let bad = |message: String| Refusal::new(StatusCode::BAD_REQUEST, message);
    if raw.len() > QUERY_MAX_BYTES {
        return Err(bad(format!(
            "the query string is {} bytes long; at most {QUERY_MAX_BYTES}",
            raw.len()
        )));
    }
    let Query(asked) = asked.map_err(|e| bad(e.body_text()))?;
    let search = Search::new(&asked, scope(caller)).map_err(|e| bad(e.to_string()))?;
    // The live state's page is made here, off the replication task.
    let live = ask(shared, IxRequest::Interactions).await?;
    databases(shared, move |reporting| {
        let found = live_page(live.iter().map(|ix| &**ix), &search);
        let archived = duet_report::archive::read::found(reporting, &search)?;
        Ok(merge(std::iter::once(found).chain(archived), search.limit))
    })
    .await
}

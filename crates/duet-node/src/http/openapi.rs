//! The API's OpenAPI document, served as JSON at `/api/openapi.json`
//! (generated from the handlers' annotations; no UI to download).

use axum::Json;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "duet",
        description = "A contact-center interaction server run as an active/backup pair. Changes are made on the active node; the backup answers 503 and names the active node in x-duet-active. Every change may carry `client_id`, the client's own id, so a retry (after a switchover, say) is applied once. Every answer carries the node's epoch in x-duet-epoch.",
    ),
    paths(
        super::status::status,
        super::status::role,
        super::status::events,
        super::status::params,
        super::status::metrics,
        super::admin::switch,
        super::admin::fault,
        super::config::config_get,
        super::config::config_put,
        super::config::config_delete,
        super::config::config_conflicts,
        super::auth::login,
        super::agent::me,
        super::agent::login,
        super::agent::logout,
        super::agent::status,
        super::agent::act,
        super::live::agent,
        super::customer::start_chat,
        super::customer::transcript,
        super::customer::message,
        super::customer::delivery,
        super::customer::leave,
        super::live::customer,
        super::customer::callback,
        super::customer::webhook,
        super::customer::call,
        super::supervisor::queues,
        super::supervisor::agents,
        super::supervisor::set_status,
        super::supervisor::interaction,
        super::supervisor::shadow,
        super::files::customer_shares,
        super::files::customer_downloads,
        super::files::agent_shares,
        super::files::agent_downloads,
    )
)]
struct Document;

/// `GET /api/openapi.json`.
pub(super) async fn document() -> Response {
    Json(Document::openapi()).into_response()
}

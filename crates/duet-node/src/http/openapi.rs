//! The API's OpenAPI document, served as JSON at `/api/openapi.json`
//! (generated from the handlers' annotations; no UI to download).

use axum::Json;
use axum::response::{IntoResponse, Response};
use duet_api::{ErrorBody, Frame};
use utoipa::OpenApi;

/// A change's answer once acknowledged (a type the document reads; never
/// built).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(super) enum Acknowledged {
    #[response(
        status = 200,
        description = "Acknowledged: the change's sequence number"
    )]
    Done(duet_api::Changed),
}

/// The refusals every route may give, each with its `ErrorBody` (a type
/// the document reads; never built).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(super) enum Answers {
    #[response(
        status = 400,
        description = "Malformed or invalid: the error says what"
    )]
    Invalid(ErrorBody),
    #[response(status = 401, description = "No or wrong credentials")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "Not allowed for this user")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "Unknown")]
    NotFound(ErrorBody),
    #[response(status = 409, description = "Not allowed in the current state")]
    Conflict(ErrorBody),
    #[response(
        status = 413,
        description = "Too large: a chat holding its customer's limit of messages, files or bytes"
    )]
    TooLarge(ErrorBody),
    #[response(
        status = 429,
        description = "Over a per-source limit (new chats and callbacks, failed sign-ins): Retry-After says when to try again"
    )]
    TooMany(ErrorBody),
    #[response(
        status = 503,
        description = "Not the active node (x-duet-active names it), or busy"
    )]
    Unavailable(ErrorBody),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "duet",
        description = "A contact-center interaction server run as an active/backup pair. Changes are made on the active node; the backup answers 503 and names the active node in x-duet-active. Every change may carry `client_id`, the client's own id, so a retry (after a switchover, say) is applied once. A refusal's body is `ErrorBody`: `error` in words and `status`, the HTTP status again, which is what a client decides on (503: try the other node, or again; 429: again after Retry-After; other 4xx: not as it is). WebSocket frames are `Frame`s, told apart by `type`: state, resume, gap, change, heartbeat, ack, error (with `status`, as a refusal's), moved, resync. Every answer carries the node's epoch in x-duet-epoch, and X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer and X-Frame-Options: DENY. Customers' fields are bounded (queue 128 bytes, name 256, address 320, number 32, 32 attributes of 64-byte names and 1 KiB values, 16 skills, message_id 128, body 16 KiB; a chat holds at most 1,000 messages, 20 files and 8 MiB from its customer): a request over a bound is refused with 400 naming the field and the bound, or 413.",
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
        super::auth::logout,
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
        super::stream::stream,
        super::customer::callback,
        super::customer::webhook,
        super::customer::call,
        super::supervisor::queues,
        super::supervisor::agents,
        super::supervisor::intervals,
        super::supervisor::set_status,
        super::supervisor::interaction,
        super::archive::search,
        super::supervisor::shadow,
        super::supervisor::conflicts,
        super::reports::queues,
        super::reports::agents,
        super::files::customer_shares,
        super::files::customer_downloads,
        super::files::agent_shares,
        super::files::agent_downloads,
        super::pages::pair,
        document,
    ),
    components(schemas(Frame, ErrorBody))
)]
struct Document;

/// The document itself.
pub(super) fn document_value() -> utoipa::openapi::OpenApi {
    Document::openapi()
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "node",
    description = "This document. Who may call each route: docs/access.md.",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub(super) async fn document() -> Response {
    Json(document_value()).into_response()
}

#[cfg(test)]
mod tests {
    use super::document_value;

    /// Every route says what its success carries and each refusal is the
    /// error body, and the document holds the socket frames, so a client
    /// is written from it rather than from the wire.
    #[test]
    fn every_route_names_its_answer_and_the_frames_are_components() {
        let document = serde_json::to_value(document_value()).unwrap();
        let paths = document["paths"].as_object().unwrap();
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let success = responses
                    .iter()
                    .find(|(status, _)| status.starts_with('2') || *status == "101")
                    .unwrap_or_else(|| panic!("{method} {path}: no success answer"));
                assert!(
                    success.1["content"].is_object(),
                    "{method} {path}: its {} answer has no body schema",
                    success.0
                );
                for (status, refusal) in responses.iter().filter(|(s, _)| s.as_str() >= "400") {
                    assert!(
                        refusal["content"]["application/json"]["schema"]["$ref"]
                            .as_str()
                            .is_some_and(|r| r.ends_with("/ErrorBody")),
                        "{method} {path}: its {status} does not carry the error body"
                    );
                }
            }
        }
        let schemas = &document["components"]["schemas"];
        for name in ["Frame", "StateFrame", "ChangeFrame", "ErrorBody"] {
            assert!(schemas[name].is_object(), "no schema {name}");
        }
        let frame = serde_json::to_string(&schemas["Frame"]).unwrap();
        for kind in [
            "state",
            "resume",
            "gap",
            "change",
            "heartbeat",
            "ack",
            "error",
            "moved",
            "resync",
        ] {
            assert!(frame.contains(&format!("\"{kind}\"")), "Frame lacks {kind}");
        }
    }
}

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
        status = 415,
        description = "The body's `Content-Type` is not the route's (`application/json` for a JSON body)"
    )]
    Unsupported(ErrorBody),
    #[response(
        status = 422,
        description = "The JSON body is well-formed but not of the request's shape: the error names the field"
    )]
    Unprocessable(ErrorBody),
    #[response(
        status = 413,
        description = "Too large: a chat holding its customer's limit of messages, files or bytes"
    )]
    TooLarge(ErrorBody),
    #[response(
        status = 429,
        description = "Over a per-source limit (new chats and callbacks, failed sign-ins, WebSockets from one address or for one holder): Retry-After says when to try again"
    )]
    TooMany(ErrorBody),
    #[response(
        status = 503,
        description = "Not the active node (x-duet-active names it), or busy: its replication inbox, the requests waiting for it or its WebSockets are at their most (Retry-After says when to try again)"
    )]
    Unavailable(ErrorBody),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "duet",
        description = "A contact-center interaction server run as an active/backup pair. Changes are made on the active node; the backup answers 503 and names the active node in x-duet-active. Every change may carry `client_id`, the client's own id, so a retry (after a switchover, say) is applied once. A refusal's body is `ErrorBody`: `error` in words and `status`, the HTTP status again, which is what a client decides on (503: try the other node, or again; 429: again after Retry-After; other 4xx: not as it is). WebSocket frames are `Frame`s, told apart by `type`: state, resume, gap, change, heartbeat, ack, error (with `status`, as a refusal's), moved, resync. Every answer carries the node's epoch in x-duet-epoch, and X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer and X-Frame-Options: DENY. Customers' fields are bounded, in characters (queue 128, name 256, address 320, number 32, 32 attributes of 64-character names and 1,024-character values, 16 skills, message_id 128, body 16,384; a chat holds at most 1,000 messages, 20 files and 8 MiB from its customer): a request over a bound is refused with 400 naming the field and the bound, or 413.",
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
        super::config::config_batch,
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
        super::files::agent_stores,
        super::files::agent_downloads,
        super::pages::pair,
        document,
    ),
    components(schemas(
        Frame,
        ErrorBody,
        duet_api::Changed,
        duet_interactions::MediaType,
        super::agent::ActionName
    ))
)]
struct Document;

/// The document itself, with what the annotations cannot say.
pub(super) fn document_value() -> serde_json::Value {
    let mut document = serde_json::to_value(Document::openapi()).unwrap_or_default();
    bounds(&mut document);
    own_schema(&mut document);
    document
}

/// This document's own schema: an OpenAPI document, whose members the
/// OpenAPI specification defines rather than this document (utoipa has
/// no schema of its own type), so they are open.
fn own_schema(document: &mut serde_json::Value) {
    let open = serde_json::json!({"type": "object", "additionalProperties": true});
    document["paths"]["/api/openapi.json"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"] = serde_json::json!({
        "description": "An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)",
        "type": "object",
        "required": ["openapi", "info", "paths", "components"],
        "properties": {
            "openapi": {"type": "string"},
            "info": {
                "type": "object",
                "required": ["title", "version"],
                "properties": {"title": {"type": "string"}, "version": {"type": "string"}},
                "additionalProperties": true
            },
            "paths": {"type": "object", "additionalProperties": open},
            "components": {
                "type": "object",
                "properties": {"schemas": {"type": "object", "additionalProperties": open}},
                "additionalProperties": true
            }
        },
        "additionalProperties": true
    });
}

/// The bounds of the customer's maps (docs/security.md) and of an
/// attachment's bytes, a callback outcome's one field, and that a
/// `client_id` of a new conversation comes with its `client_secret`,
/// which utoipa's field attributes do not express.
fn bounds(document: &mut serde_json::Value) {
    use super::bounds::{
        ATTRIBUTE_NAME_MAX_CHARS, ATTRIBUTE_VALUE_MAX_CHARS, ATTRIBUTES_MAX, SKILL_NAME_MAX_CHARS,
        SKILLS_MAX,
    };
    let schemas = &mut document["components"]["schemas"];
    if schemas["NewAttachment"].is_object() {
        schemas["NewAttachment"]["properties"]["bytes"]["items"]["maximum"] = u8::MAX.into();
    }
    // An enum's variant with a value is an object of that one field.
    if let Some(variants) = schemas["CallbackOutcome"]["oneOf"].as_array_mut() {
        for variant in variants.iter_mut().filter(|v| v["type"] == "object") {
            variant["additionalProperties"] = false.into();
        }
    }
    let start = &mut schemas["Start"];
    if !start.is_object() {
        return;
    }
    start["properties"]["skills"]["maxProperties"] = SKILLS_MAX.into();
    start["properties"]["skills"]["propertyNames"] =
        serde_json::json!({"type": "string", "maxLength": SKILL_NAME_MAX_CHARS});
    start["properties"]["attributes"]["maxProperties"] = ATTRIBUTES_MAX.into();
    start["properties"]["attributes"]["propertyNames"] =
        serde_json::json!({"type": "string", "maxLength": ATTRIBUTE_NAME_MAX_CHARS});
    start["properties"]["attributes"]["additionalProperties"] =
        serde_json::json!({"type": "string", "maxLength": ATTRIBUTE_VALUE_MAX_CHARS});
    // A client id (a string) comes with its secret (a string).
    start["if"] = serde_json::json!({
        "properties": {"client_id": {"type": "string"}},
        "required": ["client_id"]
    });
    start["then"] = serde_json::json!({
        "properties": {"client_secret": {"type": "string"}},
        "required": ["client_secret"]
    });
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "node",
    description = "This document. Who may call each route: docs/access.md.",
    responses((status = 200, description = "The OpenAPI document", body = serde_json::Value))
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
        // Every reference names a schema the document holds.
        let text = document.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(
                schemas[name].is_object(),
                "{name} is referred to, not there"
            );
        }
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

    /// Where `schema` (at `at`) or a schema inside it says no more than
    /// "an object" or "anything": no properties, no reference, no
    /// `additionalProperties`, no alternatives, no items, no values.
    fn untyped(schema: &serde_json::Value, at: &str, found: &mut Vec<String>) {
        let Some(fields) = schema.as_object() else {
            return;
        };
        let said = [
            "properties",
            "additionalProperties",
            "$ref",
            "oneOf",
            "anyOf",
            "allOf",
            "items",
            "prefixItems",
            "enum",
            "const",
        ];
        let types: Vec<&str> = match &fields.get("type") {
            Some(serde_json::Value::String(one)) => vec![one.as_str()],
            Some(serde_json::Value::Array(many)) => {
                many.iter().filter_map(|t| t.as_str()).collect()
            }
            _ => Vec::new(),
        };
        let open = types.is_empty() || types.contains(&"object");
        if open && !said.iter().any(|key| fields.contains_key(*key)) {
            found.push(at.to_string());
        }
        for key in ["properties"] {
            if let Some(inner) = fields.get(key).and_then(|p| p.as_object()) {
                for (name, property) in inner {
                    untyped(property, &format!("{at}.{name}"), found);
                }
            }
        }
        for key in ["items", "additionalProperties"] {
            if let Some(inner) = fields.get(key).filter(|i| i.is_object()) {
                untyped(inner, &format!("{at}[{key}]"), found);
            }
        }
        for key in ["oneOf", "anyOf", "allOf", "prefixItems"] {
            for (i, inner) in fields
                .get(key)
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
                .enumerate()
            {
                untyped(inner, &format!("{at}[{key} {i}]"), found);
            }
        }
    }

    /// No answer and no schema of the document is an untyped object (the
    /// `Object` a route once answered with): each says its fields, refers
    /// to a schema that does, or says what its members are.
    #[test]
    fn every_answer_and_every_schema_says_its_shape() {
        let document = document_value();
        let mut found = Vec::new();
        let paths = document["paths"].as_object().unwrap();
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
                    for (kind, content) in response["content"].as_object().into_iter().flatten() {
                        untyped(
                            &content["schema"],
                            &format!("{method} {path} {status} {kind}"),
                            &mut found,
                        );
                    }
                }
            }
        }
        for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
            untyped(schema, name, &mut found);
        }
        assert!(found.is_empty(), "untyped: {found:#?}");
    }
}

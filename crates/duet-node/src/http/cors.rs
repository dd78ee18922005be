//! Cross-origin requests. A page loaded from one node keeps working when
//! that node fails by calling the other one, which is another origin; and
//! the chat widget runs on a customer's own web site. So the API answers
//! the pair's own pages from either node, and anyone on the routes a
//! customer uses. Credentials travel in headers the script sets (never
//! cookies), so no ambient credential is exposed to another origin.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::shared::Shared;

/// Routes any web site may call: what the chat widget needs.
const OPEN_PREFIXES: &[&str] = &["/api/chats", "/api/callbacks", "/api/pair"];

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE_S: &str = "600";

/// The origin to allow for a request from `origin` to `path`, if any.
fn allowed(shared: &Shared, origin: &str, path: &str) -> Option<HeaderValue> {
    let ours = super::pages::node_urls(shared)
        .iter()
        .any(|(_, url)| url == origin);
    if ours {
        return HeaderValue::from_str(origin).ok();
    }
    OPEN_PREFIXES
        .iter()
        .any(|p| path.starts_with(p))
        .then(|| HeaderValue::from_static("*"))
}

fn decorate(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("origin"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-duet-active, x-duet-epoch"),
    );
}

pub(super) async fn cors(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .and_then(|o| allowed(&shared, o, request.uri().path()));
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut answer = StatusCode::NO_CONTENT.into_response();
        let headers = answer.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-duet-token"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE_S),
        );
        answer
    } else {
        next.run(request).await
    };
    decorate(response.headers_mut(), origin);
    response
}

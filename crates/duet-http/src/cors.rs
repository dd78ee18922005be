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

use duet_node::shared::Shared;

/// Routes any web site may call: what the chat widget needs.
const OPEN_PREFIXES: &[&str] = &["/api/chats", "/api/callbacks", "/api/pair"];

/// How long a browser may keep a preflight's answer.
const PREFLIGHT_MAX_AGE_S: &str = "600";

/// The origin to allow for a request from `origin` to `path`, if any;
/// `ours`: the pair's own origins.
fn allowed(ours: &[String], origin: &str, path: &str) -> Option<HeaderValue> {
    if ours.iter().any(|url| url == origin) {
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
        .and_then(|o| {
            let ours = super::pages::node_urls(&shared).map(|(_, url)| url);
            allowed(&ours, o, request.uri().path())
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: [&str; 2] = ["http://10.0.0.1:8080", "http://10.0.0.2:8080"];

    fn allow(origin: &str, path: &str) -> Option<String> {
        let ours = OURS.map(String::from);
        allowed(&ours, origin, path).map(|v| v.to_str().unwrap_or_default().to_string())
    }

    #[test]
    fn the_pairs_pages_reach_every_route_of_either_node() {
        for origin in OURS {
            assert_eq!(allow(origin, "/api/agent").as_deref(), Some(origin));
            assert_eq!(allow(origin, "/api/switch").as_deref(), Some(origin));
        }
    }

    #[test]
    fn another_site_reaches_only_the_customers_routes() {
        let site = "https://shop.example";
        assert_eq!(allow(site, "/api/chats").as_deref(), Some("*"));
        assert_eq!(allow(site, "/api/chats/c-1/messages").as_deref(), Some("*"));
        assert_eq!(allow(site, "/api/pair").as_deref(), Some("*"));
        for path in [
            "/api/agent",
            "/api/sessions",
            "/api/switch",
            "/api/config",
            "/api/queues",
        ] {
            assert_eq!(allow(site, path), None, "{path}");
        }
        // A look-alike of a node's origin is another site.
        assert_eq!(allow("http://10.0.0.1:8080.evil", "/api/agent"), None);
    }
}

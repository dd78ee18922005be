//! The web pages people work in, served by each node from assets built
//! into the binary: the control panel (`/`, `/panel`), the agent desktop
//! (`/agent`), the chat widget (`/widget.js`, with a demo page `/chat`)
//! and the supervisor wall (`/wall`). They use only the public API; what
//! they need to find both nodes is `GET /api/pair`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error;
use crate::shared::Shared;

/// The assets, by the name they are served under `/web/`.
const ASSETS: &[(&str, &str)] = &[
    ("style.css", include_str!("../../web/style.css")),
    ("pair.js", include_str!("../../web/pair.js")),
    ("dom.js", include_str!("../../web/dom.js")),
    ("panel.js", include_str!("../../web/panel.js")),
    ("agent.js", include_str!("../../web/agent.js")),
    ("work.js", include_str!("../../web/work.js")),
    ("wall.js", include_str!("../../web/wall.js")),
    ("session.js", include_str!("../../web/session.js")),
    ("widget.css", include_str!("../../web/widget.css")),
    ("chart.js", include_str!("../../web/chart.js")),
];

/// The pages, by their path.
const PAGES: &[(&str, &str)] = &[
    ("/", include_str!("../../web/panel.html")),
    ("/panel", include_str!("../../web/panel.html")),
    ("/agent", include_str!("../../web/agent.html")),
    ("/chat", include_str!("../../web/chat.html")),
    ("/wall", include_str!("../../web/wall.html")),
];

/// The widget a customer's web site includes with one script tag; it may
/// be loaded from any site, so it is one file with no imports.
const WIDGET: &str = include_str!("../../web/widget.js");

pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    let mut router = axum::Router::new()
        .route("/web/{file}", get(asset))
        .route("/widget.js", get(widget))
        .route("/api/pair", get(pair));
    for (path, html) in PAGES {
        router = router.route(path, get(move |State(shared)| page(shared, html)));
    }
    router
}

/// Both nodes' HTTP addresses as the bootstrap file gives them: the pages
/// talk to either, and CORS lets them.
pub(super) fn node_urls(shared: &Shared) -> [(String, String); 2] {
    let boot = &shared.boot;
    [boot.me(), boot.peer()].map(|n| (n.name.clone(), format!("http://{}", n.http_addr())))
}

/// The Content Security Policy of a page: its own scripts only (no inline
/// script), and connections to the pair's two nodes only.
fn policy(shared: &Shared) -> String {
    let connect: Vec<String> = node_urls(shared)
        .iter()
        .flat_map(|(_, url)| [url.clone(), url.replacen("http://", "ws://", 1)])
        .collect();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {}; frame-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'self'",
        connect.join(" ")
    )
}

async fn page(shared: Arc<Shared>, html: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&policy(&shared)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some((name, body)) = ASSETS.iter().find(|(name, _)| *name == file) else {
        return error(StatusCode::NOT_FOUND, format!("no asset {file:?}"));
    };
    let kind = if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    };
    // `no-cache` revalidates on every load, so a node upgraded to a new
    // release never serves a page with yesterday's script.
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *body,
    )
        .into_response()
}

async fn widget() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        WIDGET,
    )
        .into_response()
}

/// `GET /api/pair`: this node's name and both nodes' HTTP addresses, for
/// clients (the pages, the widget) that must find the other node when
/// this one fails.
#[utoipa::path(
    get,
    path = "/api/pair",
    tag = "node",
    description = "This node's name and both nodes' HTTP addresses ({\"node\", \"nodes\": [{\"name\", \"url\"}]}), this node first.",
    responses(super::openapi::Answers)
)]
pub(super) async fn pair(State(shared): State<Arc<Shared>>) -> Response {
    let nodes: Vec<serde_json::Value> = node_urls(&shared)
        .into_iter()
        .map(|(name, url)| serde_json::json!({ "name": name, "url": url }))
        .collect();
    Json(serde_json::json!({ "node": shared.boot.me().name, "nodes": nodes })).into_response()
}

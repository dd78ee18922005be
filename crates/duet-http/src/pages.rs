//! The web pages people work in, served by each node from assets built
//! into the binary: the control panel (`/`, `/panel`), the agent desktop
//! (`/agent`), the chat widget (`/widget.js`, with a demo page `/chat`)
//! and the supervisor wall (`/wall`). They use only the public API; what
//! they need to find both nodes is `GET /api/pair`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use duet_api::{Pair, PairNode};

use super::error;
use duet_node::shared::Shared;

/// The assets, by the name they are served under `/web/`.
const ASSETS: &[(&str, &str)] = &[
    ("style.css", include_str!("../web/style.css")),
    ("pair.js", include_str!("../web/pair.js")),
    ("dom.js", include_str!("../web/dom.js")),
    ("panel.js", include_str!("../web/panel.js")),
    ("agent.js", include_str!("../web/agent.js")),
    ("work.js", include_str!("../web/work.js")),
    ("wall.js", include_str!("../web/wall.js")),
    ("session.js", include_str!("../web/session.js")),
    ("widget.css", include_str!("../web/widget.css")),
    ("chart.js", include_str!("../web/chart.js")),
];

/// The pages, by their path.
const PAGES: &[(&str, &str)] = &[
    ("/", include_str!("../web/panel.html")),
    ("/panel", include_str!("../web/panel.html")),
    ("/agent", include_str!("../web/agent.html")),
    ("/chat", include_str!("../web/chat.html")),
    ("/wall", include_str!("../web/wall.html")),
];

/// The widget a customer's web site includes with one script tag; it may
/// be loaded from any site, so it is one file with no imports.
const WIDGET: &str = include_str!("../web/widget.js");

pub(super) fn routes() -> axum::Router<Arc<Shared>> {
    let mut router = axum::Router::new()
        .route("/web/{file}", get(asset))
        .route("/widget.js", get(widget))
        .route("/api/pair", get(pair));
    for (path, html) in PAGES {
        router = router.route(
            path,
            get(move |State(shared), request: HeaderMap| page(shared, request, html)),
        );
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

/// A file's entity tag: its content's digest, so a browser that holds
/// the file revalidates it with one small answer (304), and a node of a
/// new release never leaves yesterday's script in a cache.
fn entity_tag(body: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
    let hex: String = digest.as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hex}\"")
}

/// Whether the request accepts gzip (`Accept-Encoding`, not refused with
/// `q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next() == Some("gzip") && !parts.any(|p| p == "q=0" || p == "q=0.0")
        })
}

/// A built-in file gzipped, once per process (the files never change
/// while it runs).
fn gzipped(body: &'static str) -> Arc<[u8]> {
    static GZIPPED: OnceLock<Mutex<HashMap<usize, Arc<[u8]>>>> = OnceLock::new();
    let cache = GZIPPED.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(body.as_ptr() as usize)
        .or_insert_with(|| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            // Writing to memory cannot fail.
            encoder
                .write_all(body.as_bytes())
                .and_then(|()| encoder.finish())
                .unwrap_or_default()
                .into()
        })
        .clone()
}

/// Answers a built-in file: gzipped for a browser that accepts it,
/// `no-cache` (revalidate on every load) with its entity tag (one per
/// encoding), or 304 when the browser already holds it.
fn serve(request: &HeaderMap, kind: &'static str, body: &'static str) -> Response {
    let gzip = accepts_gzip(request);
    let digest = entity_tag(body);
    let tag = if gzip {
        format!("{}-gzip\"", digest.trim_end_matches('"'))
    } else {
        digest
    };
    let held = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if held {
        StatusCode::NOT_MODIFIED.into_response()
    } else if gzip {
        (
            [
                (header::CONTENT_TYPE, kind),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            axum::body::Body::from(axum::body::Bytes::copy_from_slice(&gzipped(body))),
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, kind)], body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(tag) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, tag);
    }
    response
}

async fn page(shared: Arc<Shared>, request: HeaderMap, html: &'static str) -> Response {
    let mut response = serve(&request, "text/html; charset=utf-8", html);
    if let Ok(value) = HeaderValue::from_str(&policy(&shared)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

async fn asset(request: HeaderMap, Path(file): Path<String>) -> Response {
    let Some((name, body)) = ASSETS.iter().find(|(name, _)| *name == file) else {
        return error(StatusCode::NOT_FOUND, format!("no asset {file:?}"));
    };
    let kind = if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    };
    serve(&request, kind, body)
}

async fn widget(request: HeaderMap) -> Response {
    serve(&request, "text/javascript; charset=utf-8", WIDGET)
}

/// `GET /api/pair`: this node's name and both nodes' HTTP addresses, for
/// clients (the pages, the widget) that must find the other node when
/// this one fails.
#[utoipa::path(
    get,
    path = "/api/pair",
    tag = "node",
    description = "This node's name and both nodes' HTTP addresses ({\"node\", \"nodes\": [{\"name\", \"url\"}]}), this node first.",
    responses((status = 200, description = "Both nodes, this one first", body = duet_api::Pair), super::openapi::Answers)
)]
pub(super) async fn pair(State(shared): State<Arc<Shared>>) -> Response {
    let nodes = node_urls(&shared)
        .into_iter()
        .map(|(name, url)| PairNode { name, url })
        .collect();
    Json(Pair {
        node: shared.boot.me().name.clone(),
        nodes,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names a text refers to after `prefix` up to `end`.
    fn references<'a>(text: &'a str, prefix: &str, end: char) -> Vec<&'a str> {
        text.split(prefix)
            .skip(1)
            .filter_map(|rest| rest.split(end).next())
            .collect()
    }

    #[test]
    fn every_file_a_page_or_module_names_is_built_in() {
        let served = |name: &str| ASSETS.iter().any(|(n, _)| *n == name);
        for (path, html) in PAGES {
            for name in references(html, "\"/web/", '"') {
                assert!(
                    served(name),
                    "{path} names /web/{name}, which is not built in"
                );
            }
        }
        for (module, text) in ASSETS {
            for name in references(text, "from './", '\'') {
                assert!(
                    served(name),
                    "{module} imports ./{name}, which is not built in"
                );
            }
        }
        for name in references(WIDGET, "/web/", '`') {
            assert!(
                served(name),
                "widget.js loads /web/{name}, which is not built in"
            );
        }
    }

    #[test]
    fn a_file_the_browser_holds_is_answered_not_modified() {
        let body = "export const x = 1;";
        let first = serve(&HeaderMap::new(), "text/javascript", body);
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, tag.clone());
        let second = serve(&again, "text/javascript", body);
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(second.headers()[header::ETAG], tag);
        let changed = serve(&again, "text/javascript", "export const x = 2;");
        assert_eq!(changed.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_browser_that_accepts_gzip_gets_the_file_gzipped_under_its_own_tag() {
        use std::io::Read;
        let (_, body) = ASSETS[0];
        let mut request = HeaderMap::new();
        request.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br;q=1.0, gzip;q=0.8"),
        );
        let zipped = serve(&request, "text/css", body);
        let headers = zipped.headers().clone();
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(headers[header::VARY], "accept-encoding");
        let bytes = axum::body::to_bytes(zipped.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(
            bytes.len() < body.len(),
            "{} of {}",
            bytes.len(),
            body.len()
        );
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, body);
        // Its tag is not the plain file's; each revalidates to 304.
        let plain = serve(&HeaderMap::new(), "text/css", body);
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_ne!(plain.headers()[header::ETAG], headers[header::ETAG]);
        request.insert(header::IF_NONE_MATCH, headers[header::ETAG].clone());
        assert_eq!(
            serve(&request, "text/css", body).status(),
            StatusCode::NOT_MODIFIED
        );
        // gzip refused with q=0 is not sent.
        let mut refused = HeaderMap::new();
        refused.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0"),
        );
        assert!(
            serve(&refused, "text/css", body)
                .headers()
                .get(header::CONTENT_ENCODING)
                .is_none()
        );
    }
}

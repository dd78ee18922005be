//! The API's per-source limits (the bootstrap's `[limits]`): chats and
//! callbacks started per address, and failed sign-ins (`POST
//! /api/sessions` and Basic credentials anywhere) per address and per
//! user. Over a limit the answer is 429 with `Retry-After`; refusals are
//! logged with the source address at most once per interval, never once
//! per request. The buckets are `duet_node::limits`'s, bounded in the sources
//! they track.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::Refusal;
use duet_node::limits::{Buckets, Limits, Rate, source_key};

/// A sign-in body larger than this is not a sign-in.
const SIGN_IN_BODY_MAX_BYTES: usize = 16 * 1024;
/// A user name is tracked by at most this many bytes of it.
const USER_KEY_MAX_BYTES: usize = 128;
/// Refusals are logged at most once per this long.
const LOG_INTERVAL_MS: u64 = 10_000;

pub(super) struct Guard {
    started: Instant,
    creations: Mutex<Buckets<IpAddr>>,
    /// Customers' shared files, by the MiB.
    uploads: Mutex<Buckets<IpAddr>>,
    failures_by_address: Mutex<Buckets<IpAddr>>,
    failures_by_user: Mutex<Buckets<String>>,
    noise: Mutex<Noise>,
}

/// Refusals since the last log line.
#[derive(Default)]
struct Noise {
    logged_at_ms: Option<u64>,
    refused: u64,
}

/// What a request is, as far as the limits go.
enum Kind {
    Creation,
    /// A customer's file of this many MiB (each started one).
    Upload {
        mib: u32,
    },
    SignIn {
        user: String,
    },
    Other,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a bucket leaves it usable: it holds only times.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Guard {
    pub(super) fn new(limits: &Limits) -> Arc<Guard> {
        let max = limits.tracked_sources_max;
        Arc::new(Guard {
            started: Instant::now(),
            creations: Mutex::new(Buckets::new(
                Rate {
                    burst: limits.creations_burst,
                    interval_ms: limits.creation_interval_ms,
                },
                max,
            )),
            uploads: Mutex::new(Buckets::new(
                Rate {
                    burst: limits.uploads_per_source_burst_mib,
                    interval_ms: limits.upload_mib_interval_ms,
                },
                max,
            )),
            failures_by_address: Mutex::new(Buckets::new(
                Rate {
                    burst: limits.sign_in_failures_per_address_burst,
                    interval_ms: limits.sign_in_failure_per_address_interval_ms,
                },
                max,
            )),
            failures_by_user: Mutex::new(Buckets::new(
                Rate {
                    burst: limits.sign_in_failures_per_user_burst,
                    interval_ms: limits.sign_in_failure_per_user_interval_ms,
                },
                max,
            )),
            noise: Mutex::new(Noise::default()),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A refusal: counted, logged once per interval, answered 429.
    fn refuse(&self, source: IpAddr, what: &str, wait_ms: u64) -> Response {
        let now_ms = self.now_ms();
        {
            let mut noise = lock(&self.noise);
            noise.refused += 1;
            let due = noise
                .logged_at_ms
                .is_none_or(|at| now_ms.saturating_sub(at) >= LOG_INTERVAL_MS);
            if due {
                tracing::warn!(
                    "refused {} request(s) over the API's limits since the last report; the latest: {what} from {source}",
                    noise.refused
                );
                noise.logged_at_ms = Some(now_ms);
                noise.refused = 0;
            }
        }
        let retry_after_s = wait_ms.div_ceil(1000).max(1);
        let mut response = Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("too many {what} from this address; try again in {retry_after_s} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(retry_after_s));
        response
    }
}

/// The user and password of Basic credentials, when the request has them.
pub(super) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let text = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())?;
    let (name, password) = text.split_once(':').unwrap_or((&text, ""));
    Some((name.to_string(), password.to_string()))
}

fn user_key(name: &str) -> String {
    let mut end = name.len().min(USER_KEY_MAX_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

/// The client's address, as the server gave it (none for a router served
/// in process).
pub(super) fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<super::tls::Peer>>()
                .map(|c| c.0.0)
        })
}

/// The client's address, for a handler.
pub(super) struct Source(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Source, Self::Rejection> {
        Ok(Source(peer(&parts.extensions).map(|p| p.ip())))
    }
}

/// The middleware: limits what the request is, then lets it through.
pub(super) async fn limit(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    // Served without the peer's address (an in-process router): no limits.
    let Some(source) = peer(request.extensions()).map(|p| source_key(p.ip())) else {
        return next.run(request).await;
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let (request, kind) = match (request.method(), route.as_str()) {
        (&Method::POST, "/api/chats" | "/api/callbacks") => (request, Kind::Creation),
        (&Method::POST, "/api/chats/{id}/files") => {
            let mib = upload_mib(request.headers());
            (request, Kind::Upload { mib })
        }
        (&Method::POST, "/api/sessions") => {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, SIGN_IN_BODY_MAX_BYTES).await else {
                return Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("a sign-in is at most {SIGN_IN_BODY_MAX_BYTES} bytes"),
                )
                .into_response();
            };
            let user = serde_json::from_slice::<duet_api::Login>(&bytes)
                .map(|login| user_key(&login.user))
                .unwrap_or_default();
            (
                Request::from_parts(parts, Body::from(bytes)),
                Kind::SignIn { user },
            )
        }
        _ => match basic_credentials(request.headers()) {
            Some((user, _)) => (
                request,
                Kind::SignIn {
                    user: user_key(&user),
                },
            ),
            None => (request, Kind::Other),
        },
    };
    match kind {
        Kind::Other => next.run(request).await,
        Kind::Creation => {
            let taken = lock(&guard.creations).take(&source, guard.now_ms());
            match taken {
                Ok(()) => next.run(request).await,
                Err(wait_ms) => guard.refuse(source, "new conversations", wait_ms),
            }
        }
        Kind::Upload { mib } => {
            let taken = lock(&guard.uploads).take_n(&source, mib, guard.now_ms());
            match taken {
                Ok(()) => next.run(request).await,
                Err(wait_ms) => guard.refuse(source, "shared files' bytes", wait_ms),
            }
        }
        Kind::SignIn { user } => {
            let now_ms = guard.now_ms();
            // Both are taken before the check runs (so parallel guesses
            // count) and given back when it succeeds.
            {
                let mut by_address = lock(&guard.failures_by_address);
                let mut by_user = lock(&guard.failures_by_user);
                let wait_ms = [
                    by_address.check(&source, now_ms),
                    by_user.check(&user, now_ms),
                ]
                .into_iter()
                .filter_map(Result::err)
                .max();
                if let Some(wait_ms) = wait_ms {
                    drop((by_address, by_user));
                    return guard.refuse(source, "failed sign-ins", wait_ms);
                }
                let _ = by_address.take(&source, now_ms);
                let _ = by_user.take(&user, now_ms);
            }
            let response = next.run(request).await;
            if response.status() != StatusCode::UNAUTHORIZED {
                lock(&guard.failures_by_address).give_back(&source);
                lock(&guard.failures_by_user).give_back(&user);
            }
            response
        }
    }
}

/// The MiB a request's body counts for, each started one: by its
/// `Content-Length`, or as the largest body a file may have without one.
fn upload_mib(headers: &axum::http::HeaderMap) -> u32 {
    const MIB: u64 = 1024 * 1024;
    let bytes = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(super::files::FILE_BODY_MAX_BYTES as u64);
    u32::try_from(bytes.div_ceil(MIB).max(1)).unwrap_or(u32::MAX)
}

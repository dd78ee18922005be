//! `GET /api/stream/ws`: every committed interaction change, in order,
//! each with its position, for reporting writers. A writer resumes after
//! the last position it wrote; when this node cannot vouch for that
//! position (another epoch's change, or older than the changes it keeps)
//! the socket says so first (`gap`), so the writer records a gap rather
//! than skip changes without knowing. Nothing here waits for a writer: a
//! socket that falls behind the feed is told to resync and closed.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use duet_api::Frame;
use duet_api::frames::Resumed;
use duet_rsm::Position;
use serde::Deserialize;

use super::guard::Source;
use super::live::{Open, event, fell_behind, framed, resume_position};
use super::sockets::{SendWithin, Sockets};
use super::{Refusal, ask};
use duet_node::events::unix_ms;
use duet_node::replication::{Follow, IxRequest};
use duet_node::shared::Shared;

/// Stream sockets open at once on a node (two writers, each reconnecting,
/// with room for a reader debugging one).
const STREAM_SOCKETS_MAX: usize = 8;

/// How often an idle socket says where it stands, so a writer can tell
/// a quiet stream from a dead one and knows which time it covers.
const HEARTBEAT_MS: u64 = 1_000;

/// The largest message a writer may send (it sends none that matter).
const CLIENT_MESSAGE_MAX_BYTES: usize = 4 * 1024;

#[derive(Deserialize)]
pub(super) struct StreamQuery {
    /// The last position the writer wrote, `<epoch>.<seq>`.
    #[serde(default)]
    after: Option<String>,
}

/// `GET /api/stream/ws`: the committed change stream.
#[utoipa::path(
    get,
    path = "/api/stream/ws",
    tag = "reporting",
    description = "WebSocket for reporting writers: first {\"type\": \"resume\"} (every change after `?after=<epoch>.<seq>`, or from the first when none is given, follows) or {\"type\": \"gap\"} (this node cannot vouch for `after`: changes follow from `position`, its last committed change, and the writer has a gap), then every committed interaction change {\"type\": \"change\", \"epoch\", \"seq\", \"at_ms\", \"actor\", \"change\"} in order, and {\"type\": \"heartbeat\", \"position\", \"at_ms\"} when idle.",
    params(("after" = Option<String>, Query), super::sockets::Handshake),
    responses((status = 101, description = "Upgraded: `resume` or `gap`, then each `change` (`ChangeFrame::Committed`), `heartbeat` when idle, `resync` when the socket fell behind", body = duet_api::Frame), super::openapi::Answers)
)]
pub(super) async fn stream(
    State(shared): State<Arc<Shared>>,
    Extension(sockets): Extension<Arc<Sockets>>,
    Source(source): Source,
    Query(q): Query<StreamQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // No `after` starts from the first change: one that does not read as
    // a position is refused rather than taken for none.
    let after = resume_position(q.after.as_deref());
    if q.after.is_some() && after.is_none() {
        let why = "after: the last position written, as <epoch>.<seq>".to_string();
        return Refusal::new(StatusCode::BAD_REQUEST, why).into_response();
    }
    match sockets.take(source, "stream".to_string(), STREAM_SOCKETS_MAX) {
        Ok(slot) => super::sockets::for_clients(upgrade, CLIENT_MESSAGE_MAX_BYTES).on_upgrade(
            move |socket| async move {
                stream_socket(shared, after, socket).await;
                drop(slot);
            },
        ),
        Err(refusal) => refusal.into_response(),
    }
}

async fn stream_socket(shared: Arc<Shared>, after: Option<Position>, mut socket: WebSocket) {
    let _open = Open::new(&shared, "stream");
    // No `after`: a writer with nothing yet, which wants every change the
    // node holds from the first (a gap when it no longer holds them all).
    let from = Some(after.unwrap_or(Position::ZERO));
    let Ok(follow) = ask(&shared, |reply| IxRequest::Follow { after: from, reply }).await else {
        return;
    };
    // A stream has no state of its own to start from: after a gap it
    // follows on from the last committed change, so the changes applied
    // and not yet committed reach it once they are.
    let Follow {
        committed: mut position,
        missed,
        mut feed,
        ..
    } = follow;
    let from = Resumed {
        after,
        position,
        at_ms: Some(unix_ms()),
    };
    let hello = if missed.is_some() {
        Frame::Resume(from)
    } else {
        Frame::Gap(from)
    };
    if socket.send_within(framed(&hello)).await.is_err() {
        return;
    }
    for entry in missed.into_iter().flatten() {
        if socket.send_within(event(&entry, None)).await.is_err() {
            return;
        }
    }
    let mut heartbeat = tokio::time::interval(Duration::from_millis(HEARTBEAT_MS));
    loop {
        tokio::select! {
            biased;
            received = feed.recv() => match received {
                Ok(entry) if entry.seq > position.seq => {
                    position = Position::new(entry.epoch, entry.seq);
                    if socket.send_within(event(&entry, None)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => return fell_behind(&mut socket, e).await,
            },
            _ = heartbeat.tick() => {
                let beat = Frame::Heartbeat { position, at_ms: unix_ms() };
                if socket.send_within(framed(&beat)).await.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

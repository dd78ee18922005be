//! A WebSocket feed of a pair (`/api/agent/ws`, `/api/chats/{id}/ws`) that
//! reconnects like [`crate::Client`] (the node used last, then the other)
//! and resumes with `?after=<epoch>.<seq>` of the last change seen: the
//! node answers `{"type":"resume"}` and the changes missed, or the state
//! again when it cannot vouch for that position (it no longer holds it, or
//! another epoch gave that number to another change). Changes already seen are dropped here, so the
//! caller sees each change once, in order.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_api::{ChangeFrame, Frame, StateFrame};
use duet_rsm::Position;
use serde::Serialize;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::nodes::{Nodes, host_port};

/// How long a single read blocks, so a feed's owner can also send.
const READ_SLICE_MS: u64 = 50;
/// Connecting or the handshake taking longer than this: the node is
/// taken for gone (paused or cut off).
const CONNECT_WAIT_MS: u64 = 1_000;
/// The socket's read buffer (it grows for a larger frame). tungstenite
/// zero-fills the whole buffer before every read; at its 128 KiB default a
/// desktop polling every few milliseconds spends its time filling memory.
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// What a feed delivers.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// The state as it stands (a first connection, or a resume the node
    /// could not serve): the caller starts again from it.
    State(StateFrame),
    /// Connected again and resumed: what follows is what was missed.
    Resumed { node: usize },
    /// A change (each once, in increasing order).
    Change(ChangeFrame),
    /// Anything else the node sent (acks of messages sent on the socket,
    /// errors).
    Other(Frame),
}

/// A resuming WebSocket feed.
pub struct Feed {
    nodes: Arc<Nodes>,
    /// The path and query, without `after` (e.g. `/api/agent/ws?token=..`).
    path: String,
    socket: Option<(usize, WebSocket<TcpStream>)>,
    /// The position of the last change or state seen.
    last: Option<Position>,
    /// Connections after the first (each a resume or a fresh state).
    pub reconnects: u64,
    /// Changes the node sent again after a resume and this feed dropped.
    pub replayed: u64,
    failures: u32,
    /// How long one read blocks.
    read_slice: Duration,
}

impl Feed {
    /// A feed of `path`; it connects on the first [`Feed::next`].
    pub fn new(nodes: Arc<Nodes>, path: &str) -> Feed {
        Feed {
            nodes,
            path: path.to_string(),
            socket: None,
            last: None,
            reconnects: 0,
            replayed: 0,
            failures: 0,
            read_slice: Duration::from_millis(READ_SLICE_MS),
        }
    }

    /// Reads block this long at most (50 ms by default): longer costs
    /// fewer wake-ups for a feed whose owner sends nothing on it.
    pub fn with_read_slice(mut self, read_slice: Duration) -> Feed {
        self.read_slice = read_slice;
        self
    }

    /// The node the feed is connected to.
    pub fn node(&self) -> Option<usize> {
        self.socket.as_ref().map(|(n, _)| *n)
    }

    /// Drops the connection; the next read reconnects and resumes.
    pub fn reconnect(&mut self) {
        if let Some((_, mut ws)) = self.socket.take() {
            let _ = ws.close(None);
        }
    }

    /// Moves to the node the pair's clients use now, when the feed is on
    /// the other one (an agent's desktop belongs on the active node).
    pub fn follow(&mut self) {
        if self.node().is_some_and(|n| n != self.nodes.current()) {
            self.reconnect();
        }
    }

    /// Sends a JSON message; false if the socket is not there (the
    /// caller resends by another way, with the same id).
    pub fn send(&mut self, message: &impl Serialize) -> bool {
        let Some((_, ws)) = self.socket.as_mut() else {
            return false;
        };
        let Ok(text) = serde_json::to_string(message) else {
            return false;
        };
        match ws.send(Message::Text(text.into())) {
            Ok(()) => true,
            Err(_) => {
                self.socket = None;
                false
            }
        }
    }

    /// The next event within `wait`, reconnecting as needed; `None` when
    /// nothing came (or no node could be reached) in time.
    pub fn next(&mut self, wait: Duration) -> Option<FeedEvent> {
        let started = Instant::now();
        loop {
            if self.socket.is_none() {
                if let Some(event) = self.connect() {
                    return Some(event);
                }
            } else if let Some(event) = self.read() {
                return Some(event);
            }
            if started.elapsed() >= wait {
                return None;
            }
        }
    }

    /// One read slice; `None` when nothing (new) came.
    fn read(&mut self) -> Option<FeedEvent> {
        let (node, ws) = self.socket.as_mut()?;
        let node = *node;
        let text = match ws.read() {
            Ok(Message::Text(text)) => text,
            Ok(_) => return None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => {
                self.socket = None;
                return None;
            }
        };
        // A frame this client does not know is passed over.
        let frame: Frame = serde_json::from_str(&text).ok()?;
        match frame {
            Frame::State(state) => {
                self.last = Some(state.position());
                Some(FeedEvent::State(state))
            }
            Frame::Resume(_) => Some(FeedEvent::Resumed { node }),
            Frame::Moved { .. } => {
                // A desktop belongs on the active node: the other one.
                self.nodes.answered(1 - node);
                self.reconnect();
                None
            }
            Frame::Resync { .. } => {
                // Fell behind: start again from the state.
                self.last = None;
                self.reconnect();
                None
            }
            Frame::Change(change) => {
                let at = change.position();
                if self.last.is_some_and(|last| at.seq <= last.seq) {
                    self.replayed += 1;
                    return None;
                }
                self.last = Some(at);
                Some(FeedEvent::Change(change))
            }
            other => Some(FeedEvent::Other(other)),
        }
    }

    /// One connection attempt, to the node used last first; the first
    /// message when connected; `None` (after a bounded pause) when not.
    fn connect(&mut self) -> Option<FeedEvent> {
        let node = (self.nodes.current() + self.failures as usize) % 2;
        match self.open(node) {
            Some(ws) => {
                if self.failures > 0 || self.last.is_some() {
                    self.reconnects += 1;
                }
                self.failures = 0;
                self.socket = Some((node, ws));
                self.read()
            }
            None => {
                self.failures = self.failures.saturating_add(1);
                // Both nodes refused this round: wait a little (a
                // switchover takes a fraction of a second).
                if self.failures.is_multiple_of(2) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                None
            }
        }
    }

    fn open(&self, node: usize) -> Option<WebSocket<TcpStream>> {
        let address = host_port(self.nodes.url(node)).ok()?;
        let socket_address = address.to_socket_addrs().ok()?.next()?;
        let stream =
            TcpStream::connect_timeout(&socket_address, Duration::from_millis(CONNECT_WAIT_MS))
                .ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(CONNECT_WAIT_MS)))
            .ok()?;
        stream
            .set_write_timeout(Some(Duration::from_millis(CONNECT_WAIT_MS)))
            .ok()?;
        let separator = if self.path.contains('?') { '&' } else { '?' };
        let after = self
            .last
            .map(|last| format!("{separator}after={last}"))
            .unwrap_or_default();
        let url = format!("ws://{address}{}{after}", self.path);
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER_BYTES);
        let (ws, _) =
            tungstenite::client::client_with_config(url.as_str(), stream, Some(config)).ok()?;
        ws.get_ref().set_read_timeout(Some(self.read_slice)).ok()?;
        Some(ws)
    }
}

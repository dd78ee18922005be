//! An agent desktop as a browser keeps one: a WebSocket on an async
//! runtime (thousands on a few threads, so the bench's clients do not take
//! the cores from the nodes), reconnecting to the node used last then the
//! other, told to move by `moved`, resuming with `?after=<epoch>.<seq>` of
//! the last change seen; a first action over plain HTTP/1.1.

use std::time::Duration;

use duet_api::Frame;
use duet_rsm::Position;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

/// A connection attempt (TCP and the WebSocket handshake) given up on.
const CONNECT_WAIT: Duration = Duration::from_secs(2);

/// What a desktop saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The agent's state: the first frame of a new connection.
    State,
    /// Resumed after the last change seen; the missed ones follow.
    Resumed,
    /// A change or another frame.
    Other,
}

pub struct Desk {
    /// `host:port` of each node.
    nodes: [String; 2],
    token: String,
    /// The node to connect to next.
    prefer: usize,
    last: Option<Position>,
    socket: Option<(usize, WebSocketStream<TcpStream>)>,
    failures: u32,
}

impl Desk {
    pub fn new(nodes: [String; 2], token: String) -> Desk {
        Desk {
            nodes,
            token,
            prefer: 0,
            last: None,
            socket: None,
            failures: 0,
        }
    }

    /// The node connected to.
    pub fn node(&self) -> Option<usize> {
        self.socket.as_ref().map(|(n, _)| *n)
    }

    /// The next frame within `wait`, connecting as needed: the node it
    /// came from and what it was.
    pub async fn next(&mut self, wait: Duration) -> Option<(usize, Seen)> {
        tokio::time::timeout(wait, self.next_frame()).await.ok()
    }

    async fn next_frame(&mut self) -> (usize, Seen) {
        loop {
            let Some((node, ws)) = self.socket.as_mut() else {
                self.connect().await;
                continue;
            };
            let node = *node;
            let text = match ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                // Closed or broken: the other node, as a desktop would.
                _ => {
                    self.socket = None;
                    self.prefer = 1 - node;
                    continue;
                }
            };
            let Ok(frame) = serde_json::from_str::<Frame>(&text) else {
                continue;
            };
            match frame {
                Frame::State(state) => {
                    self.last = Some(state.position());
                    return (node, Seen::State);
                }
                Frame::Resume(_) => return (node, Seen::Resumed),
                Frame::Moved { .. } => {
                    self.socket = None;
                    self.prefer = 1 - node;
                }
                Frame::Resync { .. } => {
                    self.last = None;
                    self.socket = None;
                }
                Frame::Change(change) => {
                    let at = change.position();
                    if self.last.is_some_and(|last| at.seq <= last.seq) {
                        continue;
                    }
                    self.last = Some(at);
                    return (node, Seen::Other);
                }
                _ => return (node, Seen::Other),
            }
        }
    }

    async fn connect(&mut self) {
        let node = self.prefer;
        let address = self.nodes[node].clone();
        let after = self
            .last
            .map(|last| format!("&after={last}"))
            .unwrap_or_default();
        let url = format!("ws://{address}/api/agent/ws?token={}{after}", self.token);
        let opened = tokio::time::timeout(CONNECT_WAIT, async {
            let stream = TcpStream::connect(&address).await.ok()?;
            client_async(url.as_str(), stream).await.ok()
        })
        .await;
        match opened {
            Ok(Some((ws, _))) => {
                self.failures = 0;
                self.socket = Some((node, ws));
            }
            _ => {
                self.failures += 1;
                self.prefer = 1 - node;
                // Both nodes refused this round: a switchover takes a
                // fraction of a second.
                if self.failures.is_multiple_of(2) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// `POST path` with a JSON body and the session's token, on one new
/// connection; the answer's status code, or `None` when the node could not
/// be reached or answered nothing.
pub async fn post(address: &str, path: &str, token: &str, body: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    // "HTTP/1.1 200 OK": the status is the second word.
    let status_line = answer.split(|b| *b == b'\r').next()?;
    std::str::from_utf8(status_line)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

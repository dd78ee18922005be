//! Bounds on WebSockets: how many this node holds open at once, how
//! many one source address may hold, how many one holder may have open at
//! once (a customer's chat token, an agent's session), and how long a
//! send may wait on a client that does not read before its socket is
//! closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;

use super::Refusal;

/// Sockets open at once on one customer's chat (a few tabs).
pub const PER_CHAT_MAX: usize = 4;
/// Sockets open at once for one agent (a desktop and a few more views).
pub const PER_AGENT_MAX: usize = 8;
/// A send that waits longer than this on a client that does not read
/// closes the socket; the client reconnects and starts from the state.
pub const SEND_WAIT_MS: u64 = 10_000;
/// What a refusal for a full node or source asks the client to wait.
pub const FULL_RETRY_AFTER_S: u64 = 1;
/// A socket's read buffer. tungstenite zero-fills the whole buffer before
/// every read: at its 128 KiB default, thousands of desktops each woken by
/// every change (all of them coming back after a switchover) spent most of
/// the node's time filling memory. Clients send small messages.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;

/// An upgrade to a socket of this node's clients: reading messages of at
/// most `message_max_bytes`, through a small read buffer.
pub(super) fn for_clients(upgrade: WebSocketUpgrade, message_max_bytes: usize) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(message_max_bytes)
}

/// The count of every socket on the node (no holder's key starts with a
/// NUL).
const NODE_KEY: &str = "\0node";

/// Open sockets by holder, by source and on the whole node.
pub(super) struct Sockets {
    open: Mutex<HashMap<String, usize>>,
    /// The most on this node (`[limits] websockets_max`)...
    node_max: usize,
    /// ...and from one source (`websockets_per_source_max`).
    per_source_max: usize,
}

/// One open socket; counted until released or dropped.
pub(super) struct Slot {
    sockets: Arc<Sockets>,
    /// The holder's key first, then the node's and the source's; empty
    /// once released.
    keys: Vec<String>,
}

impl Sockets {
    pub(super) fn new(limits: &duet_node::limits::Limits) -> Sockets {
        Sockets {
            open: Mutex::default(),
            node_max: limits.websockets_max,
            per_source_max: limits.websockets_per_source_max,
        }
    }

    /// A slot for one more socket of `key` from `source` (none: served
    /// in process, counted on the node only): 503 when the node holds its
    /// most, 429 when the source or the holder (`max`) does.
    pub(super) fn take(
        self: &Arc<Self>,
        source: Option<IpAddr>,
        key: String,
        max: usize,
    ) -> Result<Slot, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = |k: &str| open.get(k).copied().unwrap_or(0);
        if count(NODE_KEY) >= self.node_max {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "this node holds {} WebSockets, its most at once; try again shortly",
                    self.node_max
                ),
            )
            .retry_after(FULL_RETRY_AFTER_S));
        }
        let mut keys = vec![key, NODE_KEY.to_string()];
        if let Some(source) = source {
            let by_source = format!("source\n{}", duet_node::limits::source_key(source));
            if count(&by_source) >= self.per_source_max {
                return Err(Refusal::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "{} WebSockets are open from this address, the most at once; close one",
                        self.per_source_max
                    ),
                )
                .retry_after(FULL_RETRY_AFTER_S));
            }
            keys.push(by_source);
        }
        if count(&keys[0]) >= max {
            return Err(Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("{max} sockets are open for this already, the most at once; close one"),
            ));
        }
        for k in &keys {
            *open.entry(k.clone()).or_insert(0) += 1;
        }
        Ok(Slot {
            sockets: self.clone(),
            keys,
        })
    }

    /// Gives a slot's counts back.
    fn give_back(&self, keys: &[String]) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(count) = open.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    open.remove(key);
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.sockets.give_back(&self.keys);
    }
}

/// The headers of a WebSocket handshake (RFC 6455), which every socket
/// route needs: a GET without them is refused 400 (a type the document
/// reads; never built).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(super) struct Handshake {
    /// `websocket`.
    #[param(rename = "Upgrade")]
    upgrade: String,
    /// Names `Upgrade`.
    #[param(rename = "Connection")]
    connection: String,
    /// `13`.
    #[param(rename = "Sec-WebSocket-Version")]
    version: String,
    /// 16 random bytes in base64.
    #[param(rename = "Sec-WebSocket-Key")]
    key: String,
}

/// The socket's client did not read what was sent within the wait.
#[derive(Debug)]
pub(super) struct Stalled;

/// Sends with a bound on the wait.
pub(super) trait SendWithin {
    async fn send_within(&mut self, message: Message) -> Result<(), Stalled>;
}

impl SendWithin for WebSocket {
    async fn send_within(&mut self, message: Message) -> Result<(), Stalled> {
        match tokio::time::timeout(Duration::from_millis(SEND_WAIT_MS), self.send(message)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Stalled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sockets(node_max: usize, per_source_max: usize) -> Arc<Sockets> {
        Arc::new(Sockets::new(&duet_node::limits::Limits {
            websockets_max: node_max,
            websockets_per_source_max: per_source_max,
            ..Default::default()
        }))
    }

    #[test]
    fn a_holder_gets_its_slots_and_no_more_and_they_come_back() {
        let sockets = sockets(100, 100);
        let slots: Vec<Slot> = (0..3)
            .map(|_| match sockets.take(None, "chat-1".into(), 3) {
                Ok(slot) => slot,
                Err(refusal) => panic!("a slot: {}", refusal.message),
            })
            .collect();
        let Err(refused) = sockets.take(None, "chat-1".into(), 3) else {
            panic!("refused")
        };
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(sockets.take(None, "chat-2".into(), 3).is_ok());
        let mut slots = slots.into_iter();
        let (first, second, third) = (
            slots.next().unwrap(),
            slots.next().unwrap(),
            slots.next().unwrap(),
        );
        drop(first);
        assert!(sockets.take(None, "chat-1".into(), 3).is_ok(), "one closed");
        drop((second, third));
        assert!(
            sockets.open.lock().unwrap().len() <= 2,
            "closed holders are forgotten"
        );
    }

    #[test]
    fn the_node_and_each_source_hold_their_most_and_no_more() {
        let sockets = sockets(3, 2);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let take = |source, key: &str| sockets.take(Some(source), key.into(), 8);
        let Ok(first) = take(one, "a") else {
            panic!("a slot")
        };
        let Ok(_second) = take(one, "b") else {
            panic!("a slot")
        };
        let Err(refused) = take(one, "c") else {
            panic!("the source holds its most")
        };
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.retry_after_s, Some(FULL_RETRY_AFTER_S));
        let Ok(_third) = take(other, "c") else {
            panic!("another source")
        };
        let Err(refused) = take(other, "d") else {
            panic!("the node holds its most")
        };
        assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.retry_after_s, Some(FULL_RETRY_AFTER_S));
        drop(first);
        assert!(take(one, "d").is_ok(), "a closed socket makes room");
    }
}

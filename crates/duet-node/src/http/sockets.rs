//! Bounds on WebSockets: how many one holder may have open at once (a
//! customer's chat token, an agent's session), and how long a send may
//! wait on a client that does not read before its socket is closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::http::StatusCode;

use super::Refusal;

/// Sockets open at once on one customer's chat (a few tabs).
pub const PER_CHAT_MAX: usize = 4;
/// Sockets open at once for one agent (a desktop and a few more views).
pub const PER_AGENT_MAX: usize = 8;
/// A send that waits longer than this on a client that does not read
/// closes the socket; the client reconnects and starts from the state.
pub const SEND_WAIT_MS: u64 = 10_000;

/// Open sockets by holder, on this node.
#[derive(Default)]
pub(super) struct Sockets {
    open: Mutex<HashMap<String, usize>>,
}

/// One open socket; counted until released or dropped.
pub(super) struct Slot {
    sockets: Arc<Sockets>,
    /// `None` once released.
    key: Option<String>,
}

impl Sockets {
    /// A slot for one more socket of `key`, or 429 if it holds `max`.
    pub(super) fn take(self: &Arc<Self>, key: String, max: usize) -> Result<Slot, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= max {
            return Err(Refusal::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("{max} sockets are open for this already, the most at once; close one"),
            ));
        }
        *count += 1;
        Ok(Slot {
            sockets: self.clone(),
            key: Some(key),
        })
    }

    /// Gives a slot back; whether it was its holder's last.
    fn give_back(&self, key: &str) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let Some(count) = open.get_mut(key) else {
            return false;
        };
        *count -= 1;
        if *count == 0 {
            open.remove(key);
            return true;
        }
        false
    }
}

impl Slot {
    /// Whether this is its holder's only socket now.
    pub(super) fn alone(&self) -> bool {
        let open = self.sockets.open.lock().unwrap_or_else(|p| p.into_inner());
        self.key.as_ref().and_then(|k| open.get(k)) == Some(&1)
    }

    /// Gives the slot back; whether it was its holder's last socket.
    pub(super) fn release(mut self) -> bool {
        self.key
            .take()
            .is_some_and(|key| self.sockets.give_back(&key))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.sockets.give_back(&key);
        }
    }
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

    #[test]
    fn a_holder_gets_its_slots_and_no_more_and_they_come_back() {
        let sockets = Arc::new(Sockets::default());
        let slots: Vec<Slot> = (0..3)
            .map(|_| match sockets.take("chat-1".into(), 3) {
                Ok(slot) => slot,
                Err(refusal) => panic!("a slot: {}", refusal.message),
            })
            .collect();
        let refused = sockets.take("chat-1".into(), 3).err().expect("refused");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(sockets.take("chat-2".into(), 3).is_ok());
        let mut slots = slots.into_iter();
        let (first, second, third) = (
            slots.next().unwrap(),
            slots.next().unwrap(),
            slots.next().unwrap(),
        );
        assert!(!first.alone());
        assert!(!first.release(), "two more are open");
        drop(second);
        assert!(third.alone());
        assert!(third.release(), "the last one");
        assert!(sockets.take("chat-1".into(), 3).is_ok());
        assert!(
            sockets.open.lock().unwrap().len() <= 1,
            "closed holders are forgotten"
        );
    }
}

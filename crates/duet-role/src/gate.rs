//! A decided takeover waits until the old active node cannot be serving:
//! until every promise this node gave it has run out, or its process is
//! found gone by a query sent after the decision.

use crate::{PeerAnswer, Promise};

#[derive(Debug, Clone)]
pub struct TakeoverGate<A> {
    pending: Option<(A, u64)>,
}

impl<A> Default for TakeoverGate<A> {
    fn default() -> Self {
        TakeoverGate { pending: None }
    }
}

impl<A> TakeoverGate<A> {
    /// The node decided at `now_ms` to become active (and gives no promise
    /// from now on). Returns the activation when it may go ahead at once.
    pub fn decide(&mut self, now_ms: u64, activation: A, promise: &Promise) -> Option<A> {
        if promise.binds(now_ms) {
            self.pending = Some((activation, now_ms));
            None
        } else {
            self.pending = None;
            Some(activation)
        }
    }

    /// A role query sent at `sent_ms` was answered. A process found gone
    /// after the decision holds no lease: go ahead.
    pub fn peer_answered(&mut self, sent_ms: u64, answer: PeerAnswer) -> Option<A> {
        match self.pending {
            Some((_, decided_ms)) if answer == PeerAnswer::ProcessGone && sent_ms >= decided_ms => {
                self.pending.take().map(|(a, _)| a)
            }
            _ => None,
        }
    }

    /// Time passed; the promise may have run out.
    pub fn tick(&mut self, now_ms: u64, promise: &Promise) -> Option<A> {
        if self.pending.is_some() && !promise.binds(now_ms) {
            self.pending.take().map(|(a, _)| a)
        } else {
            None
        }
    }

    /// When the pending takeover may go ahead at the latest.
    pub fn deadline_ms(&self, promise: &Promise) -> Option<u64> {
        self.pending.as_ref().map(|_| promise.until_ms())
    }

    pub fn waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// The takeover is off (the node stops, or learns of a newer active).
    pub fn cancel(&mut self) -> Option<A> {
        self.pending.take().map(|(a, _)| a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_takeover_waits_for_the_promise_unless_the_process_is_gone() {
        let promise = Promise::at_start(0, 100);
        let mut gate = TakeoverGate::default();
        assert_eq!(gate.decide(40, "switch", &promise), None);
        assert_eq!(gate.deadline_ms(&promise), Some(100));
        // A refusal seen by a query from before the decision proves nothing now.
        assert_eq!(gate.peer_answered(39, PeerAnswer::ProcessGone), None);
        assert_eq!(gate.peer_answered(41, PeerAnswer::Silent), None);
        assert_eq!(gate.tick(99, &promise), None);
        assert_eq!(gate.tick(100, &promise), Some("switch"));
        assert!(!gate.waiting());

        let mut gate = TakeoverGate::default();
        assert_eq!(gate.decide(40, "switch", &promise), None);
        assert_eq!(
            gate.peer_answered(40, PeerAnswer::ProcessGone),
            Some("switch")
        );

        // No promise running: at once.
        let mut gate = TakeoverGate::default();
        assert_eq!(gate.decide(100, "switch", &promise), Some("switch"));
    }
}

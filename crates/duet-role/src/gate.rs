//! A decided takeover waits until the old active node cannot be serving:
//! until every promise this node gave it has run out (and, with a witness,
//! this node holds the pair's key: the old active's etcd lease is gone), or
//! its process is found gone by a query sent after the decision.

use crate::{PeerAnswer, Promise, WitnessSeen};

#[derive(Debug, Clone)]
pub struct TakeoverGate<A> {
    pending: Option<(A, u64)>,
    witness_required: bool,
    witness_held: bool,
    /// Until the witness says otherwise, it is taken to be reachable.
    witness_unreachable: bool,
}

impl<A> TakeoverGate<A> {
    /// A gate; `witness`: an etcd witness is configured.
    pub fn new(witness: bool) -> TakeoverGate<A> {
        TakeoverGate {
            pending: None,
            witness_required: witness,
            witness_held: false,
            witness_unreachable: false,
        }
    }

    /// The promise is not enough with a reachable witness: the key must be
    /// this node's. An unreachable witness leaves the seed's rules.
    fn clear(&self, now_ms: u64, promise: &Promise) -> bool {
        !promise.binds(now_ms)
            && (!self.witness_required || self.witness_held || self.witness_unreachable)
    }

    /// What the witness said; returns the activation when it may go ahead.
    /// A hold confirmed by a call sent before the decision does not count:
    /// the key may have changed hands since.
    pub fn witness(&mut self, now_ms: u64, seen: WitnessSeen, promise: &Promise) -> Option<A> {
        let decided_ms = self.pending.as_ref().map_or(0, |(_, at)| *at);
        self.witness_held =
            matches!(seen, WitnessSeen::Held { sent_ms, .. } if sent_ms >= decided_ms);
        self.witness_unreachable = seen == WitnessSeen::Unreachable;
        self.tick(now_ms, promise)
    }

    /// The node decided at `now_ms` to become active (and gives no promise
    /// from now on). Returns the activation when it may go ahead at once.
    /// With a witness, never at once: what it said before the decision (a
    /// key this node held while it served, the witness unreachable while
    /// it was cut off) may be stale, so the takeover waits for its word on
    /// a call sent from now, which a node waiting to take over asks for.
    pub fn decide(&mut self, now_ms: u64, activation: A, promise: &Promise) -> Option<A> {
        self.witness_held = false;
        self.witness_unreachable = false;
        if self.clear(now_ms, promise) {
            self.pending = None;
            Some(activation)
        } else {
            self.pending = Some((activation, now_ms));
            None
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
        if self.pending.is_some() && self.clear(now_ms, promise) {
            self.pending.take().map(|(a, _)| a)
        } else {
            None
        }
    }

    /// When the pending takeover's promise runs out (with a witness, it
    /// may wait longer, for the key).
    pub fn deadline_ms(&self, promise: &Promise) -> Option<u64> {
        self.pending
            .as_ref()
            .map(|_| promise.until_ms())
            .filter(|_| !self.witness_required || self.witness_held || self.witness_unreachable)
    }

    /// A reachable witness holds the takeover back (the peer has the key).
    pub fn blocked_by_witness(&self) -> bool {
        self.witness_required && !self.witness_held && !self.witness_unreachable
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
        let mut gate = TakeoverGate::new(false);
        assert_eq!(gate.decide(40, "switch", &promise), None);
        assert_eq!(gate.deadline_ms(&promise), Some(100));
        // A refusal seen by a query from before the decision proves nothing now.
        assert_eq!(gate.peer_answered(39, PeerAnswer::ProcessGone), None);
        assert_eq!(gate.peer_answered(41, PeerAnswer::Silent), None);
        assert_eq!(gate.tick(99, &promise), None);
        assert_eq!(gate.tick(100, &promise), Some("switch"));
        assert!(!gate.waiting());

        let mut gate = TakeoverGate::new(false);
        assert_eq!(gate.decide(40, "switch", &promise), None);
        assert_eq!(
            gate.peer_answered(40, PeerAnswer::ProcessGone),
            Some("switch")
        );

        // No promise running: at once.
        let mut gate = TakeoverGate::new(false);
        assert_eq!(gate.decide(100, "switch", &promise), Some("switch"));
    }

    fn held_at(sent_ms: u64) -> WitnessSeen {
        WitnessSeen::Held {
            sent_ms,
            ttl_ms: 2_000,
        }
    }

    #[test]
    fn with_a_witness_a_takeover_also_waits_for_the_key() {
        let promise = Promise::at_start(0, 100);
        let mut gate = TakeoverGate::new(true);
        assert_eq!(gate.decide(150, "switch", &promise), None);
        // The old active still holds the key: no deadline, no takeover.
        assert_eq!(gate.witness(160, WitnessSeen::HeldByPeer, &promise), None);
        assert_eq!(gate.deadline_ms(&promise), None);
        assert_eq!(gate.tick(5_000, &promise), None);
        // Its etcd lease ran out; the key is this node's.
        let held = WitnessSeen::Held {
            sent_ms: 5_100,
            ttl_ms: 2_000,
        };
        assert_eq!(gate.witness(5_101, held, &promise), Some("switch"));

        // An unreachable witness leaves the seed's rules: the promise.
        let mut gate = TakeoverGate::new(true);
        // What it said before the decision is not taken: a key held then
        // (while this node served) may be the peer's now.
        assert_eq!(gate.witness(10, held_at(0), &promise), None);
        assert_eq!(gate.decide(40, "switch", &promise), None);
        assert_eq!(gate.witness(45, held_at(30), &promise), None);
        assert_eq!(gate.tick(200, &promise), None);
        assert_eq!(gate.witness(210, held_at(205), &promise), Some("switch"));

        let mut gate = TakeoverGate::new(true);
        assert_eq!(gate.decide(40, "switch", &promise), None);
        assert_eq!(gate.witness(50, WitnessSeen::Unreachable, &promise), None);
        assert_eq!(gate.tick(100, &promise), Some("switch"));
    }
}

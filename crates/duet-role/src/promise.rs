//! What a node promised its peer: not to serve before `until_ms`.

/// The latest moment this node promised not to serve before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Promise {
    until_ms: u64,
}

impl Promise {
    /// A process that starts does not know what its previous incarnation
    /// promised: it counts a whole promise from its start.
    pub fn at_start(now_ms: u64, promise_ms: u64) -> Promise {
        Promise {
            until_ms: now_ms.saturating_add(promise_ms),
        }
    }

    /// Promises again, from `now_ms`; a promise is never shortened.
    pub fn grant(&mut self, now_ms: u64, promise_ms: u64) {
        self.until_ms = self.until_ms.max(now_ms.saturating_add(promise_ms));
    }

    /// This node made no progress for `gap_ms` until `now_ms` (its
    /// process was paused or starved). A role query its peer sent meanwhile
    /// may have gone unanswered, and the peer, hearing nothing, may have
    /// renewed its lease from its own network for a lease from that query:
    /// so when the gap was longer than `quiet_ms` (how long the node may
    /// go without waking in normal running), it promises again from now,
    /// as if it had answered then. A takeover decided before the gap waits
    /// for this promise too. Returns whether it promised.
    pub fn after_gap(&mut self, now_ms: u64, gap_ms: u64, quiet_ms: u64, promise_ms: u64) -> bool {
        let stalled = gap_ms > quiet_ms;
        if stalled {
            self.grant(now_ms, promise_ms);
        }
        stalled
    }

    /// This node stops serving at `now_ms`. The node that took over may
    /// hold a first lease resting on its activation alone, which no
    /// promise of this node's backs and which began before this node heard
    /// of it: a whole promise from now outlasts it, so a takeover this
    /// node decides (a component of the new active node failing) waits it
    /// out.
    pub fn after_serving(&mut self, now_ms: u64, promise_ms: u64) {
        self.grant(now_ms, promise_ms);
    }

    /// The moment the promise runs out.
    pub fn until_ms(&self) -> u64 {
        self.until_ms
    }

    /// The promise still binds this node at `now_ms`.
    pub fn binds(&self, now_ms: u64) -> bool {
        now_ms < self.until_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promise_is_never_shortened() {
        let mut p = Promise::at_start(1_000, 500);
        assert_eq!(p.until_ms(), 1_500);
        p.grant(1_100, 100);
        assert_eq!(p.until_ms(), 1_500);
        p.grant(1_450, 100);
        assert_eq!(p.until_ms(), 1_550);
        assert!(p.binds(1_549));
        assert!(!p.binds(1_550));
    }

    #[test]
    fn a_node_that_made_no_progress_for_longer_than_a_query_promises_again() {
        let mut p = Promise::at_start(0, 100);
        // Woken within its quiet time: nothing changes.
        assert!(!p.after_gap(1_000, 60, 60, 100));
        assert!(!p.binds(1_000));
        // Paused for longer: the peer may have renewed its lease from its
        // own network meanwhile, for less than a promise from now.
        assert!(p.after_gap(2_000, 900, 60, 100));
        assert!(p.binds(2_099));
        assert!(!p.binds(2_100));
    }

    #[test]
    fn a_node_that_stops_serving_promises_a_whole_promise_from_then() {
        // It served, so it promised nothing for long.
        let mut p = Promise::at_start(0, 100);
        p.after_serving(5_000, 100);
        assert!(p.binds(5_099));
        assert!(!p.binds(5_100));
    }
}

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
}

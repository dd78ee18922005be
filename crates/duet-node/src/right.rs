//! The right to serve at run time: the node's one monotonic clock, the
//! promise this node gives its peer in role answers (shared by the role
//! arbiter, which answers, and the driver, which decides to take over),
//! the moment the active node's lease runs out (read by the API at answer
//! time, so a paused driver cannot leave a stale "serving").

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use duet_role::Promise;

pub struct RightToServe {
    clock: std::time::Instant,
    lease_ms: u64,
    promise_ms: u64,
    promise: Mutex<Promise>,
    /// Role answers carry a promise (not while serving or taking over).
    granting: AtomicBool,
    lease_until_ms: AtomicU64,
    /// The last query failure logged, so a lasting one is logged once.
    last_query_failure: Mutex<Option<String>>,
}

impl RightToServe {
    /// A process that starts counts a whole promise from its start: it does
    /// not know what its previous incarnation promised.
    pub fn new(lease_ms: u64, promise_ms: u64) -> RightToServe {
        RightToServe {
            clock: std::time::Instant::now(),
            lease_ms,
            promise_ms,
            promise: Mutex::new(Promise::at_start(0, promise_ms)),
            granting: AtomicBool::new(true),
            lease_until_ms: AtomicU64::new(0),
            last_query_failure: Mutex::new(None),
        }
    }

    pub fn lease_ms(&self) -> u64 {
        self.lease_ms
    }

    /// Milliseconds on the node's monotonic clock (the one clock for every
    /// lease, wait and timeout).
    pub fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// The promise for a role answer being sent now, if this node gives
    /// one. Checked again after promising: a decision to take over made
    /// meanwhile either sees this promise or this answer carries none.
    pub fn promise_for_answer(&self) -> Option<u64> {
        if !self.granting.load(Ordering::SeqCst) {
            return None;
        }
        if let Ok(mut promise) = self.promise.lock() {
            promise.grant(self.now_ms(), self.promise_ms);
        }
        self.granting
            .load(Ordering::SeqCst)
            .then_some(self.promise_ms)
    }

    /// No more promises (the node serves, or decided to take over); the
    /// promise in force, which a takeover must wait out.
    pub fn stop_promising(&self) -> Promise {
        self.granting.store(false, Ordering::SeqCst);
        match self.promise.lock() {
            Ok(promise) => *promise,
            // A poisoned lock: assume the longest promise from now.
            Err(_) => Promise::at_start(self.now_ms(), self.promise_ms),
        }
    }

    /// How long a promise in a role answer lasts.
    pub fn promise_ms(&self) -> u64 {
        self.promise_ms
    }

    /// The node made no progress for `gap_ms`: see [`Promise::after_gap`].
    /// Whether it promised again.
    pub fn promise_after_gap(&self, gap_ms: u64, quiet_ms: u64) -> bool {
        let now_ms = self.now_ms();
        match self.promise.lock() {
            Ok(mut promise) => promise.after_gap(now_ms, gap_ms, quiet_ms, self.promise_ms),
            // A poisoned lock: stop_promising assumes the longest promise.
            Err(_) => false,
        }
    }

    /// The node stopped serving: see [`Promise::after_serving`].
    pub fn promise_after_serving(&self) {
        let now_ms = self.now_ms();
        // A poisoned lock: stop_promising assumes the longest promise.
        if let Ok(mut promise) = self.promise.lock() {
            promise.after_serving(now_ms, self.promise_ms);
        }
    }

    pub fn resume_promising(&self) {
        self.granting.store(true, Ordering::SeqCst);
    }

    pub fn set_lease_until(&self, until_ms: u64) {
        self.lease_until_ms.store(until_ms, Ordering::SeqCst);
    }

    /// The lease is valid now.
    pub fn lease_valid(&self) -> bool {
        self.lease_remaining_ms() > 0
    }

    pub fn lease_remaining_ms(&self) -> u64 {
        self.lease_until_ms
            .load(Ordering::SeqCst)
            .saturating_sub(self.now_ms())
    }

    /// Notes how the last role query failed (`None`: it did not, or not
    /// in a way worth saying); whether that is news to log.
    pub fn query_failure_is_new(&self, why: Option<&str>) -> bool {
        let Ok(mut last) = self.last_query_failure.lock() else {
            return false;
        };
        let new = why.is_some() && last.as_deref() != why;
        if new || why.is_none() {
            *last = why.map(str::to_string);
        }
        new
    }

    pub fn promise_remaining_ms(&self) -> u64 {
        self.promise
            .lock()
            .map(|p| p.until_ms().saturating_sub(self.now_ms()))
            .unwrap_or(0)
    }
}

//! What keeps the replication task busy: every step it takes (a message
//! of its inbox, a durable round, a tick, a routing decision) is timed by
//! its kind, so a stall has a cause an operator can read: a histogram by
//! step in `/metrics`, and an event-log warning for a step that took a
//! good part of the lease (at most one a second, the longest kept). The
//! warning gives the thread's CPU time too: a step much longer than its
//! CPU time waited for a core (the machine is busier than its cores).

use std::time::{Duration, Instant};

use duet_switchover::Level;

use crate::replication::Handles;

/// A step this long or longer is worth a warning (half the LAN profile's
/// lease; a step is normally well under a millisecond).
const WARN_STEP_MS: u64 = 50;
/// At most one warning a second: the longest step since the last one.
const WARN_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Steps {
    /// The longest step not yet reported: (kind, ms, CPU ms).
    unreported: Option<(&'static str, u64, u64)>,
    last_warned: Option<Instant>,
}

impl Steps {
    /// Runs `step` of `kind`, timing it.
    pub fn time<T>(&mut self, node: &Handles, kind: &'static str, step: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let cpu_started = cpu_time::ThreadTime::now();
        let out = step();
        let took = started.elapsed();
        let cpu_ms = cpu_started.elapsed().as_millis() as u64;
        node.metrics
            .replication_step_seconds
            .get_or_create(&vec![("step", kind.to_string())])
            .observe(took.as_secs_f64());
        let took_ms = took.as_millis() as u64;
        if took_ms >= WARN_STEP_MS && self.unreported.is_none_or(|(_, ms, _)| took_ms > ms) {
            self.unreported = Some((kind, took_ms, cpu_ms));
        }
        self.warn_if_due(node);
        out
    }

    fn warn_if_due(&mut self, node: &Handles) {
        if self.last_warned.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        let Some((kind, ms, cpu_ms)) = self.unreported.take() else {
            return;
        };
        self.last_warned = Some(Instant::now());
        node.events.log_event(
            Level::Warning,
            format!(
                "The replication task spent {ms} ms on one step ({kind}; {cpu_ms} ms of it on a core); every acknowledgement waited meanwhile"
            ),
        );
    }
}

//! Two reasons not to take over automatically while the active node's
//! process still answers role queries: this node's start-up
//! synchronisation has not finished (it would serve whatever was copied so
//! far, and the active node's state would then be resynchronised away),
//! and switchovers have come too often (a pair that moves back and forth
//! by itself is damped: it stays put and says so). A manual switch, and a
//! takeover from an active node whose process is gone or that is silent,
//! are never held back.

use std::collections::VecDeque;

use duet_params::{DAMPING_SWITCHOVERS_MAX, DAMPING_WINDOW_MS};

/// Why an automatic takeover is held back, in words for the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldBack {
    NotSynchronised,
    Damped { switchovers: usize, window_s: u64 },
}

impl HeldBack {
    pub fn describe(&self, peer: &str) -> String {
        match self {
            HeldBack::NotSynchronised => format!(
                "this node's start-up synchronisation with {peer} has not finished and {peer}'s process answers: taking over now would serve what was copied so far"
            ),
            HeldBack::Damped {
                switchovers,
                window_s,
            } => format!(
                "switchovers are damped: {switchovers} in the last {window_s} s while {peer}'s process answers, so the pair stays put; find the cause in both event logs (a manual switch still works)"
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TakeoverGuard {
    synchronised: bool,
    /// When switchovers were seen (this node's own and its peer's), on
    /// the node's clock; at most [`DAMPING_SWITCHOVERS_MAX`] kept.
    switchovers_ms: VecDeque<u64>,
}

impl Default for TakeoverGuard {
    fn default() -> Self {
        TakeoverGuard {
            synchronised: true,
            switchovers_ms: VecDeque::new(),
        }
    }
}

impl TakeoverGuard {
    /// This node starts (or rejoins) as backup: its copy is not yet whole.
    pub fn starting_as_backup(&mut self) {
        self.synchronised = false;
    }

    /// Its initial synchronisation completed.
    pub fn synchronised(&mut self) {
        self.synchronised = true;
    }

    /// A switchover happened at `now_ms` (this node took over, or it saw
    /// a newer epoch).
    pub fn switchover_seen(&mut self, now_ms: u64) {
        self.switchovers_ms.push_back(now_ms);
        while self.switchovers_ms.len() > DAMPING_SWITCHOVERS_MAX {
            self.switchovers_ms.pop_front();
        }
    }

    /// May an automatic takeover decided at `now_ms` go ahead?
    /// `peer_process_answers`: the active node's role arbiter answered the
    /// last query.
    pub fn check(&self, now_ms: u64, peer_process_answers: bool) -> Result<(), HeldBack> {
        if !peer_process_answers {
            return Ok(());
        }
        if !self.synchronised {
            return Err(HeldBack::NotSynchronised);
        }
        let recent = self
            .switchovers_ms
            .iter()
            .filter(|&&at| now_ms.saturating_sub(at) < DAMPING_WINDOW_MS)
            .count();
        if recent >= DAMPING_SWITCHOVERS_MAX {
            return Err(HeldBack::Damped {
                switchovers: recent,
                window_s: DAMPING_WINDOW_MS / 1_000,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_not_yet_synchronised_does_not_take_over_from_a_live_process() {
        let mut guard = TakeoverGuard::default();
        guard.starting_as_backup();
        assert_eq!(guard.check(0, true), Err(HeldBack::NotSynchronised));
        // A process that is gone or silent leaves nothing better to serve.
        assert_eq!(guard.check(0, false), Ok(()));
        guard.synchronised();
        assert_eq!(guard.check(0, true), Ok(()));
    }

    #[test]
    fn switchovers_too_often_are_damped_while_the_peer_answers() {
        let mut guard = TakeoverGuard::default();
        for at in [0, 10_000, 20_000] {
            guard.switchover_seen(at);
        }
        assert_eq!(guard.check(30_000, true), Ok(()));
        guard.switchover_seen(30_000);
        assert_eq!(
            guard.check(31_000, true),
            Err(HeldBack::Damped {
                switchovers: 4,
                window_s: 120
            })
        );
        assert_eq!(guard.check(31_000, false), Ok(()));
        // The oldest leaves the window: one more is allowed.
        assert_eq!(guard.check(120_000, true), Ok(()));
        assert!(
            HeldBack::NotSynchronised
                .describe("a")
                .contains("a's process answers")
        );
    }
}

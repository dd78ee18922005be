//! A component of the active node fails while its process answers (with
//! [`super::Options::component_failures`]): the backup's switchover engine
//! decides to take over (the module monitor's switchover), and its
//! [`duet_role::TakeoverGuard`] holds an automatic takeover from a process
//! that answers back while this backup's start-up synchronisation has not
//! finished (it would serve what was copied so far) or after
//! `DAMPING_SWITCHOVERS_MAX` switchovers in `DAMPING_WINDOW_MS` (the pair
//! stays put and says why). A takeover that goes ahead waits at the gate
//! for the promise the backup gave, which the active node's lease cannot
//! outlast: given no promise, it is not renewed.

use duet_role::HeldBack;

use super::World;

impl World {
    /// A component of the active node fails; the backup notices it over
    /// the link (its module pings), so only while the link is up.
    pub(super) fn component_fails(&mut self) -> Result<(), String> {
        let Some(active) = self.active() else {
            return Ok(());
        };
        let backup = 1 - active;
        let noticed = self.link.conn.is_some() && self.nodes[backup].runs();
        if !noticed || self.right(backup).is_none_or(|right| right.gate.waiting()) {
            return Ok(());
        }
        self.note(format!(
            "a component of {} fails; its process answers",
            self.nodes[active].name
        ));
        // The driver asks afresh whether the peer's process answers.
        let process_answers = self.nodes[active].runs() && self.cut_off.is_none();
        let now = self.now_ms;
        let held = self
            .right(backup)
            .and_then(|right| right.guard.check(now, process_answers).err());
        match held {
            Some(held) => {
                match held {
                    HeldBack::NotSynchronised => self.report.held_back_unsynchronised += 1,
                    HeldBack::Damped { .. } => self.report.held_back_damped += 1,
                }
                let why = held.describe(self.nodes[active].name);
                self.note(format!(
                    "{}'s takeover is held back: {why}",
                    self.nodes[backup].name
                ));
                Ok(())
            }
            None => {
                self.report.component_takeovers += 1;
                self.decide(backup, "a component of its peer failed")?;
                self.play_out_takeover()
            }
        }
    }
}

//! What a node does when its peer answers as active, as its driver's
//! [`duet_role::Membership`] says: an active node of an older epoch steps
//! down and follows; a backup whose decided takeover the witness holds
//! back (its peer has the key) abandons it. A backup without a witness
//! goes on: its gate waits for its promise, which the active node, given
//! none, cannot outlast. And every rise of the newest epoch a node has
//! seen is a switchover somewhere in the pair, which its takeover guard
//! counts.

use duet_role::{Membership, MembershipCommand, PeerSaid, Standing};

use super::World;
use super::node::Role;

impl World {
    /// Node `n` saw `epoch` served.
    pub(super) fn saw_epoch(&mut self, n: usize, epoch: u64) {
        let now = self.now_ms;
        let Some(up) = self.nodes[n].up.as_mut() else {
            return;
        };
        if epoch > up.max_seen {
            up.max_seen = epoch;
            up.right.guard.switchover_seen(now);
        }
    }

    /// Node `n`'s standing, as its driver gives it to `Membership`.
    pub(super) fn standing(&self, n: usize) -> Option<Standing> {
        let up = self.nodes[n].up.as_ref()?;
        let own_epoch = match up.role {
            Role::Active { epoch } => Some(epoch),
            Role::Backup => None,
        };
        Some(Standing {
            holding: own_epoch.is_some(),
            epoch: own_epoch.unwrap_or(0),
            max_seen: up.max_seen,
            inactive: false,
            takeover_held_by_witness: up.right.gate.waiting() && up.right.gate.blocked_by_witness(),
            history: up.replica.position(),
            history_id: up.replica.history_id(),
        })
    }

    /// Node `n`'s peer answered as active in `epoch`.
    pub(super) fn peer_serves(&mut self, n: usize, epoch: u64) -> Result<(), String> {
        let Some(standing) = self.standing(n) else {
            return Ok(());
        };
        let peer = &self.nodes[1 - n];
        let said = PeerSaid::Active {
            epoch,
            history: peer.history(),
            history_id: peer.history_id(),
        };
        let commands = Membership::default().answered(self.now_ms, said, standing);
        self.saw_epoch(n, epoch);
        for command in commands {
            match command {
                MembershipCommand::StepDown { .. } => {
                    self.step_down(n)?;
                    self.connect()?;
                }
                MembershipCommand::AbandonTakeover { .. } => {
                    if let Some(right) = self.right(n) {
                        right.gate.cancel();
                    }
                    self.note(format!(
                        "{} abandons its takeover: {} serves in epoch {epoch} and holds the witness's key",
                        self.nodes[n].name,
                        self.nodes[1 - n].name
                    ));
                }
                // Stepped down (inactive) is not simulated; a yield to a
                // newer history is decided where the two meet (`connect`).
                MembershipCommand::Rejoin
                | MembershipCommand::StartAgain
                | MembershipCommand::YieldToNewer { .. } => {}
            }
        }
        Ok(())
    }
}

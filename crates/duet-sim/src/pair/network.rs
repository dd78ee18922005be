//! The network around the pair beyond the link: a node cut off from its
//! peer (role queries go unanswered both ways) and from its gateway (its
//! own-network checks fail), which comes back gateway first; and what two
//! nodes that meet again decide about who serves.

use super::World;

/// A node cut off gets its gateway back this long before its peer.
pub(super) const PEER_BACK_AFTER_GATEWAY_MS: u64 = 400;

/// A node cut off from its peer: its gateway does not answer either until
/// it comes back, and then its peer only at `peer_back_at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CutOff {
    pub(super) node: usize,
    pub(super) gateway_down: bool,
    pub(super) peer_back_at_ms: Option<u64>,
}

impl World {
    /// Node `n`'s gateway answers.
    pub(super) fn gateway_answers(&self, n: usize) -> bool {
        self.nodes[n].runs() && !self.cut_off.is_some_and(|c| c.node == n && c.gateway_down)
    }

    /// A node cut off comes back: its gateway first, its peer a while
    /// later (then the link may come up again).
    pub(super) fn network_heals(&mut self) -> Result<(), String> {
        match self.cut_off {
            Some(CutOff {
                node,
                gateway_down: true,
                ..
            }) => {
                self.cut_off = Some(CutOff {
                    node,
                    gateway_down: false,
                    peer_back_at_ms: Some(self.now_ms + PEER_BACK_AFTER_GATEWAY_MS),
                });
                self.note(format!(
                    "{}'s gateway answers again; its peer does not yet",
                    self.nodes[node].name
                ));
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                self.link.cut = false;
                self.connect()
            }
        }
    }

    /// The peer of a node cut off can be reached again once its time has
    /// come (`all`: at the heal, whatever the time).
    pub(super) fn peers_meet_again(&mut self, all: bool) -> Result<(), String> {
        let Some(cut_off) = self.cut_off else {
            return Ok(());
        };
        if !all && cut_off.peer_back_at_ms.is_none_or(|at| at > self.now_ms) {
            return Ok(());
        }
        self.cut_off = None;
        self.link.cut = false;
        self.note(format!(
            "{} reaches its peer again",
            self.nodes[cut_off.node].name
        ));
        self.connect()
    }

    /// The active node meets the other, which does not serve: as the
    /// drivers' `duet_role` decisions say, an active node whose peer holds
    /// a change of a later epoch than the one it serves (its disk was
    /// replaced, or restored from older days, or the peer took over while
    /// it was cut off or paused, then crashed), or more changes of that
    /// epoch of another history, stops serving, and the peer,
    /// answered by a node that does not serve, is chosen active. Whether
    /// the roles changed.
    pub(super) fn newer_history_wins(&mut self, active: usize) -> Result<bool, String> {
        use duet_role::{
            Discovered, Discovery, DiscoveryStep, Membership, MembershipCommand, PeerSaid,
        };
        let other = 1 - active;
        if self.nodes[other].up.is_none() || self.nodes[other].epoch().is_some() {
            return Ok(false);
        }
        let Some(standing) = self.standing(active) else {
            return Ok(false);
        };
        let (active_history, other_history) =
            (self.nodes[active].history(), self.nodes[other].history());
        let epoch = standing.epoch;
        let commands = Membership::default().answered(
            self.now_ms,
            PeerSaid::Other {
                history: other_history,
                history_id: self.nodes[other].history_id(),
            },
            standing,
        );
        if !commands
            .iter()
            .any(|c| matches!(c, MembershipCommand::YieldToNewer { .. }))
        {
            return Ok(false);
        }
        self.note(format!(
            "{} serves epoch {epoch} and meets {} holding {other_history}: it yields to the newer history",
            self.nodes[active].name, self.nodes[other].name
        ));
        self.step_down(active)?;
        let mut discovery = Discovery::new(
            self.nodes[other].parity == 1,
            other_history,
            self.nodes[other].history_id(),
        );
        match discovery.answered(PeerSaid::Other {
            history: active_history,
            history_id: self.nodes[active].history_id(),
        }) {
            DiscoveryStep::Decided(Discovered::ChosenActive) => {
                self.saw_epoch(other, epoch);
                self.take_over(other)?;
                Ok(true)
            }
            step => Err(format!("after a yield, discovery said {step:?}")),
        }
    }
}

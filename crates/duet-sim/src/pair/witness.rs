//! The etcd witness of the simulated pair ([`super::Options::witness`]):
//! one key under an etcd lease of [`WITNESS_TTL_MS`]. A node that serves or
//! waits to take over calls it every third of that, as the node's witness
//! task does: a call reaches etcd unless the node is cut off from its
//! network, and takes the key, or keeps it, unless the peer's lease on it
//! still runs. A node that no longer wants it lets it go; a crashed one
//! holds it until its lease runs out. With a witness, the link between the nodes
//! alone is cut now and then too (both still reach their gateways and
//! etcd): the one case the own-network checks cannot tell from a dead
//! peer, so without a witness two nodes would serve, and with one they
//! never do, which is checked at every tick.

use duet_role::WitnessSeen;
use rand::Rng;

use super::World;
use super::network::CutOff;
use super::node::Role;
use super::right::Arrival;

/// The witness lease's time to live (the node's `witness_ttl_s`), ms.
pub(super) const WITNESS_TTL_MS: u64 = 3 * super::world::LEASE_MS;
/// A call answers by the next tick; one that cannot reach etcd fails
/// after this long.
const CALL_MS: u64 = 1;
const UNREACHABLE_MS: u64 = 300;
/// With a witness, one step in this many splits the nodes apart.
pub(super) const SPLITS_ONE_IN: u32 = 40;
/// How long the nodes alone cannot reach each other: up to a few leases.
const SPLIT_MS: std::ops::RangeInclusive<u64> = 500..=4_000;

/// The witness's key: who holds it, until when (on the one clock).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Witness {
    holder: Option<(usize, u64)>,
}

impl World {
    /// Node `n`'s witness task: while the node wants the key (it serves,
    /// or its takeover waits at the gate) it calls at once and then every
    /// third of the TTL; once it no longer does, it lets the key go (if
    /// etcd can be reached) and says `Released`, which also clears what
    /// the gate last heard.
    pub(super) fn witness_tick(&mut self, n: usize) {
        let now = self.now_ms;
        let Some(up) = self.nodes[n].up.as_ref() else {
            return;
        };
        let wants = matches!(up.role, Role::Active { .. }) || up.right.gate.waiting();
        let wanted = up.right.witness_wanted;
        if self.witness.is_none() || (wants && wanted && up.right.next_witness_ms > now) {
            return;
        }
        let reachable = self.gateway_answers(n);
        let Some(witness) = self.witness.as_mut() else {
            return;
        };
        let (seen, at_ms) = if !wants {
            if !wanted {
                return;
            }
            if reachable && witness.holder.is_some_and(|(holder, _)| holder == n) {
                witness.holder = None;
            }
            (WitnessSeen::Released, now + CALL_MS)
        } else if !reachable {
            (WitnessSeen::Unreachable, now + UNREACHABLE_MS)
        } else {
            match witness.holder {
                Some((holder, until_ms)) if holder != n && now < until_ms => {
                    (WitnessSeen::HeldByPeer, now + CALL_MS)
                }
                _ => {
                    witness.holder = Some((n, now + WITNESS_TTL_MS));
                    let seen = WitnessSeen::Held {
                        sent_ms: now,
                        ttl_ms: WITNESS_TTL_MS,
                    };
                    (seen, now + CALL_MS)
                }
            }
        };
        if let Some(right) = self.right(n) {
            right.witness_wanted = wants;
            right.next_witness_ms = now + WITNESS_TTL_MS / 3;
            right.arrive(at_ms, Arrival::Witness(seen));
        }
    }

    /// What the witness said reaches node `n`'s driver: its lease learns
    /// from it, and a takeover waiting for the key may go ahead.
    pub(super) fn witness_said(&mut self, n: usize, seen: WitnessSeen) -> Result<(), String> {
        let now = self.now_ms;
        let Some(right) = self.right(n) else {
            return Ok(());
        };
        right.lease.witness(seen);
        let promise = right.gate_promise;
        if right.gate.witness(now, seen, &promise).is_some() {
            return self.gate_opens(n, "it holds the witness's key and its promise has run out");
        }
        Ok(())
    }

    /// The nodes cannot reach each other for a while (link and role
    /// queries), while both reach their gateways and the witness.
    pub(super) fn split_apart(&mut self) -> Result<(), String> {
        let Some(active) = self.active() else {
            return Ok(());
        };
        if self.cut_off.is_some() {
            return Ok(());
        }
        let split_ms = self.rng.random_range(SPLIT_MS);
        self.report.splits += 1;
        self.cut()?;
        self.cut_off = Some(CutOff {
            node: active,
            gateway_down: false,
            peer_back_at_ms: Some(self.now_ms + split_ms),
        });
        self.note(format!(
            "{} and {} cannot reach each other for {split_ms} ms; both reach their gateways and the witness",
            self.nodes[0].name, self.nodes[1].name
        ));
        Ok(())
    }

    /// With a witness, two nodes never serve at once.
    pub(super) fn one_serving(&self) -> Result<(), String> {
        if self.witness.is_some() && (0..2).all(|n| self.nodes[n].serving(self.now_ms)) {
            return Err(format!(
                "with a witness, {} (epoch {:?}) and {} (epoch {:?}) both serve",
                self.nodes[0].name,
                self.nodes[0].epoch(),
                self.nodes[1].name,
                self.nodes[1].epoch()
            ));
        }
        Ok(())
    }
}

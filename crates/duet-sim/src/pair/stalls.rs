//! Nodes that pause and stores that stall ([`super::Options::stalls`]).
//! A pause is the process stopped (SIGSTOP, a long GC or VM pause): the
//! node handles nothing, what reaches it waits (messages in the link,
//! clients' requests at its door, role answers), its store does not flush,
//! its driver neither ticks nor asks, and an active node's lease runs out
//! while the other, hearing nothing from it, may take over. A stall is the
//! store failing to commit: the node's store writer retries with back-off
//! and nothing becomes durable meanwhile. Both end as time passes, and at
//! the heal.

use std::ops::RangeInclusive;

use rand::Rng;

use super::node::{Pause, Role};
use super::world::{LEASE_MS, World};

/// With stalls on, one step in this many pauses a node or stalls a store.
pub(super) const STALLS_ONE_IN: u32 = 50;
/// How long a node pauses: from a short GC pause to three leases.
const PAUSE_MS: RangeInclusive<u64> = 100..=3 * LEASE_MS;
/// How long a store fails to commit: a few of its writer's tries, whose
/// back-off starts at 100 ms and doubles.
const STORE_STALL_MS: RangeInclusive<u64> = 100..=3_000;

impl World {
    /// A node pauses, or its store stalls.
    pub(super) fn pause_or_stall(&mut self) -> Result<(), String> {
        let n = self.rng.random_range(0..2);
        if self.rng.random_bool(0.5) {
            let pause_ms = self.rng.random_range(PAUSE_MS);
            self.pause(n, pause_ms)
        } else {
            let stall_ms = self.rng.random_range(STORE_STALL_MS);
            self.stall_store(n, stall_ms)
        }
    }

    /// Node `n` stops for `pause_ms`. If it is the active node, the other
    /// runs and the pause is longer than a lease, time plays out: the other
    /// hears nothing from it, and may decide to take over and do so once
    /// its promise has run out, dropping the connection (what was in flight
    /// is lost), or hear from it again first.
    fn pause(&mut self, n: usize, pause_ms: u64) -> Result<(), String> {
        if !self.nodes[n].runs() {
            return Ok(());
        }
        let until_ms = self.now_ms + pause_ms;
        if let Some(up) = self.nodes[n].up.as_mut() {
            up.pause = Some(Pause {
                since_ms: self.now_ms,
                until_ms,
                inbox: Vec::new(),
            });
        }
        self.report.pauses += 1;
        self.note(format!(
            "{} is paused for {pause_ms} ms",
            self.nodes[n].name
        ));
        if pause_ms >= LEASE_MS && self.nodes[n].epoch().is_some() && self.nodes[1 - n].runs() {
            self.play_out_takeover()?;
        }
        Ok(())
    }

    /// Node `n`'s store fails to commit for `stall_ms`: its writer retries
    /// the same commit, and nothing it holds or is given becomes durable
    /// meanwhile (a crash loses all of it).
    fn stall_store(&mut self, n: usize, stall_ms: u64) -> Result<(), String> {
        let until_ms = self.now_ms + stall_ms;
        let Some(up) = self.nodes[n].up.as_mut() else {
            return Ok(());
        };
        if up.store_stalled_until_ms.is_some() {
            return Ok(());
        }
        up.store_stalled_until_ms = Some(until_ms);
        self.report.store_stalls += 1;
        self.note(format!(
            "{}'s store fails to commit for {stall_ms} ms: its writer retries",
            self.nodes[n].name
        ));
        Ok(())
    }

    /// Pauses and store stalls whose time is over end (`all`: every one,
    /// at the heal).
    pub(super) fn end_pauses_and_stalls(&mut self, all: bool) -> Result<(), String> {
        let now_ms = self.now_ms;
        let over = |until_ms: u64| all || until_ms <= now_ms;
        for n in 0..2 {
            let Some(up) = self.nodes[n].up.as_mut() else {
                continue;
            };
            let pause_over = up.pause.as_ref().is_some_and(|pause| over(pause.until_ms));
            if up.store_stalled_until_ms.is_some_and(over) {
                up.store_stalled_until_ms = None;
                self.note(format!("{}'s store commits again", self.nodes[n].name));
            }
            if pause_over {
                self.resume(n)?;
            }
        }
        Ok(())
    }

    /// Node `n` resumes: its clocks have jumped (its next context has the
    /// time now: a lease that ran out meanwhile is not valid), its driver,
    /// waking after the gap, promises again from now (the peer may have
    /// renewed its lease from its own network meanwhile), and it handles
    /// what reached it, in order. Its driver's next tick sees the pause
    /// (its lease's tick comes late) and asks its peer again.
    fn resume(&mut self, n: usize) -> Result<(), String> {
        let now_ms = self.now_ms;
        let Some(up) = self.nodes[n].up.as_mut() else {
            return Ok(());
        };
        let Some(pause) = up.pause.take() else {
            return Ok(());
        };
        if up.role == Role::Backup {
            up.right
                .woke_after(now_ms, now_ms.saturating_sub(pause.since_ms));
        }
        self.note(format!(
            "{} resumes, {} inputs waiting",
            self.nodes[n].name,
            pause.inbox.len()
        ));
        for input in pause.inbox {
            self.input(n, input)?;
        }
        Ok(())
    }
}

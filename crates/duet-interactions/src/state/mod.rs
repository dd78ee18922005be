//! [`Interactions`]: the live state (interactions, agents, queue totals),
//! changed only by [`Command`]s applied in stream order.

mod apply;
mod apply_agent;
mod check;
mod chunks;
mod config;
mod eligibility;
mod figures;
mod index;
mod lifecycle;
pub mod lines;
pub mod presence;
mod reporting;
mod rows;
mod snapshot;
mod takeover;
mod tracked;

use std::collections::BTreeSet;

use duet_rsm::{ClientId, Limits, Position, StateMachine};
use serde::{Deserialize, Serialize};

use crate::change::Command;
use crate::encode::Digest;
use crate::error::{Error, Result};
use crate::model::{Agent, Chunk, Directory, Interaction, MediaType};

pub(crate) use config::Config;
pub use figures::{QueueFigures, QueueTotals};
pub(crate) use index::Index;
pub use reporting::{INTERVAL_RECORDS_MAX, IntervalEnd, IntervalRecord, Reporting, next_boundary};
pub use rows::{RowKey, Rows};
pub use snapshot::{Page, PageItem, paginate};
pub use takeover::{LOST_AT_SWITCHOVER, START_AGAIN};
pub(crate) use tracked::Keyed;
pub use tracked::RowLog;

/// A queue's live part: its round-robin place and its running totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueLive {
    /// The agent last offered an interaction of this queue; round robin
    /// continues after them (also on a new active node).
    pub rr_cursor: Option<String>,
    pub totals: QueueTotals,
}

/// One applied change, as the history keeps it for `epoch_of` and retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: u64,
    pub epoch: u64,
    pub client: ClientId,
}

/// The replicated part of the state: what digests and snapshots cover.
/// Each collection marks what changed until the node takes it as rows
/// (`rows.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Live {
    pub interactions: Keyed<Interaction>,
    pub agents: Keyed<Agent>,
    pub queues: Keyed<QueueLive>,
    pub reporting: Reporting,
    pub position: Position,
    pub history: RowLog<HistoryEntry>,
    /// What heals could not make as changes, newest last, at most
    /// [`HEAL_CONFLICTS_MAX`].
    pub conflicts: RowLog<crate::model::HealConflict>,
    /// Chunks of content by name (`model::blob`).
    pub chunks: Keyed<Chunk>,
}

/// Heal conflict records kept; the oldest go first.
pub const HEAL_CONFLICTS_MAX: usize = 10_000;

/// What one applied change touched, so the node persists just those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub interactions: BTreeSet<String>,
    pub agents: BTreeSet<String>,
    pub queues: BTreeSet<String>,
    /// Interactions that left the live state.
    pub forgotten: BTreeSet<String>,
    /// Every live interaction changed (a takeover's new seqno), besides
    /// those listed.
    pub every_interaction: bool,
}

impl Applied {
    /// True when the change was a no-op (a repeated message id, a delivery
    /// step back): only the position moved.
    pub fn is_empty(&self) -> bool {
        !self.every_interaction
            && self.interactions.is_empty()
            && self.agents.is_empty()
            && self.queues.is_empty()
            && self.forgotten.is_empty()
    }
}

/// The limits a new state starts with: changes up to 768 KiB (a 1 MiB
/// frame with room to spare), 10,000 history records; the live
/// interactions are the directory's `live_interactions_max`.
pub const DEFAULT_LIMITS: Limits = Limits {
    entries_max: 100_000,
    change_bytes_max: 768 * 1024,
    history_max: 10_000,
};

/// The live interaction state.
#[derive(Debug, Clone)]
pub struct Interactions {
    pub(crate) live: Live,
    pub(crate) index: Index,
    pub(crate) config: Config,
    pub(crate) limits: Limits,
    /// What the node's store holds of the state's own records.
    pub(crate) stored: rows::Stored,
}

/// Two states are equal when what they replicate is (every item, the
/// position, the history): the directory, limits and indexes aside.
impl PartialEq for Interactions {
    fn eq(&self, other: &Self) -> bool {
        self.live == other.live
    }
}

impl Default for Interactions {
    fn default() -> Self {
        Interactions::new(Directory::default(), DEFAULT_LIMITS)
    }
}

impl Interactions {
    pub fn new(directory: Directory, limits: Limits) -> Self {
        let mut state = Interactions {
            live: Live::default(),
            index: Index::default(),
            config: Config::default(),
            limits,
            stored: rows::Stored::nothing(),
        };
        state.set_directory(directory);
        state
    }

    /// Replaces the configuration the state is checked against. The live
    /// state stays as it is: interactions of a removed queue keep waiting
    /// (transfer them), agents removed keep what they hold.
    pub fn set_directory(&mut self, directory: Directory) {
        self.limits.entries_max = directory.settings.live_interactions_max;
        self.config = Config::new(directory);
        let agents = &self.config.directory.agents;
        self.index
            .capacities_changed(self.live.agents.values().map(|a| (a, agents.get(&a.name))));
    }

    pub fn directory(&self) -> &Directory {
        &self.config.directory
    }

    pub fn get(&self, id: &str) -> Option<&Interaction> {
        self.live.interactions.get(id)
    }

    /// Interaction `id`, shared: a reader elsewhere (the API) holds it
    /// without copying its content; a later change to it copies it then.
    pub fn get_shared(&self, id: &str) -> Option<&std::sync::Arc<Interaction>> {
        self.live.interactions.get_shared(id)
    }

    /// Every live interaction (closed ones until forgotten), by id.
    pub fn interactions(&self) -> impl Iterator<Item = &Interaction> {
        self.live.interactions.values()
    }

    /// The same, shared (no copy), to read elsewhere while the state
    /// moves on.
    pub fn shared_interactions(&self) -> impl Iterator<Item = &std::sync::Arc<Interaction>> {
        self.live.interactions.shared()
    }

    pub fn len(&self) -> usize {
        self.live.interactions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.interactions.is_empty()
    }

    /// How many live interactions there are of each media and state
    /// (`InteractionState::name`), kept as they change: no walk over them.
    pub fn census(&self) -> &std::collections::BTreeMap<(MediaType, &'static str), usize> {
        self.index.census()
    }

    /// Chunk `name` of some content, shared (no copy of its bytes).
    pub fn chunk(&self, name: &str) -> Option<&std::sync::Arc<Chunk>> {
        self.live.chunks.get_shared(name)
    }

    /// The bytes of every chunk held.
    pub fn chunk_bytes(&self) -> u64 {
        self.index.chunks.held_bytes()
    }

    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.live.agents.get(name)
    }

    /// What heals could not make as changes (the winner's state stood),
    /// oldest first.
    pub fn conflicts(&self) -> impl Iterator<Item = &crate::model::HealConflict> {
        self.live.conflicts.iter()
    }

    /// Every agent who has logged in at least once, by name.
    pub fn agents(&self) -> impl Iterator<Item = &Agent> {
        self.live.agents.values()
    }

    pub fn queue_live(&self, queue: &str) -> Option<&QueueLive> {
        self.live.queues.get(queue)
    }

    /// Waiting interactions of `queue` in serving order.
    pub fn waiting(&self, queue: &str) -> impl Iterator<Item = &str> {
        self.index
            .waiting
            .get(queue)
            .into_iter()
            .flat_map(|set| set.iter().map(|(_, id)| id.as_str()))
    }

    /// A hash over the replicated state (interactions, agents, queues,
    /// position; not the history, which a snapshot may shorten). Two nodes
    /// at the same position hold the same state iff (barring collisions)
    /// their digests are equal.
    pub fn digest(&self) -> u64 {
        let mut d = Digest::default();
        d.add(&self.live.interactions);
        d.add(&self.live.agents);
        d.add(&self.live.queues);
        d.add(&self.live.reporting);
        d.add(&self.live.conflicts);
        // A chunk's name is the hash of its bytes (checked as it came).
        for (name, chunk) in self.live.chunks.iter() {
            d.add(&(name, chunk.stored_at_ms));
        }
        d.add(&self.live.position);
        d.hash()
    }

    fn record(&mut self, at: Position, client: &str) {
        self.live.position = at;
        self.live.history.push_back(HistoryEntry {
            seq: at.seq,
            epoch: at.epoch,
            client: client.to_string(),
        });
        while self.live.history.len() > self.limits.history_max {
            self.live.history.pop_front();
        }
    }
}

impl StateMachine for Interactions {
    type Change = Command;
    type Applied = Applied;
    type Error = Error;

    fn check(&self, change: &Command) -> Result<()> {
        self.check_command(change)
    }

    fn apply(&mut self, at: Position, change: &Command) -> Result<Applied> {
        let Position { epoch, seq } = self.live.position;
        if at.seq <= seq {
            return Err(Error::OutOfOrder(at.epoch, at.seq, epoch, seq));
        }
        self.check_command(change)?;
        let applied = self.mutate(change);
        self.settle_chunks(change.at_ms);
        self.record(at, &change.client);
        Ok(applied)
    }

    fn pass(&mut self, at: Position) {
        if at.seq > self.live.position.seq {
            self.live.position = at;
        }
    }

    fn position(&self) -> Position {
        self.live.position
    }

    fn epoch_of(&self, seq: u64) -> Option<u64> {
        let first = self.live.history.front()?.seq;
        if seq < first {
            return None;
        }
        // Sequence numbers rise but skip other machines' changes: search.
        let i = self
            .live
            .history
            .binary_search_by_key(&seq, |h| h.seq)
            .ok()?;
        self.live.history.get(i).map(|h| h.epoch)
    }

    fn recent_clients(&self, n: usize) -> Vec<(ClientId, u64)> {
        let skip = self.live.history.len().saturating_sub(n);
        self.live
            .history
            .iter()
            .skip(skip)
            .map(|h| (h.client.clone(), h.seq))
            .collect()
    }

    fn limits(&self) -> Limits {
        self.limits
    }
}

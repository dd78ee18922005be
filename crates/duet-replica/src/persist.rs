//! What the replica asks the store to keep, and what a start reads back.

use duet_config::HistoryRecord;
use duet_config::sync::Installed;
use duet_interactions::{Command, Interactions};
use duet_rsm::Position;
use duet_stream::Entry;

/// Commands logged between two takes of the changed rows at most (the
/// replication tick takes them sooner under a light load).
pub const ROWS_EVERY: u64 = 1_000;

/// How long changed rows wait for a tick to store them at most (on the
/// node's monotonic clock), so a start replays a short log.
pub const ROWS_STORE_MS: u64 = 100;

/// A snapshot page's size bound, well inside a frame.
pub const SNAPSHOT_PAGE_BYTES: usize = 256 * 1024;

/// One write to the store; the writer thread commits several in one
/// transaction.
#[derive(Debug, Clone)]
pub enum StoreWrite {
    /// An applied change: its entry, its history record, the position.
    Applied(HistoryRecord),
    /// What a resynchronisation installed, and the position it reached.
    Resynchronised {
        installed: Installed,
        last: Position,
    },
    /// The copy is filtered by an Upgrade state (or whole again).
    Filtered(bool),
    /// The changes now belong to this history (the active node's, taken
    /// once this node's copy is its).
    HistoryId(duet_rsm::HistoryId),
    /// The history was compacted up to here (a heal compares from there).
    HistoryFloor(u64),
    /// An applied change of the interaction state, logged.
    Interaction(duet_stream::Entry<duet_interactions::Command>),
    /// The tree passed over another state's change at this position.
    TreePassed(Position),
    /// The interaction state passed over another state's change here.
    InteractionPassed(Position),
    /// The interaction state's rows changed up to `at`; the log before
    /// it goes, but for what a heal after a restart may want, or all of
    /// it when the state was `replaced` (a resync: another history).
    InteractionRows {
        at: Position,
        rows: duet_interactions::Rows,
        replaced: bool,
    },
}

/// What a start finds about the stored copy as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredCopy {
    /// Filtered by an Upgrade state and not made whole since.
    pub filtered: bool,
    /// Which history its changes belong to.
    pub history: duet_rsm::HistoryId,
}

/// The interaction state as a start finds it.
pub struct LoadedInteractions {
    pub state: Interactions,
    /// The logged commands in order, each with whether it changed
    /// nothing: those up to `from` the rows held already (kept for a
    /// heal, and said to change something), the rest replayed on them.
    pub logged: Vec<(Entry<Command>, bool)>,
    /// The position the rows stand at.
    pub from: u64,
}

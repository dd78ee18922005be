//! The interaction state in the store: a log of the commands applied since
//! the last snapshot, and that snapshot's pages. A start installs the
//! snapshot and replays the log. A snapshot is taken whenever the
//! directory (agents, queues) changes, so every logged command is replayed
//! against the directory it was first checked against; and every
//! [`SNAPSHOT_EVERY`] commands, so a start replays a bounded log.

use duet_interactions::{Command, Directory, Interactions, Page};
use duet_rsm::{Position, StateMachine};
use duet_stream::Entry;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{Store, StoreError, failed};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("interaction_log");
const SNAPSHOT: TableDefinition<u64, &[u8]> = TableDefinition::new("interaction_snapshot");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SNAPSHOT_AT: &str = "interaction_snapshot_at";
/// The last position the state passed over (another state's change).
const PASSED_AT: &str = "interaction_passed_at";

/// Commands logged between two snapshots at most.
pub const SNAPSHOT_EVERY: u64 = 20_000;

/// A snapshot page's size bound, well inside a frame.
pub const SNAPSHOT_PAGE_BYTES: usize = 256 * 1024;

fn damaged<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Damaged(e.to_string())
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(LOG).map_err(failed)?;
    txn.open_table(SNAPSHOT).map_err(failed)?;
    Ok(())
}

/// Logs one applied command.
pub(super) fn log(txn: &WriteTransaction, entry: &Entry<Command>) -> Result<(), StoreError> {
    let bytes = postcard::to_allocvec(entry).map_err(failed)?;
    txn.open_table(LOG)
        .map_err(failed)?
        .insert(entry.seq, bytes.as_slice())
        .map_err(failed)?;
    Ok(())
}

/// Replaces the snapshot with `pages` taken at `at`, and drops the log up
/// to it.
pub(super) fn snapshot(
    txn: &WriteTransaction,
    at: Position,
    pages: &[Page],
) -> Result<(), StoreError> {
    let mut snapshot = txn.open_table(SNAPSHOT).map_err(failed)?;
    snapshot.retain(|_, _| false).map_err(failed)?;
    for (i, page) in pages.iter().enumerate() {
        let bytes = postcard::to_allocvec(page).map_err(failed)?;
        snapshot
            .insert(i as u64, bytes.as_slice())
            .map_err(failed)?;
    }
    txn.open_table(LOG)
        .map_err(failed)?
        .retain(|seq, _| seq > at.1)
        .map_err(failed)?;
    let at = postcard::to_allocvec(&at).map_err(failed)?;
    let mut meta = txn.open_table(META).map_err(failed)?;
    meta.insert(SNAPSHOT_AT, at.as_slice()).map_err(failed)?;
    // A pass before the snapshot says nothing more (after a resync it may
    // even be another node's position).
    meta.insert(PASSED_AT, at.as_slice()).map_err(failed)?;
    Ok(())
}

/// The state passed over another state's change at `at`: on a start its
/// position is at least this, so the stream does not send it again.
pub(super) fn passed(txn: &WriteTransaction, at: Position) -> Result<(), StoreError> {
    let bytes = postcard::to_allocvec(&at).map_err(failed)?;
    txn.open_table(META)
        .map_err(failed)?
        .insert(PASSED_AT, bytes.as_slice())
        .map_err(failed)?;
    Ok(())
}

/// The interaction state as a start finds it.
pub struct LoadedInteractions {
    pub state: Interactions,
    /// The logged commands replayed on the snapshot, in order, each with
    /// whether it changed nothing.
    pub replayed: Vec<(Entry<Command>, bool)>,
    /// The position they follow (the snapshot's).
    pub from: u64,
}

impl Store {
    /// The interaction state as stored: the snapshot, then the log replayed
    /// on it; with the commands replayed and the position they follow.
    pub fn load_interactions(
        &self,
        directory: Directory,
    ) -> Result<LoadedInteractions, StoreError> {
        let txn = self.db.begin_read().map_err(failed)?;
        let mut state = Interactions::new(directory, duet_interactions::DEFAULT_LIMITS);
        let meta = txn.open_table(META).map_err(failed)?;
        if let Some(at) = meta.get(SNAPSHOT_AT).map_err(failed)? {
            let at: Position = postcard::from_bytes(at.value()).map_err(damaged)?;
            let mut pages = Vec::new();
            for row in txn
                .open_table(SNAPSHOT)
                .map_err(failed)?
                .iter()
                .map_err(failed)?
            {
                let (_, bytes) = row.map_err(failed)?;
                pages.push(postcard::from_bytes::<Page>(bytes.value()).map_err(damaged)?);
            }
            state.install(&pages, at).map_err(damaged)?;
        }
        let from = state.position().1;
        let mut replayed = Vec::new();
        for row in txn
            .open_table(LOG)
            .map_err(failed)?
            .iter()
            .map_err(failed)?
        {
            let (_, bytes) = row.map_err(failed)?;
            let entry: Entry<Command> = postcard::from_bytes(bytes.value()).map_err(damaged)?;
            if entry.seq <= state.position().1 {
                continue;
            }
            let applied = state
                .apply((entry.epoch, entry.seq), &entry.change)
                .map_err(|e| damaged(format!("logged interaction change {}: {e}", entry.seq)))?;
            replayed.push((entry, applied.is_empty()));
        }
        // Passes are stored after the changes before them, so one past
        // the replayed log is good; an older one (a resync since) is not.
        if let Some(at) = meta.get(PASSED_AT).map_err(failed)? {
            let at: Position = postcard::from_bytes(at.value()).map_err(damaged)?;
            state.pass(at);
        }
        Ok(LoadedInteractions {
            state,
            replayed,
            from,
        })
    }
}

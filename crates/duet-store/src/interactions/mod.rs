//! The interaction state in the store: a row per item (`interaction_rows`,
//! keyed as [`RowKey`] names them: an interaction by id, an agent or a
//! queue by name, a conflict, interval or history record by number, the
//! meta), the position those rows stand at, and a log of the commands
//! applied. The replication task takes the changed rows often (every
//! replication tick, every [`ROWS_EVERY`] commands, at every directory
//! change, so every command after the rows is replayed against the
//! directory it was first checked against), so a write costs what
//! changed. A start reads the rows and replays the log after them; the
//! log before them is kept (the last [`LOG_KEPT`] commands) for the heal
//! a node that served alone offers when it meets its peer.

use duet_interactions::{Command, Directory, Interactions, Page, PageItem, RowKey, Rows};
use duet_rsm::{Position, StateMachine};
use duet_stream::Entry;
use redb::{
    ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};

use super::{LoadedInteractions, Store, StoreError, failed};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("interaction_log");
const ROWS: TableDefinition<&str, &[u8]> = TableDefinition::new("interaction_rows");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The position the rows stand at.
const ROWS_AT: &str = "interaction_rows_at";
/// The last position the state passed over (another state's change).
const PASSED_AT: &str = "interaction_passed_at";
/// Stores written before rows held the whole state as snapshot pages
/// taken at this position; the first rows written replace them.
const SNAPSHOT: TableDefinition<u64, &[u8]> = TableDefinition::new("interaction_snapshot");
const SNAPSHOT_AT: &str = "interaction_snapshot_at";

/// Commands the log keeps when the rows hold them already, for a heal
/// after a restart.
pub const LOG_KEPT: u64 = 20_000;

fn damaged<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Damaged(e.to_string())
}

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(LOG).map_err(failed)?;
    txn.open_table(ROWS).map_err(failed)?;
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

/// Writes the rows taken at `at` (every other row goes when they are
/// the whole state). The whole log goes when the state was `replaced`
/// (that log is another history, whatever its numbers: a node that served
/// alone may have logged past the position it resynchronised to);
/// otherwise all but its last [`LOG_KEPT`] commands.
pub(super) fn rows(
    txn: &WriteTransaction,
    at: Position,
    rows: &Rows,
    replaced: bool,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(ROWS).map_err(failed)?;
    let mut log = txn.open_table(LOG).map_err(failed)?;
    if rows.whole {
        table.retain(|_, _| false).map_err(failed)?;
    }
    if replaced {
        log.retain(|_, _| false).map_err(failed)?;
    } else {
        while log.len().map_err(failed)? > LOG_KEPT {
            let first = log.first().map_err(failed)?.map(|(seq, _)| seq.value());
            if first.is_none_or(|seq| seq > at.seq) {
                break;
            }
            log.pop_first().map_err(failed)?;
        }
    }
    for (key, item) in &rows.changed {
        let key = key.to_string();
        match item {
            Some(item) => {
                let bytes = postcard::to_allocvec(item).map_err(failed)?;
                table
                    .insert(key.as_str(), bytes.as_slice())
                    .map_err(failed)?;
            }
            None => {
                table.remove(key.as_str()).map_err(failed)?;
            }
        }
    }
    let at = postcard::to_allocvec(&at).map_err(failed)?;
    let mut meta = txn.open_table(META).map_err(failed)?;
    meta.insert(ROWS_AT, at.as_slice()).map_err(failed)?;
    // A pass before the rows says nothing more (after a resync it may
    // even be another node's position).
    meta.insert(PASSED_AT, at.as_slice()).map_err(failed)?;
    // The earlier layout's snapshot: a state loaded from it takes all
    // its rows first (it counts as replaced), so these replace it.
    if meta.remove(SNAPSHOT_AT).map_err(failed)?.is_some() {
        txn.delete_table(SNAPSHOT).map_err(failed)?;
    }
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

impl Store {
    /// The interaction state as stored: the rows, then the log after them
    /// replayed; with the logged commands and the position they follow.
    pub fn load_interactions(
        &self,
        directory: Directory,
    ) -> Result<LoadedInteractions, StoreError> {
        let txn = self.db.begin_read().map_err(failed)?;
        let limits = duet_interactions::DEFAULT_LIMITS;
        let meta = txn.open_table(META).map_err(failed)?;
        let mut state = if let Some(at) = meta.get(ROWS_AT).map_err(failed)? {
            let at: Position = postcard::from_bytes(at.value()).map_err(damaged)?;
            let mut rows = Vec::new();
            for row in txn
                .open_table(ROWS)
                .map_err(failed)?
                .iter()
                .map_err(failed)?
            {
                let (key, bytes) = row.map_err(failed)?;
                let key: RowKey = key.value().parse().map_err(damaged)?;
                let item: PageItem = postcard::from_bytes(bytes.value()).map_err(damaged)?;
                rows.push((key, item));
            }
            Interactions::from_rows(directory, limits, rows, at).map_err(damaged)?
        } else if let Some(at) = meta.get(SNAPSHOT_AT).map_err(failed)? {
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
            let mut state = Interactions::new(directory, limits);
            state.install(&pages, at).map_err(damaged)?;
            state
        } else {
            Interactions::new(directory, limits)
        };
        let from = state.position().seq;
        let mut logged = Vec::new();
        for row in txn
            .open_table(LOG)
            .map_err(failed)?
            .iter()
            .map_err(failed)?
        {
            let (_, bytes) = row.map_err(failed)?;
            let entry: Entry<Command> = postcard::from_bytes(bytes.value()).map_err(damaged)?;
            if entry.seq <= from {
                logged.push((entry, false));
                continue;
            }
            let applied = state
                .apply(Position::new(entry.epoch, entry.seq), &entry.change)
                .map_err(|e| damaged(format!("logged interaction change {}: {e}", entry.seq)))?;
            logged.push((entry, applied.is_empty()));
        }
        // Passes are stored after the changes before them, so one past
        // the replayed log is good; an older one (a resync since) is not.
        if let Some(at) = meta.get(PASSED_AT).map_err(failed)? {
            let at: Position = postcard::from_bytes(at.value()).map_err(damaged)?;
            state.pass(at);
        }
        Ok(LoadedInteractions {
            state,
            logged,
            from,
        })
    }
}

#[cfg(test)]
mod tests;

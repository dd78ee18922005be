//! The node's durable state in an embedded store (redb): the configuration
//! tree's entries, its change history, and the last change applied; the
//! interaction state's rows and log (`interactions.rs`). Each group of
//! writes is one transaction, so a crash leaves either all of it or none.

mod interactions;

use std::path::Path;

use duet_config::sync::Installed;
use duet_config::{HistoryRecord, Object, Tree, TreePath};
use duet_rsm::Position;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
const HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new("history");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const APPLIED: &str = "applied";
const FILTERED: &str = "filtered";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state store failed: {0}")]
    Db(String),
    #[error(
        "the state store holds a damaged record ({0}); restore the data directory from a backup or let the node resynchronise from its peer after removing state.redb"
    )]
    Damaged(String),
}

fn failed<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// A history record as stores written before the heal hold it (no
/// `healed_from`, no `conflict`). Postcard has no field defaults: a record
/// of the older layout ends where this one does, so it is read by this
/// layout when the current one runs out of bytes.
#[derive(Serialize, Deserialize)]
struct RecordBeforeHeal {
    epoch: u64,
    seq: u64,
    at_unix_ms: u64,
    who: String,
    client: String,
    path: TreePath,
    old: Option<Object>,
    new: Option<Object>,
}

fn decode_record(bytes: &[u8]) -> Result<HistoryRecord, StoreError> {
    postcard::from_bytes::<HistoryRecord>(bytes).or_else(|current| {
        let r: RecordBeforeHeal =
            postcard::from_bytes(bytes).map_err(|_| StoreError::Damaged(current.to_string()))?;
        Ok(HistoryRecord {
            epoch: r.epoch,
            seq: r.seq,
            at_unix_ms: r.at_unix_ms,
            who: r.who,
            client: r.client,
            path: r.path,
            old: r.old,
            new: r.new,
            healed_from: None,
            conflict: None,
        })
    })
}

pub use interactions::{LoadedInteractions, ROWS_EVERY, SNAPSHOT_PAGE_BYTES};

pub struct Store {
    db: Database,
}

impl Store {
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        crate::private::dir(data_dir).map_err(failed)?;
        let db = Database::create(data_dir.join("state.redb")).map_err(failed)?;
        crate::private::file(&data_dir.join("state.redb")).map_err(failed)?;
        let txn = db.begin_write().map_err(failed)?;
        txn.open_table(ENTRIES).map_err(failed)?;
        txn.open_table(HISTORY).map_err(failed)?;
        txn.open_table(META).map_err(failed)?;
        interactions::create_tables(&txn)?;
        txn.commit().map_err(failed)?;
        Ok(Store { db })
    }

    /// The tree as stored.
    pub fn load(&self) -> Result<Tree, StoreError> {
        let txn = self.db.begin_read().map_err(failed)?;
        let entries_table = txn.open_table(ENTRIES).map_err(failed)?;
        let mut entries = Vec::new();
        for row in entries_table.iter().map_err(failed)? {
            let (k, v) = row.map_err(failed)?;
            let path =
                TreePath::parse(k.value()).map_err(|e| StoreError::Damaged(e.to_string()))?;
            let object: Object =
                postcard::from_bytes(v.value()).map_err(|e| StoreError::Damaged(e.to_string()))?;
            entries.push((path, object));
        }
        let history_table = txn.open_table(HISTORY).map_err(failed)?;
        let mut history = Vec::new();
        for row in history_table.iter().map_err(failed)? {
            let (_, v) = row.map_err(failed)?;
            history.push(decode_record(v.value())?);
        }
        let meta = txn.open_table(META).map_err(failed)?;
        let last = match meta.get(APPLIED).map_err(failed)? {
            Some(v) => {
                postcard::from_bytes(v.value()).map_err(|e| StoreError::Damaged(e.to_string()))?
            }
            None => Position::ZERO,
        };
        Ok(Tree::restore(entries, history, last))
    }

    /// Whether this node's copy was filtered by an Upgrade state and has not
    /// been made whole since.
    pub fn filtered(&self) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(failed)?;
        let meta = txn.open_table(META).map_err(failed)?;
        Ok(meta
            .get(FILTERED)
            .map_err(failed)?
            .is_some_and(|v| v.value() == [1]))
    }

    pub fn set_filtered(&self, filtered: bool) -> Result<(), StoreError> {
        self.commit(&[StoreWrite::Filtered(filtered)])
    }

    /// Stores an applied change: the entry, its history record and the
    /// position, in one transaction.
    pub fn applied(&self, record: &HistoryRecord) -> Result<(), StoreError> {
        self.commit(std::slice::from_ref(&StoreWrite::Applied(record.clone())))
    }

    /// Stores what a resynchronisation installed (entries, history records
    /// added and dropped) and the position it brought the tree to, in one
    /// transaction.
    pub fn resynchronised(&self, installed: &Installed, last: Position) -> Result<(), StoreError> {
        self.commit(&[StoreWrite::Resynchronised {
            installed: installed.clone(),
            last,
        }])
    }

    /// Writes `writes` in order, in one transaction (one sync for all).
    pub fn commit(&self, writes: &[StoreWrite]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(failed)?;
        {
            let mut entries = txn.open_table(ENTRIES).map_err(failed)?;
            let mut history = txn.open_table(HISTORY).map_err(failed)?;
            let mut meta = txn.open_table(META).map_err(failed)?;
            let mut put_entry =
                |path: &TreePath, object: &Option<Object>| -> Result<(), StoreError> {
                    let key = path.to_string();
                    match object {
                        Some(o) => {
                            let bytes = postcard::to_allocvec(o).map_err(failed)?;
                            entries
                                .insert(key.as_str(), bytes.as_slice())
                                .map_err(failed)?;
                        }
                        None => {
                            entries.remove(key.as_str()).map_err(failed)?;
                        }
                    }
                    Ok(())
                };
            let mut position = None;
            for write in writes {
                match write {
                    StoreWrite::Applied(record) => {
                        put_entry(&record.path, &record.new)?;
                        let bytes = postcard::to_allocvec(record).map_err(failed)?;
                        history
                            .insert(record.seq, bytes.as_slice())
                            .map_err(failed)?;
                        position = Some(Position::new(record.epoch, record.seq));
                    }
                    StoreWrite::Resynchronised { installed, last } => {
                        for seq in &installed.forgotten {
                            history.remove(seq).map_err(failed)?;
                        }
                        for record in &installed.history {
                            let bytes = postcard::to_allocvec(record).map_err(failed)?;
                            history
                                .insert(record.seq, bytes.as_slice())
                                .map_err(failed)?;
                        }
                        for (path, object) in &installed.entries {
                            put_entry(path, object)?;
                        }
                        position = Some(*last);
                    }
                    StoreWrite::Filtered(filtered) => {
                        meta.insert(FILTERED, [u8::from(*filtered)].as_slice())
                            .map_err(failed)?;
                    }
                    StoreWrite::TreePassed(at) => position = Some(*at),
                    StoreWrite::Interaction(_)
                    | StoreWrite::InteractionRows { .. }
                    | StoreWrite::InteractionPassed(_) => {}
                }
            }
            if let Some(position) = position {
                let bytes = postcard::to_allocvec(&position).map_err(failed)?;
                meta.insert(APPLIED, bytes.as_slice()).map_err(failed)?;
            }
        }
        // The interaction state's tables, in the order written.
        for write in writes {
            match write {
                StoreWrite::Interaction(entry) => interactions::log(&txn, entry)?,
                StoreWrite::InteractionRows { at, rows, replaced } => {
                    interactions::rows(&txn, *at, rows, *replaced)?
                }
                StoreWrite::InteractionPassed(at) => interactions::passed(&txn, *at)?,
                _ => {}
            }
        }
        txn.commit().map_err(failed)
    }
}

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

#[cfg(test)]
mod tests {
    use duet_config::{Change, Class, Op};

    use super::*;
    use crate::replication::Replicator;

    /// A history record as a resync installs it.
    fn record(path: &TreePath, epoch: u64, seq: u64) -> HistoryRecord {
        HistoryRecord {
            epoch,
            seq,
            at_unix_ms: seq * 1000,
            who: "admin".into(),
            client: format!("c{seq}"),
            path: path.clone(),
            old: None,
            new: Some(Object::new(Class::User).with("Extension", &seq.to_string())),
            healed_from: None,
            conflict: None,
        }
    }

    #[test]
    fn the_tree_and_its_history_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut tree = store.load().unwrap();
        let path = TreePath::parse("/config/Users/alice").unwrap();
        for (seq, ext) in [(1, "100"), (2, "200")] {
            let record = tree
                .apply(&Change {
                    epoch: 2,
                    seq,
                    at_unix_ms: seq * 1000,
                    who: "admin".into(),
                    client: String::new(),
                    op: Op::Put {
                        path: path.clone(),
                        object: Object::new(Class::User).with("Extension", ext),
                    },
                    healed_from: None,
                })
                .unwrap();
            store.applied(&record).unwrap();
        }
        drop(store);
        let tree = Store::open(dir.path()).unwrap().load().unwrap();
        assert_eq!(tree.get(&path).unwrap().attributes["Extension"], "200");
        assert_eq!(tree.history(&path).len(), 2);
        assert_eq!(tree.last_applied(), Position::new(2, 2));
        assert_eq!(
            tree.as_of(&path, 1500).unwrap().attributes["Extension"],
            "100"
        );
    }

    #[test]
    fn history_stored_before_the_heal_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = TreePath::parse("/config/Users/alice").unwrap();
        let current = record(&path, 2, 1);
        let old = RecordBeforeHeal {
            epoch: 2,
            seq: 1,
            at_unix_ms: current.at_unix_ms,
            who: current.who.clone(),
            client: current.client.clone(),
            path: path.clone(),
            old: None,
            new: current.new.clone(),
        };
        let txn = store.db.begin_write().unwrap();
        {
            let mut history = txn.open_table(HISTORY).unwrap();
            let bytes = postcard::to_allocvec(&old).unwrap();
            history.insert(1, bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        let tree = store.load().unwrap();
        assert_eq!(tree.history(&path), vec![&current]);
    }

    #[test]
    fn history_a_resync_installs_and_drops_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = TreePath::parse("/config/Users/alice").unwrap();
        let record = |epoch, seq| record(&path, epoch, seq);
        let mut installed = Installed {
            history: vec![record(3, 1), record(3, 2), record(3, 3)],
            ..Installed::default()
        };
        store
            .resynchronised(&installed, Position::new(3, 3))
            .unwrap();
        installed = Installed {
            history: vec![record(4, 2)],
            forgotten: vec![2, 3],
            ..Installed::default()
        };
        store
            .resynchronised(&installed, Position::new(4, 2))
            .unwrap();
        drop(store);
        let tree = Store::open(dir.path()).unwrap().load().unwrap();
        let kept: Vec<(u64, u64)> = tree
            .history(&path)
            .iter()
            .map(|r| (r.epoch, r.seq))
            .collect();
        assert_eq!(kept, vec![(3, 1), (4, 2)]);
    }

    #[test]
    fn history_a_resync_stored_past_its_position_is_dropped_at_start() {
        // A resync stores history page by page under the old position; a
        // node stopped before it finished must not keep those records (a
        // retry from one of their client ids would be answered, not applied).
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = TreePath::parse("/config/Users/alice").unwrap();
        let installed = Installed {
            history: (1..=5).map(|seq| record(&path, 2, seq)).collect(),
            ..Installed::default()
        };
        store
            .resynchronised(&installed, Position::new(2, 2))
            .unwrap();
        let tree = store.load().unwrap();
        let replicator = Replicator::new(
            store,
            tree,
            crate::metrics::Metrics::default().store_commit_seconds,
        );
        let kept: Vec<u64> = replicator.history(&path).iter().map(|r| r.seq).collect();
        assert_eq!(kept, vec![1, 2]);
        drop(replicator);
        let reloaded = Store::open(dir.path()).unwrap().load().unwrap();
        assert_eq!(reloaded.history(&path).len(), 2, "dropped from storage too");
    }

    #[test]
    fn compacted_history_stays_compacted_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let path = TreePath::parse("/config/Users/alice").unwrap();
        for seq in 1..=2_000 {
            store.applied(&record(&path, 2, seq)).unwrap();
        }
        let tree = store.load().unwrap();
        let mut replicator = Replicator::new(
            store,
            tree,
            crate::metrics::Metrics::default().store_commit_seconds,
        );
        replicator.compact_history(1_500);
        replicator.compact_history(1_000);
        assert_eq!(replicator.tree().history_len(), 1_000);
        drop(replicator);
        let reloaded = Store::open(dir.path()).unwrap().load().unwrap();
        assert_eq!(reloaded.history_len(), 1_000);
        assert_eq!(reloaded.last_applied(), Position::new(2, 2_000));
        assert_eq!(reloaded.history(&path).first().unwrap().seq, 1_001);
    }
}

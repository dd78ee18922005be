//! A node's durable state in an embedded store (redb): what the replica
//! asks to keep ([`StoreWrite`]): the configuration tree's entries, its
//! change history, and the last change applied; the interaction state's
//! rows and log (`interactions.rs`). Each group of writes is one
//! transaction, so a crash leaves either all of it or none. A start reads
//! it back ([`Store::load`], [`Store::load_interactions`]).

mod interactions;

use std::path::Path;

use duet_config::sync::Installed;
use duet_config::{HistoryRecord, Object, Tree, TreePath};
use duet_rsm::{HistoryId, Position};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
const HISTORY: TableDefinition<u64, &[u8]> = TableDefinition::new("history");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The store's file in a data directory.
pub const FILE: &str = "state.redb";
const APPLIED: &str = "applied";
const FILTERED: &str = "filtered";
/// Up to where the history was compacted.
const HISTORY_FLOOR: &str = "history_floor";
/// Which history the changes belong to ([`HistoryId`]).
const HISTORY_ID: &str = "history_id";

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

pub use duet_replica::persist::{LoadedInteractions, ROWS_EVERY, SNAPSHOT_PAGE_BYTES, StoreWrite};

pub struct Store {
    db: Database,
}

/// redb's page cache: the node holds its state in memory and reads the
/// store back only when it starts, so the cache buys little, and redb's
/// default (1 GiB) kept the pages of every chunk of content written, a
/// second copy of the content beside the state's.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

impl Store {
    /// The store in `data_dir` (`state.redb`, created when absent, with a
    /// history id of its own drawn at random; the directory must exist).
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::with(
            Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(data_dir.join(FILE))
                .map_err(failed)?,
            rand::random(),
        )
    }

    /// A store in memory, gone when dropped, whose history id is
    /// `history`: for simulations, which draw it from their seed.
    pub fn in_memory(history: HistoryId) -> Result<Store, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(failed)?;
        Store::with(db, history)
    }

    /// `history`: the id a store without one takes (a new store, or one
    /// from before history ids were kept).
    fn with(db: Database, history: HistoryId) -> Result<Store, StoreError> {
        let txn = db.begin_write().map_err(failed)?;
        txn.open_table(ENTRIES).map_err(failed)?;
        let fresh = txn
            .open_table(HISTORY)
            .map_err(failed)?
            .first()
            .map_err(failed)?
            .is_none();
        {
            let mut meta = txn.open_table(META).map_err(failed)?;
            // A new store has compacted nothing; one from before the floor
            // was kept gets it at its start ([`Store::load`]).
            if fresh && meta.get(APPLIED).map_err(failed)?.is_none() {
                let bytes = postcard::to_allocvec(&0u64).map_err(failed)?;
                meta.insert(HISTORY_FLOOR, bytes.as_slice())
                    .map_err(failed)?;
            }
            if meta.get(HISTORY_ID).map_err(failed)?.is_none() {
                meta.insert(HISTORY_ID, history.to_le_bytes().as_slice())
                    .map_err(failed)?;
            }
        }
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
        let floor: u64 = match meta.get(HISTORY_FLOOR).map_err(failed)? {
            Some(v) => {
                postcard::from_bytes(v.value()).map_err(|e| StoreError::Damaged(e.to_string()))?
            }
            // A store from before the floor was kept: its first record (or
            // its position) is as far back as a heal can compare.
            None => history
                .first()
                .map_or(last.seq, |r: &HistoryRecord| r.seq.saturating_sub(1)),
        };
        let mut tree = Tree::restore(entries, history, last);
        tree.set_history_floor(floor);
        Ok(tree)
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

    /// Which history the stored changes belong to.
    pub fn history_id(&self) -> Result<HistoryId, StoreError> {
        let txn = self.db.begin_read().map_err(failed)?;
        let meta = txn.open_table(META).map_err(failed)?;
        let stored = meta
            .get(HISTORY_ID)
            .map_err(failed)?
            .ok_or_else(|| StoreError::Damaged("the history id is missing".into()))?;
        let bytes: [u8; 8] = stored
            .value()
            .try_into()
            .map_err(|_| StoreError::Damaged("the history id is not 8 bytes".into()))?;
        Ok(HistoryId::from_le_bytes(bytes))
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
                    StoreWrite::HistoryId(history) => {
                        meta.insert(HISTORY_ID, history.to_le_bytes().as_slice())
                            .map_err(failed)?;
                    }
                    StoreWrite::HistoryFloor(floor) => {
                        let bytes = postcard::to_allocvec(floor).map_err(failed)?;
                        meta.insert(HISTORY_FLOOR, bytes.as_slice())
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

/// What tests of a store's users build records with.
#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    use duet_config::{Class, HistoryRecord, Object, TreePath};

    /// A history record of a user's change at `(epoch, seq)`, as a resync
    /// installs it.
    pub fn record(path: &TreePath, epoch: u64, seq: u64) -> HistoryRecord {
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
}

#[cfg(test)]
mod tests {
    use super::testing::record;
    use duet_config::{Change, Class, Op};

    use super::*;

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
}

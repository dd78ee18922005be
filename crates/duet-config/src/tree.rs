//! The tree: objects at paths, changed only by applying changes in
//! `(epoch, seq)` order (a change is never applied twice), with the history
//! of every change so a past configuration can be read back as of a time.

use std::collections::{BTreeMap, BTreeSet};

use duet_rsm::Position;
use serde::{Deserialize, Serialize};

use crate::TreeError;
use crate::digest::{Bucket, Digests, LEVELS, entry_hash, path_hash};
use crate::object::Object;
use crate::path::TreePath;

/// What a change does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Put {
        path: TreePath,
        object: Object,
    },
    Remove {
        path: TreePath,
    },
    /// Keeps, in the path's history, a change that lost to the other
    /// node's change of the same path when the pair healed after both
    /// served ([`crate::heal`]); the entry stays as it is. A change on the
    /// stream like any other, so both nodes hold the record and one digest.
    Conflict {
        path: TreePath,
        conflict: Box<Conflict>,
    },
}

impl Op {
    pub fn path(&self) -> &TreePath {
        match self {
            Op::Put { path, .. } | Op::Remove { path } | Op::Conflict { path, .. } => path,
        }
    }
}

/// Where a change was first made: its place in the stream of the node
/// that made it, and who made it when, with which client id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Origin {
    pub epoch: u64,
    pub seq: u64,
    pub at_unix_ms: u64,
    pub who: String,
    pub client: String,
}

impl Origin {
    /// The origin of a record: where it was first made, if a heal brought
    /// it here, else the record itself.
    pub fn of(record: &HistoryRecord) -> Origin {
        record.healed_from.clone().unwrap_or_else(|| Origin {
            epoch: record.epoch,
            seq: record.seq,
            at_unix_ms: record.at_unix_ms,
            who: record.who.clone(),
            client: record.client.clone(),
        })
    }
}

/// A change made on the losing node while both served, to a path the
/// winning node also changed after the fork: the winner's value stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema), schema(as = ConfigConflict))]
pub struct Conflict {
    /// The value the losing change set (`None`: it removed the path).
    #[cfg_attr(feature = "schema", schema(value_type = Option<crate::object::ConfigObject>))]
    pub value: Option<Object>,
    /// The winner's change it lost to (the last the winner made to the
    /// path after the fork, as the heal found it).
    pub lost_to: Origin,
}

/// What a client asked for, as the change stream carries it; the stream
/// gives it its `(epoch, seq)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edit {
    pub at_unix_ms: u64,
    pub who: String,
    /// The client's own id for the change (its retries carry the same id).
    pub client: String,
    pub op: Op,
    /// Set when a heal replays another node's change here.
    pub healed_from: Option<Origin>,
}

impl Edit {
    pub fn into_change(self, epoch: u64, seq: u64) -> Change {
        Change {
            epoch,
            seq,
            at_unix_ms: self.at_unix_ms,
            who: self.who,
            client: self.client,
            op: self.op,
            healed_from: self.healed_from,
        }
    }
}

/// One change of the configuration, with its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub epoch: u64,
    pub seq: u64,
    pub at_unix_ms: u64,
    /// Who made it (a user name, or "duet" for the system).
    pub who: String,
    /// The client's id for the change.
    #[serde(default)]
    pub client: String,
    pub op: Op,
    /// Set when a heal replayed another node's change here.
    #[serde(default)]
    pub healed_from: Option<Origin>,
}

/// A change as history keeps it: who, when, the old and the new object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct HistoryRecord {
    pub epoch: u64,
    pub seq: u64,
    pub at_unix_ms: u64,
    pub who: String,
    #[serde(default)]
    pub client: String,
    pub path: TreePath,
    #[cfg_attr(feature = "schema", schema(value_type = Option<crate::object::ConfigObject>))]
    pub old: Option<Object>,
    #[cfg_attr(feature = "schema", schema(value_type = Option<crate::object::ConfigObject>))]
    pub new: Option<Object>,
    /// Where the change was first made, when a heal replayed it here from
    /// the node that lost (its own time, seq and epoch; `at_unix_ms` above
    /// is when it was replayed, so `as_of` reads stay in order).
    #[serde(default)]
    pub healed_from: Option<Origin>,
    /// Set on a conflict record: the losing change, kept; `old` and `new`
    /// are then both the entry as it stood.
    #[serde(default)]
    pub conflict: Option<Box<Conflict>>,
}

/// Consecutive sequence numbers whose history records all belong to one
/// epoch. One node serves each epoch and numbers its changes once, so
/// `(epoch, seq)` names one change across the pair: two histories hold the
/// same records wherever their runs agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub first: u64,
    pub last: u64,
    pub epoch: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Tree {
    entries: BTreeMap<TreePath, Object>,
    /// Entries by path hash, for the digest buckets' contents.
    by_hash: BTreeMap<(u64, TreePath), u128>,
    digests: Digests,
    history: BTreeMap<u64, HistoryRecord>,
    history_by_path: BTreeMap<TreePath, BTreeSet<u64>>,
    /// The history's runs by first sequence number (first -> (last, epoch)),
    /// kept as records come and go, so comparing two histories costs the
    /// number of runs, not of records.
    runs: BTreeMap<u64, (u64, u64)>,
    /// The conflict records' sequence numbers.
    conflicts: BTreeSet<u64>,
    last: Position,
    /// The history was compacted up to here: a change at or before it may
    /// be missing from the history because it was dropped, not because
    /// this node never had it.
    history_floor: u64,
}

impl Tree {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of the last change applied.
    pub fn last_applied(&self) -> Position {
        self.last
    }

    pub fn get(&self, path: &TreePath) -> Option<&Object> {
        self.entries.get(path)
    }

    /// Checks a change before it is made: the object's limits and, for a
    /// server parameter, its value; a removal needs something to remove.
    pub fn check(&self, op: &Op) -> Result<(), TreeError> {
        match op {
            Op::Put { path, object } => {
                if path.segments().is_empty() {
                    return Err(TreeError::InvalidPath {
                        path: "/".into(),
                        why: "the root holds no object".into(),
                    });
                }
                object.check(path.name())
            }
            // Records only: the entry does not change.
            Op::Conflict { .. } => Ok(()),
            Op::Remove { path } => match self.entries.contains_key(path) {
                true => Ok(()),
                false => Err(TreeError::NotFound(path.to_string())),
            },
        }
    }

    /// Applies a change after the last one; an older or repeated change is
    /// refused with [`TreeError::AlreadyApplied`] and changes nothing.
    /// Returns the history record it made (for storage).
    pub fn apply(&mut self, change: &Change) -> Result<HistoryRecord, TreeError> {
        if Position::new(change.epoch, change.seq) > self.last {
            self.check(&change.op)?;
        }
        self.apply_replicated(change)
    }

    /// Keeps a record, replacing any other at its sequence number.
    fn remember(&mut self, record: HistoryRecord) {
        self.forget(record.seq);
        self.history_by_path
            .entry(record.path.clone())
            .or_default()
            .insert(record.seq);
        self.run_add(record.seq, record.epoch);
        if record.conflict.is_some() {
            self.conflicts.insert(record.seq);
        }
        self.history.insert(record.seq, record);
    }

    fn forget(&mut self, seq: u64) -> bool {
        let Some(old) = self.history.remove(&seq) else {
            return false;
        };
        self.conflicts.remove(&seq);
        if let Some(seqs) = self.history_by_path.get_mut(&old.path) {
            seqs.remove(&seq);
            if seqs.is_empty() {
                self.history_by_path.remove(&old.path);
            }
        }
        let Some((&first, &(last, epoch))) = self.runs.range(..=seq).next_back() else {
            return true;
        };
        self.runs.remove(&first);
        if first < seq {
            self.runs.insert(first, (seq - 1, epoch));
        }
        if seq < last {
            self.runs.insert(seq + 1, (last, epoch));
        }
        true
    }

    /// Adds `seq` (absent from the runs) to the runs, joining its neighbours
    /// of the same epoch.
    fn run_add(&mut self, seq: u64, epoch: u64) {
        let mut first = seq;
        let mut last = seq;
        if let Some((&f, &(l, e))) = self.runs.range(..seq).next_back()
            && l.checked_add(1) == Some(seq)
            && e == epoch
        {
            self.runs.remove(&f);
            first = f;
        }
        if let Some(next) = seq.checked_add(1)
            && let Some(&(l, e)) = self.runs.get(&next)
            && e == epoch
        {
            self.runs.remove(&next);
            last = l;
        }
        self.runs.insert(first, (last, epoch));
    }

    /// The history's runs within `first..=last`, cut to that range.
    pub fn history_runs(&self, first: u64, last: u64) -> impl Iterator<Item = Run> + '_ {
        // The run holding `first` may start before it.
        let start = self
            .runs
            .range(..=first)
            .next_back()
            .map_or(first, |(&f, _)| f);
        self.runs
            .range(start..=last.max(start))
            .filter(move |(_, (l, _))| *l >= first)
            .map(move |(&f, &(l, epoch))| Run {
                first: f.max(first),
                last: l.min(last),
                epoch,
            })
            .filter(move |r| r.first <= last)
    }

    /// The history records with sequence numbers in `first..=last`.
    pub fn history_range(
        &self,
        first: u64,
        last: u64,
    ) -> impl Iterator<Item = &HistoryRecord> + '_ {
        self.history
            .range(first..)
            .take_while(move |(seq, _)| **seq <= last)
            .map(|(_, r)| r)
    }

    /// The record of `path`'s change just before `seq`, if history has it.
    pub fn history_before(&self, path: &TreePath, seq: u64) -> Option<&HistoryRecord> {
        let seqs = self.history_by_path.get(path)?;
        seqs.range(..seq)
            .next_back()
            .and_then(|s| self.history.get(s))
    }

    /// Keeps a history record received by a resynchronisation (replacing
    /// this node's record at that number, if any). Not a change: the
    /// entries and the position stay as they are.
    pub fn install_history(&mut self, record: HistoryRecord) {
        self.remember(record);
    }

    /// Drops the history records in `first..=last`; returns their numbers
    /// (for storage).
    /// History records held.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// Drops the oldest history records until at most `keep` remain (the
    /// entries are the snapshot they compact into); conflict records stay.
    /// Returns the sequence numbers dropped.
    pub fn compact_history(&mut self, keep: usize) -> Vec<u64> {
        let excess = self.history.len().saturating_sub(keep);
        let seqs: Vec<u64> = self
            .history
            .values()
            .filter(|r| r.conflict.is_none())
            .take(excess)
            .map(|r| r.seq)
            .collect();
        for seq in &seqs {
            self.forget(*seq);
        }
        if let Some(&last) = seqs.last() {
            self.history_floor = self.history_floor.max(last);
        }
        seqs
    }

    /// Up to where the history was compacted (0: never): what a heal
    /// compares from.
    pub fn history_floor(&self) -> u64 {
        self.history_floor
    }

    /// The floor as stored (at a start).
    pub fn set_history_floor(&mut self, floor: u64) {
        self.history_floor = floor;
    }

    pub fn forget_history(&mut self, first: u64, last: u64) -> Vec<u64> {
        let seqs: Vec<u64> = self.history_range(first, last).map(|r| r.seq).collect();
        for seq in &seqs {
            self.forget(*seq);
        }
        seqs
    }

    /// Applies a change the active node made and checked: the backup mirrors
    /// it whatever its own state (a removal of something absent is a no-op).
    /// Only an older or repeated change is refused.
    pub fn apply_replicated(&mut self, change: &Change) -> Result<HistoryRecord, TreeError> {
        if Position::new(change.epoch, change.seq) <= self.last {
            return Err(TreeError::AlreadyApplied {
                epoch: change.epoch,
                seq: change.seq,
            });
        }
        let path = change.op.path().clone();
        // After a resync the entry may already hold this change (the
        // active answered from a tree past the resync's position): the old
        // object is the path's previous record's, as on the active node.
        let before = self
            .history_before(&path, change.seq)
            .map(|b| b.new.clone());
        let (new, current, conflict) = match &change.op {
            Op::Put { object, .. } => {
                let new = Some(object.clone());
                (new.clone(), self.set(&path, new), None)
            }
            Op::Remove { .. } => (None, self.set(&path, None), None),
            // The entry stays: old and new are both what it holds.
            Op::Conflict { conflict, .. } => {
                let current = self.get(&path).cloned();
                let stands = before.clone().unwrap_or_else(|| current.clone());
                (stands, current, Some(conflict.clone()))
            }
        };
        self.last = Position::new(change.epoch, change.seq);
        let record = HistoryRecord {
            epoch: change.epoch,
            seq: change.seq,
            at_unix_ms: change.at_unix_ms,
            who: change.who.clone(),
            client: change.client.clone(),
            path,
            old: before.unwrap_or(current),
            new,
            healed_from: change.healed_from.clone(),
            conflict,
        };
        self.remember(record.clone());
        Ok(record)
    }

    /// Passes over a change this backup does not replicate (an Upgrade
    /// state's filter): the position moves on, the entries stay.
    pub fn skip(&mut self, epoch: u64, seq: u64) {
        if Position::new(epoch, seq) > self.last {
            self.last = Position::new(epoch, seq);
        }
    }

    /// Rebuilds a tree from storage: its entries, its history and the last
    /// change applied.
    pub fn restore(
        entries: impl IntoIterator<Item = (TreePath, Object)>,
        history: impl IntoIterator<Item = HistoryRecord>,
        last: Position,
    ) -> Tree {
        let mut tree = Tree::default();
        for (path, object) in entries {
            tree.set(&path, Some(object));
        }
        for record in history {
            tree.remember(record);
        }
        tree.last = last;
        tree
    }

    /// The client ids of the last `n` changes, with their sequence numbers
    /// (so a new active node answers a client's retry without applying it
    /// again).
    pub fn recent_clients(&self, n: usize) -> Vec<(String, u64)> {
        self.history
            .values()
            .rev()
            .take(n)
            .filter(|r| !r.client.is_empty())
            .map(|r| (r.client.clone(), r.seq))
            .collect()
    }

    /// The conflict records (changes that lost when the pair healed after
    /// both nodes served), oldest first.
    pub fn conflicts(&self) -> impl Iterator<Item = &HistoryRecord> {
        self.conflicts
            .iter()
            .filter_map(|seq| self.history.get(seq))
    }

    /// How many conflict records history holds.
    pub fn conflict_count(&self) -> usize {
        self.conflicts.len()
    }

    /// The epoch of the change with sequence number `seq`, if history has it.
    pub fn epoch_of(&self, seq: u64) -> Option<u64> {
        self.history.get(&seq).map(|r| r.epoch)
    }

    /// Entries in path order from `start`.
    pub fn entries_from(
        &self,
        start: std::ops::Bound<TreePath>,
    ) -> impl Iterator<Item = (&TreePath, &Object)> {
        self.entries.range((start, std::ops::Bound::Unbounded))
    }

    /// Every entry, in path order.
    pub fn entries(&self) -> impl Iterator<Item = (&TreePath, &Object)> {
        self.entries.iter()
    }

    /// Sets or removes an entry, keeping the digests; returns the old object.
    fn set(&mut self, path: &TreePath, object: Option<Object>) -> Option<Object> {
        let h = path_hash(path);
        let new_hash = object.as_ref().map(|o| entry_hash(path, o));
        let old = match object {
            Some(o) => self.entries.insert(path.clone(), o),
            None => self.entries.remove(path),
        };
        let old_hash = old.as_ref().map(|o| entry_hash(path, o));
        self.digests.update(path, old_hash, new_hash);
        match new_hash {
            Some(nh) => self.by_hash.insert((h, path.clone()), nh),
            None => self.by_hash.remove(&(h, path.clone())),
        };
        old
    }

    /// The direct children of `path` that hold objects or have descendants,
    /// with the class of those that hold an object.
    pub fn children(&self, path: &TreePath) -> Vec<(String, Option<crate::Class>)> {
        let depth = path.segments().len();
        let mut out: Vec<(String, Option<crate::Class>)> = Vec::new();
        for (p, object) in self.entries.range(path.clone()..) {
            if !p.starts_with(path) {
                break;
            }
            let Some(name) = p.segments().get(depth) else {
                continue;
            };
            let class = (p.segments().len() == depth + 1).then_some(object.class);
            match out.last_mut() {
                Some((last, c)) if last == name => {
                    if class.is_some() {
                        *c = class;
                    }
                }
                _ => out.push((name.clone(), class)),
            }
        }
        out
    }

    /// The changes of one path, oldest first.
    pub fn history(&self, path: &TreePath) -> Vec<&HistoryRecord> {
        self.history_by_path
            .get(path)
            .map(|seqs| seqs.iter().filter_map(|s| self.history.get(s)).collect())
            .unwrap_or_default()
    }

    /// The object at `path` as it was at `at_unix_ms` (the last change at
    /// or before that time), from the history.
    pub fn as_of(&self, path: &TreePath, at_unix_ms: u64) -> Option<Object> {
        self.history(path)
            .into_iter()
            .rev()
            .find(|r| r.at_unix_ms <= at_unix_ms)
            .and_then(|r| r.new.clone())
    }

    pub fn digests(&self) -> &Digests {
        &self.digests
    }

    /// The entries (path and entry hash) in a leaf bucket.
    pub fn bucket_entries(&self, bucket: Bucket) -> Vec<(TreePath, u128)> {
        debug_assert!(bucket.level == LEVELS);
        let bits = 4 * u32::from(LEVELS);
        let low = u64::from(bucket.prefix) << (64 - bits);
        let high = low | (u64::MAX >> bits);
        self.by_hash
            .range((low, TreePath::root())..)
            .take_while(|((h, _), _)| *h <= high)
            .map(|((_, p), eh)| (p.clone(), *eh))
            .collect()
    }

    /// Installs an entry received by a resynchronisation (not a change: no
    /// history), and records how far the active node's stream had got.
    pub fn install(&mut self, path: &TreePath, object: Option<Object>) {
        self.set(path, object);
    }

    /// After a resynchronisation: the stream continues after this change.
    pub fn synchronised_to(&mut self, last: Position) {
        self.last = last;
    }
}

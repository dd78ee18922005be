//! Resynchronisation by digests (the seed's recursive compare-and-update,
//! done so that only what differs is walked). The backup drives a
//! [`Resync`]: it compares digests bucket by bucket, descends into the
//! buckets that differ, compares the entries of differing leaf buckets, and
//! fetches only the objects that differ. The active node answers each
//! request with [`answer`]. Every request and answer is bounded.
//!
//! Then the history: the backup compares the active's runs of
//! `(epoch, seq)` with its own, fetches the records it lacks or holds from
//! another epoch, and drops those the active does not have, so the cost
//! follows what differs. Either side may send its messages compressed
//! ([`compress`]); the receiver reads both forms ([`decompress`]).

use std::collections::VecDeque;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::digest::Bucket;
use crate::object::Object;
use crate::path::TreePath;
use crate::scope::{Admit, Scope};
use crate::tree::{HistoryRecord, Run, Tree};

/// Buckets or paths in one request.
pub const BATCH_MAX: usize = 256;
/// Object bytes in one answer, so it fits a link frame; the rest are asked
/// for again.
pub const ANSWER_OBJECT_BYTES_MAX: usize = 512 * 1024;
/// A compressed message that would decompress to more than this is refused.
/// It is the link's frame bound (duet-node checks they agree), which the
/// message would have had to fit uncompressed.
pub const DECOMPRESSED_MAX_BYTES: usize = 1024 * 1024;
/// zstd's default level: most of the gain for little CPU.
const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The digests of these buckets' children.
    Children(Vec<Bucket>),
    /// The entries (path, entry hash) of these leaf buckets.
    Entries(Vec<Bucket>),
    /// These objects (absent ones come back as `None`).
    Objects(Vec<TreePath>),
    /// Every entry after `after` (all from the start when `None`), in path
    /// order, a page at a time: an empty backup's first sync.
    Snapshot { after: Option<TreePath> },
    /// The runs of the history after sequence number `after`, in order.
    HistoryRuns { after: u64 },
    /// The history records in these ranges of sequence numbers (inclusive).
    History(Vec<(u64, u64)>),
    /// Another request, postcard-encoded and zstd-compressed.
    Compressed(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    Children(Vec<(Bucket, u128)>),
    Entries(Vec<(Bucket, Vec<(TreePath, u128)>)>),
    Objects(Vec<(TreePath, Option<Object>)>),
    /// A page of entries; `more` when another page follows.
    Snapshot {
        entries: Vec<(TreePath, Object)>,
        more: bool,
    },
    /// Runs of the history; `more` when another page follows. `floor`:
    /// up to where this node's history was compacted (a heal compares the
    /// loser's history with it from there on).
    HistoryRuns {
        runs: Vec<Run>,
        more: bool,
        floor: u64,
    },
    /// History records in sequence order, as many of those asked for as fit.
    /// A record whose old and new objects together would not fit a frame
    /// comes without its old object, its number listed in `old_left_out`:
    /// that is the new object of the path's record before it, which the
    /// backup has by then.
    History {
        records: Vec<HistoryRecord>,
        old_left_out: Vec<u64>,
    },
    /// Another answer, postcard-encoded and zstd-compressed.
    Compressed(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error(
        "a compressed sync message is corrupt or larger than {DECOMPRESSED_MAX_BYTES} bytes once decompressed: {0}"
    )]
    Decompress(String),
    #[error("a compressed sync message holds a malformed message: {0}")]
    Malformed(String),
    #[error("a compressed sync message holds another compressed message")]
    Nested,
}

/// A sync message that can travel compressed.
pub trait Compressible: Serialize + DeserializeOwned {
    fn wrap(bytes: Vec<u8>) -> Self;
    fn compressed(&self) -> Option<&[u8]>;
}

impl Compressible for Request {
    fn wrap(bytes: Vec<u8>) -> Self {
        Request::Compressed(bytes)
    }
    fn compressed(&self) -> Option<&[u8]> {
        match self {
            Request::Compressed(bytes) => Some(bytes),
            _ => None,
        }
    }
}

impl Compressible for Answer {
    fn wrap(bytes: Vec<u8>) -> Self {
        Answer::Compressed(bytes)
    }
    fn compressed(&self) -> Option<&[u8]> {
        match self {
            Answer::Compressed(bytes) => Some(bytes),
            _ => None,
        }
    }
}

/// The message compressed, or as it is when compression would not make it
/// smaller (or it already is compressed).
pub fn compress<T: Compressible>(message: T) -> T {
    if message.compressed().is_some() {
        return message;
    }
    let Ok(plain) = postcard::to_allocvec(&message) else {
        return message;
    };
    match zstd::bulk::compress(&plain, ZSTD_LEVEL) {
        Ok(packed) if packed.len() < plain.len() => T::wrap(packed),
        _ => message,
    }
}

/// The message itself, whichever form it came in. Decompression stops at
/// [`DECOMPRESSED_MAX_BYTES`], so a small payload cannot expand without
/// bound.
pub fn decompress<T: Compressible>(message: T) -> Result<T, SyncError> {
    let Some(packed) = message.compressed() else {
        return Ok(message);
    };
    let plain = zstd::bulk::decompress(packed, DECOMPRESSED_MAX_BYTES)
        .map_err(|e| SyncError::Decompress(e.to_string()))?;
    let inner: T = postcard::from_bytes(&plain).map_err(|e| SyncError::Malformed(e.to_string()))?;
    match inner.compressed() {
        Some(_) => Err(SyncError::Nested),
        None => Ok(inner),
    }
}

/// What `value` takes on the wire: pages are bounded by it, so an answer
/// always fits a link frame whatever its records hold.
pub(crate) fn wire_bytes<T: Serialize + ?Sized>(value: &T) -> usize {
    // Only a value serde cannot describe fails, and these are all plain data.
    postcard::experimental::serialized_size(value).unwrap_or(ANSWER_OBJECT_BYTES_MAX)
}

/// The active node's side: answers a request, in either form, from its
/// tree (requests larger than a batch are cut to one), compressed when
/// `compress`.
pub fn answer(tree: &Tree, request: Request, compress: bool) -> Result<Answer, SyncError> {
    let plain = answer_plain(tree, decompress(request)?)?;
    Ok(if compress {
        self::compress(plain)
    } else {
        plain
    })
}

fn answer_plain(tree: &Tree, request: Request) -> Result<Answer, SyncError> {
    Ok(match request {
        Request::Children(buckets) => Answer::Children(
            buckets
                .into_iter()
                .take(BATCH_MAX)
                .filter(|b| !b.is_leaf())
                .flat_map(|b| tree.digests().children(b))
                .collect(),
        ),
        Request::Entries(buckets) => Answer::Entries(
            buckets
                .into_iter()
                .take(BATCH_MAX)
                .filter(|b| b.is_leaf())
                .map(|b| (b, tree.bucket_entries(b)))
                .collect(),
        ),
        Request::Snapshot { after } => {
            let mut bytes = 0;
            let mut entries = Vec::new();
            let start = match after {
                Some(p) => std::ops::Bound::Excluded(p),
                None => std::ops::Bound::Unbounded,
            };
            let mut more = false;
            for (path, object) in tree.entries_from(start) {
                let size = wire_bytes(&(path, object));
                if !entries.is_empty() && bytes + size > ANSWER_OBJECT_BYTES_MAX {
                    more = true;
                    break;
                }
                bytes += size;
                entries.push((path.clone(), object.clone()));
            }
            Answer::Snapshot { entries, more }
        }
        Request::Objects(paths) => {
            let mut bytes = 0;
            let mut objects = Vec::new();
            for p in paths.into_iter().take(BATCH_MAX) {
                let object = tree.get(&p).cloned();
                let size = wire_bytes(&(&p, &object));
                if !objects.is_empty() && bytes + size > ANSWER_OBJECT_BYTES_MAX {
                    break;
                }
                bytes += size;
                objects.push((p, object));
            }
            Answer::Objects(objects)
        }
        Request::HistoryRuns { after } => {
            let mut runs: Vec<Run> = tree
                .history_runs(after.saturating_add(1), u64::MAX)
                .take(BATCH_MAX + 1)
                .collect();
            let more = runs.len() > BATCH_MAX;
            runs.truncate(BATCH_MAX);
            Answer::HistoryRuns {
                runs,
                more,
                floor: tree.history_floor(),
            }
        }
        Request::History(ranges) => {
            let mut bytes = 0;
            let mut records = Vec::new();
            let mut old_left_out = Vec::new();
            let asked = ranges
                .iter()
                .take(BATCH_MAX)
                .flat_map(|&(first, last)| tree.history_range(first, last));
            // Pages are bounded by bytes alone: records are small and many,
            // and each page is a round trip.
            for record in asked {
                let mut record = record.clone();
                let mut size = wire_bytes(&record);
                // A record too large for a page goes without its old object;
                // the backup takes that from the path's previous record.
                if size > ANSWER_OBJECT_BYTES_MAX && record.old.is_some() {
                    record.old = None;
                    size = wire_bytes(&record);
                    old_left_out.push(record.seq);
                }
                if !records.is_empty() && bytes + size > ANSWER_OBJECT_BYTES_MAX {
                    old_left_out.retain(|&seq| seq != record.seq);
                    break;
                }
                bytes += size;
                records.push(record);
            }
            Answer::History {
                records,
                old_left_out,
            }
        }
        // `decompress` has already refused a compressed message inside another.
        Request::Compressed(_) => return Err(SyncError::Nested),
    })
}

/// What a resynchronisation changed, for storage; the caller drains it.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    /// Entries installed (`None`: removed).
    pub entries: Vec<(TreePath, Option<Object>)>,
    /// History records installed.
    pub history: Vec<HistoryRecord>,
    /// Sequence numbers of history records dropped.
    pub forgotten: Vec<u64>,
}

/// Where the comparison of histories stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HistoryCursor {
    /// The first page of the active's runs is still to ask for.
    Start,
    /// The runs after this sequence number are still to ask for.
    After(u64),
    /// Every run compared (or the history is not synchronised).
    Done,
}

/// The backup's side of one resynchronisation.
#[derive(Debug)]
pub struct Resync {
    descend: Vec<Bucket>,
    leaves: Vec<Bucket>,
    objects: Vec<TreePath>,
    asked: Vec<TreePath>,
    history: HistoryCursor,
    /// Ranges of sequence numbers whose records are to fetch, in order.
    fetch: VecDeque<(u64, u64)>,
    fetch_asked: Vec<(u64, u64)>,
    /// The sequence number the active's stream had reached: history past it
    /// comes with the stream.
    upto_seq: u64,
    compress: bool,
    pub installed: Installed,
    /// What this backup keeps (an Upgrade state keeps less).
    scope: Scope,
    /// Requests sent so far.
    pub requests: usize,
    /// Entries installed or removed so far.
    pub changed: usize,
    /// History records installed or dropped so far.
    pub history_changed: usize,
    /// Answers that came compressed.
    pub compressed_answers: usize,
}

impl Resync {
    /// Starts from the active node's root digest and position; the first
    /// request, or `None` when there is nothing to compare. Keeps only what
    /// `scope` admits; sends its requests compressed when `compress`.
    ///
    /// A filtered copy (an Upgrade state) takes no history: what it lacks
    /// would be asked for at every resync only to be passed over. Made whole
    /// again, it takes the active's history once its own is cleared.
    pub fn start(
        local: &Tree,
        active_root: u128,
        upto: duet_rsm::Position,
        scope: Scope,
        compress: bool,
    ) -> (Resync, Option<Request>) {
        let history = match scope {
            Scope::Full => HistoryCursor::Start,
            _ => HistoryCursor::Done,
        };
        let mut resync = Resync {
            descend: Vec::new(),
            leaves: Vec::new(),
            objects: Vec::new(),
            asked: Vec::new(),
            history,
            fetch: VecDeque::new(),
            fetch_asked: Vec::new(),
            upto_seq: upto.seq,
            compress,
            installed: Installed::default(),
            scope,
            requests: 0,
            changed: 0,
            history_changed: 0,
            compressed_answers: 0,
        };
        if local.digests().get(Bucket::ROOT) == active_root {
            let next = resync.next_request();
            return (resync, next);
        }
        if local.is_empty() {
            // Nothing to compare: copy everything in pages.
            let first = resync.send(Request::Snapshot { after: None });
            return (resync, Some(first));
        }
        resync.descend.push(Bucket::ROOT);
        let next = resync.next_request();
        (resync, next)
    }

    fn send(&mut self, request: Request) -> Request {
        self.requests += 1;
        match self.compress {
            true => compress(request),
            false => request,
        }
    }

    fn next_request(&mut self) -> Option<Request> {
        fn take<T>(queue: &mut Vec<T>) -> Vec<T> {
            let n = queue.len().min(BATCH_MAX);
            queue.drain(..n).collect()
        }
        let request = if !self.descend.is_empty() {
            Request::Children(take(&mut self.descend))
        } else if !self.leaves.is_empty() {
            Request::Entries(take(&mut self.leaves))
        } else if !self.objects.is_empty() {
            self.asked = take(&mut self.objects);
            Request::Objects(self.asked.clone())
        } else if let HistoryCursor::Start | HistoryCursor::After(_) = self.history {
            let after = match self.history {
                HistoryCursor::After(after) => after,
                _ => 0,
            };
            Request::HistoryRuns { after }
        } else if !self.fetch.is_empty() {
            let n = self.fetch.len().min(BATCH_MAX);
            self.fetch_asked = self.fetch.drain(..n).collect();
            Request::History(self.fetch_asked.clone())
        } else {
            return None;
        };
        Some(self.send(request))
    }

    /// Takes an answer, in either form, updates the local tree, and returns
    /// the next request (`None` when done).
    pub fn on_answer(
        &mut self,
        local: &mut Tree,
        answer: Answer,
    ) -> Result<Option<Request>, SyncError> {
        self.compressed_answers += usize::from(answer.compressed().is_some());
        match decompress(answer)? {
            Answer::Children(digests) => {
                for (bucket, digest) in digests {
                    if local.digests().get(bucket) == digest {
                        continue;
                    }
                    if bucket.is_leaf() {
                        self.leaves.push(bucket);
                    } else {
                        self.descend.push(bucket);
                    }
                }
            }
            Answer::Entries(leaves) => {
                for (bucket, remote) in leaves {
                    let local_entries = local.bucket_entries(bucket);
                    for (path, hash) in &remote {
                        if !local_entries.iter().any(|(p, h)| p == path && h == hash) {
                            self.objects.push(path.clone());
                        }
                    }
                    for (path, _) in local_entries {
                        let kept = self.scope.admit(&path, None) != Admit::Skip;
                        if kept && !remote.iter().any(|(p, _)| *p == path) {
                            local.install(&path, None);
                            self.installed.entries.push((path, None));
                            self.changed += 1;
                        }
                    }
                }
            }
            Answer::Snapshot { entries, more } => {
                let last = entries.last().map(|(p, _)| p.clone());
                for (path, object) in entries {
                    let Admit::Keep(object) = self.scope.admit(&path, Some(&object)) else {
                        continue;
                    };
                    local.install(&path, object.clone());
                    self.installed.entries.push((path, object));
                    self.changed += 1;
                }
                if more {
                    return Ok(Some(self.send(Request::Snapshot { after: last })));
                }
            }
            Answer::Objects(objects) => {
                let answered: Vec<TreePath> = objects.iter().map(|(p, _)| p.clone()).collect();
                for (path, object) in objects {
                    let Admit::Keep(object) = self.scope.admit(&path, object.as_ref()) else {
                        continue;
                    };
                    if local.get(&path) == object.as_ref() {
                        continue;
                    }
                    local.install(&path, object.clone());
                    self.installed.entries.push((path, object));
                    self.changed += 1;
                }
                // Objects left out of a full answer are asked for again.
                let rest: Vec<TreePath> = std::mem::take(&mut self.asked)
                    .into_iter()
                    .filter(|p| !answered.contains(p))
                    .collect();
                self.objects.extend(rest);
            }
            Answer::HistoryRuns { runs, more, floor } => {
                self.compare_history(local, runs, more, floor)
            }
            Answer::History {
                records,
                old_left_out,
            } => self.install_history(local, records, &old_left_out),
            Answer::Compressed(_) => return Err(SyncError::Nested),
        }
        Ok(self.next_request())
    }

    /// Compares a page of the active's runs with this node's history over
    /// the same range: records the active has and this node lacks (or holds
    /// from another epoch) are to fetch; records the active does not have
    /// are dropped. The active's history wins from its `floor` on (past
    /// where it was compacted it holds every record of its history: a
    /// record only this node holds there is a former active node's change
    /// the pair did not keep at that number); older records only this node
    /// holds are kept, and everything past the active's position goes (the
    /// stream brings it again).
    fn compare_history(&mut self, local: &mut Tree, runs: Vec<Run>, more: bool, floor: u64) {
        let after = match self.history {
            HistoryCursor::After(after) => Some(after),
            _ => None,
        };
        let upto = self.upto_seq;
        let runs: Vec<Run> = runs
            .into_iter()
            .filter(|r| r.first <= upto && after.is_none_or(|a| r.first > a))
            .map(|r| Run {
                last: r.last.min(upto),
                ..r
            })
            .collect();
        let first = match after {
            Some(after) => after + 1,
            None => floor.saturating_add(1).min(upto.saturating_add(1)),
        };
        let last = match runs.last() {
            Some(r) if more && r.last < upto => r.last,
            _ => u64::MAX,
        };
        let own: Vec<Run> = local.history_runs(first, last).collect();
        self.fetch.extend(difference(&runs, &own));
        for (from, to) in difference(&own, &runs) {
            let forgotten = local.forget_history(from, to);
            self.history_changed += forgotten.len();
            self.installed.forgotten.extend(forgotten);
        }
        self.history = match last {
            u64::MAX => HistoryCursor::Done,
            last => HistoryCursor::After(last),
        };
    }

    fn install_history(
        &mut self,
        local: &mut Tree,
        records: Vec<HistoryRecord>,
        old_left_out: &[u64],
    ) {
        let asked = std::mem::take(&mut self.fetch_asked);
        let mut received = None;
        for mut record in records {
            let seq = record.seq;
            if seq > self.upto_seq || !asked.iter().any(|(f, l)| (*f..=*l).contains(&seq)) {
                continue;
            }
            if old_left_out.contains(&seq) {
                record.old = local
                    .history_before(&record.path, seq)
                    .and_then(|before| before.new.clone());
            }
            local.install_history(record.clone());
            self.installed.history.push(record);
            self.history_changed += 1;
            received = Some(seq);
        }
        // What did not fit is asked for again, in order; an answer with
        // nothing asked for ends the fetch rather than asking forever.
        if let Some(received) = received {
            for &(from, to) in asked.iter().rev() {
                if to > received {
                    self.fetch.push_front((from.max(received + 1), to));
                }
            }
        }
    }
}

/// The sequence numbers of `runs` that `other` does not hold in the same
/// epoch, as inclusive ranges in order. Both are sorted and disjoint.
pub(crate) fn difference(runs: &[Run], other: &[Run]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut push = |from: u64, to: u64| match out.last_mut() {
        Some((_, last)) if last.checked_add(1) == Some(from) => *last = to,
        _ => out.push((from, to)),
    };
    let mut j = 0;
    for run in runs {
        while other.get(j).is_some_and(|o| o.last < run.first) {
            j += 1;
        }
        // The next number of `run` not yet looked at (None past u64::MAX).
        let mut from = Some(run.first);
        for o in other[j..].iter().take_while(|o| o.first <= run.last) {
            let Some(f) = from else { break };
            if o.first > f {
                push(f, o.first - 1);
            }
            let to = o.last.min(run.last);
            if o.epoch != run.epoch {
                push(f.max(o.first), to);
            }
            from = to.checked_add(1);
        }
        if let Some(f) = from
            && f <= run.last
        {
            push(f, run.last);
        }
    }
    out
}

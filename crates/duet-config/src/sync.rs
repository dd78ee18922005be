//! Resynchronisation by digests (the seed's recursive compare-and-update,
//! done so that only what differs is walked). The backup drives a
//! [`Resync`]: it compares digests bucket by bucket, descends into the
//! buckets that differ, compares the entries of differing leaf buckets, and
//! fetches only the objects that differ. The active node answers each
//! request with [`answer`]. Every request and answer is bounded.

use serde::{Deserialize, Serialize};

use crate::digest::Bucket;
use crate::object::Object;
use crate::path::TreePath;
use crate::scope::{Admit, Scope};
use crate::tree::Tree;

/// Buckets or paths in one request.
pub const BATCH_MAX: usize = 256;
/// Object bytes in one answer, so it fits a link frame; the rest are asked
/// for again.
pub const ANSWER_OBJECT_BYTES_MAX: usize = 512 * 1024;

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
}

/// The active node's side: answers a request from its tree (requests
/// larger than a batch are cut to one).
pub fn answer(tree: &Tree, request: &Request) -> Answer {
    match request {
        Request::Children(buckets) => Answer::Children(
            buckets
                .iter()
                .take(BATCH_MAX)
                .filter(|b| !b.is_leaf())
                .flat_map(|b| tree.digests().children(*b))
                .collect(),
        ),
        Request::Entries(buckets) => Answer::Entries(
            buckets
                .iter()
                .take(BATCH_MAX)
                .filter(|b| b.is_leaf())
                .map(|b| (*b, tree.bucket_entries(*b)))
                .collect(),
        ),
        Request::Snapshot { after } => {
            let mut bytes = 0;
            let mut entries = Vec::new();
            let start = match after {
                Some(p) => std::ops::Bound::Excluded(p.clone()),
                None => std::ops::Bound::Unbounded,
            };
            let mut more = false;
            for (path, object) in tree.entries_from(start) {
                let size = path.to_string().len()
                    + object
                        .attributes
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>();
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
            for p in paths.iter().take(BATCH_MAX) {
                let object = tree.get(p).cloned();
                let size: usize = object.as_ref().map_or(0, |o| {
                    o.attributes.iter().map(|(k, v)| k.len() + v.len()).sum()
                });
                if !objects.is_empty() && bytes + size > ANSWER_OBJECT_BYTES_MAX {
                    break;
                }
                bytes += size;
                objects.push((p.clone(), object));
            }
            Answer::Objects(objects)
        }
    }
}

/// The backup's side of one resynchronisation.
#[derive(Debug, Default)]
pub struct Resync {
    descend: Vec<Bucket>,
    leaves: Vec<Bucket>,
    objects: Vec<TreePath>,
    asked: Vec<TreePath>,
    /// What this resynchronisation installed (None: removed), for storage;
    /// the caller drains it.
    pub installed: Vec<(TreePath, Option<Object>)>,
    /// What this backup keeps (an Upgrade state keeps less).
    scope: Scope,
    /// Requests sent so far.
    pub requests: usize,
    /// Entries installed or removed so far.
    pub changed: usize,
}

impl Resync {
    /// Starts from the active node's root digest; the first request, or
    /// `None` when the trees already agree.
    pub fn start(local: &Tree, active_root: u128) -> (Resync, Option<Request>) {
        Resync::start_scoped(local, active_root, Scope::Full)
    }

    /// Starts a resynchronisation that keeps only what `scope` admits.
    pub fn start_scoped(
        local: &Tree,
        active_root: u128,
        scope: Scope,
    ) -> (Resync, Option<Request>) {
        let mut resync = Resync {
            scope,
            ..Resync::default()
        };
        if local.digests().get(Bucket::ROOT) == active_root {
            return (resync, None);
        }
        if local.is_empty() {
            // Nothing to compare: copy everything in pages.
            resync.requests += 1;
            return (resync, Some(Request::Snapshot { after: None }));
        }
        resync.descend.push(Bucket::ROOT);
        let next = resync.next_request();
        (resync, next)
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
        } else {
            return None;
        };
        self.requests += 1;
        Some(request)
    }

    /// Takes an answer, updates the local tree, and returns the next request
    /// (`None` when done).
    pub fn on_answer(&mut self, local: &mut Tree, answer: Answer) -> Option<Request> {
        match answer {
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
                            self.installed.push((path, None));
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
                    self.installed.push((path, object));
                    self.changed += 1;
                }
                if more {
                    self.requests += 1;
                    return Some(Request::Snapshot { after: last });
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
                    self.installed.push((path, object));
                    self.changed += 1;
                }
                // Objects left out of a full answer are asked for again.
                let rest: Vec<TreePath> = std::mem::take(&mut self.asked)
                    .into_iter()
                    .filter(|p| !answered.contains(p))
                    .collect();
                self.objects.extend(rest);
            }
        }
        self.next_request()
    }
}

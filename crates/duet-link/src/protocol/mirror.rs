//! The mirrored directories' messages and the file monitor's health check:
//! the backup's requests, the active node's answers.

use std::collections::BTreeMap;

use duet_mirror::{FileMeta, RelPath};
use serde::{Deserialize, Serialize};

/// The backup's mirror requests. Every one carries an `id` its answer
/// repeats, so a late answer to a request given up on is never taken for
/// another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MirrorRequest {
    /// The files of the mirror root named `root` (its directory as the
    /// parameters give it), after `after`.
    List {
        id: u64,
        root: String,
        after: Option<RelPath>,
    },
    /// A file's bytes from `offset`.
    Fetch {
        id: u64,
        root: String,
        path: RelPath,
        offset: u64,
    },
    /// The backup waits for a change: answered by [`MirrorAnswer::Changed`]
    /// as soon as a root's generation differs from `known`, or after
    /// `hold_ms` with nothing changed.
    Watch {
        id: u64,
        known: BTreeMap<String, u64>,
        hold_ms: u64,
    },
    /// The backup's health check of the active node's file monitor (the
    /// seed's File Monitor health check).
    MonitorCheck { id: u64 },
}

/// The active node's answers to mirror requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MirrorAnswer {
    /// A page of a root's files; `more` when another page follows; `error`
    /// when the root could not be read (the backup then changes nothing).
    /// `generation` is the file monitor's count for the root when the scan
    /// began, so a change during the scan is seen again.
    Listing {
        id: u64,
        root: String,
        generation: u64,
        /// The root does not exist on the active node (not the same as an
        /// empty one: the backup keeps its copy).
        missing: bool,
        files: Vec<FileMeta>,
        more: bool,
        error: Option<String>,
    },
    /// Up to one chunk of a file; an empty chunk at the file's end, or
    /// `error` when it cannot be read.
    Chunk {
        id: u64,
        root: String,
        path: RelPath,
        offset: u64,
        bytes: Vec<u8>,
        error: Option<String>,
    },
    /// The file monitor's generation of every mirror root.
    Changed {
        id: u64,
        generations: BTreeMap<String, u64>,
    },
    /// The file monitor's answer to a health check.
    MonitorAlive { id: u64 },
}

impl MirrorRequest {
    pub fn kind(&self) -> &'static str {
        match self {
            MirrorRequest::List { .. } => "Mirror::List",
            MirrorRequest::Fetch { .. } => "Mirror::Fetch",
            MirrorRequest::Watch { .. } => "Mirror::Watch",
            MirrorRequest::MonitorCheck { .. } => "Mirror::MonitorCheck",
        }
    }
}

impl MirrorAnswer {
    /// The request id the answer repeats.
    pub fn id(&self) -> u64 {
        match self {
            MirrorAnswer::Listing { id, .. }
            | MirrorAnswer::Chunk { id, .. }
            | MirrorAnswer::Changed { id, .. }
            | MirrorAnswer::MonitorAlive { id } => *id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            MirrorAnswer::Listing { .. } => "Mirror::Listing",
            MirrorAnswer::Chunk { .. } => "Mirror::Chunk",
            MirrorAnswer::Changed { .. } => "Mirror::Changed",
            MirrorAnswer::MonitorAlive { .. } => "Mirror::MonitorAlive",
        }
    }
}

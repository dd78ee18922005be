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
    /// The backup waits for a change: answered by [`Changed`]
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

/// The active node's answers to mirror requests, one type per kind so
/// the backup takes an answer as the kind it asked for or not at all
/// ([`Answer`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MirrorAnswer {
    Listing(Listing),
    Chunk(Chunk),
    Changed(Changed),
    /// The file monitor's answer to a health check.
    MonitorAlive {
        id: u64,
    },
}

/// A page of a root's files; `more` when another page follows; `error`
/// when the root could not be read (the backup then changes nothing).
/// `generation` is the file monitor's count for the root when the scan
/// began, so a change during the scan is seen again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub id: u64,
    pub root: String,
    pub generation: u64,
    /// The root does not exist on the active node (not the same as an
    /// empty one: the backup keeps its copy).
    pub missing: bool,
    pub files: Vec<FileMeta>,
    pub more: bool,
    pub error: Option<String>,
}

/// Up to one chunk of a file; an empty chunk at the file's end, or
/// `error` when it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub id: u64,
    pub root: String,
    pub path: RelPath,
    pub offset: u64,
    pub bytes: Vec<u8>,
    pub error: Option<String>,
}

/// The file monitor's generation of every mirror root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub id: u64,
    pub generations: BTreeMap<String, u64>,
}

/// An answer of one kind, taken out of a [`MirrorAnswer`]: `Err` gives
/// back an answer of another kind.
pub trait Answer: Sized {
    const KIND: &'static str;
    fn take(answer: MirrorAnswer) -> Result<Self, MirrorAnswer>;
}

macro_rules! answer_kind {
    ($($kind:ident),*) => {$(
        impl Answer for $kind {
            const KIND: &'static str = concat!("Mirror::", stringify!($kind));
            fn take(answer: MirrorAnswer) -> Result<Self, MirrorAnswer> {
                match answer {
                    MirrorAnswer::$kind(a) => Ok(a),
                    other => Err(other),
                }
            }
        }
        impl From<$kind> for MirrorAnswer {
            fn from(a: $kind) -> Self {
                MirrorAnswer::$kind(a)
            }
        }
    )*};
}
answer_kind!(Listing, Chunk, Changed);

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
            MirrorAnswer::Listing(Listing { id, .. })
            | MirrorAnswer::Chunk(Chunk { id, .. })
            | MirrorAnswer::Changed(Changed { id, .. })
            | MirrorAnswer::MonitorAlive { id } => *id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            MirrorAnswer::Listing(_) => Listing::KIND,
            MirrorAnswer::Chunk(_) => Chunk::KIND,
            MirrorAnswer::Changed(_) => Changed::KIND,
            MirrorAnswer::MonitorAlive { .. } => "Mirror::MonitorAlive",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_taken_as_the_kind_asked_for_or_given_back() {
        let changed = MirrorAnswer::from(Changed {
            id: 7,
            generations: BTreeMap::from([("scripts".to_string(), 3)]),
        });
        assert_eq!(changed.kind(), "Mirror::Changed");
        assert_eq!(changed.id(), 7);
        let given_back = Listing::take(changed.clone()).unwrap_err();
        assert_eq!(given_back, changed);
        let taken = Changed::take(changed).unwrap();
        assert_eq!(taken.generations["scripts"], 3);
        assert_eq!(Chunk::KIND, "Mirror::Chunk");
        assert_eq!(Listing::KIND, "Mirror::Listing");
    }
}

//! The change stream's messages: entries and acknowledgements, catching
//! up, resynchronisation and the heal after both nodes served.

use duet_config::HistoryRecord;
use duet_config::sync::{Answer, Request};
use duet_rsm::{HistoryId, Position};
use serde::{Deserialize, Serialize};

use crate::Change;

/// The change stream, from the backup to the active node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamToActive {
    /// The backup, on its main connection: it holds every change up to
    /// `applied`, and `last` is the newest it applied (of any state; after
    /// a restart one state may be behind the other), by which the active
    /// node tells whether it diverged.
    Hello {
        applied: Position,
        last: Position,
        /// The backup's copy was filtered (an Upgrade state) and must be
        /// made whole by a resynchronisation.
        full_resync: bool,
        /// The history the backup's changes belong to
        /// ([`duet_rsm::HistoryId`]).
        history: HistoryId,
    },
    /// The backup has applied every change up to `seq`.
    Ack { seq: u64 },
    /// The backup asks for page `page` of the interaction snapshot taken
    /// at `at`; the first page (`at: None`) asks the active node to take
    /// one at its position now, after the configuration's resync, so no
    /// configuration the resync installed is newer than the snapshot.
    SnapshotRequest {
        id: u64,
        at: Option<Position>,
        page: u32,
    },
    /// A resynchronisation request; the answer carries its `id`, so an
    /// answer to a request given up on is never taken for a later one.
    SyncRequest { id: u64, request: Request },
    /// The backup, before a resynchronisation would drop them: changes it
    /// made while it served on its own (after change `fork`, the last both
    /// nodes agree on), in order, for the active node to make as new
    /// changes (`duet_config::heal`). A page at a time; the next goes once
    /// this one is answered.
    HealReplay {
        id: u64,
        fork: u64,
        records: Vec<HistoryRecord>,
    },
    /// The backup, before a resynchronisation would replace its interaction
    /// state: changes it made while it served (its own epochs), for the
    /// active node to make those it lacks (once each by client id). A page
    /// at a time, answered by `HealReplayed`.
    HealInteractions {
        id: u64,
        entries: Vec<duet_stream::Entry<duet_interactions::Command>>,
    },
}

/// The change stream, from the active node to the backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamToBackup {
    /// A change, in stream order.
    Entry(duet_stream::Entry<Change>),
    /// The active node's history, sent first on every hello: a backup
    /// that holds no change takes it (the changes it is sent are of it).
    History(HistoryId),
    /// You have every change; your initial synchronisation is complete.
    CaughtUp,
    /// The backup must resynchronise by digests to `upto` (the active's
    /// root digest given), fetch the interaction state's snapshot taken
    /// at `upto`, then say Hello again. `history`: the active node's; a
    /// backup of another history shares no change with it (its heal
    /// offers every change it keeps), and takes it once resynchronised.
    ResyncStart {
        upto: Position,
        root: u128,
        history: HistoryId,
    },
    SnapshotPage(SnapshotPage),
    /// The answer to the `SyncRequest` with this `id`.
    SyncAnswer {
        id: u64,
        answer: Answer,
    },
    /// The active node has made (and stored) every change of the page `id`,
    /// or `error` says why not (the backup keeps its copies and tries again).
    HealReplayed {
        id: u64,
        error: Option<String>,
    },
}

/// The most bytes of the snapshot's encoding one `SnapshotPage` carries:
/// half a frame, so the envelope around it always fits, however large one
/// interaction of the snapshot is.
pub const SNAPSHOT_CHUNK_BYTES: usize = super::MAX_FRAME_BYTES / 2;

/// Chunk `page` of the interaction snapshot's encoding, `pages` in all,
/// of the snapshot taken at `at`; the backup joins them and decodes the
/// whole. `error` when the active node has no snapshot at the position
/// asked (the backup then starts over).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPage {
    pub id: u64,
    pub at: Position,
    pub page: u32,
    pub pages: u32,
    pub chunk: Option<Vec<u8>>,
    pub error: Option<String>,
}

impl StreamToActive {
    pub fn kind(&self) -> &'static str {
        match self {
            StreamToActive::Hello { .. } => "Stream::Hello",
            StreamToActive::Ack { .. } => "Stream::Ack",
            StreamToActive::SnapshotRequest { .. } => "Stream::SnapshotRequest",
            StreamToActive::SyncRequest { .. } => "Stream::SyncRequest",
            StreamToActive::HealReplay { .. } => "Stream::HealReplay",
            StreamToActive::HealInteractions { .. } => "Stream::HealInteractions",
        }
    }
}

impl StreamToBackup {
    pub fn kind(&self) -> &'static str {
        match self {
            StreamToBackup::Entry(_) => "Stream::Entry",
            StreamToBackup::History(_) => "Stream::History",
            StreamToBackup::CaughtUp => "Stream::CaughtUp",
            StreamToBackup::ResyncStart { .. } => "Stream::ResyncStart",
            StreamToBackup::SnapshotPage(_) => "Stream::SnapshotPage",
            StreamToBackup::SyncAnswer { .. } => "Stream::SyncAnswer",
            StreamToBackup::HealReplayed { .. } => "Stream::HealReplayed",
        }
    }
}

//! What the replica takes ([`Input`]) and gives ([`Output`]), and what the
//! runtime tells it with each input ([`Context`]).

use std::sync::Arc;

use crate::Event;
use duet_config::HistoryRecord;
use duet_config::Op;
use duet_config::scope::Scope;
use duet_config::sync::Request;
use duet_interactions::Command;
use duet_link::protocol::{StreamToActive, StreamToBackup};
use duet_rsm::{HistoryId, Position};
use duet_stream::Entry;

use crate::WriteError;
use crate::persist::StoreWrite;

/// The runtime's facts at the moment of an input: its clocks and what it
/// knows of the right to serve. The replica reads no clock of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The node's monotonic clock (waits, timeouts, latencies).
    pub mono_ms: u64,
    /// Wall-clock time in ms since the Unix epoch (what changes record).
    pub unix_ms: u64,
    /// This node holds the right to serve now (its lease is valid).
    pub serving: bool,
    /// The other node, when it is known to be active (named in a refusal,
    /// so a client retries there).
    pub active_elsewhere: Option<String>,
}

/// What the replica is told. `P` is the runtime's handle of a connection
/// to the other node (what an answer goes back on), `A` its handle of a
/// client waiting for an acknowledgement.
pub enum Input<P, A> {
    /// This node now serves in `epoch`: it leads the stream, and takes
    /// over (`desktops_here`: agents whose desktops are connected to it).
    BecomeActive {
        epoch: u64,
        desktops_here: Vec<String>,
    },
    /// This node stopped serving: writes under way are refused.
    StopServing,
    /// What the driver decides for replication (sent whenever it changes).
    Settings(Settings),
    /// The backup's main link to the active node is up: it says where it
    /// stands ([`Output::ToActive`]).
    ActiveLinkUp,
    /// The backup: a message from the active node.
    FromActive(StreamToBackup),
    /// The active node: a message from the backup.
    FromBackup(FromBackup<P>),
    /// A configuration change from a client (on the active node).
    ConfigWrite {
        client: String,
        who: String,
        op: Op,
        reply: A,
    },
    /// An interaction change from a client (on the active node).
    InteractionWrite { command: Box<Command>, reply: A },
    /// The store made every write up to this ticket durable.
    Durable(u64),
    /// The store failed to commit what is queued (its writer tries again;
    /// [`Input::Durable`] says it committed).
    StoreFailing { error: String },
    /// The interaction snapshot taken at `at` is encoded (by the runtime,
    /// off its loop: [`crate::snapshot::encode`]).
    SnapshotEncoded {
        at: Position,
        chunks: Arc<Vec<Vec<u8>>>,
    },
    /// Time has come for [`crate::Replica::next_deadline`]: changed rows
    /// stored, the stream's timers, requests overdue, history compacted
    /// (an early tick does no harm).
    Tick,
    /// The lease was looked at again: held writes released or refused.
    ReleaseHeld,
    /// The router decides, if changes or its deadlines ask for it.
    Route,
}

/// The backup's stream messages, as the active node receives them; `P`
/// is the connection an answer goes back on.
pub enum FromBackup<P> {
    Hello {
        applied: Position,
        last: Position,
        /// The backup asks to be made whole (it was filtered).
        full_resync: bool,
        /// The history its changes belong to.
        history: HistoryId,
        to: P,
        /// Which accepted connection this is.
        link: u64,
    },
    Ack(u64),
    SnapshotRequest {
        id: u64,
        at: Option<Position>,
        page: u32,
        to: P,
    },
    SyncRequest {
        id: u64,
        request: Request,
        to: P,
    },
    /// A page of the backup's orphaned changes to make here (a heal).
    HealReplay {
        id: u64,
        fork: u64,
        records: Vec<HistoryRecord>,
        to: P,
    },
    /// A page of the backup's interaction changes made while it served.
    HealInteractions {
        id: u64,
        entries: Vec<Entry<Command>>,
        to: P,
    },
    /// The accepted main connection `link` closed.
    Gone(u64),
}

/// A stream message of the backup's that counts only on its main
/// connection came on the auxiliary one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {0} counts only on the main connection")]
pub struct MainOnly(pub &'static str);

impl<P> FromBackup<P> {
    /// The backup's `message` as the active node takes it, arriving on
    /// connection `to` (`main`: the number of the main connection, when it
    /// came on that one; a hello, a heal page or a snapshot request counts
    /// only there, and is refused on the auxiliary connection).
    pub fn from_stream(
        message: StreamToActive,
        to: P,
        main: Option<u64>,
    ) -> Result<Self, MainOnly> {
        Ok(match (message, main) {
            (
                StreamToActive::Hello {
                    applied,
                    last,
                    full_resync,
                    history,
                },
                Some(link),
            ) => FromBackup::Hello {
                applied,
                last,
                full_resync,
                history,
                to,
                link,
            },
            (StreamToActive::Ack { seq }, _) => FromBackup::Ack(seq),
            (StreamToActive::SnapshotRequest { id, at, page }, Some(_)) => {
                FromBackup::SnapshotRequest { id, at, page, to }
            }
            (StreamToActive::HealInteractions { id, entries }, Some(_)) => {
                FromBackup::HealInteractions { id, entries, to }
            }
            (StreamToActive::HealReplay { id, fork, records }, Some(_)) => FromBackup::HealReplay {
                id,
                fork,
                records,
                to,
            },
            (StreamToActive::SyncRequest { id, request }, _) => {
                FromBackup::SyncRequest { id, request, to }
            }
            (other, None) => return Err(MainOnly(other.kind())),
        })
    }
}

/// What the replica asks the runtime to do, in order.
#[derive(Debug)]
pub enum Output<P, A> {
    /// Queue a write to the store; writes get tickets 1, 2, 3... in the
    /// order given, and [`Input::Durable`] reports them durable.
    Persist(StoreWrite),
    /// Send a message to the other node on connection `to`.
    Send { to: P, message: StreamToBackup },
    /// The backup: send a message to the active node on the main link
    /// (dropped when it is down; the stream's own checks recover).
    ToActive(StreamToActive),
    /// Tell a client how its write ended: acknowledged at a sequence
    /// number, or why not.
    Answer {
        to: A,
        result: Result<u64, WriteError>,
    },
    /// An event-log record.
    Event(Event),
    /// A figure for the operator's graphs.
    Metric(Metric),
    /// The backup holds every change the active node has (start-up may end).
    Synchronised,
    /// Encode this snapshot of the interaction state, taken at `at`, off
    /// the loop ([`crate::snapshot::encode`]) and hand it back as
    /// [`Input::SnapshotEncoded`].
    EncodeSnapshot {
        at: Position,
        items: Vec<duet_interactions::PageItem>,
    },
    /// An interaction change is committed: show it to the live feeds.
    Publish(Arc<Entry<Command>>),
    /// The interaction state was replaced: close every socket following
    /// the feed (they resume from their positions).
    FeedReset,
}

/// A figure for the operator's graphs.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A client's change was acknowledged after `latency_ms`.
    Acknowledged {
        state: &'static str,
        latency_ms: u64,
    },
    Created {
        media: &'static str,
    },
    Offered {
        queue: String,
    },
    /// An offer timed out or was rejected.
    NoAnswer {
        queue: String,
    },
    /// An interaction was accepted after waiting in `queue`.
    QueueWait {
        queue: String,
        waited_ms: u64,
    },
}

/// What the driver decides for replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// What this node keeps of the active's configuration (less in an
    /// Upgrade state).
    pub scope: Scope,
    /// Switchover DS Request Timeout.
    pub ds_request_timeout_ms: u64,
    /// Switchover Use Compression For DS Request Sync.
    pub compress: bool,
    /// Duet History Retention.
    pub history_retention: usize,
    /// Duet Catch-up Changes.
    pub catch_up_changes: usize,
    /// The "... Interaction Recovery Enabled" parameters: what a takeover
    /// keeps.
    pub recovery: duet_interactions::model::Recovery,
}

/// What the replica knows of its node and its pair, for the whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// This node's name (in refusals).
    pub this: String,
    /// The other node's name (in heal records).
    pub peer: String,
    /// The active node's lease, ms (how long a held write waits).
    pub lease_ms: u64,
}

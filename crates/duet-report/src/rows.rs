//! The rows a committed change makes; each carries the position of the
//! change that made it, which keys it in the database (with the
//! interaction or agent it is about), so writing a row twice is writing
//! it once.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Position;
use crate::disposition::Disposition;

/// Where an interaction stands, as the reporting writer follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Queued,
    Offered {
        agent: String,
    },
    Connected {
        agent: String,
    },
    Held {
        agent: String,
    },
    /// The customer side ended; its agent may still wrap it up.
    Ended {
        agent: String,
    },
}

impl Phase {
    /// The segment kind a stretch in this phase is reported as.
    pub fn segment_kind(&self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Offered { .. } => "offered",
            Phase::Connected { .. } => "connected",
            Phase::Held { .. } => "held",
            Phase::Ended { .. } => "wrap_up",
        }
    }

    pub fn agent(&self) -> Option<&str> {
        match self {
            Phase::Queued => None,
            Phase::Offered { agent }
            | Phase::Connected { agent }
            | Phase::Held { agent }
            | Phase::Ended { agent } => Some(agent),
        }
    }
}

/// One row per interaction, rewritten by every change to it; while it is
/// open it is also the reporting writer's state for it (kept whole in the
/// database, so a writer that restarts carries on from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub id: String,
    pub media: duet_interactions::MediaType,
    /// The queue it is in now (or ended in).
    pub queue: String,
    pub created_ms: u64,
    /// When its current queue visit started.
    pub queue_since_ms: u64,
    /// The first answer.
    pub answered_ms: Option<u64>,
    /// Waiting before the first answer.
    pub wait_ms: Option<u64>,
    /// When the customer side ended.
    pub ended_ms: Option<u64>,
    /// When it closed (after any wrap-up); `None` while open.
    pub closed_ms: Option<u64>,
    pub phase: Phase,
    pub phase_since_ms: u64,
    pub talk_ms: u64,
    pub hold_ms: u64,
    pub wrap_ms: u64,
    pub disposition: Option<Disposition>,
    /// Every agent who connected, in order.
    pub agents: Vec<String>,
    pub conference: BTreeSet<String>,
    pub supervisors: BTreeSet<String>,
    pub transfers: u32,
    /// Switchovers it lived through (the seed's seqno).
    pub seqno: u32,
    /// Ever offered to or moved to an agent (the mail recovery filter).
    pub assigned: bool,
    /// Whether its current queue visit was answered.
    pub visit_answered: bool,
    pub wrap_code: Option<String>,
    /// The change that wrote this row last.
    pub position: Position,
    /// When the last change to it (any, a message too) was made, by the
    /// node's clock: how long it has stood still.
    #[serde(default)]
    pub last_change_ms: u64,
    /// It was open when the stream had a gap: what happened to it in the
    /// gap is unknown, so what its changes count after it is not sure.
    #[serde(default)]
    pub crossed_gap: bool,
}

/// A stretch of an interaction's life, written when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SegmentRow {
    pub position: Position,
    pub interaction: String,
    pub kind: String,
    pub agent: Option<String>,
    pub queue: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub seqno: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WrapUpRow {
    pub position: Position,
    pub interaction: String,
    pub agent: String,
    pub code: String,
    pub notes: String,
    pub at_ms: u64,
    pub seqno: u32,
}

/// An agent's log-in, log-out (with its reason code: 50002 for a
/// failure's) or status change (with its reason).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityRow {
    pub position: Position,
    pub agent: String,
    pub at_ms: u64,
    /// `login`, `logout`, `status`, `acw_expired`.
    pub kind: String,
    pub status: Option<String>,
    pub reason: Option<String>,
    /// The media logged in to or out of (empty: all, for a log-out).
    pub media: Vec<String>,
}

/// What a queue counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueEventKind {
    /// Entered the queue (created in it, or transferred to it).
    Offered,
    /// Answered on this visit; the duration is the wait.
    Answered,
    /// The customer left while it waited; the duration is the wait.
    Abandoned,
    /// The conversation ended; the duration is talk and hold.
    Handled,
    /// Wrapped up; the duration is the wrap-up.
    Wrapped,
    /// Transferred out of the queue.
    Transferred,
    /// Ended by a switchover that could not keep it.
    Lost,
}

impl QueueEventKind {
    pub const ALL: [QueueEventKind; 7] = [
        QueueEventKind::Offered,
        QueueEventKind::Answered,
        QueueEventKind::Abandoned,
        QueueEventKind::Handled,
        QueueEventKind::Wrapped,
        QueueEventKind::Transferred,
        QueueEventKind::Lost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueueEventKind::Offered => "offered",
            QueueEventKind::Answered => "answered",
            QueueEventKind::Abandoned => "abandoned",
            QueueEventKind::Handled => "handled",
            QueueEventKind::Wrapped => "wrapped",
            QueueEventKind::Transferred => "transferred",
            QueueEventKind::Lost => "lost",
        }
    }

    pub fn from_name(name: &str) -> Option<QueueEventKind> {
        QueueEventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One countable event of a queue, the unit queue interval statistics
/// are summed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEventRow {
    pub position: Position,
    pub interaction: String,
    pub queue: String,
    pub media: String,
    pub at_ms: u64,
    pub kind: QueueEventKind,
    pub duration_ms: u64,
    /// The agent it is about: who answered, handled, wrapped up or
    /// transferred it (none for the others).
    pub agent: Option<String>,
}

/// A change this database cannot count for sure: about an interaction
/// that crossed a gap, or one it never saw created. A report takes no
/// interval holding one from this database while another covers it
/// surely, and marks it otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UncertainRow {
    pub position: Position,
    pub interaction: String,
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Row {
    Summary(Box<Summary>),
    Segment(SegmentRow),
    WrapUp(WrapUpRow),
    Activity(ActivityRow),
    QueueEvent(QueueEventRow),
    Uncertain(UncertainRow),
    /// What the archive keeps (`archive::rows`).
    Archive(crate::archive::rows::ArchiveRow),
}

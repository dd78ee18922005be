//! An interaction: who, where it is routed, its state, the segments of its
//! life (durations derive from them and are never reset), and its content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::SmallMap;
use super::content::Content;
use super::media::{MediaType, Party};

/// Where an interaction stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum InteractionState {
    /// Waiting in its queue for an agent.
    Queued,
    /// Offered (alerting) to `agent` until `deadline_ms`.
    Offered { agent: String, deadline_ms: u64 },
    /// Connected to `agent` (its owner; conferenced agents are in
    /// [`Parties::conference`]).
    Connected { agent: String },
    /// Put on hold by its owner.
    Held { agent: String },
    /// The customer side ended; `agent` is wrapping it up.
    WrapUp { agent: String },
    /// Over; it leaves the live state with a `Forget` after retention.
    Closed { at_ms: u64 },
}

impl InteractionState {
    pub fn name(&self) -> &'static str {
        match self {
            InteractionState::Queued => "queued",
            InteractionState::Offered { .. } => "offered",
            InteractionState::Connected { .. } => "connected",
            InteractionState::Held { .. } => "held",
            InteractionState::WrapUp { .. } => "wrap-up",
            InteractionState::Closed { .. } => "closed",
        }
    }

    /// The agent the interaction is with (offered, connected, held or in
    /// wrap-up), not counting conferenced agents.
    pub fn owner(&self) -> Option<&str> {
        match self {
            InteractionState::Offered { agent, .. }
            | InteractionState::Connected { agent }
            | InteractionState::Held { agent }
            | InteractionState::WrapUp { agent } => Some(agent),
            InteractionState::Queued | InteractionState::Closed { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum SegmentKind {
    Queued,
    Offered,
    /// An offered call (ringing at the agent).
    Alerting,
    Connected,
    Held,
    /// Zero-length marker: moved to another queue or agent.
    Transferred,
    WrapUp,
    /// Zero-length marker: the end.
    Disconnected,
}

/// A stretch of an interaction's life. Segments are contiguous: each
/// starts where the previous ended; only the last may be open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Segment {
    pub kind: SegmentKind,
    #[cfg_attr(feature = "schema", schema(value_type = Option<String>))]
    pub agent: Option<super::Name>,
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub queue: super::Name,
    pub start_ms: u64,
    pub end_ms: Option<u64>,
    /// The interaction's `seqno` when the segment's record was written (at
    /// its end; an open segment has the current one): 0 before any
    /// switchover, 1 after the first (the seed's seqno), so a report joins
    /// the records written on either side of one.
    #[serde(default)]
    pub seqno: u32,
}

impl Segment {
    pub fn duration_ms(&self, now_ms: u64) -> u64 {
        self.end_ms.unwrap_or(now_ms).saturating_sub(self.start_ms)
    }
}

/// How a supervisor is on an interaction (a supervisor's right; the
/// API decides who is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Supervision {
    /// Listening in: the customer is not told.
    Silent,
    /// Joined the conversation (barge-in): may speak, and the customer
    /// sees the supervisor join.
    Barged,
}

/// The customer and the agents on an interaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Parties {
    pub customer: Party,
    /// Every agent who ever connected, in the order they joined.
    #[cfg_attr(feature = "schema", schema(value_type = Vec<String>))]
    pub joined: super::Seq<String>,
    /// Agents conferenced in besides the owner, now.
    #[cfg_attr(feature = "schema", schema(value_type = std::collections::BTreeSet<String>))]
    pub conference: super::SmallSet<String>,
    /// Supervisors listening in or joined, now.
    #[serde(default)]
    pub supervisors: BTreeMap<String, Supervision>,
}

/// Where and how an interaction is routed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Routing {
    /// The workgroup queue, or an agent's user queue.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub queue: super::Name,
    /// Higher is served sooner; see `QueueConfig::priority_weight_ms`.
    pub priority: i32,
    /// Skill name -> minimum level an agent needs.
    #[serde(with = "super::small_map")]
    #[cfg_attr(feature = "schema", schema(value_type = BTreeMap<String, u32>))]
    pub skills: SmallMap<super::Name, u32>,
}

/// The current visit to a queue (since it last entered one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct QueueVisit {
    pub since_ms: u64,
    /// Serving order in the queue, smallest first: `since_ms` less the
    /// priority's worth of waiting, fixed when it entered, so the order
    /// never needs re-sorting as time passes.
    pub order_key: i64,
    /// Agents who let an offer of this visit lapse or rejected it; others
    /// are preferred.
    #[cfg_attr(feature = "schema", schema(value_type = std::collections::BTreeSet<String>))]
    pub declined_by: super::SmallSet<String>,
    /// When an agent accepted it on this visit (for the queue's figures).
    pub answered_at_ms: Option<u64>,
}

/// The wrap-up an agent gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct WrapUp {
    pub agent: String,
    pub code: String,
    pub notes: String,
    pub at_ms: u64,
    /// The interaction's `seqno` when it was wrapped up.
    #[serde(default)]
    pub seqno: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Interaction {
    /// The caller's id, stable for life and across switchovers.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub id: super::Name,
    pub media: MediaType,
    /// Never changes.
    pub created_at_ms: u64,
    pub routing: Routing,
    #[serde(with = "super::small_map")]
    #[cfg_attr(feature = "schema", schema(value_type = BTreeMap<String, String>))]
    pub attributes: SmallMap<super::Name, super::Name>,
    pub parties: Parties,
    pub state: InteractionState,
    #[cfg_attr(feature = "schema", schema(value_type = Vec<Segment>))]
    pub segments: super::Seq<Segment>,
    pub content: Content,
    /// Files shared in the transcript, by their `FileRef::file_id`.
    #[cfg_attr(feature = "schema", schema(value_type = Vec<super::Attachment>))]
    pub files: super::Seq<super::Attachment>,
    /// Boxed: most live interactions have none yet (it keeps the hot
    /// struct small; the encoding is the same).
    pub wrap_up: Option<Box<WrapUp>>,
    pub visit: QueueVisit,
    /// Switchovers the interaction lived through, recovered each time
    /// with its id, times and content (the seed's seqno).
    #[serde(default)]
    pub seqno: u32,
}

impl Interaction {
    pub fn is_closed(&self) -> bool {
        matches!(self.state, InteractionState::Closed { .. })
    }

    /// Every agent holding this interaction now: the owner and any
    /// conferenced agents.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.state
            .owner()
            .into_iter()
            .chain(self.parties.conference.iter().map(String::as_str))
    }

    pub fn has_agent(&self, agent: &str) -> bool {
        self.agents().any(|a| a == agent)
    }

    /// How long the interaction has lived, never reset.
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.created_at_ms)
    }

    /// Total time in segments of `kind`.
    pub fn time_in_ms(&self, kind: SegmentKind, now_ms: u64) -> u64 {
        self.segments
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.duration_ms(now_ms))
            .sum()
    }
}

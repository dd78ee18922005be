//! An agent's live state: status, logins per media, what they hold.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::media::MediaType;

/// A status an agent (or a supervisor) may choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ChosenStatus {
    /// Ready for ACD offers.
    Available,
    /// Logged in, not taking ACD offers, with a reason.
    NotReady { reason: String },
    /// A status that takes no ACD offers (one of `Directory::non_acd_statuses`,
    /// e.g. "Away", "At lunch").
    NonAcd { name: String },
}

impl From<ChosenStatus> for AgentStatus {
    fn from(status: ChosenStatus) -> Self {
        match status {
            ChosenStatus::Available => AgentStatus::Available,
            ChosenStatus::NotReady { reason } => AgentStatus::NotReady { reason },
            ChosenStatus::NonAcd { name } => AgentStatus::NonAcd { name },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum AgentStatus {
    Available,
    NotReady {
        reason: String,
    },
    /// After call work until `until_ms`, then `then` (the status the agent
    /// had, or chose meanwhile).
    AfterCallWork {
        until_ms: u64,
        then: ChosenStatus,
    },
    NonAcd {
        name: String,
    },
    /// Logged out of every media, with a reason code (50002: logged out by
    /// a failure, as the seeds report it).
    LoggedOut {
        reason_code: u32,
    },
}

impl AgentStatus {
    pub fn name(&self) -> &str {
        match self {
            AgentStatus::Available => "available",
            AgentStatus::NotReady { .. } => "not_ready",
            AgentStatus::AfterCallWork { .. } => "after_call_work",
            AgentStatus::NonAcd { name } => name,
            AgentStatus::LoggedOut { .. } => "logged_out",
        }
    }
}

/// The agent's desktop, as the active node sees its connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Desktop {
    /// Never connected (an agent working through the API alone).
    #[default]
    None,
    Attached,
    /// Its connection was lost at `since_ms` (or a switchover took it): the
    /// agent keeps its state and interactions for the grace period, then is
    /// logged out with reason 50002.
    Detached {
        since_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Agent {
    pub name: String,
    pub status: AgentStatus,
    pub status_since_ms: u64,
    pub logged_in: BTreeSet<MediaType>,
    /// Interactions offered to, connected to, held by or in wrap-up with
    /// the agent (conferences included), per media; they count against
    /// the agent's capacity.
    pub assigned: BTreeMap<MediaType, BTreeSet<String>>,
    /// When the agent last had nothing assigned while available (for
    /// longest-idle routing).
    pub last_became_idle_ms: u64,
    /// Offers missed (lapsed or rejected) in a row; reset by an accept or
    /// a status change.
    pub no_answers: u32,
    /// The queue of the last missed offer (whose `max_no_answer` applies).
    pub no_answer_queue: Option<String>,
    pub desktop: Desktop,
}

impl Agent {
    pub fn new(name: &str, at_ms: u64) -> Self {
        Agent {
            name: name.to_string(),
            status: AgentStatus::LoggedOut { reason_code: 0 },
            status_since_ms: at_ms,
            logged_in: BTreeSet::new(),
            assigned: BTreeMap::new(),
            last_became_idle_ms: at_ms,
            no_answers: 0,
            no_answer_queue: None,
            desktop: Desktop::None,
        }
    }

    pub fn load(&self, media: MediaType) -> usize {
        self.assigned.get(&media).map_or(0, BTreeSet::len)
    }

    pub fn total_load(&self) -> usize {
        self.assigned.values().map(BTreeSet::len).sum()
    }
}

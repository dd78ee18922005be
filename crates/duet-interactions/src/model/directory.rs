//! The configuration the live state is checked against. It lives in the
//! configuration tree; the node builds a [`Directory`] from it and hands it
//! over with `Interactions::set_directory` whenever it changes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::media::MediaType;

/// How a queue picks an agent among those who may take an interaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent idle longest.
    #[default]
    LongestIdle,
    /// The next agent after the last one offered, by name, in turn.
    RoundRobin,
    /// The agent holding the fewest interactions.
    LeastOccupied,
    /// The agent with the highest levels in the wanted skills.
    BestSkilled,
}

/// A queue's member; members with a lower `priority` are offered first
/// (absent: after all that have one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMember {
    pub priority: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    pub strategy: Strategy,
    /// How long an offer rings before it goes to the next agent.
    pub alerting_timeout_ms: u64,
    /// Missed offers in a row that set an agent Not Ready (0: never).
    pub max_no_answer: u32,
    /// The Not Ready reason given then.
    pub no_answer_reason: String,
    /// After call work after an interaction of this queue (0: none).
    pub acw_ms: u64,
    /// The codes an agent may wrap up with (empty: wrap-up is optional).
    pub wrap_up_codes: BTreeSet<String>,
    /// The answer time the service level counts against.
    pub service_level_ms: u64,
    /// How much waiting one point of priority is worth: an interaction
    /// with priority p is served as if it had waited `p * weight` longer.
    pub priority_weight_ms: u64,
    pub members: BTreeMap<String, QueueMember>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            strategy: Strategy::LongestIdle,
            alerting_timeout_ms: 15_000,
            max_no_answer: 3,
            no_answer_reason: "no answer".into(),
            acw_ms: 0,
            wrap_up_codes: BTreeSet::new(),
            service_level_ms: 20_000,
            priority_weight_ms: 60_000,
            members: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Skill name -> level.
    pub skills: BTreeMap<String, u32>,
    /// How many interactions of each media the agent may hold at once
    /// (absent: none).
    pub capacity: BTreeMap<MediaType, u32>,
    /// The agent's personal queue; interactions in it go to this agent only.
    pub user_queue: String,
}

impl AgentConfig {
    pub fn capacity(&self, media: MediaType) -> usize {
        self.capacity.get(&media).map_or(0, |c| *c as usize)
    }
}

/// Settings of the interaction state as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// How long a closed interaction stays in the live state before the
    /// router forgets it (reporting has it by then).
    pub closed_retention_ms: u64,
    /// How long an agent whose desktop connection was lost keeps its state
    /// and interactions before it is logged out with reason 50002.
    pub desktop_grace_ms: u64,
    /// How long a queued chat waits for its customer (no socket, no
    /// message) before it ends as abandoned.
    pub customer_gone_abandon_ms: u64,
    /// The length of a statistics interval, boundaries aligned to the
    /// epoch (the seed's log records: 1800 seconds); 0: no intervals.
    pub statistics_interval_ms: u64,
    /// The most interactions the live state holds (closed ones until they
    /// are forgotten included); a new one past it is refused.
    pub live_interactions_max: usize,
    /// The largest email or shared file, in bytes (its chunks travel
    /// ahead of it, so no frame bounds it).
    pub content_bytes_max: u64,
    /// The most bytes of content (chunks) the live state holds; new
    /// content past it is refused until some is let go.
    pub content_held_bytes_max: u64,
    /// How long a chunk of content nobody refers to is kept after it was
    /// last stored (`model::blob`).
    pub unreferenced_chunk_keep_ms: u64,
    /// The settings of user queues (which have no queue entry).
    pub user_queue: QueueConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            closed_retention_ms: 300_000,
            desktop_grace_ms: 60_000,
            customer_gone_abandon_ms: crate::state::presence::ABANDON_AFTER_MS,
            statistics_interval_ms: 1_800_000,
            live_interactions_max: 100_000,
            content_bytes_max: 25 * 1024 * 1024,
            content_held_bytes_max: 2 * 1024 * 1024 * 1024,
            unreferenced_chunk_keep_ms: crate::model::UNREFERENCED_CHUNK_KEEP_MS,
            user_queue: QueueConfig {
                max_no_answer: 0,
                ..QueueConfig::default()
            },
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub queues: BTreeMap<String, QueueConfig>,
    pub agents: BTreeMap<String, AgentConfig>,
    /// Statuses that take no ACD offers ("Away", "At lunch", ...).
    pub non_acd_statuses: BTreeSet<String>,
    /// Logout reason codes and what they mean (50002: failure).
    pub reason_codes: BTreeMap<u32, String>,
    pub settings: Settings,
}

impl Directory {
    /// The agent whose user queue `queue` is.
    pub fn user_queue_owner(&self, queue: &str) -> Option<&str> {
        self.agents
            .iter()
            .find(|(_, a)| !a.user_queue.is_empty() && a.user_queue == queue)
            .map(|(name, _)| name.as_str())
    }

    /// The settings of `queue`: a workgroup queue's, or the user queues'.
    pub fn queue(&self, queue: &str) -> Option<&QueueConfig> {
        self.queues.get(queue).or_else(|| {
            self.user_queue_owner(queue)
                .map(|_| &self.settings.user_queue)
        })
    }
}

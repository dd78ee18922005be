//! What the routes answer (the customer's view of a chat is in `chat`).

use std::collections::BTreeMap;

use duet_interactions::model::Agent;
use duet_interactions::state::IntervalRecord;
use duet_interactions::{Interaction, QueueFigures};
use duet_rsm::Position;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::requests::ModuleFault;

/// A change made and acknowledged: its sequence number on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Changed {
    pub seq: u64,
}

/// The answer to `POST /api/config/batch`: one result per change, in the
/// batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchAnswer {
    pub results: Vec<BatchResult>,
}

/// One change's result: its sequence number once acknowledged, or why it
/// was refused (as a request of its own would have been: a 503 or a
/// "not acknowledged in time" is worth sending again with the same
/// `client_id`, a 4xx is not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BatchResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::ErrorBody>,
}

/// A conversation created for a customer (a chat, a callback, a call):
/// its id, the customer's token for it and the change's sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Created {
    pub id: String,
    /// Opens the conversation to its customer (`x-duet-token` or `?token=`).
    pub token: String,
    pub seq: u64,
}

/// A provider's message taken: the interaction it joined (or started)
/// and the change's sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Taken {
    pub id: String,
    pub seq: u64,
}

/// A signed-in session, valid on both nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    /// For `Authorization: Bearer` (or `?token=` on a WebSocket).
    pub token: String,
    pub user: String,
    /// agent, supervisor, admin.
    pub roles: Vec<String>,
    pub expires_at_unix_s: u64,
}

/// A node's role, as `GET /api/role` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum NodeRole {
    /// Still finding its role.
    Starting,
    /// Serving as the active node.
    Active,
    /// Watching the active node.
    Backup,
    /// Neither serving nor watching.
    Inactive,
}

/// `GET /api/role`: the seed's Query Backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleAnswer {
    pub node: String,
    pub role: NodeRole,
    pub backup: bool,
    /// The active node, when this node knows it.
    pub active: Option<String>,
    pub epoch: u64,
}

/// A switch the driver took: `{"switching": true}` (202).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Switching {
    pub switching: bool,
}

/// A fault injected (202).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Injected {
    pub injected: ModuleFault,
}

/// `GET /api/pair`: this node and both nodes' addresses, this node first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pair {
    pub node: String,
    pub nodes: Vec<PairNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PairNode {
    pub name: String,
    /// The node's HTTP address, e.g. `http://10.0.0.1:8080`.
    pub url: String,
}

/// An agent's state (`GET /api/agent`, and the agent socket's `state`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentState {
    /// The agent; null for a user the contact center does not know as an
    /// agent yet.
    pub agent: Option<Agent>,
    /// The interactions it holds, whole.
    pub interactions: Vec<Interaction>,
    /// The wrap-up codes of those interactions' queues, by queue.
    #[serde(default)]
    pub wrap_up_codes: BTreeMap<String, Vec<String>>,
}

/// A queue's figures now (`GET /api/queues`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QueueState {
    pub queue: String,
    /// Waiting now, agents by status, and the interval's figures.
    pub figures: QueueFigures,
}

/// `GET /api/statistics/intervals`: the interval records (the same on
/// both nodes) and the interval in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IntervalsState {
    /// Takeovers the pair has made (activations, the first included).
    pub takeovers: u64,
    /// A queue's figures over one interval each, and how it ended (a
    /// boundary or a takeover).
    pub records: Vec<IntervalRecord>,
    /// The interval in progress, per queue.
    pub current: Vec<IntervalRecord>,
}

/// `GET /api/shadow`: the interaction state's position and digest here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Shadow {
    /// `[epoch, seq]`.
    pub position: Position,
    /// Equal on both nodes at one position.
    pub digest: String,
    pub live_interactions: usize,
    pub agents: usize,
}

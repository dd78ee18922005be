//! The switchover's messages: the link's opening and its answer, the
//! notifier and module pings, the role arbiter's question and answer, the
//! takeover notice.

use duet_params::ServerId;
use duet_switchover::{Conn, State};
use serde::{Deserialize, Serialize};

/// What a node says about itself to its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Role {
    /// Still finding its role.
    Starting,
    /// Serving as the active node.
    Active,
    /// Watching the active node (Backup, Reconnecting, Upgrade, Stopping, Error).
    Backup,
    /// Not serving and not watching (a stale former active, or shut down).
    Inactive,
}

/// A node's answer to a role query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleInfo {
    pub role: Role,
    pub state: State,
    pub manual_switch_only: bool,
    /// Which of SwitchoverServer A and B the sender believes it is; two
    /// nodes claiming the same letter have mismatched bootstrap files.
    pub server: ServerId,
    /// The sender, not active, promises not to serve for this many
    /// milliseconds from its answer; `None` when it gives no promise (it
    /// serves, or has decided to take over).
    pub promise_ms: Option<u64>,
    /// The newest change the sender holds: when two nodes meet, the newer
    /// history serves.
    pub history: duet_rsm::Position,
    /// Which history the sender's changes belong to.
    pub history_id: duet_rsm::HistoryId,
}

/// The role arbiter's question: what is your role? Answered by a
/// [`RoleInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleQuery;

/// The backup opens a link connection, saying which of A and B it is; the
/// active node answers with an [`Admission`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub conn: Conn,
    pub server: ServerId,
}

/// The active node's answer to a [`Hello`]: the connection is welcome, or
/// why not.
pub type Admission = Result<(), Refused>;

/// Why a node refused a link connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refused {
    /// Only the active node welcomes link connections.
    #[error("{node} is not the active node")]
    NotActive { node: String },
    /// Both nodes believe they are the same one of A and B.
    #[error(
        "{peer} and {node} both say they are SwitchoverServer {server:?}; make server_a and server_b the same in both bootstrap files"
    )]
    SameServer {
        node: String,
        peer: String,
        server: ServerId,
    },
}

/// Watching the active node, from the backup: the pings, and the
/// takeover notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SwitchoverToActive {
    NotifierPing {
        id: u64,
    },
    ModulePing {
        id: u64,
    },
    /// Sent by a backup that has just become active, over the link it still
    /// has, so the former active learns the new epoch at once.
    Takeover,
}

/// The active node's answers to the pings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SwitchoverToBackup {
    NotifierPong { id: u64 },
    ModulePong { id: u64, incarnation: u64 },
    ModuleRejected { id: u64 },
}

impl SwitchoverToActive {
    pub fn kind(&self) -> &'static str {
        match self {
            SwitchoverToActive::NotifierPing { .. } => "Switchover::NotifierPing",
            SwitchoverToActive::ModulePing { .. } => "Switchover::ModulePing",
            SwitchoverToActive::Takeover => "Switchover::Takeover",
        }
    }
}

impl SwitchoverToBackup {
    pub fn kind(&self) -> &'static str {
        match self {
            SwitchoverToBackup::NotifierPong { .. } => "Switchover::NotifierPong",
            SwitchoverToBackup::ModulePong { .. } => "Switchover::ModulePong",
            SwitchoverToBackup::ModuleRejected { .. } => "Switchover::ModuleRejected",
        }
    }
}

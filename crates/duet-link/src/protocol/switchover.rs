//! The switchover's messages: the link's session, the notifier and module
//! pings, the role arbiter's question and answer, the takeover notice.

use duet_params::ServerId;
use duet_switchover::{Conn, State};
use serde::{Deserialize, Serialize};

/// What a node says about itself to its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// Opening a link connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Session {
    /// The backup opens a link connection, saying which of A and B it is.
    Hello { conn: Conn, server: ServerId },
    /// The active node accepts it.
    Welcome,
    /// A request the receiver will not serve, and why (for example, it is
    /// not the active node).
    Refused { reason: String },
}

/// Watching the active node and deciding who serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Switchover {
    NotifierPing {
        id: u64,
    },
    NotifierPong {
        id: u64,
    },
    ModulePing {
        id: u64,
    },
    ModulePong {
        id: u64,
        incarnation: u64,
    },
    ModuleRejected {
        id: u64,
    },
    /// The role arbiter: what is your role?
    RoleQuery,
    RoleAnswer(RoleInfo),
    /// Sent by a backup that has just become active, over the link it still
    /// has, so the former active learns the new epoch at once.
    Takeover,
}

impl Session {
    pub fn kind(&self) -> &'static str {
        match self {
            Session::Hello { .. } => "Session::Hello",
            Session::Welcome => "Session::Welcome",
            Session::Refused { .. } => "Session::Refused",
        }
    }
}

impl Switchover {
    pub fn kind(&self) -> &'static str {
        match self {
            Switchover::NotifierPing { .. } => "Switchover::NotifierPing",
            Switchover::NotifierPong { .. } => "Switchover::NotifierPong",
            Switchover::ModulePing { .. } => "Switchover::ModulePing",
            Switchover::ModulePong { .. } => "Switchover::ModulePong",
            Switchover::ModuleRejected { .. } => "Switchover::ModuleRejected",
            Switchover::RoleQuery => "Switchover::RoleQuery",
            Switchover::RoleAnswer(_) => "Switchover::RoleAnswer",
            Switchover::Takeover => "Switchover::Takeover",
        }
    }
}

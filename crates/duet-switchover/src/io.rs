//! What goes into the engine (events) and what comes out (commands and
//! records). Times are milliseconds on the caller's clock.

use duet_params::ServerParams;
use serde::{Deserialize, Serialize};

/// One of the two link connections from the backup to the active node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Conn {
    Main,
    Aux,
}

impl Conn {
    pub fn other(self) -> Conn {
        match self {
            Conn::Main => Conn::Aux,
            Conn::Aux => Conn::Main,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Conn::Main => "main",
            Conn::Aux => "auxiliary",
        }
    }
}

/// Identifies one request (notifier ping, module ping, ICMP echo) so its
/// answer can be matched; answers to requests the engine no longer waits for
/// are ignored.
pub type RequestId = u64;

/// A software release, compared by its dot-separated numbers
/// (`2026.1.10` > `2026.1.9`); text that is not a number compares as text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release(pub String);

impl PartialEq for Release {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Release {}

impl Release {
    /// The release's parts; trailing zeros are dropped so that `2026.1` and
    /// `2026.1.0` are the same release.
    fn parts(&self) -> Vec<Result<u64, &str>> {
        let mut parts: Vec<Result<u64, &str>> = self
            .0
            .split(['.', '-', ' '])
            .map(|p| p.parse::<u64>().map_err(|_| p))
            .collect();
        while parts.len() > 1 && parts.last() == Some(&Ok(0)) {
            parts.pop();
        }
        parts
    }
}

impl PartialOrd for Release {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Release {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl std::fmt::Display for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the role arbiter found when this node started (or when an inactive
/// node may rejoin): the Init state turns it into a state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceMode {
    /// The peer could not be reached or verified: start active (fail-safe),
    /// unless `/ForceBackup`.
    PeerUnreachable,
    /// The peer is active with this release: start as backup (or in an
    /// Upgrade state when the releases differ).
    PeerActive { release: Release },
    /// The arbiter chose this node to be active (for instance both started
    /// together and this is SwitchoverServer A).
    ChosenActive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The role arbiter's finding; handled in Init and Inactive.
    Start(ServiceMode),
    /// This node finished starting (initial synchronisation done).
    StartupComplete,
    /// Time has passed; the engine acts on whatever fell due.
    Tick,
    ConnectionUp(Conn),
    ConnectionDown(Conn),
    /// A connection attempt failed (refused or timed out).
    ConnectFailed(Conn),
    NotifierReply {
        id: RequestId,
    },
    NotifierRejected {
        id: RequestId,
    },
    /// The monitored module answered, with its current incarnation (the
    /// seed's PID).
    ModuleReply {
        id: RequestId,
        incarnation: u64,
    },
    /// The notifier on the active node refused to deliver a module ping (the
    /// module is not there to take it).
    ModuleRejected {
        id: RequestId,
    },
    EchoReply {
        id: RequestId,
    },
    /// An administrator asks this node to become active. Without `force`,
    /// it is refused while file replication is reported stopped.
    SwitchRequest {
        force: bool,
    },
    FileReplication {
        running: bool,
    },
    /// Server parameters changed (replicated from the active node): the
    /// values now in effect, which `duet_params::effective_after_change`
    /// computes (dynamic parameters at once, the others at restart).
    ParamsChanged(Box<ServerParams>),
    /// A peer or client showed a newer epoch: stop serving at once.
    NewerEpochSeen {
        epoch: u64,
    },
    /// The peer, starting or backup, holds a newer history than this
    /// active node (its newest change is at `peer_history`, this node's at
    /// `own_history`): an empty or older store must not
    /// serve over it. Stop serving; the peer becomes active, and this node
    /// rejoins as its backup, its own changes healed into the newer one.
    PeerHistoryNewer {
        peer_history: duet_rsm::Position,
        own_history: duet_rsm::Position,
    },
    /// A decided automatic takeover is held back (`why`: this node is not
    /// synchronised, or switchovers are damped) while the active node's
    /// process answers: the node goes back to watching it.
    TakeoverHeldBack {
        why: String,
    },
    /// A decided takeover cannot complete: the active node (in `epoch`)
    /// still serves and holds the witness's key. The node goes back to
    /// watching it rather than keep waiting.
    TakeoverAbandoned {
        epoch: u64,
    },
    Shutdown,
}

/// Why the backup became active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SwitchReason {
    /// The seed's "Loss of Connection to Notifier".
    LossOfConnectionToNotifier,
    /// The seed's "TS Ping Failure" (or "IP Ping Failure").
    ModulePingFailure,
    /// The module answered with new incarnations too often.
    ModuleRestartingTooOften,
    /// The primary's address stopped answering while the backup's own
    /// network was known good.
    PrimaryUnreachable,
    /// An administrator asked for it.
    ManualSwitchover,
}

impl SwitchReason {
    /// The seed's words for the event log, for the monitored module's label.
    pub fn describe(self, ping_label: &str) -> String {
        match self {
            SwitchReason::LossOfConnectionToNotifier => "Loss of Connection to Notifier".into(),
            SwitchReason::ModulePingFailure => format!("{ping_label} Ping Failure"),
            SwitchReason::ModuleRestartingTooOften => {
                format!("{ping_label} Ping Failure: module restarting too often")
            }
            SwitchReason::PrimaryUnreachable => "Primary Unreachable".into(),
            SwitchReason::ManualSwitchover => "Manual Switchover".into(),
        }
    }
}

/// Why a node starts serving as active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// The peer could not be reached at start-up (the seed's fail-safe mode).
    FailSafeStart,
    /// The role arbiter chose this node.
    Chosen,
    /// A switchover from backup.
    Switchover(SwitchReason),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Open (or reopen) a link connection to the active node.
    Connect(Conn),
    SendNotifierPing {
        conn: Conn,
        id: RequestId,
    },
    SendModulePing {
        conn: Conn,
        id: RequestId,
        /// DSCP to mark the ping with, when QoS applies.
        dscp: Option<u8>,
    },
    SendEcho {
        address: String,
        id: RequestId,
    },
    /// Compare and update configuration and files with the active node.
    Synchronize,
    /// Start serving as the active node.
    BecomePrimary(Activation),
    /// Stop serving at once (a newer epoch exists elsewhere).
    StopServing,
    /// A switch request was refused.
    RefuseSwitch(SwitchRefusal),
    Record(Record),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Topic {
    SwitchoverStates,
    PrimaryMonitor,
    ModuleMonitor,
    Switchover,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// One event-log entry: every transition and decision, with its reason, in
/// words close to the seed's logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub topic: Topic,
    pub level: Level,
    pub message: String,
}

/// Why an administrator's switch request was refused; the text says what
/// to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SwitchRefusal {
    #[error("this server is already the active server")]
    AlreadyActive,
    #[error("this server is {} and not watching an active server", .0.seed_name())]
    NotWatching(crate::State),
    #[error(
        "the pair is in an Upgrade state: replication is limited and configuration data or files can be lost by switching (the seed: avoid manual switchovers while in either upgrade state); repeat the request with force to switch anyway"
    )]
    UpgradeState,
    #[error(
        "file replication from the primary may not be running, so files changed recently may be missing here; check replication, or repeat the request with force to switch anyway"
    )]
    FileReplicationNotRunning,
}

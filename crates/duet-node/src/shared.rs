//! What the node's tasks share: the bootstrap, TLS configs, the current
//! status (a watch channel: the arbiter, link server and API read it without
//! waiting on the driver), the event log, the modules, and the driver's inbox.

use std::sync::Arc;

use duet_config::{HistoryRecord, Object};
use duet_link::protocol::{Body, Envelope, Mirror, PROTOCOL_VERSION, Role, RoleInfo};
use duet_rsm::Position;
use duet_stream::Replication;
use duet_switchover::{Conn, Event, State};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::bootstrap::Bootstrap;
use crate::events::EventLog;
use crate::replication::{ReplicationMsg, ReplicationView};
use crate::supervisor::Supervisor;

/// What this node last learned about its peer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PeerView {
    pub name: String,
    pub reachable: bool,
    pub role: Option<Role>,
    pub state: Option<State>,
    pub epoch: Option<u64>,
    pub release: Option<String>,
    pub manual_switch_only: Option<bool>,
}

/// The node's status, as the API and `duet ctl status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node: String,
    /// "A" or "B": which of the seed's SwitchoverServer A/B this node is.
    pub server: String,
    pub role: Role,
    pub state: State,
    /// Serving as the active node right now.
    pub serving: bool,
    pub epoch: u64,
    pub release: String,
    pub manual_switch_only: bool,
    /// Switches by itself when the active node fails (not manual, not Upgrade).
    pub automatic: bool,
    pub main_link_up: bool,
    pub aux_link_up: bool,
    pub file_replication_running: bool,
    pub last_switch_reason: Option<String>,
    pub switchovers: u64,
    pub peer: PeerView,
    /// Configuration replication as the active node sees it.
    pub replication: Replication,
    /// The last configuration change applied here.
    pub config_applied: Position,
    /// The root digest of the configuration tree (hex): two nodes at the
    /// same position hold the same tree exactly when these match.
    pub config_digest: String,
    /// The longest the replication task (which every acknowledgement
    /// passes through) was held up since the node started, in ms.
    pub longest_stall_ms: u64,
    /// Where safety stands: the lease, the promise, a takeover waiting.
    pub right_to_serve: RightView,
}

/// What the etcd witness last said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WitnessState {
    /// This node holds the pair's key.
    Held,
    /// The peer holds it.
    HeldByPeer,
    /// etcd cannot be reached.
    Down,
    /// Nobody is known to hold it for this node (not wanted, or not yet).
    NotHeld,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessView {
    pub state: WitnessState,
    /// In words: the key's revision, the holder, or why etcd is down.
    pub detail: String,
}

/// The right to serve as status shows it. The times are filled in when
/// the status is read, from the node's monotonic clock.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RightView {
    /// The lease is valid (this node may serve and acknowledge).
    pub lease_held: bool,
    pub lease_remaining_ms: u64,
    /// How the lease was last confirmed.
    pub confirmed_by: Option<duet_role::Confirmation>,
    /// In words: how it was confirmed, or why it is not held.
    pub lease_detail: Option<String>,
    /// How long this node's promise to its peer still binds it.
    pub promise_remaining_ms: u64,
    /// A decided takeover waiting for the old active's lease to run out.
    pub takeover_waiting: Option<String>,
    /// Writes persisted but held: not acknowledged until the lease is
    /// confirmed again (or refused when the wait runs out).
    pub writes_held: usize,
    /// The etcd witness, when one is configured.
    pub witness: Option<WitnessView>,
    /// Conflict records waiting for an administrator (`duet ctl config
    /// conflicts`): changes the heal kept but did not make.
    pub conflicts: usize,
    /// Interaction conflict records (`duet ctl interaction conflicts`):
    /// changes the other node made while both served that the state here
    /// overrode.
    pub interaction_conflicts: usize,
}

impl NodeStatus {
    /// The backup's link health as `main/aux` ("up/down"); `None` for a node
    /// that is not watching an active one.
    pub fn links(&self) -> Option<String> {
        let word = |up: bool| if up { "up" } else { "down" };
        (self.role == Role::Backup)
            .then(|| format!("{}/{}", word(self.main_link_up), word(self.aux_link_up)))
    }
}

/// Messages to the driver, the task that owns the engine.
pub enum DriverMsg {
    Engine(Event),
    /// A link connection to the active node is established.
    LinkUp {
        conn: Conn,
        tx: crate::link::Outbox,
        active_epoch: u64,
    },
    /// Something showed this epoch (a peer's message, a client).
    EpochSeen(u64),
    /// What the role query sent at `sent_ms` brought.
    Peer {
        sent_ms: u64,
        answer: Result<PeerAnswer, crate::arbiter::QueryFailure>,
    },
    /// This node's own-network checks asked at `asked_ms` answered or not.
    OwnNetwork {
        asked_ms: u64,
        ok: bool,
    },
    /// An administrator asks for a switch; the answer says whether it was
    /// refused and why.
    Switch {
        force: bool,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// The server parameters in effect.
    ParamsRead(oneshot::Sender<Box<duet_params::ServerParams>>),
    /// The active node says this backup has every change.
    Synchronised,
    /// The backup's first mirror pass ended; `missing` names the roots it
    /// could not bring up to date.
    MirrorFirstPass {
        missing: Vec<String>,
    },
    /// What the etcd witness task holds.
    Witness(crate::witness::WitnessReport),
}

/// A path of the configuration tree as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    pub path: String,
    pub object: Option<Object>,
    pub children: Vec<(String, Option<duet_config::Class>)>,
    pub history: Vec<HistoryRecord>,
}

#[derive(Debug, Clone)]
pub struct PeerAnswer {
    pub node: String,
    pub epoch: u64,
    pub release: String,
    pub info: RoleInfo,
}

/// Bound on messages waiting for the driver; senders that find it full drop
/// their message (the engine's own timeouts cover a lost answer).
pub const DRIVER_INBOX_MAX: usize = 1024;

pub struct Shared {
    pub boot: Bootstrap,
    /// The node's clock, its promise and its lease.
    pub right: crate::right::RightToServe,
    pub server_tls: Arc<tokio_rustls::rustls::ServerConfig>,
    pub client_tls: Arc<tokio_rustls::rustls::ClientConfig>,
    pub status: watch::Sender<NodeStatus>,
    pub events: EventLog,
    pub supervisor: Supervisor,
    pub driver: mpsc::Sender<DriverMsg>,
    /// The monitored module's subsystem name (from Switchover Monitoring).
    pub monitored_module: &'static str,
    /// The mirrored directories, from the server parameters and the state.
    pub mirror_setup: std::sync::RwLock<crate::mirror::MirrorSetup>,
    /// Where the link client delivers mirror answers while the backup's
    /// mirror runs.
    pub mirror_answers: std::sync::Mutex<Option<mpsc::Sender<Mirror>>>,
    /// Where it delivers the file monitor's health check answers.
    pub file_monitor_answers: std::sync::Mutex<Option<mpsc::Sender<u64>>>,
    /// The active node's scans of each mirror root, for its listings.
    pub mirror_scans: std::sync::Mutex<std::collections::BTreeMap<String, crate::mirror::RootScan>>,
    /// This node's file monitor.
    pub file_monitor: crate::file_monitor::FileMonitorHandle,
    /// The backup's copy is up to date (as of its last pass).
    pub mirror_healthy: std::sync::atomic::AtomicBool,
    /// The start-up-only mirror roots (Handlers, InitialMirrorDir) were
    /// copied once by this process.
    pub startup_roots_copied: std::sync::atomic::AtomicBool,
    /// What the backup's mirror is copying, for a start-up that runs late.
    pub mirror_progress: std::sync::Mutex<String>,
    /// The active node's file monitor answers its health checks.
    pub file_monitor_healthy: std::sync::atomic::AtomicBool,
    pub metrics: crate::metrics::Metrics,
    /// Signs API sessions and customers' tokens (the pair's session key).
    pub session_key: Option<ring::hmac::Key>,
    /// Checks SMS and social webhooks' signatures.
    pub webhook_key: Option<ring::hmac::Key>,
    /// Email addresses (lower case) and the workgroup queue each is
    /// delivered to, as the directory says.
    pub mail_queues: std::sync::RwLock<std::collections::BTreeMap<String, String>>,
    /// Agents' desktop sockets open on this node, by agent.
    pub desktops: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
    /// The replication task's inboxes.
    pub replication: crate::replication::Inboxes,
    /// What replication publishes for the status.
    pub replication_view: watch::Sender<ReplicationView>,
    /// Fault injection: configuration sync requests go unanswered.
    pub sync_requests_held: std::sync::atomic::AtomicBool,
    /// API requests waiting for replication's answer (bounded).
    pub answers_waiting: crate::http::Waiting,
}

impl Shared {
    /// Writes an entry to this node's event log (and the process log).
    pub fn log_event(&self, level: duet_switchover::Level, message: impl Into<String>) {
        let message = message.into();
        tracing::info!("{message}");
        self.events.append(
            &self.boot.this,
            crate::events::unix_ms(),
            &duet_switchover::Record {
                topic: duet_switchover::Topic::Switchover,
                level,
                message,
            },
        );
    }

    pub fn mirror_setup(&self) -> crate::mirror::MirrorSetup {
        self.mirror_setup
            .read()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    pub fn served_mirror_roots(&self) -> Vec<crate::mirror::Root> {
        self.mirror_setup().served
    }

    /// The status, with the right to serve as it stands at this moment
    /// (not as the driver last published it: a paused driver must not
    /// leave "serving" behind).
    pub fn status(&self) -> NodeStatus {
        let mut status = self.status.borrow().clone();
        let right = &mut status.right_to_serve;
        right.lease_held = self.right.lease_valid();
        right.lease_remaining_ms = self.right.lease_remaining_ms();
        right.promise_remaining_ms = self.right.promise_remaining_ms();
        status.serving = status.role == Role::Active && right.lease_held;
        status
    }

    /// This node holds the active role (its epoch is persisted and it leads
    /// the stream), whether or not its lease is valid right now.
    pub fn holding(&self) -> bool {
        self.status.borrow().role == Role::Active
    }

    /// Holding the role with a valid lease: this node serves now.
    pub fn serving(&self) -> bool {
        self.holding() && self.right.lease_valid()
    }

    pub fn epoch(&self) -> u64 {
        self.status.borrow().epoch
    }

    /// The door of one of the pair's ports: the peer's address only.
    pub fn gate(&self, port: &'static str) -> crate::link::Gate {
        crate::link::Gate::new(
            port,
            self.boot.peer().address,
            self.metrics.link.refused_connections.clone(),
        )
    }

    /// Wraps a message in this node's envelope.
    pub fn envelope(&self, body: impl Into<Body>) -> Envelope {
        let status = self.status.borrow();
        Envelope {
            version: PROTOCOL_VERSION,
            node: status.node.clone(),
            epoch: status.epoch,
            release: status.release.clone(),
            body: body.into(),
        }
    }

    /// This node's role for the peer, with a promise when it gives one.
    pub fn role_info_promising(&self) -> RoleInfo {
        let promise_ms = self.right.promise_for_answer();
        let status = self.status.borrow();
        RoleInfo {
            role: status.role,
            state: status.state,
            manual_switch_only: status.manual_switch_only,
            server: self.boot.server_id(),
            promise_ms: promise_ms.filter(|_| status.role != Role::Active),
            history: self.replication_view.borrow().applied,
        }
    }

    /// Tells the driver that the peer serves as active in `epoch` (its
    /// takeover notice or role answer), when that is newer than ours. Epochs
    /// from anything else (a starting or backup node, a client) do not fence.
    pub fn peer_active_in(&self, epoch: u64) {
        if epoch > self.epoch() && self.driver.try_send(DriverMsg::EpochSeen(epoch)).is_err() {
            tracing::error!(
                "the driver's inbox is full; a newer epoch {epoch} could not be passed on"
            );
        }
    }

    pub fn to_driver(&self, msg: DriverMsg) {
        if self.driver.try_send(msg).is_err() {
            tracing::warn!("the driver's inbox is full; a message was dropped");
        }
    }

    /// To the replication task; a full inbox drops the message and says
    /// so (a client is answered 503 at once and retries; the stream's
    /// checks recover the rest; the driver's inbox is its own and holds a
    /// thousand role changes, so one dropped there is an error).
    /// Whether it was taken.
    pub fn to_replication(&self, msg: ReplicationMsg) -> bool {
        match self.replication.send(msg) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("{e}; a message was dropped");
                false
            }
        }
    }
}

//! What the node shows of itself: its status (published by the driver on
//! a `watch` channel that the arbiter, link server and API read without
//! waiting), what replication publishes for it, and [`StatusView`], the
//! handle every task reads them through. The right to serve is read at
//! answer time, so a paused driver cannot leave "serving" behind.

use std::sync::Arc;

use duet_config::{HistoryRecord, Object};
use duet_link::protocol::{Envelope, PROTOCOL_VERSION, Role};
use duet_rsm::Position;
use duet_stream::Replication;
use duet_switchover::State;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::right::RightToServe;

/// What this node last learned about its peer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WitnessView {
    pub state: WitnessState,
    /// In words: the key's revision, the holder, or why etcd is down.
    pub detail: String,
}

/// The right to serve as status shows it. The times are filled in when
/// the status is read, from the node's monotonic clock.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
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

/// A path of the configuration tree as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConfigView {
    pub path: String,
    #[schema(value_type = Option<duet_config::object::ConfigObject>)]
    pub object: Option<Object>,
    pub children: Vec<(String, Option<duet_config::Class>)>,
    pub history: Vec<HistoryRecord>,
}

/// What the status shows of replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationView {
    pub state: Replication,
    /// The last change applied.
    pub applied: Position,
    /// Which history the changes belong to.
    pub history_id: duet_rsm::HistoryId,
    /// The configuration tree's root digest.
    pub config_digest: u128,
    /// Writes persisted but not acknowledged while the lease is not valid.
    pub writes_held: usize,
    /// Conflict records waiting for an administrator.
    pub conflicts: usize,
    /// Interaction conflict records heals left.
    pub interaction_conflicts: usize,
    /// The longest this task was kept from its regular tick since the
    /// node started (a batch, a commit, a snapshot: what holds up every
    /// acknowledgement), in ms.
    pub longest_stall_ms: u64,
}

/// The handle on the node's status: the driver publishes it, every other
/// task reads it; replication publishes its part beside it.
#[derive(Clone)]
pub struct StatusView {
    status: Arc<watch::Sender<NodeStatus>>,
    replication: Arc<watch::Sender<ReplicationView>>,
    right: Arc<RightToServe>,
}

impl StatusView {
    pub fn new(status: NodeStatus, replication: ReplicationView, right: Arc<RightToServe>) -> Self {
        StatusView {
            status: Arc::new(watch::channel(status).0),
            replication: Arc::new(watch::channel(replication).0),
            right,
        }
    }

    /// The node's clock, its promise and its lease.
    pub fn right(&self) -> &RightToServe {
        &self.right
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

    /// The status as the driver last published it.
    pub fn published(&self) -> watch::Ref<'_, NodeStatus> {
        self.status.borrow()
    }

    /// Changes to the published status.
    pub fn subscribe(&self) -> watch::Receiver<NodeStatus> {
        self.status.subscribe()
    }

    /// The driver publishes a change; `change` says whether it changed.
    pub fn publish(&self, change: impl FnOnce(&mut NodeStatus) -> bool) {
        self.status.send_if_modified(change);
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

    /// What replication last published.
    pub fn replication(&self) -> watch::Ref<'_, ReplicationView> {
        self.replication.borrow()
    }

    /// The newest change this node holds and the history it belongs to:
    /// what its role answers say and its role decisions compare.
    pub fn history(&self) -> (Position, duet_rsm::HistoryId) {
        let replication = self.replication.borrow();
        (replication.applied, replication.history_id)
    }

    /// Changes to what replication publishes.
    pub fn subscribe_replication(&self) -> watch::Receiver<ReplicationView> {
        self.replication.subscribe()
    }

    /// Replication publishes its view; `change` says whether it changed.
    pub fn publish_replication(&self, change: impl FnOnce(&mut ReplicationView) -> bool) {
        self.replication.send_if_modified(change);
    }

    /// Wraps a link message in this node's envelope.
    pub fn envelope<B>(&self, body: impl Into<B>) -> Envelope<B> {
        let status = self.status.borrow();
        Envelope {
            version: PROTOCOL_VERSION,
            node: status.node.clone(),
            epoch: status.epoch,
            release: status.release.clone(),
            body: body.into(),
        }
    }
}

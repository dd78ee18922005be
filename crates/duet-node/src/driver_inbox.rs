//! The driver's inbox, as the other tasks hold it: the messages the
//! driver (the task that owns the engine) takes, and [`DriverInbox`],
//! the handle that sends them without waiting. It sits below every task
//! that reports to the driver, so none of them imports the driver.

use duet_switchover::{Conn, Event};
use tokio::sync::{mpsc, oneshot};

use crate::arbiter::{PeerAnswer, QueryFailure};
use crate::status::StatusView;
use duet_link::protocol::ToActive;

use crate::wire::Outbox;
use crate::witness::{WitnessReport, WitnessSink};

/// Bound on messages waiting for the driver; senders that find it full drop
/// their message (the engine's own timeouts cover a lost answer).
pub const DRIVER_INBOX_MAX: usize = 1024;

/// Messages to the driver, the task that owns the engine.
pub enum DriverMsg {
    Engine(Event),
    /// A link connection to the active node is established.
    LinkUp {
        conn: Conn,
        tx: Outbox<ToActive>,
        active_epoch: u64,
    },
    /// Something showed this epoch (a peer's message, a client).
    EpochSeen(u64),
    /// What the role query sent at `sent_ms` brought.
    Peer {
        sent_ms: u64,
        answer: Result<PeerAnswer, QueryFailure>,
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
        reply: oneshot::Sender<Result<(), duet_switchover::SwitchRefusal>>,
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
    Witness(WitnessReport),
}

/// The sending end of the driver's inbox.
#[derive(Clone)]
pub struct DriverInbox {
    tx: mpsc::Sender<DriverMsg>,
    view: StatusView,
}

impl DriverInbox {
    /// The inbox, bounded, and its receiving end for the driver.
    pub fn new(view: StatusView) -> (DriverInbox, mpsc::Receiver<DriverMsg>) {
        let (tx, rx) = mpsc::channel(DRIVER_INBOX_MAX);
        (DriverInbox { tx, view }, rx)
    }

    /// Queues `msg`; a full inbox drops it and says so.
    pub fn send(&self, msg: DriverMsg) {
        if self.tx.try_send(msg).is_err() {
            tracing::warn!("the driver's inbox is full; a message was dropped");
        }
    }

    /// Queues `msg`, waiting for room (a message the driver must not miss).
    /// It fails only once the driver has stopped (the node shuts down),
    /// and says so.
    pub async fn send_waiting(&self, msg: DriverMsg) {
        if self.tx.send(msg).await.is_err() {
            tracing::warn!("the driver has stopped; a message to it was dropped");
        }
    }

    /// Tells the driver that the peer serves as active in `epoch` (its
    /// takeover notice or role answer), when that is newer than ours. Epochs
    /// from anything else (a starting or backup node, a client) do not fence.
    pub fn peer_active_in(&self, epoch: u64) {
        if epoch > self.view.epoch() && self.tx.try_send(DriverMsg::EpochSeen(epoch)).is_err() {
            tracing::error!(
                "the driver's inbox is full; a newer epoch {epoch} could not be passed on"
            );
        }
    }
}

/// The witness task reports here, on the node's monotonic clock.
impl WitnessSink for DriverInbox {
    fn now_ms(&self) -> u64 {
        self.view.right().now_ms()
    }

    fn report(&self, report: WitnessReport) {
        self.send(DriverMsg::Witness(report));
    }
}

//! Replication as a task of its own: it owns the [`Replicator`] (the
//! replica core and its store writer thread) and takes its work from a
//! typed inbox: the driver's role changes and settings, the link's
//! stream messages, the API's writes and reads. It publishes what others
//! read on `watch` channels (its view for the status, the server
//! parameters for the engine), so no reader waits on it.

use crate::answer::Answer as _;
use std::sync::Arc;
use std::time::Duration;

use duet_config::scope::Scope;
use duet_config::{HistoryRecord, Op, TreePath};
use duet_link::protocol::{StreamToActive, StreamToBackup};
use duet_replica::Input;
use duet_rsm::Position;
use tokio::sync::{mpsc, oneshot, watch};

use super::requests::IxRequest;
use super::{ActiveLink, BackupLink};
use super::{Replicator, WriteReply};
use crate::driver_inbox::DriverInbox;
use crate::events::Journal;
pub use crate::status::ReplicationView;
use crate::status::{ConfigView, StatusView};

/// Messages the replication task's inbox holds at most; a full inbox
/// refuses more (a client retries, the stream catches up).
pub const INBOX_MAX: usize = 16_384;

/// The driver's role changes and settings the control inbox holds at most
/// (they come a few a second at most).
pub const CONTROL_MAX: usize = 1_024;

/// Where other tasks send the replication task their work: the driver's
/// role changes and settings on an inbox of their own, so a flood of
/// client writes never drops or delays them, and everything else.
#[derive(Clone)]
pub struct Inboxes {
    control: mpsc::Sender<ReplicationMsg>,
    work: mpsc::Sender<ReplicationMsg>,
}

/// The replication task's ends of its inboxes.
pub struct Receivers {
    control: mpsc::Receiver<ReplicationMsg>,
    work: mpsc::Receiver<ReplicationMsg>,
}

/// The replication task's inboxes, bounded.
pub fn inboxes() -> (Inboxes, Receivers) {
    let (control, control_rx) = mpsc::channel(CONTROL_MAX);
    let (work, work_rx) = mpsc::channel(INBOX_MAX);
    let receivers = Receivers {
        control: control_rx,
        work: work_rx,
    };
    (Inboxes { control, work }, receivers)
}

/// Why a message was not taken.
#[derive(Debug, thiserror::Error)]
#[error("the replication task's {0} inbox is full (or the task has stopped)")]
pub struct InboxFull(&'static str);

impl Inboxes {
    /// To the replication task; a full inbox drops the message and says
    /// so (a client is answered 503 at once and retries; the stream's
    /// checks recover the rest; the driver's inbox is its own and holds a
    /// thousand role changes, so one dropped there is an error).
    /// Whether it was taken.
    pub fn offer(&self, msg: ReplicationMsg) -> bool {
        match self.send(msg) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("{e}; a message was dropped");
                false
            }
        }
    }

    /// Queues `msg` on its inbox without waiting.
    pub fn send(&self, msg: ReplicationMsg) -> Result<(), InboxFull> {
        let (inbox, which) = if msg.is_control() {
            (&self.control, "control")
        } else {
            (&self.work, "work")
        };
        inbox.try_send(msg).map_err(|_| InboxFull(which))
    }

    /// Queues `msg` on the work inbox, waiting for room (a thread off the
    /// runtime handing back what it did).
    pub fn blocking_send(&self, msg: ReplicationMsg) -> Result<(), InboxFull> {
        self.work.blocking_send(msg).map_err(|_| InboxFull("work"))
    }

    /// Asks the task to commit what is queued and stop, behind the driver's
    /// last messages.
    pub async fn stop(&self) -> Result<(), InboxFull> {
        self.control
            .send(ReplicationMsg::Stop)
            .await
            .map_err(|_| InboxFull("control"))
    }
}

/// Messages handled in one go before the router decides and the views are
/// published.
const BATCH_MAX: usize = 256;

/// What the driver decides for replication, sent whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The replica's.
    pub replica: duet_replica::Settings,
    /// Not StatServer_DisableQPSLoggingOnBackup: the backup keeps its
    /// statistics log data in CSV files.
    pub statistics_log_on_backup: bool,
}

impl Settings {
    pub fn from_params(params: &duet_params::ServerParams, scope: Scope) -> Settings {
        Settings {
            replica: duet_replica::Settings {
                scope,
                ds_request_timeout_ms: params.ds_request_timeout_ms,
                compress: params.ds_request_compression,
                history_retention: params.history_retention,
                catch_up_changes: params.catch_up_changes,
                recovery: duet_interactions::model::Recovery {
                    mail: params.mail_recovery,
                    mail_filter: params.mail_recovery_filter,
                    chat: params.chat_recovery,
                    callback: params.callback_recovery,
                    sms: params.sms_recovery,
                    social_conversation: params.social_conversation_recovery,
                    direct_message: params.direct_message_recovery,
                },
            },
            statistics_log_on_backup: !params.disable_qps_logging_on_backup,
        }
    }
}

/// Email addresses (lower case) and the workgroup queue each is delivered
/// to, as the directory says: replication writes it, the email intake
/// reads it.
pub type MailQueues = Arc<std::sync::RwLock<std::collections::BTreeMap<String, String>>>;

/// Who is present on this node through its sockets: the API counts them
/// and records them on the stream (duet-http's `presence.rs`); replication reads
/// the desktops when this node becomes active.
pub type Presences = Arc<std::sync::Mutex<std::collections::BTreeMap<Present, SocketsHere>>>;

/// Someone whose sockets on this node say they are there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Present {
    /// An agent's desktops, by agent name.
    Desktop(String),
    /// A chat's customer, by interaction id.
    Customer(String),
}

/// The sockets of one [`Present`] on this node.
#[derive(Debug, Default)]
pub struct SocketsHere {
    /// Sockets open.
    pub open: usize,
    /// A task is recording the presence on the stream.
    pub recording: bool,
}

/// What the replication task uses of the node.
#[derive(Clone)]
pub struct Handles {
    pub boot: Arc<crate::bootstrap::Bootstrap>,
    pub view: StatusView,
    pub events: Journal,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub driver: DriverInbox,
    /// Its own inboxes, for work it hands back to itself.
    pub replication: Inboxes,
    pub secrets: Arc<crate::secrets::Secrets>,
    pub mail_queues: MailQueues,
    pub presences: Presences,
}

/// The backup's stream messages, as the active node's link receives them.
pub type FromBackup = duet_replica::FromBackup<BackupLink>;

pub enum ReplicationMsg {
    /// This node now serves in `epoch`: it leads the stream.
    BecomeActive {
        epoch: u64,
    },
    /// This node stopped serving: writes under way are refused.
    StopServing,
    Settings(Settings),
    /// The backup's main link to the active node is up: say where we are.
    ActiveLinkUp(ActiveLink),
    ActiveLinkDown,
    /// The backup's side of the stream: a message from the active node.
    FromActive(StreamToBackup),
    /// The active node's side: a message from the backup.
    FromBackup(FromBackup),
    /// A configuration change from the API (on the active node).
    ConfigWrite {
        client: String,
        who: String,
        op: Op,
        reply: WriteReply,
    },
    /// A configuration read from the API.
    ConfigRead {
        path: TreePath,
        reply: oneshot::Sender<ConfigView>,
    },
    /// The conflict records, for the API.
    ConfigConflicts(oneshot::Sender<Vec<HistoryRecord>>),
    /// The contact center's changes and reads.
    Interactions(IxRequest),
    /// The interaction snapshot taken at `at` is encoded (off this task).
    SnapshotEncoded {
        at: Position,
        chunks: Arc<Vec<Vec<u8>>>,
    },
    /// Commit what is queued and stop.
    Stop,
}

/// Sleeps until `deadline` on the node's monotonic clock (the right to
/// serve's); never, without one.
async fn sleep_until_mono(view: &StatusView, deadline: Option<u64>) {
    match deadline {
        Some(deadline) => {
            let wait_ms = deadline.saturating_sub(view.right().now_ms());
            tokio::time::sleep(Duration::from_millis(wait_ms)).await
        }
        None => std::future::pending().await,
    }
}

/// Runs replication until told to stop; the store writer has committed
/// everything queued when it returns.
pub async fn run(
    node: Handles,
    mut replicator: Replicator,
    receivers: Receivers,
    parameters: watch::Sender<Vec<(String, String)>>,
    mut settings: Settings,
) {
    replicator.handle(&node, Input::Settings(settings.replica.clone()));
    let mut lease_ticks = tokio::time::interval(Duration::from_millis(
        node.view.right().lease_ms().div_ceil(3).max(1),
    ));
    lease_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut durable = replicator.durable_watch();
    let mut store_failing = replicator.store_failing_watch();
    let mut active: Option<ActiveLink> = None;
    let mut parameters_seen = replicator.parameters_generation();
    let mut directory_seen = replicator.directory_generation();
    let mut routing = false;
    let mut longest_stall_ms = 0;
    let mut steps = super::steps::Steps::default();
    let mut statistics_log = match super::statistics_log::StatisticsLog::start(
        node.clone(),
        replicator.interval_records().next().map_or(0, |r| r.end_ms),
    ) {
        Ok(log) => Some(log),
        Err(e) => {
            node.events.log_event(
                duet_switchover::Level::Error,
                format!("The statistics CSV log cannot start ({e}); the backup keeps no log data"),
            );
            None
        }
    };
    let Receivers {
        mut control,
        work: mut inbox,
    } = receivers;
    loop {
        let mut to_active = Vec::new();
        let mut first = None;
        tokio::select! {
            msg = control.recv() => first = Some(msg),
            msg = inbox.recv() => first = Some(msg),
            // The router has more to do: come back at once, after the inbox.
            _ = std::future::ready(()), if routing => {}
            Ok(()) = durable.changed() => {
                let ticket = *durable.borrow_and_update();
                to_active = steps.time(&node, "durable", || replicator.handle(&node, Input::Durable(ticket)));
            }
            // It commits again: the next durable ticket says so.
            Ok(()) = store_failing.changed() => {
                if let Some(error) = store_failing.borrow_and_update().clone() {
                    to_active = replicator.handle(&node, Input::StoreFailing { error });
                }
            }
            due = lease_ticks.tick() => {
                // How late the tick came is how long the task was busy
                // with something else: its stall.
                let stall_ms = due.elapsed().as_millis() as u64;
                node.metrics.replication_stall_seconds.observe(stall_ms as f64 / 1000.0);
                if stall_ms > longest_stall_ms {
                    longest_stall_ms = stall_ms;
                    node.metrics.replication_longest_stall_ms.set(stall_ms as i64);
                }
                to_active = steps.time(&node, "release held", || {
                    replicator.handle(&node, Input::ReleaseHeld)
                });
            }
            // When the replica asked for time to pass (nothing waits for
            // it: an input comes first).
            () = sleep_until_mono(&node.view, replicator.next_deadline()) => {
                to_active = steps.time(&node, "tick", || replicator.handle(&node, Input::Tick));
            }
        }
        if let Some(mut next) = first {
            // What queued up is handled in one go (bounded), the driver's
            // messages first, and the router decides once after it.
            let mut handled = 0;
            loop {
                // Dropping the replicator commits what is queued and joins
                // the store writer.
                let Some(msg) = next else {
                    drop(replicator);
                    return;
                };
                let taken = take(
                    msg,
                    &mut replicator,
                    &node,
                    &mut active,
                    &mut settings,
                    &mut steps,
                );
                let Some(out) = taken else {
                    drop(replicator);
                    return;
                };
                to_active.extend(out);
                handled += 1;
                if handled >= BATCH_MAX {
                    break;
                }
                match control.try_recv().or_else(|_| inbox.try_recv()) {
                    Ok(msg) => next = Some(msg),
                    Err(_) => break,
                }
            }
        }
        to_active.extend(steps.time(&node, "routing", || replicator.handle(&node, Input::Route)));
        routing = replicator.routing_wanted();
        replicator.relay_due(&node);
        if let Some(log) = &mut statistics_log {
            log.note(
                &node,
                replicator.interval_records(),
                node.view.serving(),
                settings.statistics_log_on_backup,
            );
        }
        if let Some(tx) = &active {
            for message in to_active {
                // A full outbox drops it; the stream's own checks recover.
                tx.send(node.view.envelope(message));
            }
        }
        let generation = replicator.parameters_generation();
        if generation != parameters_seen {
            parameters_seen = generation;
            parameters.send_replace(replicator.server_parameters());
        }
        if replicator.directory_generation() != directory_seen {
            directory_seen = replicator.directory_generation();
            if let Ok(mut queues) = node.mail_queues.write() {
                *queues = replicator.mail_queues();
            }
        }
        node.metrics
            .replication_lag_changes
            .set(replicator.lag_changes() as i64);
        let view = ReplicationView {
            longest_stall_ms,
            ..replicator.view()
        };
        node.view.publish_replication(|current| {
            let changed = *current != view;
            *current = view;
            changed
        });
    }
}

/// Carries out one message; what goes to the active node, or `None` when
/// the task is to stop.
fn take(
    msg: ReplicationMsg,
    replicator: &mut Replicator,
    node: &Handles,
    active: &mut Option<ActiveLink>,
    settings: &mut Settings,
    steps: &mut super::steps::Steps,
) -> Option<Vec<StreamToActive>> {
    Some(match msg {
        ReplicationMsg::Stop => return None,
        ReplicationMsg::ActiveLinkUp(tx) => {
            *active = Some(tx);
            replicator.handle(node, Input::ActiveLinkUp)
        }
        ReplicationMsg::ActiveLinkDown => {
            *active = None;
            Vec::new()
        }
        ReplicationMsg::Settings(new) => {
            let out = replicator.handle(node, Input::Settings(new.replica.clone()));
            *settings = new;
            out
        }
        msg => {
            let kind = msg.kind();
            steps.time(node, kind, || replicator.on_message(node, msg))
        }
    })
}

impl ReplicationMsg {
    /// The driver's: role changes, settings, the main link, stopping.
    fn is_control(&self) -> bool {
        matches!(
            self,
            ReplicationMsg::BecomeActive { .. }
                | ReplicationMsg::StopServing
                | ReplicationMsg::Settings(_)
                | ReplicationMsg::ActiveLinkUp(_)
                | ReplicationMsg::ActiveLinkDown
                | ReplicationMsg::Stop
        )
    }

    /// What the message is, for timing the task's steps.
    fn kind(&self) -> &'static str {
        match self {
            ReplicationMsg::BecomeActive { .. } => "become active",
            ReplicationMsg::StopServing => "stop serving",
            ReplicationMsg::Settings(_) => "settings",
            ReplicationMsg::ActiveLinkUp(_) => "active link up",
            ReplicationMsg::ActiveLinkDown => "active link down",
            ReplicationMsg::FromActive(message) => message.kind(),
            ReplicationMsg::FromBackup(message) => match message {
                FromBackup::Hello { .. } => "backup hello",
                FromBackup::Ack(_) => "backup ack",
                FromBackup::SnapshotRequest { .. } => "snapshot request",
                FromBackup::SyncRequest { .. } => "sync request",
                FromBackup::HealReplay { .. } => "heal replay",
                FromBackup::HealInteractions { .. } => "heal interactions",
                FromBackup::Gone(_) => "backup gone",
            },
            ReplicationMsg::SnapshotEncoded { .. } => "snapshot encoded",
            ReplicationMsg::ConfigWrite { .. } => "config write",
            ReplicationMsg::ConfigRead { .. } => "config read",
            ReplicationMsg::ConfigConflicts(_) => "config conflicts",
            ReplicationMsg::Interactions(_) => "interactions",
            ReplicationMsg::Stop => "stop",
        }
    }
}

impl Replicator {
    /// Carries out one message; returns what goes to the active node.
    fn on_message(&mut self, node: &Handles, msg: ReplicationMsg) -> Vec<StreamToActive> {
        let input = match msg {
            ReplicationMsg::BecomeActive { epoch } => {
                let desktops_here = node
                    .presences
                    .lock()
                    .map(|present| {
                        present
                            .iter()
                            .filter_map(|(who, here)| match who {
                                Present::Desktop(agent) if here.open > 0 => Some(agent.clone()),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Input::BecomeActive {
                    epoch,
                    desktops_here,
                }
            }
            ReplicationMsg::StopServing => Input::StopServing,
            ReplicationMsg::FromActive(message) => Input::FromActive(message),
            ReplicationMsg::FromBackup(message) => Input::FromBackup(message),
            ReplicationMsg::ConfigWrite {
                client,
                who,
                op,
                reply,
            } => Input::ConfigWrite {
                client,
                who,
                op,
                reply,
            },
            ReplicationMsg::SnapshotEncoded { at, chunks } => Input::SnapshotEncoded { at, chunks },
            ReplicationMsg::ConfigRead { path, reply } => {
                let tree = self.tree();
                reply.answer(ConfigView {
                    path: path.to_string(),
                    object: tree.get(&path).cloned(),
                    children: tree.children(&path),
                    history: self.history(&path),
                });
                return Vec::new();
            }
            ReplicationMsg::ConfigConflicts(reply) => {
                reply.answer(self.core.conflicts());
                return Vec::new();
            }
            ReplicationMsg::Interactions(request) => {
                return self.interaction_request(node, request);
            }
            ReplicationMsg::Settings(_)
            | ReplicationMsg::ActiveLinkUp(_)
            | ReplicationMsg::ActiveLinkDown
            | ReplicationMsg::Stop => return Vec::new(),
        };
        self.handle(node, input)
    }

    /// On the active node, the changes the backup has not acknowledged.
    pub fn lag_changes(&self) -> u64 {
        self.core.lag_changes()
    }

    /// The statistics interval records, newest first.
    pub fn interval_records(
        &self,
    ) -> impl Iterator<Item = &duet_interactions::state::IntervalRecord> {
        self.core
            .interactions()
            .state
            .reporting()
            .intervals
            .iter()
            .rev()
    }

    /// When the replica next wants a tick, on the node's monotonic clock.
    fn next_deadline(&self) -> Option<u64> {
        self.core.next_deadline()
    }

    /// The router has more to decide now.
    fn routing_wanted(&self) -> bool {
        self.core.routing_wanted()
    }

    /// What the status shows.
    pub fn view(&self) -> ReplicationView {
        let state = &self.core.interactions().state;
        ReplicationView {
            state: self.core.replication(),
            applied: self.core.position(),
            history_id: self.core.history_id(),
            config_digest: self.tree().digests().get(duet_config::digest::Bucket::ROOT),
            writes_held: self.core.held(),
            conflicts: self.tree().conflict_count(),
            interaction_conflicts: state.conflicts().count(),
            longest_stall_ms: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drivers_messages_are_taken_when_the_work_inbox_is_full() {
        let (inboxes, mut receivers) = inboxes();
        let gone = || ReplicationMsg::FromBackup(FromBackup::Gone(1));
        for _ in 0..INBOX_MAX {
            inboxes.send(gone()).unwrap();
        }
        assert!(inboxes.send(gone()).is_err(), "the work inbox is bounded");
        inboxes.send(ReplicationMsg::StopServing).unwrap();
        inboxes
            .send(ReplicationMsg::BecomeActive { epoch: 3 })
            .unwrap();
        // The task takes them first, whatever waits in the work inbox.
        assert!(matches!(
            receivers.control.try_recv(),
            Ok(ReplicationMsg::StopServing)
        ));
        assert!(matches!(
            receivers.control.try_recv(),
            Ok(ReplicationMsg::BecomeActive { epoch: 3 })
        ));
        assert!(receivers.work.try_recv().is_ok());
    }
}

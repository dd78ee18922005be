//! Replication at run time: the replica core ([`duet_replica::Replica`],
//! sans-IO: the replicated states, the stream, catch-up, resync, heal,
//! takeover, routing) driven by a task of its own ([`run`]), which feeds
//! it inputs (the driver's role changes, the link's stream messages, the
//! API's writes, the store's durable tickets, ticks) and carries out its
//! outputs: store writes on the writer's thread, messages on the link,
//! answers to the API, event-log records, metrics, the live feed.

use crate::answer::Answer as _;
use std::sync::Arc;

use duet_config::{HistoryRecord, Object, Tree, TreePath};
use duet_interactions::Command;
use duet_link::protocol::{StreamToActive, StreamToBackup, ToActive, ToBackup};
use duet_replica::persist::StoredCopy;
use duet_replica::{Input, NodeFacts, Output, Replica};
use duet_stream::Entry;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{broadcast, oneshot};

use crate::driver_inbox::DriverMsg;
use crate::store::Store;
use crate::store_writer::StoreWriter;
use crate::wire::Outbox;

/// A connection from the backup, as the active node answers on it.
pub type BackupLink = Outbox<ToBackup>;
/// The backup's main connection to the active node.
pub type ActiveLink = Outbox<ToActive>;

mod outbox;
mod requests;
pub mod statistics_log;
mod steps;
mod task;
#[cfg(test)]
mod tests;

pub use duet_replica::{CONVERSATION, SERVER_PARAMETERS, WriteError};

/// The API requests waiting for this task's answer: at most `[limits]
/// answers_waiting_max` at once (sized on first use).
#[derive(Default)]
pub struct Waiting(std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>>);

impl Waiting {
    /// A place among them (at most `max` at once); `None` when all are
    /// taken.
    pub fn try_enter(&self, max: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let places = self
            .0
            .get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(max)));
        places.clone().try_acquire_owned().ok()
    }
}
pub use requests::{Census, Follow, IxRequest};
pub use task::{
    FromBackup, Handles, InboxFull, Inboxes, MailQueues, Presences, Present, Receivers,
    ReplicationMsg, ReplicationView, Settings, SocketsHere, inboxes, run,
};

/// A client's write waiting for its acknowledgement: the sequence number,
/// or why it was refused.
pub type WriteReply = oneshot::Sender<Result<u64, WriteError>>;

/// Applied interaction changes a slow WebSocket may fall behind by before
/// it is told to resume from the state.
pub const FEED_MAX: usize = 65_536;

/// The replica and what carries out its outputs.
pub struct Replicator {
    core: Replica<BackupLink, WriteReply>,
    writer: StoreWriter,
    /// The committed interaction changes, to the sockets following them.
    live: broadcast::Sender<Arc<Entry<Command>>>,
    /// The outbox's sends under way (`outbox::Sends`).
    sends: outbox::Sends,
}

impl Replicator {
    /// Replication over `store`, from `tree` as stored; the store writer
    /// reports its commit times to `commit_seconds`.
    pub fn new(
        store: Store,
        tree: Tree,
        commit_seconds: Histogram,
        facts: NodeFacts,
        settings: duet_replica::Settings,
    ) -> Replicator {
        let directory = duet_replica::directory::from_tree(&tree);
        let loaded = store
            .load_interactions(directory.clone())
            .unwrap_or_else(|e| {
                // Its position is then the start: the active node sends
                // or resynchronises what it lacks.
                tracing::error!(
                    "the interaction state cannot be loaded ({e}); it is taken again from the active node"
                );
                crate::store::LoadedInteractions {
                    state: duet_interactions::Interactions::new(
                        directory,
                        duet_interactions::DEFAULT_LIMITS,
                    ),
                    logged: Vec::new(),
                    from: 0,
                }
            });
        let copy = StoredCopy {
            filtered: store.filtered().unwrap_or(false),
            history: store.history_id().unwrap_or_else(|e| {
                // Safe: another history's heal offers every change it keeps.
                let history = rand::random();
                tracing::error!(
                    "the store's history id cannot be read ({e}); this node takes {history:x} until it is a copy of the active node's"
                );
                history
            }),
        };
        let mut core = Replica::new(facts, settings, tree, loaded, copy);
        let outputs = core.take_outputs();
        let mut replicator = Replicator {
            core,
            writer: StoreWriter::start(Arc::new(store), commit_seconds),
            live: broadcast::channel(FEED_MAX).0,
            sends: outbox::Sends::default(),
        };
        // A start only stores (history a resync left past the position).
        replicator.store_only(outputs);
        replicator
    }

    /// Carries out outputs that only store.
    fn store_only(&mut self, outputs: Vec<Output<BackupLink, WriteReply>>) {
        for output in outputs {
            match output {
                Output::Persist(write) => {
                    self.writer.write(write);
                }
                _ => tracing::error!("the replica asked for more than store writes"),
            }
        }
    }

    /// A tick at `ctx` that only stores (a node that is not serving and
    /// not resynchronising): for tests of what the store keeps.
    #[cfg(test)]
    pub(crate) fn quiet_tick(&mut self, ctx: &duet_replica::Context) {
        let outputs = self.core.handle(ctx, Input::Tick);
        self.store_only(outputs);
    }

    /// Takes `settings`: for tests.
    #[cfg(test)]
    pub(crate) fn set(&mut self, settings: duet_replica::Settings) {
        let outputs = self
            .core
            .handle(&duet_replica::Context::default(), Input::Settings(settings));
        self.store_only(outputs);
    }

    /// Hands the replica one input at this moment and carries out what it
    /// decides.
    fn handle(
        &mut self,
        node: &Handles,
        input: Input<BackupLink, WriteReply>,
    ) -> Vec<StreamToActive> {
        let ctx = context(node);
        let outputs = self.core.handle(&ctx, input);
        self.carry_out(node, outputs)
    }

    /// Carries out the replica's outputs in order; returns the messages for
    /// the active node (the backup's main link, which the task holds).
    fn carry_out(
        &mut self,
        node: &Handles,
        outputs: Vec<Output<BackupLink, WriteReply>>,
    ) -> Vec<StreamToActive> {
        let mut to_active = Vec::new();
        for output in outputs {
            match output {
                Output::Persist(write) => {
                    self.writer.write(write);
                }
                Output::Send { to, message } => match message {
                    // Waits for room: the backup's heal waits for it.
                    StreamToBackup::HealReplayed { .. } => {
                        let envelope = node.view.envelope(message);
                        tokio::spawn(async move { to.send_waiting(envelope).await });
                    }
                    // A full outbox drops it; the stream's own checks recover.
                    message => to.send(node.view.envelope(message)),
                },
                Output::ToActive(message) => to_active.push(message),
                Output::Answer { to, result } => to.answer(result),
                Output::Event(event) => node.events.log_event(event.level(), event.to_string()),
                Output::Metric(metric) => node.metrics.replica(metric),
                Output::Synchronised => node.driver.send(DriverMsg::Synchronised),
                Output::EncodeSnapshot { at, items } => {
                    let inbox = node.replication.clone();
                    tokio::task::spawn_blocking(move || {
                        let chunks = Arc::new(duet_replica::snapshot::encode(items));
                        if inbox
                            .blocking_send(ReplicationMsg::SnapshotEncoded { at, chunks })
                            .is_err()
                        {
                            tracing::info!(
                                "the snapshot at {at} is encoded, but replication has stopped"
                            );
                        }
                    });
                }
                Output::Publish(entry) => {
                    // No receiver is no error: nobody is watching, and the
                    // replica keeps the entry for a resume.
                    if self.live.send(entry).is_err() {
                        tracing::trace!("no live follower of the feed");
                    }
                }
                Output::FeedReset => self.live = broadcast::channel(FEED_MAX).0,
            }
        }
        to_active
    }

    /// The driver's wake-up when the store made more durable.
    pub fn durable_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.writer.watch()
    }

    pub fn store_failing_watch(&self) -> tokio::sync::watch::Receiver<Option<String>> {
        self.writer.failing_watch()
    }

    pub fn tree(&self) -> &Tree {
        self.core.tree()
    }

    /// Rises whenever the server parameters in the tree may have changed.
    pub fn parameters_generation(&self) -> u64 {
        self.core.parameters_generation()
    }

    /// The server parameters held in the tree.
    pub fn server_parameters(&self) -> Vec<(String, String)> {
        duet_replica::server_parameters(self.core.tree())
    }

    /// Reads for the API.
    pub fn get(&self, path: &TreePath) -> Option<Object> {
        self.core.get(path)
    }

    pub fn history(&self, path: &TreePath) -> Vec<HistoryRecord> {
        self.core.history(path)
    }

    /// Email addresses and their queues, for the intake.
    pub fn mail_queues(&self) -> std::collections::BTreeMap<String, String> {
        self.core.mail_queues()
    }

    /// Rises whenever the interaction state takes a new directory.
    pub fn directory_generation(&self) -> u64 {
        self.core.directory_generation()
    }
}

/// The runtime's facts for an input: its clocks and the right to serve.
fn context(node: &Handles) -> duet_replica::Context {
    let status = node.view.published();
    let active_elsewhere = (status.peer.role == Some(duet_link::protocol::Role::Active))
        .then(|| status.peer.name.clone());
    drop(status);
    duet_replica::Context {
        mono_ms: node.view.right().now_ms(),
        unix_ms: crate::events::unix_ms(),
        serving: node.view.serving(),
        active_elsewhere,
    }
}

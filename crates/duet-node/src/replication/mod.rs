//! Replication of the configuration tree over the link, owned by the
//! driver: on the active node a stream [`Leader`] persists each change and
//! sends it to the backup, acknowledging the client once the backup has it
//! (while in sync); on the backup a [`Follower`] applies the stream, and a
//! [`Resync`] by digests brings it up to date when it was away too long.
//! A backup that served on its own meanwhile first has its own changes made
//! on the active node ([`duet_config::heal`]), so the resync drops nothing
//! that was acknowledged.

use crate::answer::Answer as _;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use duet_config::scope::Scope;
use duet_config::sync::{DECOMPRESSED_MAX_BYTES, Installed};
use duet_config::{HistoryRecord, Object, Tree, TreePath};
use duet_link::Change;
use duet_link::protocol::{MAX_FRAME_BYTES, Stream};
use duet_rsm::Position;
use duet_stream::{ClientId, Entry, Follower, Leader, Replication};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::oneshot;

use crate::shared::Shared;
use crate::store::{Store, StoreWrite};
use crate::store_writer::StoreWriter;

mod feed;
mod follower;
mod interactions;
mod leader;
mod outbox;
mod snapshot;
pub mod statistics_log;
mod steps;
mod task;

pub use interactions::{AgentView, CONVERSATION, Census, Follow, IxRequest, QueueView, ShadowView};
pub use task::{FromBackup, INBOX_MAX, ReplicationMsg, ReplicationView, Settings, run};

use follower::{HealRun, ResyncRun};
use interactions::InteractionsPart;
use leader::Held;
use snapshot::SnapshotRun;

// A compressed sync message may expand to what a frame could have carried.
const _: () = assert!(DECOMPRESSED_MAX_BYTES <= MAX_FRAME_BYTES);

/// Where server parameters live in the tree.
pub const SERVER_PARAMETERS: &str = "/config/Server Parameters";

/// Why a client's write was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The change itself is wrong (bad path, class, value, nothing to remove).
    #[error(transparent)]
    Rejected(#[from] duet_config::TreeError),
    /// The object does not describe a valid agent, queue or setting.
    #[error("{0}")]
    Invalid(String),
    /// An interaction change that cannot be made now (unknown queue,
    /// accepting what was not offered, a closed chat...).
    #[error(transparent)]
    Interaction(#[from] duet_interactions::Error),
    /// Not here, or not now: retry it with the same client id, on `active`
    /// when it is known.
    #[error("{message}")]
    Unavailable {
        message: String,
        active: Option<String>,
    },
}

/// A client's write waiting for its acknowledgement: the sequence number,
/// or why it was refused.
pub type WriteReply = oneshot::Sender<Result<u64, WriteError>>;

/// Drops the history records past the last change applied (and says what
/// to store): a resync that
/// did not finish stores them ahead of its position. They are not this
/// node's yet (the resync or the stream brings them again), and a new
/// active must not answer a retry from a client id among them.
fn history_past_position(tree: &mut Tree) -> Option<Installed> {
    let position = tree.last_applied();
    let forgotten = tree.forget_history(position.seq.saturating_add(1), u64::MAX);
    (!forgotten.is_empty()).then(|| Installed {
        forgotten,
        ..Installed::default()
    })
}

/// The backup's ways of catching up beyond the stream.
#[derive(Default)]
struct Resynchronising {
    resync: Option<ResyncRun>,
    heal: Option<HealRun>,
    /// The interaction state's snapshot being fetched, after the
    /// configuration's resync.
    snapshot: Option<SnapshotRun>,
    /// The id of the last resynchronisation request sent.
    last_request_id: u64,
    /// The resynchronisation under way keeps everything.
    scope_full: bool,
}

/// Where the stream stands for this node: the least position of its
/// states (after a restart or a resync that did not finish, one may be
/// behind; each passes over what it already has).
fn min_position(tree: &Tree, ix: &duet_interactions::Interactions) -> Position {
    use duet_rsm::StateMachine;
    let (a, b) = (tree.last_applied(), ix.position());
    if a.seq <= b.seq { a } else { b }
}

/// The last change any of the states applied.
fn max_position(tree: &Tree, ix: &duet_interactions::Interactions) -> Position {
    use duet_rsm::StateMachine;
    let (a, b) = (tree.last_applied(), ix.position());
    if a.seq >= b.seq { a } else { b }
}

/// Why a change from the stream could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Config(#[from] duet_config::TreeError),
    #[error(transparent)]
    Interactions(#[from] duet_interactions::Error),
}

/// A client's write waiting for its acknowledgement.
struct PendingWrite {
    /// Everyone waiting for it: the first write, and a retry with the same
    /// client id made while it was under way (a client, or a heal).
    replies: Vec<WriteReply>,
    /// On the node's monotonic clock, for the acknowledgement's latency.
    since_ms: u64,
    /// Which state it changes (a metrics label).
    state: &'static str,
}

impl PendingWrite {
    /// Tells everyone waiting.
    fn answer(self, result: impl Fn() -> Result<u64, WriteError>) {
        for reply in self.replies {
            reply.answer(result());
        }
    }
}

/// What waits for the store to make a write durable.
enum AfterDurable {
    /// The leader's change `seq` is persisted.
    Persisted(u64),
    /// A message to the active node that says what this node holds.
    Reply(Box<Stream>),
}

pub struct Replicator {
    tree: Tree,
    writer: StoreWriter,
    /// In ticket order.
    waiting: VecDeque<(u64, AfterDurable)>,
    leader: Option<Leader<Change>>,
    follower: Follower,
    /// On the active node: the backup's main connection and its number.
    backup: Option<(u64, crate::link::Outbox)>,
    pending: BTreeMap<ClientId, PendingWrite>,
    held: Vec<Held>,
    /// The backup's resynchronisation, heal and snapshot fetch.
    sync: Resynchronising,
    state: Replication,
    /// What this node keeps when backup (less in an Upgrade state).
    scope: Scope,
    /// This node's copy was filtered by an Upgrade state and not yet made
    /// whole (stored, so it survives a restart).
    filtered: bool,
    /// The interaction state and what goes with it.
    ix: InteractionsPart,
    /// Counts the changes that may have touched a server parameter (one
    /// under their folder, or a resync), so the engine re-reads them only
    /// then, not at every change.
    parameters_generation: u64,
}

impl Replicator {
    /// Replication over `store`, from `tree` as stored; the store writer
    /// reports its commit times to `commit_seconds`.
    pub fn new(store: Store, mut tree: Tree, commit_seconds: Histogram) -> Replicator {
        if let Some(installed) = history_past_position(&mut tree)
            && let Err(e) = store.resynchronised(&installed, tree.last_applied())
        {
            tracing::error!("history past the stored position is not dropped: {e}");
        }
        let directory = crate::directory::from_tree(&tree);
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
        let ix = InteractionsPart::new(loaded);
        let filtered = store.filtered().unwrap_or(false);
        let follower = Follower::new(min_position(&tree, &ix.state));
        Replicator {
            tree,
            writer: StoreWriter::start(Arc::new(store), commit_seconds),
            waiting: VecDeque::new(),
            leader: None,
            follower,
            backup: None,
            pending: BTreeMap::new(),
            held: Vec::new(),
            sync: Resynchronising::default(),
            state: Replication::Alone,
            scope: Scope::Full,
            filtered,
            ix,
            parameters_generation: 0,
        }
    }

    pub fn set_scope(&mut self, scope: Scope) {
        self.scope = scope;
    }

    fn mark_filtered(&mut self) {
        if !self.filtered {
            self.filtered = true;
            self.writer.write(StoreWrite::Filtered(true));
        }
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The stream position this node holds every change up to.
    pub fn position(&self) -> Position {
        min_position(&self.tree, &self.ix.state)
    }

    /// The last change this node applied, of any state.
    pub fn last_position(&self) -> Position {
        max_position(&self.tree, &self.ix.state)
    }

    /// The client ids of the last changes of every state, newest first.
    fn recent_clients(&self, n: usize) -> Vec<(ClientId, u64)> {
        use duet_rsm::StateMachine;
        let mut clients = self.tree.recent_clients(n);
        clients.extend(StateMachine::recent_clients(&self.ix.state, n));
        clients.sort_by_key(|c| std::cmp::Reverse(c.1));
        clients.truncate(n);
        clients
    }

    /// The epoch of change `seq`, whichever state made it.
    fn epoch_of(&self, seq: u64) -> Option<u64> {
        use duet_rsm::StateMachine;
        self.tree
            .epoch_of(seq)
            .or_else(|| self.ix.state.epoch_of(seq))
    }

    /// Applies a change from the stream to the state it belongs to; the
    /// other states pass over its position. A state already past it (after
    /// a restart) passes over it too. `scope` filters the configuration on
    /// a backup in an Upgrade state. On the active node the change was
    /// checked when it was written.
    fn apply_entry(
        &mut self,
        shared: &Shared,
        entry: Entry<Change>,
        scope: &Scope,
    ) -> Result<(), ApplyError> {
        use duet_rsm::StateMachine;
        let at = Position::new(entry.epoch, entry.seq);
        match entry.change {
            Change::Config(edit) => {
                if at.seq > self.tree.last_applied().seq {
                    self.apply_config(edit.into_change(at.epoch, at.seq), scope)?;
                }
                self.ix.state.pass(at);
                self.writer.write(StoreWrite::InteractionPassed(at));
                self.ix
                    .refresh_directory(&self.tree, &mut self.writer, false);
            }
            Change::Interactions(command) => {
                if at.seq > self.ix.state.position().seq {
                    let entry = Entry {
                        epoch: at.epoch,
                        seq: at.seq,
                        change: command,
                    };
                    self.ix.apply(&mut self.writer, &shared.metrics, entry)?;
                }
                self.tree.skip(at.epoch, at.seq);
                self.writer.write(StoreWrite::TreePassed(at));
            }
        }
        Ok(())
    }

    /// A configuration change at its position, within `scope`.
    fn apply_config(
        &mut self,
        mut change: duet_config::Change,
        scope: &Scope,
    ) -> Result<(), ApplyError> {
        use duet_config::Op;
        use duet_config::scope::Admit;
        let object = match &change.op {
            Op::Put { object, .. } => Some(object),
            // A conflict record changes no entry: kept or passed over by
            // its path alone.
            Op::Remove { .. } | Op::Conflict { .. } => None,
        };
        match scope.admit(change.op.path(), object) {
            Admit::Skip => {
                self.tree.skip(change.epoch, change.seq);
                self.store_installed(Installed::default());
                return Ok(());
            }
            Admit::Keep(Some(kept)) => {
                if let Op::Put { path, .. } = &change.op {
                    change.op = Op::Put {
                        path: path.clone(),
                        object: kept,
                    };
                }
            }
            Admit::Keep(None) => {}
        }
        let record = self.tree.apply_replicated(&change)?;
        self.config_changed(&record.path);
        self.writer.write(StoreWrite::Applied(record));
        Ok(())
    }

    pub fn state(&self) -> Replication {
        self.state
    }

    /// The conflict records, oldest first.
    pub fn conflicts(&self) -> Vec<HistoryRecord> {
        self.tree.conflicts().cloned().collect()
    }

    /// Keeps the history within `retention` records: once it holds a
    /// tenth more, the oldest are dropped (in memory and, in the order of
    /// the writes before, in the store), so memory and start-up follow the
    /// retention, not the age of the pair.
    pub fn compact_history(&mut self, retention: usize) {
        if self.tree.history_len() <= retention + retention / 10 {
            return;
        }
        let forgotten = self.tree.compact_history(retention);
        if !forgotten.is_empty() {
            self.store_installed(Installed {
                forgotten,
                ..Installed::default()
            });
        }
    }

    /// Time passed (on the node's monotonic clock); the interaction
    /// rows changed since the last tick are stored, so a start replays a
    /// short log.
    pub fn tick(&mut self, shared: &Shared, now_ms: u64) {
        self.ix.store_rows(&mut self.writer);
        if let Some(leader) = self.leader.as_mut() {
            let commands = leader.tick(now_ms);
            self.lead(shared, commands);
        }
    }

    // --- The backup's side ---------------------------------------------------

    fn after_durable(&mut self, what: AfterDurable) {
        self.waiting.push_back((self.writer.last_ticket(), what));
    }

    /// The driver's wake-up when the store made more durable.
    pub fn durable_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.writer.watch()
    }

    /// Carries out what waited for writes now durable; returns the
    /// messages for the active node.
    pub fn durable_now(&mut self, shared: &Shared) -> Vec<Stream> {
        let durable = self.writer.durable();
        let mut replies = Vec::new();
        while self.waiting.front().is_some_and(|(t, _)| *t <= durable) {
            let Some((_, what)) = self.waiting.pop_front() else {
                break;
            };
            match what {
                AfterDurable::Persisted(seq) => {
                    if let Some(leader) = self.leader.as_mut() {
                        let commands = leader.persisted(seq);
                        self.lead(shared, commands);
                    }
                }
                AfterDurable::Reply(body) => {
                    // The backup: what it acknowledges is durable here and
                    // is kept whichever node serves next: committed.
                    if let Stream::Ack { seq } = *body {
                        self.ix.feed.commit(seq);
                    }
                    replies.push(*body)
                }
            }
        }
        replies
    }

    /// Stores what a resync answer installed; `false` (logged) when it
    /// could not be stored.
    /// Queues what a resync page installed, at the tree's position.
    fn store_installed(&mut self, installed: Installed) {
        if !installed.entries.is_empty() {
            self.parameters_generation += 1;
        }
        let last = self.tree.last_applied();
        self.writer
            .write(StoreWrite::Resynchronised { installed, last });
    }

    /// Rises whenever the server parameters in the tree may have changed.
    pub fn parameters_generation(&self) -> u64 {
        self.parameters_generation
    }

    /// A change was applied at `path`: the parameters may have changed.
    fn config_changed(&mut self, path: &TreePath) {
        self.ix.config_changed(path);
        if TreePath::parse(SERVER_PARAMETERS).is_ok_and(|folder| path.starts_with(&folder)) {
            self.parameters_generation += 1;
        }
    }

    /// The server parameters held in the tree (`/config/Server Parameters`),
    /// as `(name, value)`.
    pub fn server_parameters(&self) -> Vec<(String, String)> {
        let Ok(folder) = TreePath::parse(SERVER_PARAMETERS) else {
            return Vec::new();
        };
        self.tree
            .children(&folder)
            .into_iter()
            .filter_map(|(name, _)| {
                let object = self.tree.get(&folder.join(&name).ok()?)?;
                (object.class == duet_config::Class::ServerParameter)
                    .then(|| Some((name, object.attributes.get("value")?.clone())))
                    .flatten()
            })
            .collect()
    }

    /// Reads for the API.
    pub fn get(&self, path: &TreePath) -> Option<Object> {
        self.tree.get(path).cloned()
    }

    pub fn history(&self, path: &TreePath) -> Vec<HistoryRecord> {
        self.tree.history(path).into_iter().cloned().collect()
    }
}

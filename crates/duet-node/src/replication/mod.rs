//! Replication of the configuration tree over the link, owned by the
//! driver: on the active node a stream [`Leader`] persists each change and
//! sends it to the backup, acknowledging the client once the backup has it
//! (while in sync); on the backup a [`Follower`] applies the stream, and a
//! [`Resync`] by digests brings it up to date when it was away too long.
//! A backup that served on its own meanwhile first has its own changes made
//! on the active node ([`duet_config::heal`]), so the resync drops nothing
//! that was acknowledged.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use duet_config::scope::Scope;
use duet_config::sync::{DECOMPRESSED_MAX_BYTES, Installed};
use duet_config::{HistoryRecord, Object, Tree, TreePath};
use duet_link::Change;
use duet_link::protocol::{Envelope, MAX_FRAME_BYTES, Stream};
use duet_stream::{ClientId, Follower, Leader, Replication};
use tokio::sync::{mpsc, oneshot};

use crate::shared::Shared;
use crate::store::{Store, StoreWrite};
use crate::store_writer::StoreWriter;

mod follower;
mod leader;
mod task;

pub use task::{FromBackup, INBOX_MAX, ReplicationMsg, ReplicationView, Settings, run};

use follower::{HealRun, ResyncRun};
use leader::Held;

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
    let forgotten = tree.forget_history(position.1.saturating_add(1), u64::MAX);
    (!forgotten.is_empty()).then(|| Installed {
        forgotten,
        ..Installed::default()
    })
}

/// What waits for the store to make a write durable.
enum AfterDurable {
    /// The leader's change `seq` is persisted.
    Persisted(u64),
    /// A message to the active node that says what this node holds.
    Reply(Stream),
}

pub struct Replicator {
    tree: Tree,
    writer: StoreWriter,
    /// In ticket order.
    waiting: VecDeque<(u64, AfterDurable)>,
    leader: Option<Leader<Change>>,
    follower: Follower,
    /// On the active node: the backup's main connection and its number.
    backup: Option<(u64, mpsc::Sender<Envelope>)>,
    pending: BTreeMap<ClientId, WriteReply>,
    held: Vec<Held>,
    resync: Option<ResyncRun>,
    heal: Option<HealRun>,
    /// The id of the last resynchronisation request sent.
    last_request_id: u64,
    state: Replication,
    /// What this node keeps when backup (less in an Upgrade state).
    scope: Scope,
    /// This node's copy was filtered by an Upgrade state and not yet made
    /// whole (stored, so it survives a restart).
    filtered: bool,
    /// The resynchronisation under way keeps everything.
    resync_scope_full: bool,
    /// Counts the changes that may have touched a server parameter (one
    /// under their folder, or a resync), so the engine re-reads them only
    /// then, not at every change.
    parameters_generation: u64,
}

impl Replicator {
    pub fn new(store: Store, mut tree: Tree) -> Replicator {
        if let Some(installed) = history_past_position(&mut tree)
            && let Err(e) = store.resynchronised(&installed, tree.last_applied())
        {
            tracing::error!("history past the stored position is not dropped: {e}");
        }
        let follower = Follower::new(tree.last_applied());
        let filtered = store.filtered().unwrap_or(false);
        Replicator {
            tree,
            writer: StoreWriter::start(Arc::new(store)),
            waiting: VecDeque::new(),
            leader: None,
            follower,
            backup: None,
            pending: BTreeMap::new(),
            held: Vec::new(),
            resync: None,
            heal: None,
            last_request_id: 0,
            state: Replication::Alone,
            scope: Scope::Full,
            filtered,
            resync_scope_full: false,
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

    /// Time passed (on the node's monotonic clock).
    pub fn tick(&mut self, shared: &Shared, now_ms: u64) {
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
                AfterDurable::Reply(body) => replies.push(body),
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

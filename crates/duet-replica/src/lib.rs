//! The replica core: what a duet node decides about its replicated
//! states (the configuration tree and the interaction state), as a
//! sans-IO state machine. [`Replica::handle`] takes an [`Input`] (a
//! client's write, a store ticket made durable, a message from the other
//! node, becoming active or stopping, a tick) with the runtime's
//! [`Context`] (its clocks, the right to serve) and returns the
//! [`Output`]s to carry out in order (persist, send, answer, log,
//! publish). It reads no clock, opens nothing and spawns nothing, so a
//! simulation can run a whole pair from a seed.
//!
//! On the active node a stream [`Leader`] persists each change and sends
//! it to the backup, acknowledging the client once the backup has it
//! (while in sync); on the backup a [`Follower`] applies the stream, and
//! a [`duet_config::sync::Resync`] by digests (then the interaction snapshot) brings it up
//! to date when it was away too long. A backup that served on its own
//! meanwhile first has its own changes made on the active node
//! ([`duet_config::heal`], [`duet_interactions::heal`]), so the resync
//! drops nothing that was acknowledged.

use std::collections::{BTreeMap, VecDeque};

use duet_config::Tree;
use duet_config::scope::Scope;
use duet_config::sync::{DECOMPRESSED_MAX_BYTES, Installed};
use duet_link::Change;
use duet_link::protocol::{MAX_FRAME_BYTES, StreamToActive, StreamToBackup};
use duet_rsm::{HistoryId, Position};
use duet_stream::{ClientId, Entry, Follower, Leader, Replication};

mod config;
pub mod directory;
mod effects;
pub mod event;
pub mod feed;
mod follower;
mod interactions;
pub mod io;
mod leader;
mod mutation;
mod outbox;
pub mod persist;
pub mod snapshot;

pub use config::{SERVER_PARAMETERS, server_parameters};
pub use event::Event;
pub use feed::Feed;
pub use interactions::{CONVERSATION, InteractionsPart, ROUTE_IDLE_MS};
pub use io::{Context, FromBackup, Input, MainOnly, Metric, NodeFacts, Output, Settings};
pub use mutation::Mutation;
pub use outbox::ReplyKey;

use effects::Effects;
use follower::{HealRun, ResyncRun};
use leader::{HealPages, Held};
use persist::{LoadedInteractions, StoreWrite, StoredCopy};
use snapshot::SnapshotRun;

// A compressed sync message may expand to what a frame could have carried.
const _: () = assert!(DECOMPRESSED_MAX_BYTES <= MAX_FRAME_BYTES);

/// Why a client's write was not acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
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

/// The ways of catching up beyond the stream: the backup's, and the
/// active node's snapshot for it.
struct Resynchronising<P> {
    resync: Option<ResyncRun>,
    heal: Option<HealRun>,
    /// The interaction state's snapshot being fetched, after the
    /// configuration's resync.
    snapshot: Option<SnapshotRun>,
    /// The id of the last resynchronisation request sent.
    last_request_id: u64,
    /// The resynchronisation under way keeps everything.
    scope_full: bool,
    /// This node's copy was filtered by an Upgrade state and not yet made
    /// whole (stored, so it survives a restart).
    filtered: bool,
    /// The history this node's changes belong to (stored).
    history: HistoryId,
    /// The active node's history, taken once the resynchronisation under
    /// way has made this node's copy its.
    taking: Option<HistoryId>,
    /// The active node's snapshot for a resynchronising backup, taken at
    /// the resync's position.
    snapshot_out: Option<snapshot::SnapshotOut<P>>,
}

impl<P> Resynchronising<P> {
    fn new(copy: StoredCopy) -> Self {
        Resynchronising {
            resync: None,
            heal: None,
            snapshot: None,
            last_request_id: 0,
            scope_full: false,
            filtered: copy.filtered,
            history: copy.history,
            taking: None,
            snapshot_out: None,
        }
    }
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

/// Who waits for a write's acknowledgement.
enum Waiter<A> {
    /// A client, through the runtime's handle.
    Client(A),
    /// A heal page the active node answers once all its changes are.
    HealPage(u64),
}

/// A write waiting for its acknowledgement.
struct PendingWrite<A> {
    /// Everyone waiting for it: the first write, and a retry with the same
    /// client id made while it was under way (a client, or a heal). The
    /// router's and a takeover's changes have nobody.
    waiters: Vec<Waiter<A>>,
    /// On the node's monotonic clock, for the acknowledgement's latency.
    since_ms: u64,
    /// Which state it changes (a metrics label).
    state: &'static str,
}

/// What waits for the store to make a write durable.
enum AfterDurable<P> {
    /// The leader's change `seq` is persisted.
    Persisted(u64),
    /// A message to the active node that says what this node holds.
    Reply(Box<StreamToActive>),
    /// A message for the backup (a hello drops those for the one before).
    ToBackup(Box<StreamToBackup>),
    /// Everything this node held when it became active is durable.
    Activated,
    /// A backup's request for the first page of a snapshot taken at `at`.
    SnapshotRequest { id: u64, at: Position, to: P },
}

/// A new active node's first moments: until everything it held when it
/// became active is durable (it may have applied changes it had not yet
/// stored, as the backup or in an earlier epoch), a retry of one of those
/// changes is not acknowledged.
struct Activation {
    /// The last change held then.
    upto_seq: u64,
    /// Retries of changes up to it, acknowledged once it is durable.
    acks: Vec<(ClientId, u64)>,
}

/// Writes under way on the active node.
struct Writes<P, A> {
    pending: BTreeMap<ClientId, PendingWrite<A>>,
    /// Persisted while the lease was not valid.
    held: Vec<Held>,
    /// The backup's heal pages waiting for their changes.
    heal_pages: HealPages<P>,
    /// Until what this node held when it became active is durable.
    activation: Option<Activation>,
    /// The store's last ticket made durable.
    durable_ticket: u64,
    /// Why the store fails to commit, while it does (new client writes
    /// are refused until it commits again).
    store_failing: Option<String>,
    /// A defect put in on purpose (the pair simulation's own test).
    mutation: Option<Mutation>,
}

impl<P, A> Default for Writes<P, A> {
    fn default() -> Self {
        Writes {
            pending: BTreeMap::new(),
            held: Vec::new(),
            heal_pages: HealPages::default(),
            activation: None,
            durable_ticket: 0,
            store_failing: None,
            mutation: None,
        }
    }
}

/// The backup's main connection, on the active node.
struct BackupLink<P> {
    /// Which accepted connection it is.
    link: u64,
    to: P,
    /// The history the backup's changes belong to, as its hello said.
    history: HistoryId,
    /// Messages for it waiting for this node's writes to be durable;
    /// later ones wait behind them.
    waiting_messages: usize,
}

/// One node's replicas of the pair's states and what it decides about
/// them. `P`: the runtime's handle of a connection to the other node;
/// `A`: its handle of a client waiting for an acknowledgement.
pub struct Replica<P, A> {
    facts: NodeFacts,
    settings: Settings,
    /// The runtime's facts for the input being handled.
    ctx: Context,
    tree: Tree,
    ix: InteractionsPart,
    out: Effects<P, A>,
    /// What waits for the store, in ticket order.
    waiting: VecDeque<(u64, AfterDurable<P>)>,
    leader: Option<Leader<Change>>,
    follower: Follower,
    /// On the active node: the backup's main connection.
    backup: Option<BackupLink<P>>,
    writes: Writes<P, A>,
    /// The backup's resynchronisation, heal and snapshot fetch.
    sync: Resynchronising<P>,
    state: Replication,
    /// Counts the changes that may have touched a server parameter (one
    /// under their folder, or a resync), so the engine re-reads them only
    /// then, not at every change.
    parameters_generation: u64,
}

impl<P: Clone, A> Replica<P, A> {
    /// The replica of a node whose store holds `tree`, `interactions` and
    /// `filtered`. What a start must store first (history a resync left
    /// past the position) is in the first outputs ([`Replica::take_outputs`]).
    pub fn new(
        facts: NodeFacts,
        settings: Settings,
        mut tree: Tree,
        interactions: LoadedInteractions,
        copy: StoredCopy,
    ) -> Replica<P, A> {
        let mut out = Effects::default();
        if let Some(installed) = history_past_position(&mut tree) {
            out.persist(StoreWrite::Resynchronised {
                installed,
                last: tree.last_applied(),
            });
        }
        let ix = InteractionsPart::new(interactions);
        let follower = Follower::new(min_position(&tree, &ix.state));
        Replica {
            facts,
            settings,
            ctx: Context::default(),
            tree,
            ix,
            out,
            waiting: VecDeque::new(),
            leader: None,
            follower,
            backup: None,
            writes: Writes::default(),
            sync: Resynchronising::new(copy),
            state: Replication::Alone,
            parameters_generation: 0,
        }
    }

    /// Puts a defect in on purpose: the pair simulation's own test that
    /// its checks find one. A node never calls this.
    pub fn mutate(&mut self, mutation: Mutation) {
        self.ix.feed.mutate(mutation);
        self.writes.mutation = Some(mutation);
    }

    /// What a start decided (history a resync left past the position, to
    /// drop from the store), to carry out before the first input.
    pub fn take_outputs(&mut self) -> Vec<Output<P, A>> {
        self.out.take()
    }

    /// Carries out one input at `ctx`; returns what the runtime does next,
    /// in order.
    pub fn handle(&mut self, ctx: &Context, input: Input<P, A>) -> Vec<Output<P, A>> {
        self.ctx = ctx.clone();
        // The directory follows the configuration once a run of its
        // changes ends (a client's configuration writes, the active node's
        // messages), not after each: deriving it walks every user and
        // workgroup. Anything else sees it up to date: an acknowledgement
        // (a client reads what it wrote), a check, routing, a tick; and an
        // interaction change is applied against it (`apply_entry`).
        if !matches!(input, Input::ConfigWrite { .. } | Input::FromActive(_)) {
            self.ix.refresh_directory(&self.tree, &mut self.out, false);
        }
        match input {
            Input::BecomeActive {
                epoch,
                desktops_here,
            } => {
                self.become_active(epoch);
                self.ix.outbox.clear_in_flight();
                self.ix.route_wanted = true;
                self.take_over(epoch, desktops_here);
            }
            Input::StopServing => self.stop_serving(),
            Input::Settings(settings) => self.settings = settings,
            Input::ActiveLinkUp => {
                let hello = self.hello();
                self.out.send_to_active(hello);
            }
            Input::FromActive(message) => self.on_active_message(message),
            Input::FromBackup(message) => self.on_backup_message(message),
            Input::ConfigWrite {
                client,
                who,
                op,
                reply,
            } => match self.refused_while_the_store_fails(&client) {
                Some(refused) => self.out.answer(reply, Err(refused)),
                None => self.write(client, who, op, reply),
            },
            Input::InteractionWrite { command, reply } => {
                match self.refused_while_the_store_fails(&command.client) {
                    Some(refused) => self.out.answer(reply, Err(refused)),
                    None => self.write_interaction(*command, Waiter::Client(reply)),
                }
            }
            Input::Durable(ticket) => {
                if self.writes.store_failing.take().is_some() {
                    self.out.event(Event::StoreCommits);
                }
                self.durable_now(ticket)
            }
            Input::StoreFailing { error } => {
                if self.writes.store_failing.is_none() {
                    self.out.event(Event::StoreFailing {
                        error: error.clone(),
                    });
                }
                self.writes.store_failing = Some(error);
            }
            Input::SnapshotEncoded { at, chunks } => self.snapshot_encoded(at, chunks),
            Input::Tick => self.tick(),
            Input::ReleaseHeld => self.release_held(),
            Input::Route => self.route_if_wanted(),
        }
        self.out.take()
    }

    fn on_backup_message(&mut self, message: FromBackup<P>) {
        match message {
            FromBackup::Hello {
                applied,
                last,
                full_resync,
                history,
                to,
                link,
            } => self.backup_hello((applied, last), full_resync, history, to, link),
            FromBackup::SnapshotRequest { id, at, page, to } => {
                self.snapshot_request(id, at, page, to)
            }
            FromBackup::Ack(seq) => self.backup_ack(seq),
            FromBackup::SyncRequest { id, request, to } => {
                if let Some(answer) = self.sync_answer(request) {
                    self.out.send(to, StreamToBackup::SyncAnswer { id, answer });
                }
            }
            FromBackup::HealReplay {
                id,
                fork,
                records,
                to,
            } => self.heal_replay(id, fork, records, to),
            FromBackup::HealInteractions { id, entries, to } => {
                self.heal_interactions_here(id, entries, to)
            }
            FromBackup::Gone(link) => self.backup_gone(link),
        }
    }

    /// The backup's side of the stream: what the active node sent.
    fn on_active_message(&mut self, message: StreamToBackup) {
        let reply = match message {
            StreamToBackup::Entry(entry) => {
                self.receive(entry);
                None
            }
            StreamToBackup::ResyncStart {
                upto,
                root,
                history,
            } => self.resync_start(upto, root, history),
            StreamToBackup::History(history) => {
                // A node that holds nothing holds only what it is sent.
                if self.last_position() == Position::ZERO {
                    self.take_history(history);
                }
                None
            }
            StreamToBackup::CaughtUp => {
                self.out.push(Output::Synchronised);
                None
            }
            StreamToBackup::HealReplayed { id, error } => self.heal_replayed(id, error),
            StreamToBackup::SnapshotPage(answer) => self.snapshot_page(answer),
            StreamToBackup::SyncAnswer { id, answer } => self.resync_answer(id, answer),
        };
        if let Some(reply) = reply {
            self.out.send_to_active(reply);
        }
    }

    /// Which history this node's changes belong to.
    pub fn history_id(&self) -> HistoryId {
        self.sync.history
    }

    /// This node's copy is the active node's, of `history`: its changes
    /// belong to that history from now on.
    fn take_history(&mut self, history: HistoryId) {
        if self.sync.history != history {
            self.sync.history = history;
            self.out.persist(StoreWrite::HistoryId(history));
        }
    }

    fn mark_filtered(&mut self) {
        if !self.sync.filtered {
            self.sync.filtered = true;
            self.out.persist(StoreWrite::Filtered(true));
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
    pub(crate) fn last_position(&self) -> Position {
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

    /// The epoch of change `seq`, whichever state made it (`None` when
    /// neither history says).
    pub fn epoch_of(&self, seq: u64) -> Option<u64> {
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
    fn apply_entry(&mut self, entry: Entry<Change>, scope: &Scope) -> Result<(), ApplyError> {
        use duet_rsm::StateMachine;
        let at = Position::new(entry.epoch, entry.seq);
        match entry.change {
            Change::Config(edit) => {
                if at.seq > self.tree.last_applied().seq {
                    self.apply_config(edit.into_change(at.epoch, at.seq), scope)?;
                }
                self.ix.state.pass(at);
                self.out.persist(StoreWrite::InteractionPassed(at));
            }
            Change::Interactions(command) => {
                self.ix.refresh_directory(&self.tree, &mut self.out, false);
                if at.seq > self.ix.state.position().seq {
                    let entry = Entry {
                        epoch: at.epoch,
                        seq: at.seq,
                        change: command,
                    };
                    self.ix.apply(&mut self.out, entry)?;
                }
                self.tree.skip(at.epoch, at.seq);
                self.out.persist(StoreWrite::TreePassed(at));
            }
        }
        Ok(())
    }

    /// When a [`Input::Tick`] is next due, on the node's monotonic clock
    /// (as of the last input's [`Context`]): changed rows to store, the
    /// stream's acknowledgement wait, a heal page's or a resync request's
    /// time-out, history past its retention, the router's next deadline.
    /// `None`: nothing waits for time; an input comes first. The runtime
    /// sends the tick then (earlier does no harm), and
    /// [`Input::Route`] after it.
    pub fn next_deadline(&self) -> Option<u64> {
        let ctx = &self.ctx;
        // A wall-clock deadline on the monotonic clock; a past one is now.
        let on_mono = |unix_ms: u64| {
            unix_ms
                .saturating_sub(ctx.unix_ms)
                .saturating_add(ctx.mono_ms)
        };
        let history = self.history_over_retention().then_some(ctx.mono_ms);
        // A directory the configuration changed is derived at the next
        // input: ask for one now.
        let directory = self.ix.directory_pending().then_some(ctx.mono_ms);
        [
            directory,
            self.ix.rows_deadline(),
            self.leader.as_ref().and_then(Leader::next_deadline),
            self.heal_pages_deadline(),
            self.resync_deadline(),
            history,
            self.routing_deadline().map(on_mono),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time passed: the interaction rows changed since the last tick are
    /// stored (a start replays a short log), the stream's timers run, a
    /// backup's request overdue is given up on, heal pages waiting too
    /// long are answered, and the history is kept within its retention.
    fn tick(&mut self) {
        self.ix.store_rows_at(&mut self.out, self.ctx.mono_ms);
        if let Some(leader) = self.leader.as_mut() {
            let commands = leader.tick(self.ctx.mono_ms);
            self.lead(commands);
        }
        self.heal_pages_overdue();
        self.compact_history();
        if let Some(hello) = self.resync_overdue() {
            self.out.send_to_active(hello);
        }
    }

    // --- The backup's side ---------------------------------------------------

    /// Every interaction change up to `seq` is committed: the feeds show it.
    fn commit_feed(&mut self, seq: u64) {
        for entry in self.ix.feed.commit(seq) {
            self.out.push(Output::Publish(entry));
        }
    }

    fn after_durable(&mut self, what: AfterDurable<P>) {
        self.waiting.push_back((self.out.last_ticket(), what));
    }

    /// Carries out what waited for writes now durable (up to ticket
    /// `durable`); the messages for the active node go on its link.
    /// While the store fails to commit, a client's new write is refused
    /// (it would wait for the disk, unacknowledged, for as long as the
    /// store fails): the client tries again with the same client id. A
    /// retry of a change already made is still answered.
    fn refused_while_the_store_fails(&self, client: &str) -> Option<WriteError> {
        let error = self.writes.store_failing.as_ref()?;
        let made = self
            .leader
            .as_ref()
            .is_some_and(|leader| leader.known(client).is_some());
        (!made).then(|| WriteError::Unavailable {
            message: format!(
                "{}'s store cannot commit ({error}); try again with the same client id",
                self.facts.this
            ),
            active: None,
        })
    }

    fn durable_now(&mut self, durable: u64) {
        self.writes.durable_ticket = self.writes.durable_ticket.max(durable);
        while self.waiting.front().is_some_and(|(t, _)| *t <= durable) {
            let Some((_, what)) = self.waiting.pop_front() else {
                break;
            };
            match what {
                AfterDurable::Persisted(seq) => {
                    if let Some(leader) = self.leader.as_mut() {
                        let commands = leader.persisted(seq);
                        self.lead(commands);
                    }
                }
                AfterDurable::Reply(body) => {
                    // The backup: what it acknowledges is durable here and
                    // is kept whichever node serves next: committed.
                    if let StreamToActive::Ack { seq } = *body {
                        self.commit_feed(seq);
                    }
                    self.out.send_to_active(*body)
                }
                AfterDurable::ToBackup(message) => self.send_waiting_to_backup(*message),
                AfterDurable::Activated => {
                    if let Some(activation) = self.writes.activation.take() {
                        for (client, seq) in activation.acks {
                            self.ack_client(client, seq);
                        }
                    }
                }
                AfterDurable::SnapshotRequest { id, at, to } => {
                    self.snapshot_request(id, Some(at), 0, to)
                }
            }
        }
    }

    /// Queues what a resync page installed, at the tree's position.
    fn store_installed(&mut self, installed: Installed) {
        if !installed.entries.is_empty() {
            self.parameters_generation += 1;
        }
        // The directory is derived again from what the resync installed
        // before the next interaction change is applied: a setting it
        // reads (a chunk's keep, a queue's weight) must be the same on
        // both nodes at the same position.
        for (path, _) in &installed.entries {
            self.ix.config_changed(path);
        }
        let last = self.tree.last_applied();
        self.out
            .persist(StoreWrite::Resynchronised { installed, last });
    }

    /// The interaction state and what goes with it (its feed, the
    /// outbox), for reads.
    pub fn interactions(&self) -> &InteractionsPart {
        &self.ix
    }

    /// The replies and messages due to be sent now (not under way),
    /// marked under way: the runtime sends them, and their taking comes
    /// back as an interaction write.
    pub fn sends_due(&mut self, replies: usize, messages: usize) -> (Vec<ReplyKey>, Vec<ReplyKey>) {
        if self.leader.is_none() {
            return (Vec::new(), Vec::new());
        }
        self.ix.outbox.take_due(replies, messages)
    }

    /// Where the stream stands for the status.
    pub fn replication(&self) -> Replication {
        self.state
    }

    /// On the active node, the changes the backup has not acknowledged.
    pub fn lag_changes(&self) -> u64 {
        self.leader
            .as_ref()
            .map_or(0, |l| l.last_seq().saturating_sub(l.backup_acked()))
    }
}

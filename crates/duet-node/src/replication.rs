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
use std::time::Duration;

use duet_config::heal::{self, Heal, HealStep, Replay, Skip};
use duet_config::scope::{Admit, Scope};
use duet_config::sync::{self, Answer, DECOMPRESSED_MAX_BYTES, Installed, Request, Resync};
use duet_config::{Conflict, Edit, HistoryRecord, Object, Op, Origin, Tree, TreePath};
use duet_link::protocol::{Body, Envelope, MAX_FRAME_BYTES};
use duet_stream::{
    ClientId, Entry, Follower, FollowerCommand, Leader, LeaderCommand, Limits, Replication,
};
use duet_switchover::Level;
use tokio::sync::{mpsc, oneshot};

use crate::events::unix_ms;
use crate::shared::Shared;
use crate::store::{Store, StoreWrite};
use crate::store_writer::StoreWriter;

// A compressed sync message may expand to what a frame could have carried.
const _: () = assert!(DECOMPRESSED_MAX_BYTES <= MAX_FRAME_BYTES);

/// The event-log entry for a conflict record: both changes, who made them
/// when, with which client id, in which epoch at which number.
fn conflict_message(path: &TreePath, lost: &Origin, conflict: &Conflict) -> String {
    let when = |ms: u64| {
        humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms))
    };
    let won = &conflict.lost_to;
    format!(
        "Configuration conflict at {path}: the change by {} at {} (client id {:?}, epoch {}, change {}), made on the other node while both nodes served, lost to the change by {} at {} (client id {:?}, epoch {}, change {}); the latter stands and the other is kept as a conflict record (duet ctl config conflicts)",
        lost.who,
        when(lost.at_unix_ms),
        lost.client,
        lost.epoch,
        lost.seq,
        won.who,
        when(won.at_unix_ms),
        won.client,
        won.epoch,
        won.seq
    )
}

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

/// How long a persisted write waits for the lease to be confirmed again
/// before it is refused: three leases, within these bounds.
const WRITE_HOLD_MIN_MS: u64 = 100;
const WRITE_HOLD_MAX_MS: u64 = 6_000;

/// A write persisted while the lease was not valid: acknowledged once it is
/// (or once the backup has it), refused when the wait runs out. Never
/// acknowledged and then lost.
struct Held {
    seq: u64,
    client: ClientId,
    since_ms: u64,
}

/// The active node as this node knows it, for a refused write.
fn active_elsewhere(shared: &Shared) -> Option<String> {
    let status = shared.status.borrow();
    (status.peer.role == Some(duet_link::protocol::Role::Active)).then(|| status.peer.name.clone())
}

/// A resynchronisation under way on the backup, and its request waiting
/// for an answer.
struct ResyncRun {
    session: Resync,
    upto: (u64, u64),
    request_id: u64,
    /// On the driver's monotonic clock.
    asked_at_ms: u64,
}

/// How long the active node waits for the changes of one heal page to be
/// acknowledged before it says they failed (the backup has given up on the
/// page after Switchover DS Request Timeout by then and offers it again).
const HEAL_PAGE_WAIT: Duration = Duration::from_secs(60);

/// The resynchronisation the active node asked for, held while a heal
/// runs before it.
struct ResyncAsked {
    upto: (u64, u64),
    root: u128,
    scope: Scope,
    compress: bool,
}

enum HealStage {
    /// Comparing histories: paging through the active node's runs.
    Runs(Heal),
    /// Sending this node's orphaned changes a page at a time.
    Replay {
        fork: u64,
        pages: VecDeque<Vec<HistoryRecord>>,
        replayed: usize,
    },
}

/// A heal under way on the backup: its request (or page) waiting for an
/// answer, and the resynchronisation that follows.
struct HealRun {
    stage: HealStage,
    then: ResyncAsked,
    request_id: u64,
    /// On the driver's monotonic clock.
    asked_at_ms: u64,
}

/// Drops the history records past the last change applied: a resync that
/// did not finish stores them ahead of its position. They are not this
/// node's yet (the resync or the stream brings them again), and a new
/// active must not answer a retry from a client id among them.
fn drop_history_past_position(
    store: &Store,
    tree: &mut Tree,
) -> Result<(), crate::store::StoreError> {
    let position = tree.last_applied();
    let forgotten = tree.forget_history(position.1.saturating_add(1), u64::MAX);
    if forgotten.is_empty() {
        return Ok(());
    }
    let installed = Installed {
        forgotten,
        ..Installed::default()
    };
    store.resynchronised(&installed, position)
}

/// What waits for the store to make a write durable.
enum AfterDurable {
    /// The leader's change `seq` is persisted.
    Persisted(u64),
    /// A message to the active node that says what this node holds.
    Reply(Body),
}

pub struct Replicator {
    tree: Tree,
    writer: StoreWriter,
    /// In ticket order.
    waiting: VecDeque<(u64, AfterDurable)>,
    leader: Option<Leader<Edit>>,
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
}

impl Replicator {
    pub fn new(store: Store, mut tree: Tree) -> Replicator {
        if let Err(e) = drop_history_past_position(&store, &mut tree) {
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

    /// This node now serves in `epoch`: it leads the stream.
    pub fn become_active(&mut self, epoch: u64) {
        let position = self.tree.last_applied();
        let forgotten = self
            .tree
            .forget_history(position.1.saturating_add(1), u64::MAX);
        if !forgotten.is_empty() {
            self.store_installed(Installed {
                forgotten,
                ..Installed::default()
            });
        }
        self.waiting.clear();
        let limits = Limits::default();
        let mut leader = Leader::new(epoch, self.tree.last_applied().1, limits);
        leader.remember_clients(self.tree.recent_clients(limits.client_ids_max));
        self.leader = Some(leader);
        self.backup = None;
        self.resync = None;
        self.state = Replication::Alone;
    }

    /// Writes persisted but not acknowledged while the lease is not valid.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Acknowledges the held writes the backup has, or all of them when the
    /// lease is valid again; refuses those that waited too long.
    pub fn release_held(&mut self, shared: &Shared, now_ms: u64, lease_valid: bool) {
        if self.held.is_empty() {
            return;
        }
        let on_backup = self.leader.as_ref().map_or(0, |l| l.backup_acked());
        let lease_ms = shared.right.lease_ms();
        let hold_ms = (3 * lease_ms).clamp(WRITE_HOLD_MIN_MS, WRITE_HOLD_MAX_MS);
        let active = active_elsewhere(shared);
        for held in std::mem::take(&mut self.held) {
            let Some(reply) = self.pending.remove(&held.client) else {
                continue;
            };
            if lease_valid || held.seq <= on_backup {
                let _ = reply.send(Ok(held.seq));
            } else if now_ms.saturating_sub(held.since_ms) >= hold_ms {
                let _ = reply.send(Err(WriteError::Unavailable {
                    message: format!(
                        "{} cannot confirm that it alone serves (its lease has not been renewed for {hold_ms} ms), so the change is not acknowledged; retry it with the same client id{}",
                        shared.boot.this,
                        active.as_ref().map(|a| format!(" on {a}")).unwrap_or_default()
                    ),
                    active: active.clone(),
                }));
            } else {
                self.pending.insert(held.client.clone(), reply);
                self.held.push(held);
            }
        }
    }

    /// This node stopped serving: writes under way are refused.
    pub fn stop_serving(&mut self, shared: &Shared) {
        self.leader = None;
        self.waiting.clear();
        self.backup = None;
        self.held.clear();
        let active = active_elsewhere(shared);
        for (_, reply) in std::mem::take(&mut self.pending) {
            let _ = reply.send(Err(WriteError::Unavailable {
                message: "this node stopped serving before the change was acknowledged; retry it on the active node with the same client id".into(),
                active: active.clone(),
            }));
        }
        self.follower = Follower::new(self.tree.last_applied());
    }

    /// A client's change, on the active node.
    pub fn write(
        &mut self,
        shared: &Shared,
        client: ClientId,
        who: String,
        op: Op,
        reply: WriteReply,
    ) {
        let Some(leader) = self.leader.as_mut() else {
            let _ = reply.send(Err(WriteError::Unavailable {
                message: format!(
                    "{} is not the active node; make configuration changes on the active node",
                    shared.boot.this
                ),
                active: active_elsewhere(shared),
            }));
            return;
        };
        // A retry of a change already made is answered, not checked again.
        let retry = leader.known(&client).is_some();
        if !retry && let Err(e) = self.tree.check(&op) {
            let _ = reply.send(Err(e.into()));
            return;
        }
        let edit = Edit {
            at_unix_ms: unix_ms(),
            who,
            client,
            op,
            healed_from: None,
        };
        self.submit(shared, edit, reply);
    }

    /// Makes a checked change through the stream; `reply` hears when it
    /// is acknowledged.
    fn submit(&mut self, shared: &Shared, edit: Edit, reply: WriteReply) {
        let Some(leader) = self.leader.as_mut() else {
            let _ = reply.send(Err(WriteError::Unavailable {
                message: format!("{} is not the active node", shared.boot.this),
                active: active_elsewhere(shared),
            }));
            return;
        };
        let client = edit.client.clone();
        let commands = leader.write(shared.right.now_ms(), client.clone(), edit);
        self.pending.insert(client, reply);
        self.lead(shared, commands);
    }

    fn lead(&mut self, shared: &Shared, commands: Vec<LeaderCommand<Edit>>) {
        for command in commands {
            match command {
                LeaderCommand::Persist(entry) => {
                    let seq = entry.seq;
                    let change = entry.change.into_change(entry.epoch, seq);
                    match self.tree.apply(&change) {
                        Ok(record) => {
                            self.writer.write(StoreWrite::Applied(record));
                            self.after_durable(AfterDurable::Persisted(seq));
                        }
                        Err(e) => shared.log_event(
                            Level::Error,
                            format!("Change {seq} could not be applied: {e}"),
                        ),
                    }
                }
                LeaderCommand::Send(entry) => self.to_backup(shared, Body::StreamEntry(entry)),
                LeaderCommand::AckClient { client, seq } => {
                    // Acknowledged only with the right to serve: the
                    // backup has it, or no other node can be serving.
                    let on_backup = self
                        .leader
                        .as_ref()
                        .is_some_and(|l| l.backup_acked() >= seq);
                    if on_backup || shared.serving() {
                        if let Some(reply) = self.pending.remove(&client) {
                            let _ = reply.send(Ok(seq));
                        }
                    } else {
                        self.held.push(Held {
                            seq,
                            client,
                            since_ms: shared.right.now_ms(),
                        });
                    }
                }
                LeaderCommand::Resync { .. } => {
                    // To the tree's own position (with each change's epoch).
                    let upto = self.tree.last_applied();
                    let root = self.tree.digests().get(duet_config::digest::Bucket::ROOT);
                    self.to_backup(shared, Body::ResyncStart { upto, root });
                }
                LeaderCommand::Replication { state, why } => {
                    self.state = state;
                    if state == Replication::InSync {
                        self.to_backup(shared, Body::CaughtUp);
                    }
                    let level = if state == Replication::Alone {
                        Level::Warning
                    } else {
                        Level::Info
                    };
                    shared.log_event(
                        level,
                        format!("Configuration replication: {state:?} ({why})"),
                    );
                }
            }
        }
    }

    fn to_backup(&self, shared: &Shared, body: Body) {
        if let Some((_, tx)) = &self.backup {
            // A full outbox drops it; the lag bound or a later hello recovers.
            let _ = tx.try_send(shared.envelope(body));
        }
    }

    /// The backup said hello on its main connection (number `link`).
    pub fn backup_hello(
        &mut self,
        shared: &Shared,
        applied: (u64, u64),
        full_resync: bool,
        tx: mpsc::Sender<Envelope>,
        link: u64,
    ) {
        self.backup = Some((link, tx));
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        // A backup whose last change is not ours at that number diverged
        // (a former active's unacknowledged changes): it resynchronises.
        let (epoch, seq) = applied;
        let known = seq == 0 || self.tree.epoch_of(seq) == Some(epoch);
        let commands = if known && !full_resync && seq <= self.tree.last_applied().1 {
            leader.backup_connected(applied)
        } else {
            leader.backup_diverged()
        };
        self.lead(shared, commands);
    }

    pub fn backup_ack(&mut self, shared: &Shared, seq: u64) {
        if let Some(leader) = self.leader.as_mut() {
            let commands = leader.backup_ack(seq);
            self.lead(shared, commands);
        }
    }

    /// The accepted main connection `link` closed; a late close of an older
    /// connection leaves the current one alone.
    pub fn backup_gone(&mut self, shared: &Shared, link: u64) {
        if self
            .backup
            .as_ref()
            .is_none_or(|(current, _)| *current != link)
        {
            return;
        }
        self.backup = None;
        if let Some(leader) = self.leader.as_mut() {
            let commands = leader.backup_lost("its main link connection closed");
            self.lead(shared, commands);
        }
    }

    /// The answer to a backup's sync request, compressed when `compress`
    /// (Switchover Use Compression For DS Request Sync); `None` for a
    /// request that cannot be read.
    pub fn sync_answer(&self, shared: &Shared, request: Request, compress: bool) -> Option<Answer> {
        sync::answer(&self.tree, request, compress)
            .inspect_err(|e| {
                shared.log_event(
                    Level::Error,
                    format!("The backup's sync request is not answered: {e}"),
                )
            })
            .ok()
    }

    /// A page of the backup's orphaned changes (made while it served on
    /// its own): each is made here as a new change, or kept as a conflict
    /// record, or skipped when its client id is known; the backup hears
    /// once all are acknowledged (by then stored here).
    pub fn heal_replay(
        &mut self,
        shared: &Arc<Shared>,
        id: u64,
        fork: u64,
        records: Vec<HistoryRecord>,
        tx: mpsc::Sender<Envelope>,
    ) {
        let Some(leader) = self.leader.as_ref() else {
            let error = Some(format!("{} is not the active node", shared.boot.this));
            let _ = tx.try_send(shared.envelope(Body::HealReplayed { id, error }));
            return;
        };
        let steps = heal::plan(
            &self.tree,
            fork,
            &records,
            |client| leader.known(client).is_some(),
            unix_ms(),
        );
        let mut waits = Vec::new();
        for step in steps {
            match step {
                Replay::Make(edit) => {
                    if let (Op::Conflict { path, conflict }, Some(origin)) =
                        (&edit.op, &edit.healed_from)
                    {
                        shared.log_event(Level::Warning, conflict_message(path, origin, conflict));
                    }
                    let (reply, wait) = oneshot::channel();
                    self.submit(shared, edit, reply);
                    waits.push(wait);
                }
                Replay::Skip {
                    client,
                    why: Skip::Refused(e),
                } => shared.log_event(
                    Level::Error,
                    format!("A configuration change the other node made while both served (client id {client}) cannot be made here: {e}"),
                ),
                Replay::Skip { .. } => {}
            }
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let error = match tokio::time::timeout(HEAL_PAGE_WAIT, futures::future::join_all(waits))
                .await
            {
                Err(_) => Some("the replayed changes were not acknowledged in time".to_string()),
                Ok(replies) => replies.into_iter().find_map(|reply| match reply {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("a replayed change was given up on".to_string()),
                }),
            };
            let _ = tx
                .send(shared.envelope(Body::HealReplayed { id, error }))
                .await;
        });
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

    /// The main connection to the active node is up: say where we are.
    pub fn hello(&mut self) -> Body {
        self.follower = Follower::new(self.tree.last_applied());
        self.resync = None;
        self.heal = None;
        Body::StreamHello {
            applied: self.tree.last_applied(),
            // Back to full replication after an Upgrade state: be made whole.
            full_resync: self.filtered && self.scope == Scope::Full,
        }
    }

    /// A change from the active node; returns what to send back. `scope`
    /// says what this backup keeps (less in an Upgrade state).
    pub fn receive(&mut self, shared: &Shared, entry: Entry<Edit>, scope: &Scope) -> Vec<Body> {
        if self.resync.is_some() || self.heal.is_some() || self.leader.is_some() {
            // A heal or resync brings this (a hello follows it); a node that leads
            // the stream takes no entries from another.
            return Vec::new();
        }
        if *scope != Scope::Full {
            self.mark_filtered();
        }
        let mut replies = Vec::new();
        let mut failed = false;
        for command in self.follower.receive(entry) {
            match command {
                FollowerCommand::Apply(e) => {
                    let seq = e.seq;
                    let mut change = e.change.into_change(e.epoch, seq);
                    let object = match &change.op {
                        Op::Put { object, .. } => Some(object),
                        // A conflict record changes no entry: kept or
                        // passed over by its path alone.
                        Op::Remove { .. } | Op::Conflict { .. } => None,
                    };
                    match scope.admit(change.op.path(), object) {
                        Admit::Skip => {
                            self.tree.skip(change.epoch, seq);
                            self.store_installed(Installed::default());
                            continue;
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
                    match self.tree.apply_replicated(&change) {
                        Ok(record) => {
                            self.writer.write(StoreWrite::Applied(record));
                        }
                        Err(e) => {
                            failed = true;
                            shared.log_event(
                                Level::Error,
                                format!("Replicated change {seq} could not be applied: {e}"),
                            );
                        }
                    }
                }
                // A change not applied and stored is not acknowledged: say
                // where this node really is, so the stream resumes from there.
                FollowerCommand::Ack { .. } if failed => {
                    self.follower = Follower::new(self.tree.last_applied());
                    replies.push(Body::StreamHello {
                        applied: self.tree.last_applied(),
                        full_resync: false,
                    });
                }
                FollowerCommand::Ack { seq } => replies.push(Body::StreamAck { seq }),
                FollowerCommand::CatchUp { applied } => replies.push(Body::StreamHello {
                    applied,
                    full_resync: false,
                }),
            }
        }
        // What this node says it holds goes once it is durable.
        for reply in replies {
            self.after_durable(AfterDurable::Reply(reply));
        }
        self.durable_now(shared)
    }

    fn after_durable(&mut self, what: AfterDurable) {
        self.waiting.push_back((self.writer.last_ticket(), what));
    }

    /// The driver's wake-up when the store made more durable.
    pub fn durable_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.writer.watch()
    }

    /// Carries out what waited for writes now durable; returns the
    /// messages for the active node.
    pub fn durable_now(&mut self, shared: &Shared) -> Vec<Body> {
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

    /// The active node asks for a resynchronisation. A full copy with history
    /// heals first: the active node's runs are compared with this node's,
    /// and changes only this node made (while it served on its own) are
    /// made on the active node before the resync would drop them. Returns
    /// the first request.
    pub fn resync_start(
        &mut self,
        shared: &Shared,
        upto: (u64, u64),
        root: u128,
        scope: Scope,
        compress: bool,
        now_ms: u64,
    ) -> Option<Body> {
        self.resync = None;
        // A filtered copy (an Upgrade state) never served this history; an
        // empty one has nothing to heal.
        let has_history = self.tree.history_runs(0, u64::MAX).next().is_some();
        let heals = scope == Scope::Full && !self.filtered && has_history;
        let then = ResyncAsked {
            upto,
            root,
            scope,
            compress,
        };
        if !heals {
            return self.resync_begin(shared, then, now_ms);
        }
        let (heal, request) = Heal::start(upto.1);
        let run = HealRun {
            stage: HealStage::Runs(heal),
            then,
            request_id: 0,
            asked_at_ms: now_ms,
        };
        Some(self.heal_send(run, now_ms, |id| Body::SyncRequest { id, request }))
    }

    /// Sends the heal's next message under a new id.
    fn heal_send(&mut self, mut run: HealRun, now_ms: u64, body: impl FnOnce(u64) -> Body) -> Body {
        self.last_request_id += 1;
        run.request_id = self.last_request_id;
        run.asked_at_ms = now_ms;
        self.heal = Some(run);
        body(self.last_request_id)
    }

    /// A heal step that failed: like a resync answer that cannot be used,
    /// it starts over after Switchover DS Request Timeout (no answer
    /// matches id 0); this node's changes stay in its history meanwhile.
    fn heal_retry_later(&mut self, mut run: HealRun, now_ms: u64) {
        run.request_id = 0;
        run.asked_at_ms = now_ms;
        self.heal = Some(run);
    }

    /// The active node's runs, during a heal.
    fn heal_answer(&mut self, shared: &Shared, answer: Answer, now_ms: u64) -> Option<Body> {
        let mut run = self.heal.take()?;
        let HealStage::Runs(session) = &mut run.stage else {
            self.heal = Some(run);
            return None;
        };
        match session.on_answer(&self.tree, answer) {
            Err(e) => {
                shared.log_event(
                    Level::Error,
                    format!("Comparing configuration histories with the active node failed: {e}"),
                );
                self.heal_retry_later(run, now_ms);
                None
            }
            Ok(HealStep::Ask(request)) => {
                Some(self.heal_send(run, now_ms, |id| Body::SyncRequest { id, request }))
            }
            Ok(HealStep::Replay(orphans)) if orphans.records.is_empty() => {
                self.resync_begin(shared, run.then, now_ms)
            }
            Ok(HealStep::Replay(orphans)) => {
                shared.log_event(
                    Level::Warning,
                    format!(
                        "This node made {} configuration changes the active node does not have (after change {}, while both nodes served): making them on the active node before resynchronising",
                        orphans.records.len(),
                        orphans.fork
                    ),
                );
                let mut pages: VecDeque<_> = heal::pages(orphans.records).into();
                let records = pages.pop_front()?;
                let fork = orphans.fork;
                run.stage = HealStage::Replay {
                    fork,
                    replayed: records.len(),
                    pages,
                };
                Some(self.heal_send(run, now_ms, |id| Body::HealReplay { id, fork, records }))
            }
        }
    }

    /// The active node made (or failed to make) a page of this node's
    /// orphaned changes: the next page, or the resynchronisation, which
    /// may now drop them.
    pub fn heal_replayed(
        &mut self,
        shared: &Shared,
        id: u64,
        error: Option<String>,
        now_ms: u64,
    ) -> Option<Body> {
        if self.heal.as_ref()?.request_id != id {
            return None;
        }
        let mut run = self.heal.take()?;
        let HealStage::Replay {
            fork,
            pages,
            replayed,
        } = &mut run.stage
        else {
            self.heal = Some(run);
            return None;
        };
        if let Some(e) = error {
            shared.log_event(
                Level::Error,
                format!("The active node did not make this node's configuration changes ({e}); they are kept here and offered again after Switchover DS Request Timeout"),
            );
            self.heal_retry_later(run, now_ms);
            return None;
        }
        let fork = *fork;
        match pages.pop_front() {
            Some(records) => {
                *replayed += records.len();
                Some(self.heal_send(run, now_ms, |id| Body::HealReplay { id, fork, records }))
            }
            None => {
                shared.log_event(
                    Level::Info,
                    format!(
                        "The active node has made the {replayed} configuration changes this node made while both nodes served"
                    ),
                );
                self.resync_begin(shared, run.then, now_ms)
            }
        }
    }

    /// Starts the resynchronisation; returns the first request (compressed
    /// when asked), or the hello that follows an already equal tree.
    fn resync_begin(&mut self, shared: &Shared, asked: ResyncAsked, now_ms: u64) -> Option<Body> {
        let ResyncAsked {
            upto,
            root,
            scope,
            compress,
        } = asked;
        shared.log_event(
            Level::Info,
            format!(
                "Resynchronising the configuration with the active node up to change {}",
                upto.1
            ),
        );
        if scope != Scope::Full {
            self.mark_filtered();
        }
        self.resync_scope_full = scope == Scope::Full;
        if self.resync_scope_full && self.filtered {
            // The filtered copy's history holds filtered objects under the
            // active's numbers: it is taken again whole.
            let forgotten = self.tree.forget_history(0, u64::MAX);
            self.store_installed(Installed {
                forgotten,
                ..Installed::default()
            });
        }
        let (session, request) = Resync::start(&self.tree, root, upto, scope, compress);
        match request {
            Some(request) => Some(self.ask(session, upto, request, now_ms)),
            None => self.resync_done(shared, session, upto),
        }
    }

    /// Sends the resynchronisation's next request, under a new id.
    fn ask(&mut self, session: Resync, upto: (u64, u64), request: Request, now_ms: u64) -> Body {
        self.last_request_id += 1;
        self.resync = Some(ResyncRun {
            session,
            upto,
            request_id: self.last_request_id,
            asked_at_ms: now_ms,
        });
        Body::SyncRequest {
            id: self.last_request_id,
            request,
        }
    }

    /// The seed's Switchover DS Request Timeout: a resynchronisation request
    /// not answered in time is given up on, and the backup asks to be
    /// resynchronised again (by digests, so what was already copied is not
    /// sent again). Returns the hello to send.
    pub fn resync_overdue(
        &mut self,
        shared: &Shared,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Option<Body> {
        let asked_at_ms = match (&self.resync, &self.heal) {
            (Some(run), _) => run.asked_at_ms,
            (None, Some(heal)) => heal.asked_at_ms,
            (None, None) => return None,
        };
        if now_ms.saturating_sub(asked_at_ms) < timeout_ms {
            return None;
        }
        shared.log_event(
            Level::Warning,
            format!(
                "A configuration sync request to the active node was not answered within Switchover DS Request Timeout ({} s); resynchronising again",
                timeout_ms / 1_000
            ),
        );
        self.hello();
        Some(Body::StreamHello {
            applied: self.tree.last_applied(),
            full_resync: true,
        })
    }

    /// Stores what a resync answer installed; `false` (logged) when it
    /// could not be stored.
    /// Queues what a resync page installed, at the tree's position.
    fn store_installed(&mut self, installed: Installed) {
        let last = self.tree.last_applied();
        self.writer
            .write(StoreWrite::Resynchronised { installed, last });
    }

    pub fn resync_answer(
        &mut self,
        shared: &Shared,
        id: u64,
        answer: Answer,
        now_ms: u64,
    ) -> Option<Body> {
        if self.heal.as_ref().is_some_and(|run| run.request_id == id) {
            return self.heal_answer(shared, answer, now_ms);
        }
        // An answer to a request given up on is not this request's.
        if self.resync.as_ref()?.request_id != id {
            return None;
        }
        let ResyncRun {
            mut session, upto, ..
        } = self.resync.take()?;
        let next = session.on_answer(&mut self.tree, answer);
        let installed = std::mem::take(&mut session.installed);
        self.store_installed(installed);
        let next = match next {
            Ok(next) => next,
            failed => {
                if let Err(e) = failed {
                    shared.log_event(
                        Level::Error,
                        format!("Configuration resynchronisation stopped: the active node's answer cannot be read: {e}"),
                    );
                }
                // Asking again at once could loop on a faulty peer or disk:
                // the resync starts over after Switchover DS Request Timeout,
                // as for a request not answered (no answer matches id 0).
                self.resync = Some(ResyncRun {
                    session,
                    upto,
                    request_id: 0,
                    asked_at_ms: now_ms,
                });
                return None;
            }
        };
        match next {
            Some(request) => Some(self.ask(session, upto, request, now_ms)),
            None => self.resync_done(shared, session, upto),
        }
    }

    /// The resync is complete; its hello goes once all of it is durable.
    fn resync_done(&mut self, shared: &Shared, session: Resync, upto: (u64, u64)) -> Option<Body> {
        self.tree.synchronised_to(upto);
        if self.resync_scope_full && self.filtered {
            self.filtered = false;
            self.writer.write(StoreWrite::Filtered(false));
        }
        self.writer.write(StoreWrite::Resynchronised {
            installed: Installed::default(),
            last: upto,
        });
        shared.log_event(
            Level::Info,
            format!(
                "Configuration resynchronised: {} entries and {} history records updated in {} requests ({} answers compressed)",
                session.changed, session.history_changed, session.requests, session.compressed_answers
            ),
        );
        let hello = self.hello();
        self.after_durable(AfterDurable::Reply(hello));
        None
    }

    /// Whether the changes after `from_seq` up to `to_seq` may have touched
    /// a server parameter: only when one of them is under the parameters'
    /// folder, or history does not have them all (a resync), so a busy
    /// stream does not re-read the parameters at every change.
    pub fn parameters_may_have_changed(&self, from_seq: u64, to_seq: u64) -> bool {
        let Ok(folder) = TreePath::parse(SERVER_PARAMETERS) else {
            return true;
        };
        if to_seq <= from_seq {
            return true;
        }
        let mut records = 0;
        for record in self.tree.history_range(from_seq + 1, to_seq) {
            records += 1;
            if record.path.starts_with(&folder) {
                return true;
            }
        }
        records != to_seq - from_seq
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

//! The active node's side: client writes, the stream to the backup,
//! acknowledgements held while the lease is not confirmed, sync answers,
//! and the heal's replays.

use crate::answer::Answer as _;
use std::sync::Arc;
use std::time::Duration;

use duet_config::heal::{self, Replay, Skip};
use duet_config::sync::{self, Answer, Request};
use duet_config::{Conflict, Edit, HistoryRecord, Op, Origin, TreePath};
use duet_link::protocol::Stream;
use duet_rsm::Position;
use duet_stream::{ClientId, Follower, LeaderCommand, Limits, Replication};
use duet_switchover::Level;
use tokio::sync::oneshot;

use super::*;
use crate::events::unix_ms;
use crate::shared::Shared;

/// The event-log entry for a conflict record: both changes, who made them
/// when, with which client id, in which epoch at which number.
pub(super) fn conflict_message(path: &TreePath, lost: &Origin, conflict: &Conflict) -> String {
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

/// How long the active node waits for the changes of one heal page to be
/// acknowledged before it says they failed (the backup has given up on the
/// page after Switchover DS Request Timeout by then and offers it again).
pub(super) const HEAL_PAGE_WAIT: Duration = Duration::from_secs(60);

/// Answers the backup's heal page `id` once every replayed change is
/// acknowledged (or says which one was not).
fn answer_heal_page(
    shared: &Arc<Shared>,
    id: u64,
    waits: Vec<oneshot::Receiver<Result<u64, WriteError>>>,
    tx: crate::link::Outbox,
) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let error =
            match tokio::time::timeout(HEAL_PAGE_WAIT, futures::future::join_all(waits)).await {
                Err(_) => Some("the replayed changes were not acknowledged in time".to_string()),
                Ok(replies) => replies.into_iter().find_map(|reply| match reply {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some("a replayed change was given up on".to_string()),
                }),
            };
        // A closed connection is counted by the outbox; the backup asks again.
        tx.send_waiting(shared.envelope(Stream::HealReplayed { id, error }))
            .await;
    });
}

/// How long a persisted write waits for the lease to be confirmed again
/// before it is refused: three leases, within these bounds.
pub(super) const WRITE_HOLD_MIN_MS: u64 = 100;

pub(super) const WRITE_HOLD_MAX_MS: u64 = 6_000;

/// A write persisted while the lease was not valid: acknowledged once it is
/// (or once the backup has it), refused when the wait runs out. Never
/// acknowledged and then lost.
pub(super) struct Held {
    seq: u64,
    client: ClientId,
    since_ms: u64,
}

/// The active node as this node knows it, for a refused write.
pub(super) fn active_elsewhere(shared: &Shared) -> Option<String> {
    let status = shared.status.borrow();
    (status.peer.role == Some(duet_link::protocol::Role::Active)).then(|| status.peer.name.clone())
}

impl Replicator {
    /// This node now serves in `epoch`: it leads the stream, keeping
    /// `catch_up_changes` for a backup to catch up from.
    pub fn become_active(&mut self, epoch: u64, catch_up_changes: usize) {
        if let Some(installed) = history_past_position(&mut self.tree) {
            self.store_installed(installed);
        }
        self.waiting.clear();
        let limits = Limits {
            retained_max: catch_up_changes,
            ..Limits::default()
        };
        let mut leader = Leader::new(epoch, self.last_position().seq, limits);
        leader.remember_clients(self.recent_clients(limits.client_ids_max));
        self.leader = Some(leader);
        self.backup = None;
        self.sync.resync = None;
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
            if lease_valid || held.seq <= on_backup {
                self.acknowledge(shared, &held.client, held.seq);
                continue;
            }
            let Some(write) = self.pending.remove(&held.client) else {
                continue;
            };
            if now_ms.saturating_sub(held.since_ms) >= hold_ms {
                write.answer(|| Err(WriteError::Unavailable {
                    message: format!(
                        "{} cannot confirm that it alone serves (its lease has not been renewed for {hold_ms} ms), so the change is not acknowledged; retry it with the same client id{}",
                        shared.boot.this,
                        active.as_ref().map(|a| format!(" on {a}")).unwrap_or_default()
                    ),
                    active: active.clone(),
                }));
            } else {
                self.pending.insert(held.client.clone(), write);
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
        for (_, write) in std::mem::take(&mut self.pending) {
            write.answer(|| Err(WriteError::Unavailable {
                message: "this node stopped serving before the change was acknowledged; retry it on the active node with the same client id".into(),
                active: active.clone(),
            }));
        }
        self.follower = Follower::new(self.position());
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
            reply.answer(Err(WriteError::Unavailable {
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
            reply.answer(Err(e.into()));
            return;
        }
        if !retry
            && let duet_config::Op::Put { path, object } = &op
            && let Err(e) = crate::directory::check(path, object)
        {
            reply.answer(Err(WriteError::Invalid(e.to_string())));
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

    /// Makes a checked configuration change through the stream; `reply`
    /// hears when it is acknowledged.
    pub(super) fn submit(&mut self, shared: &Shared, edit: Edit, reply: WriteReply) {
        self.submit_change(shared, Change::Config(edit), reply);
    }

    /// Makes a checked change of any state through the stream.
    pub(super) fn submit_change(&mut self, shared: &Shared, change: Change, reply: WriteReply) {
        let Some(leader) = self.leader.as_mut() else {
            reply.answer(Err(WriteError::Unavailable {
                message: format!("{} is not the active node", shared.boot.this),
                active: active_elsewhere(shared),
            }));
            return;
        };
        let client = change.client().to_string();
        let state = match change {
            Change::Config(_) => "config",
            Change::Interactions(_) => "interactions",
        };
        let since_ms = shared.right.now_ms();
        let commands = leader.write(since_ms, client.clone(), change);
        self.pending
            .entry(client)
            .or_insert_with(|| PendingWrite {
                replies: Vec::new(),
                since_ms,
                state,
            })
            .replies
            .push(reply);
        self.lead(shared, commands);
    }

    /// Tells a client its change is acknowledged, at `seq`: it is
    /// committed (durable here, on the backup while in sync, and this node
    /// holds the right to serve), so the feeds show it.
    fn acknowledge(&mut self, shared: &Shared, client: &str, seq: u64) {
        self.ix.feed.commit(seq);
        let Some(write) = self.pending.remove(client) else {
            return;
        };
        let metrics = &shared.metrics;
        metrics
            .changes_acknowledged
            .get_or_create(&crate::metrics::label("state", write.state))
            .inc();
        let ms = shared.right.now_ms().saturating_sub(write.since_ms);
        metrics.change_ack_seconds.observe(ms as f64 / 1000.0);
        write.answer(|| Ok(seq));
    }

    pub(super) fn lead(&mut self, shared: &Shared, commands: Vec<LeaderCommand<Change>>) {
        for command in commands {
            match command {
                LeaderCommand::Persist(entry) => {
                    let seq = entry.seq;
                    match self.apply_entry(shared, entry, &Scope::Full) {
                        Ok(()) => self.after_durable(AfterDurable::Persisted(seq)),
                        Err(e) => shared.log_event(
                            Level::Error,
                            format!("Change {seq} could not be applied: {e}"),
                        ),
                    }
                }
                LeaderCommand::Send(entry) => self.to_backup(shared, Stream::Entry(entry)),
                LeaderCommand::AckClient { client, seq } => {
                    // Acknowledged only with the right to serve: the
                    // backup has it, or no other node can be serving.
                    let on_backup = self
                        .leader
                        .as_ref()
                        .is_some_and(|l| l.backup_acked() >= seq);
                    if on_backup || shared.serving() {
                        self.acknowledge(shared, &client, seq);
                    } else {
                        self.held.push(Held {
                            seq,
                            client,
                            since_ms: shared.right.now_ms(),
                        });
                    }
                }
                LeaderCommand::Resync { .. } => {
                    // To this node's position (with each change's epoch);
                    // the interaction state's snapshot is taken there.
                    let upto = self.last_position();
                    self.snapshot_take(shared);
                    let root = self.tree.digests().get(duet_config::digest::Bucket::ROOT);
                    self.to_backup(shared, Stream::ResyncStart { upto, root });
                }
                LeaderCommand::Replication { state, why } => {
                    self.state = state;
                    if state == Replication::InSync {
                        self.to_backup(shared, Stream::CaughtUp);
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

    pub(super) fn to_backup(&self, shared: &Shared, body: Stream) {
        if let Some((_, tx)) = &self.backup {
            // A full outbox drops it; the lag bound or a later hello recovers.
            tx.send(shared.envelope(body));
        }
    }

    /// The backup said hello on its main connection (number `link`).
    pub fn backup_hello(
        &mut self,
        shared: &Shared,
        (applied, last): (Position, Position),
        full_resync: bool,
        tx: crate::link::Outbox,
        link: u64,
    ) {
        self.backup = Some((link, tx));
        if self.leader.is_none() {
            return;
        }
        // A backup whose last change (of either state) is not ours at
        // that number diverged (a former active's unacknowledged changes):
        // it resynchronises.
        let known =
            |Position { epoch, seq }: Position| seq == 0 || self.epoch_of(seq) == Some(epoch);
        let ours = known(applied) && known(last) && last.seq <= self.last_position().seq;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let commands = if ours && !full_resync {
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
        tx: crate::link::Outbox,
    ) {
        let Some(leader) = self.leader.as_ref() else {
            let error = Some(format!("{} is not the active node", shared.boot.this));
            tx.send(shared.envelope(Stream::HealReplayed { id, error }));
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
        answer_heal_page(shared, id, waits, tx);
    }
}

impl Replicator {
    /// Whether this node holds the change `(epoch, seq)`: `None` when its
    /// history no longer says (too old to be a heal's orphan).
    fn holds(&self, epoch: u64, seq: u64) -> Option<bool> {
        match self.epoch_of(seq) {
            Some(e) => Some(e == epoch),
            None if seq > self.last_position().seq => Some(false),
            None => None,
        }
    }

    /// A page of the backup's interaction changes made while it served:
    /// those this node lacks are made here, once each by client id, and
    /// none is dropped. One the state here accepts is made as it was; a
    /// message or file it refuses (the chat moved on here) joins the
    /// transcript as a fact, in its place by time; any other change it
    /// refuses (the interaction is held, or ended, differently here) is
    /// kept as a conflict record, the state here standing. A routing
    /// decision the state refuses is passed over: this node routed the
    /// interaction itself. The backup hears once all are acknowledged.
    pub fn heal_interactions_here(
        &mut self,
        shared: &Arc<Shared>,
        id: u64,
        entries: Vec<duet_stream::Entry<duet_interactions::Command>>,
        tx: crate::link::Outbox,
    ) {
        use duet_interactions::{Actor, Change as Ix};
        use duet_rsm::StateMachine;
        let Some(leader) = self.leader.as_ref() else {
            let error = Some(format!("{} is not the active node", shared.boot.this));
            tx.send(shared.envelope(Stream::HealReplayed { id, error }));
            return;
        };
        // A message or file whose client's retry was made here too still
        // comes, under its healed client id: the copy taken first gives
        // the message its place.
        let lacking: Vec<_> = entries
            .into_iter()
            .filter(|e| self.holds(e.epoch, e.seq) == Some(false))
            .filter(|e| leader.known(&healed_client(&e.change.client)).is_none())
            .filter_map(|e| {
                let retried = leader.known(&e.change.client).is_some();
                let fact = matches!(e.change.change, Ix::Message { .. } | Ix::FileShared { .. });
                (!retried || fact).then_some((e, retried))
            })
            .collect();
        let node = shared.boot.peer().name.clone();
        let mut waits = Vec::new();
        let (mut as_facts, mut conflicts, mut passed_over) = (0, 0, 0);
        for (entry, retried) in lacking {
            let mut command = entry.change;
            if retried {
                command.client = healed_client(&command.client);
            }
            if let Err(refused) = self.ix.state.check(&command) {
                let why = refused.to_string();
                let fact = matches!(command.change, Ix::Message { .. } | Ix::FileShared { .. });
                command.change = if fact {
                    as_facts += 1;
                    Ix::Healed {
                        node: node.clone(),
                        fact: Box::new(command.change),
                    }
                } else if command.actor == Actor::Router {
                    passed_over += 1;
                    continue;
                } else {
                    conflicts += 1;
                    shared.log_event(
                        Level::Warning,
                        format!(
                            "Interaction conflict: a change {node} made while both nodes served (client id {}, change {} of epoch {}) is overridden by the state here ({why}); kept as a conflict record (duet ctl interaction conflicts)",
                            command.client, entry.seq, entry.epoch
                        ),
                    );
                    Ix::HealConflict(Box::new(duet_interactions::model::HealConflict {
                        node: node.clone(),
                        epoch: entry.epoch,
                        seq: entry.seq,
                        client: command.client.clone(),
                        actor: command.actor.clone(),
                        at_ms: command.at_ms,
                        change: command.change,
                        why,
                    }))
                };
                // Its own client id: the original stays free for a retry
                // the other side's client may still send.
                if !retried {
                    command.client = healed_client(&command.client);
                }
                if let Err(e) = self.ix.state.check(&command) {
                    shared.log_event(
                        Level::Error,
                        format!(
                            "A change {node} made while both nodes served (client id {}) cannot be kept even as a fact or a conflict record: {e}",
                            command.client
                        ),
                    );
                    continue;
                }
            }
            let (reply, wait) = oneshot::channel();
            self.submit_change(shared, Change::Interactions(command), reply);
            waits.push(wait);
        }
        if !waits.is_empty() || passed_over > 0 {
            shared.log_event(
                Level::Warning,
                format!(
                    "Made {} interaction changes {node} acknowledged while both nodes served: {as_facts} messages or files joined transcripts that had moved on here, {conflicts} kept as conflict records, {passed_over} routing decisions passed over",
                    waits.len()
                ),
            );
            self.ix.route_wanted = true;
        }
        answer_heal_page(shared, id, waits, tx);
    }
}

/// The client id a change takes when a heal keeps it as a fact or a
/// conflict record: a heal page sent again finds it made.
fn healed_client(client: &str) -> String {
    format!("{client}~healed")
}

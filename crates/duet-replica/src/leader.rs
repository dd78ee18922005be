//! The active node's side: client writes, the stream to the backup,
//! acknowledgements held while the lease is not confirmed, sync answers,
//! and the heal's replays.

use std::collections::BTreeMap;

use crate::*;
use duet_config::heal::{self, Replay, Skip};
use duet_config::sync::{self, Answer, Request};
use duet_config::{Edit, HistoryRecord, Op};
use duet_interactions::Command;
use duet_link::protocol::StreamToBackup;
use duet_rsm::Position;
use duet_stream::{ClientId, Entry, Follower, LeaderCommand, Limits, Replication};

/// How long the active node waits for the changes of one heal page to be
/// acknowledged before it says they failed (the backup has given up on the
/// page after Switchover DS Request Timeout by then and offers it again).
pub(crate) const HEAL_PAGE_WAIT_MS: u64 = 60_000;

/// A backup's heal page on the active node, answered once every change
/// it made here is acknowledged (or says which one was not).
struct HealPage<P> {
    /// The backup's id of the page.
    id: u64,
    to: P,
    /// Changes made and not yet answered.
    left: usize,
    /// Every change of the page is made (more may come until then).
    sealed: bool,
    /// The first refusal.
    error: Option<String>,
    /// On the node's monotonic clock.
    since_ms: u64,
}

/// The heal pages waiting, by a key of their own (page ids are the
/// backup's, and a backup that starts over uses them again).
pub(crate) struct HealPages<P> {
    next_key: u64,
    pages: BTreeMap<u64, HealPage<P>>,
    /// Chunks of content offered ahead of the change that names them,
    /// held until it comes (in this page or a later one) and made just
    /// before it, stored at this node's time then: made as they came,
    /// they could be let go (their keep run out) while the pages between
    /// took long, and the change refused for content not held.
    chunks: Vec<Entry<Command>>,
}

impl<P> Default for HealPages<P> {
    fn default() -> Self {
        HealPages {
            next_key: 0,
            pages: BTreeMap::new(),
            chunks: Vec::new(),
        }
    }
}

/// What a heal page made of the backup's changes, for its event.
#[derive(Default)]
struct HealTally {
    made: usize,
    as_facts: usize,
    conflicts: usize,
    passed_over: usize,
}

/// How long a persisted write waits for the lease to be confirmed again
/// before it is refused: three leases, within these bounds.
pub(crate) const WRITE_HOLD_MIN_MS: u64 = 100;

pub(crate) const WRITE_HOLD_MAX_MS: u64 = 6_000;

/// A write persisted while the lease was not valid: acknowledged once it is
/// (or once the backup has it), refused when the wait runs out. Never
/// acknowledged and then lost.
pub(crate) struct Held {
    seq: u64,
    client: ClientId,
    since_ms: u64,
}

impl<P: Clone, A> Replica<P, A> {
    /// This node now serves in `epoch`: it leads the stream, keeping
    /// `catch_up_changes` for a backup to catch up from.
    pub(crate) fn become_active(&mut self, epoch: u64) {
        let catch_up_changes = self.settings.catch_up_changes;
        if let Some(installed) = history_past_position(&mut self.tree) {
            self.store_installed(installed);
        }
        // A resync that did not finish installed entries ahead of the
        // position; the node serves the tree as it stands, so the
        // interaction state is checked against the directory it holds.
        self.ix.refresh_directory(&self.tree, &mut self.out, true);
        self.waiting.clear();
        let limits = Limits {
            retained_max: catch_up_changes,
            ..Limits::default()
        };
        let upto_seq = self.last_position().seq;
        let mut leader = Leader::new(epoch, upto_seq, limits);
        leader.remember_clients(self.recent_clients(limits.client_ids_max));
        self.leader = Some(leader);
        // What it holds may not all be stored yet: a retry of such a change
        // waits for the store (a crash would lose what it was told).
        self.writes.activation =
            (self.out.last_ticket() > self.writes.durable_ticket).then(|| Activation {
                upto_seq,
                acks: Vec::new(),
            });
        if self.writes.activation.is_some() {
            self.after_durable(AfterDurable::Activated);
        }
        self.backup = None;
        // A resync, heal or snapshot this node ran as a backup is over: its
        // request's time-out would start another from an active node.
        self.sync.resync = None;
        self.sync.heal = None;
        self.sync.snapshot = None;
        self.sync.taking = None;
        self.state = Replication::Alone;
    }

    /// Writes persisted but not acknowledged while the lease is not valid.
    pub fn held(&self) -> usize {
        self.writes.held.len()
    }

    /// Acknowledges the held writes the backup has, or all of them when the
    /// lease is valid again; refuses those that waited too long.
    pub(crate) fn release_held(&mut self) {
        let (now_ms, lease_valid) = (self.ctx.mono_ms, self.ctx.serving);
        if self.writes.held.is_empty() {
            return;
        }
        let on_backup = self.leader.as_ref().map_or(0, |l| l.backup_acked());
        let lease_ms = self.facts.lease_ms;
        let hold_ms = (3 * lease_ms).clamp(WRITE_HOLD_MIN_MS, WRITE_HOLD_MAX_MS);
        let active = self.ctx.active_elsewhere.clone();
        let this = self.facts.this.clone();
        for held in std::mem::take(&mut self.writes.held) {
            if lease_valid || held.seq <= on_backup {
                self.acknowledge(&held.client, held.seq);
                continue;
            }
            let Some(write) = self.writes.pending.remove(&held.client) else {
                continue;
            };
            if now_ms.saturating_sub(held.since_ms) >= hold_ms {
                self.answer_all(write, Err(WriteError::Unavailable {
                    message: format!(
                        "{} cannot confirm that it alone serves (its lease has not been renewed for {hold_ms} ms), so the change is not acknowledged; retry it with the same client id{}",
                        this,
                        active.as_ref().map(|a| format!(" on {a}")).unwrap_or_default()
                    ),
                    active: active.clone(),
                }));
            } else {
                self.writes.pending.insert(held.client.clone(), write);
                self.writes.held.push(held);
            }
        }
    }

    /// This node stopped serving: writes under way are refused.
    pub(crate) fn stop_serving(&mut self) {
        self.leader = None;
        self.waiting.clear();
        self.backup = None;
        self.writes.held.clear();
        self.writes.activation = None;
        let active = self.ctx.active_elsewhere.clone();
        for (_, write) in std::mem::take(&mut self.writes.pending) {
            self.answer_all(write, Err(WriteError::Unavailable {
                message: "this node stopped serving before the change was acknowledged; retry it on the active node with the same client id".into(),
                active: active.clone(),
            }));
        }
        self.follower = Follower::new(self.position());
    }

    /// A client's change, on the active node.
    pub(crate) fn write(&mut self, client: ClientId, who: String, op: Op, reply: A) {
        let Some(leader) = self.leader.as_mut() else {
            self.out.answer(
                reply,
                Err(WriteError::Unavailable {
                    message: format!(
                        "{} is not the active node; make configuration changes on the active node",
                        self.facts.this
                    ),
                    active: self.ctx.active_elsewhere.clone(),
                }),
            );
            return;
        };
        // A retry of a change already made is answered, not checked again.
        let retry = leader.known(&client).is_some();
        if !retry && let Err(e) = self.tree.check(&op) {
            self.out.answer(reply, Err(e.into()));
            return;
        }
        if !retry
            && let duet_config::Op::Put { path, object } = &op
            && let Err(e) = crate::directory::check(path, object)
        {
            self.out
                .answer(reply, Err(WriteError::Invalid(e.to_string())));
            return;
        }
        let edit = Edit {
            at_unix_ms: self.ctx.unix_ms,
            who,
            client,
            op,
            healed_from: None,
        };
        self.submit_change(Change::Config(edit), Some(Waiter::Client(reply)));
    }

    /// Makes a checked change of any state through the stream; `waiter`
    /// (if any) hears when it is acknowledged.
    pub(crate) fn submit_change(&mut self, change: Change, waiter: Option<Waiter<A>>) {
        let Some(leader) = self.leader.as_mut() else {
            self.answer_one(
                waiter,
                Err(WriteError::Unavailable {
                    message: format!("{} is not the active node", self.facts.this),
                    active: self.ctx.active_elsewhere.clone(),
                }),
            );
            return;
        };
        let client = change.client().to_string();
        let state = match change {
            Change::Config(_) => "config",
            Change::Interactions(_) => "interactions",
        };
        let since_ms = self.ctx.mono_ms;
        let commands = leader.write(since_ms, client.clone(), change);
        let write = self
            .writes
            .pending
            .entry(client)
            .or_insert_with(|| PendingWrite {
                waiters: Vec::new(),
                since_ms,
                state,
            });
        write.waiters.extend(waiter);
        self.lead(commands);
    }

    /// Tells everyone waiting for `write`.
    fn answer_all(&mut self, write: PendingWrite<A>, result: Result<u64, WriteError>) {
        for waiter in write.waiters {
            self.answer_one(Some(waiter), result.clone());
        }
    }

    /// Tells `waiter` (if any) how its write ended; a heal page hears
    /// once all its changes have.
    pub(crate) fn answer_one(
        &mut self,
        waiter: Option<Waiter<A>>,
        result: Result<u64, WriteError>,
    ) {
        match waiter {
            None => {}
            Some(Waiter::Client(to)) => self.out.answer(to, result),
            Some(Waiter::HealPage(key)) => {
                let Some(page) = self.writes.heal_pages.pages.get_mut(&key) else {
                    return;
                };
                page.left = page.left.saturating_sub(1);
                if let Err(e) = result {
                    page.error.get_or_insert(e.to_string());
                }
                if page.sealed && page.left == 0 {
                    self.heal_page_done(key, None);
                }
            }
        }
    }

    /// A heal page `id` from `to`, whose changes are about to be made
    /// ([`Replica::heal_page_submit`], then [`Replica::heal_page_seal`]).
    fn heal_page_open(&mut self, id: u64, to: P) -> u64 {
        let pages = &mut self.writes.heal_pages;
        pages.next_key += 1;
        let key = pages.next_key;
        pages.pages.insert(
            key,
            HealPage {
                id,
                to,
                left: 0,
                sealed: false,
                error: None,
                since_ms: self.ctx.mono_ms,
            },
        );
        key
    }

    /// Makes one change of heal page `key`.
    fn heal_page_submit(&mut self, key: u64, change: Change) {
        if let Some(page) = self.writes.heal_pages.pages.get_mut(&key) {
            page.left += 1;
        }
        self.submit_change(change, Some(Waiter::HealPage(key)));
    }

    /// Every change of heal page `key` is made: it is answered once they
    /// are acknowledged (at once when there were none, or they are).
    fn heal_page_seal(&mut self, key: u64) {
        let Some(page) = self.writes.heal_pages.pages.get_mut(&key) else {
            return;
        };
        page.sealed = true;
        if page.left == 0 {
            self.heal_page_done(key, None);
        }
    }

    /// Answers the heal page `key` (`error`: why, when it did not wait
    /// for its changes).
    fn heal_page_done(&mut self, key: u64, error: Option<String>) {
        if let Some(page) = self.writes.heal_pages.pages.remove(&key) {
            let error = page.error.or(error);
            self.out
                .send(page.to, StreamToBackup::HealReplayed { id: page.id, error });
        }
    }

    /// Heal pages whose changes were not all acknowledged in time are
    /// answered with the error (the backup offers them again).
    /// When the oldest heal page waiting is answered anyway.
    pub(crate) fn heal_pages_deadline(&self) -> Option<u64> {
        self.writes
            .heal_pages
            .pages
            .values()
            .map(|page| page.since_ms.saturating_add(HEAL_PAGE_WAIT_MS))
            .min()
    }

    pub(crate) fn heal_pages_overdue(&mut self) {
        let now_ms = self.ctx.mono_ms;
        let overdue: Vec<u64> = self
            .writes
            .heal_pages
            .pages
            .iter()
            .filter(|(_, page)| now_ms.saturating_sub(page.since_ms) >= HEAL_PAGE_WAIT_MS)
            .map(|(key, _)| *key)
            .collect();
        for key in overdue {
            let why = "the replayed changes were not acknowledged in time".to_string();
            self.heal_page_done(key, Some(why));
        }
    }

    /// Tells a client its change is acknowledged, at `seq`: it is
    /// committed (durable here, on the backup while in sync, and this node
    /// holds the right to serve), so the feeds show it.
    fn acknowledge(&mut self, client: &str, seq: u64) {
        self.commit_feed(seq);
        let Some(write) = self.writes.pending.remove(client) else {
            return;
        };
        self.out.metric(Metric::Acknowledged {
            state: write.state,
            latency_ms: self.ctx.mono_ms.saturating_sub(write.since_ms),
        });
        self.answer_all(write, Ok(seq));
    }

    pub(crate) fn lead(&mut self, commands: Vec<LeaderCommand<Change>>) {
        for command in commands {
            match command {
                LeaderCommand::Persist(entry) => {
                    let seq = entry.seq;
                    match self.apply_entry(entry, &Scope::Full) {
                        Ok(()) => self.after_durable(AfterDurable::Persisted(seq)),
                        Err(e) => self.out.event(Event::NotApplied {
                            seq,
                            error: e.to_string(),
                        }),
                    }
                }
                LeaderCommand::Send(entry) => self.send_to_backup(StreamToBackup::Entry(entry)),
                LeaderCommand::AckClient { client, seq } => match &mut self.writes.activation {
                    Some(activation) if seq <= activation.upto_seq => {
                        activation.acks.push((client, seq));
                    }
                    _ => self.ack_client(client, seq),
                },
                LeaderCommand::Resync { .. } => {
                    // The configuration's history to this node's position
                    // (with each change's epoch); the interaction state's
                    // snapshot is taken once the backup asks for it, after
                    // the configuration (`snapshot_request`). It starts
                    // once all of that is durable here: what a resync
                    // hands the backup must outlive a crash of this node,
                    // as the backup may then take over and acknowledge a
                    // client's retry from what it holds.
                    let upto = self.last_position();
                    let root = self.tree.digests().get(duet_config::digest::Bucket::ROOT);
                    let history = self.sync.history;
                    let start = StreamToBackup::ResyncStart {
                        upto,
                        root,
                        history,
                    };
                    if self.out.last_ticket() > self.writes.durable_ticket {
                        self.send_to_backup_once_durable(start);
                    } else {
                        self.send_to_backup(start);
                    }
                }
                LeaderCommand::Replication { state, why } => {
                    self.state = state;
                    if state == Replication::InSync {
                        self.send_to_backup(StreamToBackup::CaughtUp);
                    }
                    self.out.event(Event::Replication { state, why });
                }
            }
        }
    }

    /// The stream would acknowledge `client`'s change `seq`: only with the
    /// right to serve (the backup has it, or no other node can be
    /// serving); otherwise it is held.
    pub(crate) fn ack_client(&mut self, client: ClientId, seq: u64) {
        let on_backup = self
            .leader
            .as_ref()
            .is_some_and(|l| l.backup_acked() >= seq);
        let mutated = self.writes.mutation == Some(Mutation::AckWithoutLease);
        if on_backup || self.ctx.serving || mutated {
            self.acknowledge(&client, seq);
        } else {
            self.writes.held.push(Held {
                seq,
                client,
                since_ms: self.ctx.mono_ms,
            });
        }
    }

    /// Sends `body` to the backup, in order: behind a message still
    /// waiting for this node's writes to be durable, it waits too (an
    /// entry must not reach a diverged backup before its resync starts).
    pub(crate) fn send_to_backup(&mut self, body: StreamToBackup) {
        match &self.backup {
            Some(backup) if backup.waiting_messages > 0 => self.send_to_backup_once_durable(body),
            // A full outbox drops it; the lag bound or a later hello recovers.
            Some(backup) => self.out.send(backup.to.clone(), body),
            None => {}
        }
    }

    /// Sends `body` to the backup once what this node has written so far
    /// is durable.
    fn send_to_backup_once_durable(&mut self, body: StreamToBackup) {
        let Some(backup) = self.backup.as_mut() else {
            return;
        };
        backup.waiting_messages += 1;
        self.after_durable(AfterDurable::ToBackup(Box::new(body)));
    }

    /// A message that waited for durable writes goes (a hello since
    /// dropped those that waited for the one before; with the backup gone
    /// it goes nowhere).
    pub(crate) fn send_waiting_to_backup(&mut self, body: StreamToBackup) {
        if let Some(backup) = self.backup.as_mut() {
            backup.waiting_messages -= 1;
            self.out.send(backup.to.clone(), body);
        }
    }

    /// The backup said hello on its main connection (number `link`).
    pub(crate) fn backup_hello(
        &mut self,
        (applied, last): (Position, Position),
        full_resync: bool,
        history: HistoryId,
        to: P,
        link: u64,
    ) {
        let leading = self.leader.is_some();
        // A backup that holds nothing takes this node's history from the
        // History message sent first.
        let history = match leading && last == Position::ZERO {
            true => self.sync.history,
            false => history,
        };
        // A hello starts the conversation again (on a new connection, or
        // on this one after a resync): what waited to be sent for the one
        // before is not sent.
        self.waiting
            .retain(|(_, what)| !matches!(what, AfterDurable::ToBackup(_)));
        // So is a snapshot made for it: the backup installed it or gave it
        // up, and a resync takes a new one. Kept, it would hold a copy of
        // the whole state, content and all, for as long as this node serves.
        // And a heal's chunks still waiting for their change: a heal that
        // starts over offers them again.
        self.sync.snapshot_out = None;
        self.writes.heal_pages.chunks.clear();
        self.backup = Some(BackupLink {
            link,
            to,
            history,
            waiting_messages: 0,
        });
        if !leading {
            return;
        }
        self.send_to_backup(StreamToBackup::History(self.sync.history));
        // A backup whose last change (of either state) is not ours at
        // that number diverged (a former active's unacknowledged changes),
        // as did one of another history that holds any change (its
        // numbers say nothing here): it resynchronises.
        let by_seq_only = self.writes.mutation == Some(Mutation::HelloBySeqOnly);
        let known = |Position { epoch, seq }: Position| {
            let ours = self
                .epoch_of(seq)
                .is_some_and(|e| e == epoch || by_seq_only);
            seq == 0 || (history == self.sync.history && ours)
        };
        let ours = known(applied) && known(last) && last.seq <= self.last_position().seq;
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let commands = if ours && !full_resync {
            leader.backup_connected(applied)
        } else {
            leader.backup_diverged()
        };
        self.lead(commands);
    }

    pub(crate) fn backup_ack(&mut self, seq: u64) {
        if let Some(leader) = self.leader.as_mut() {
            let commands = leader.backup_ack(seq);
            self.lead(commands);
        }
    }

    /// The accepted main connection `link` closed; a late close of an older
    /// connection leaves the current one alone.
    pub(crate) fn backup_gone(&mut self, link: u64) {
        if self
            .backup
            .as_ref()
            .is_none_or(|current| current.link != link)
        {
            return;
        }
        self.backup = None;
        self.sync.snapshot_out = None;
        if let Some(leader) = self.leader.as_mut() {
            let commands = leader.backup_lost("its main link connection closed");
            self.lead(commands);
        }
    }

    /// The answer to a backup's sync request, compressed when `compress`
    /// (Switchover Use Compression For DS Request Sync); `None` for a
    /// request that cannot be read.
    pub(crate) fn sync_answer(&mut self, request: Request) -> Option<Answer> {
        sync::answer(&self.tree, request, self.settings.compress)
            .inspect_err(|e| {
                self.out.event(Event::SyncRequestNotAnswered {
                    error: e.to_string(),
                })
            })
            .ok()
    }

    /// A page of the backup's orphaned changes (made while it served on
    /// its own): each is made here as a new change, or kept as a conflict
    /// record, or skipped when its client id is known; the backup hears
    /// once all are acknowledged (by then stored here).
    pub(crate) fn heal_replay(&mut self, id: u64, fork: u64, records: Vec<HistoryRecord>, to: P) {
        let Some(leader) = self.leader.as_ref() else {
            let error = Some(format!("{} is not the active node", self.facts.this));
            self.out
                .send(to, StreamToBackup::HealReplayed { id, error });
            return;
        };
        let steps = heal::plan(
            &self.tree,
            fork,
            &records,
            |client| leader.known(client).is_some(),
            self.ctx.unix_ms,
        );
        let key = self.heal_page_open(id, to);
        for step in steps {
            match step {
                Replay::Make(edit) => {
                    if let (Op::Conflict { path, conflict }, Some(origin)) =
                        (&edit.op, &edit.healed_from)
                    {
                        self.out.event(Event::ConfigConflict {
                            path: path.clone(),
                            lost: Box::new(origin.clone()),
                            conflict: conflict.clone(),
                        });
                    }
                    self.heal_page_submit(key, Change::Config(edit));
                }
                Replay::Skip {
                    client,
                    why: Skip::Refused(e),
                } => self.out.event(Event::ConfigChangeRefused {
                    client,
                    error: e.to_string(),
                }),
                Replay::Skip { .. } => {}
            }
        }
        self.heal_page_seal(key);
    }
}

impl<P: Clone, A> Replica<P, A> {
    /// Whether this node holds the backup's interaction change `(epoch,
    /// seq)`: `None` when its history no longer says (compacted: too old
    /// to be a heal's orphan). Past the interaction state's position it
    /// lacks it, whatever the tree's: a node whose interaction snapshot
    /// was not yet stored when it stopped holds a tree further on than its
    /// interactions. Above the compacted history, a number it has no
    /// record of is one it lacks too: a resynchronisation that did not
    /// finish (this node took over during it) forgot its own record there
    /// before it installed the active node's. A backup of another history
    /// shares no change with this node, whatever their numbers.
    fn holds(&self, epoch: u64, seq: u64) -> Option<bool> {
        use duet_rsm::StateMachine;
        if self
            .backup
            .as_ref()
            .is_some_and(|backup| backup.history != self.sync.history)
        {
            return Some(false);
        }
        match self.epoch_of(seq) {
            Some(e) => Some(e == epoch),
            None if seq > self.ix.state.position().seq || seq > self.tree.history_floor() => {
                Some(false)
            }
            None => None,
        }
    }

    /// A page of the backup's interaction changes made while it served:
    /// those this node lacks are made here, one at a time, as
    /// [`duet_interactions::heal::decide`] says against the state after
    /// the one before; none is dropped. A chunk of content waits for the
    /// change that names it, and is made just before it. The backup hears
    /// once all are acknowledged.
    pub(crate) fn heal_interactions_here(&mut self, id: u64, entries: Vec<Entry<Command>>, to: P) {
        if self.leader.is_none() {
            let error = Some(format!("{} is not the active node", self.facts.this));
            self.out
                .send(to, StreamToBackup::HealReplayed { id, error });
            return;
        }
        let node = self.facts.peer.clone();
        let key = self.heal_page_open(id, to);
        let mut tally = HealTally::default();
        for entry in entries {
            if self.holds(entry.epoch, entry.seq) != Some(false) {
                continue;
            }
            if matches!(entry.change.change, duet_interactions::Change::Chunk { .. }) {
                self.writes.heal_pages.chunks.push(entry);
                continue;
            }
            // Stored now, all of them: none is let go before the change.
            for mut chunk in std::mem::take(&mut self.writes.heal_pages.chunks) {
                chunk.change.at_ms = self.ctx.unix_ms;
                self.heal_one(key, &node, chunk, &mut tally);
            }
            self.heal_one(key, &node, entry, &mut tally);
        }
        let HealTally {
            made,
            as_facts,
            conflicts,
            passed_over,
        } = tally;
        if made > 0 || passed_over > 0 {
            self.out.event(Event::InteractionsHealed {
                node: node.to_string(),
                made,
                as_facts,
                conflicts,
                passed_over,
            });
            self.ix.route_wanted = true;
        }
        self.heal_page_seal(key);
    }

    /// Decides one of the backup's changes and makes what comes of it as
    /// a change of heal page `key`.
    fn heal_one(&mut self, key: u64, node: &str, entry: Entry<Command>, tally: &mut HealTally) {
        use duet_interactions::heal::{self, Decision};
        let Some(leader) = self.leader.as_ref() else {
            return;
        };
        let decision = heal::decide(&self.ix.state, node, entry, |client| {
            leader.known(client).is_some()
        });
        let dropping = self.writes.mutation == Some(Mutation::HealDropsRefused);
        let command = match decision {
            None => return,
            Some(Decision::Fact(_) | Decision::Conflict(..)) if dropping => return,
            Some(Decision::Make(command)) => command,
            Some(Decision::Fact(command)) => {
                tally.as_facts += 1;
                command
            }
            Some(Decision::Conflict(command, lost)) => {
                tally.conflicts += 1;
                self.out.event(Event::InteractionConflict {
                    node: node.to_string(),
                    lost,
                });
                command
            }
            Some(Decision::PassedOver) => {
                tally.passed_over += 1;
                return;
            }
            Some(Decision::Unkept { client, why }) => {
                self.out.event(Event::InteractionChangeUnkept {
                    node: node.to_string(),
                    client,
                    why,
                });
                return;
            }
        };
        tally.made += 1;
        self.heal_page_submit(key, Change::Interactions(command));
    }
}

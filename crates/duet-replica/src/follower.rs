//! The backup's side: the stream applied, resynchronisation by digests,
//! and the heal that first sends the active node what this node made
//! while it served on its own.

use crate::Event;
use duet_config::HistoryRecord;
use duet_config::heal::{self, Heal, HealStep};
use duet_config::scope::Scope;
use duet_config::sync::{Answer, Installed, Request, Resync};
use duet_link::protocol::StreamToActive;
use duet_rsm::Position;
use duet_stream::{Entry, Follower, FollowerCommand};
use std::sync::Arc;

use crate::*;

/// A resynchronisation under way on the backup, and its request waiting
/// for an answer.
pub(crate) struct ResyncRun {
    session: Resync,
    upto: Position,
    request_id: u64,
    /// On the driver's monotonic clock.
    asked_at_ms: u64,
}

/// The resynchronisation the active node asked for, held while a heal
/// runs before it.
pub(crate) struct ResyncAsked {
    upto: Position,
    root: u128,
    scope: Scope,
    compress: bool,
}

pub(crate) enum HealStage {
    /// Comparing histories: paging through the active node's runs.
    Runs(Heal),
    /// Sending this node's orphaned changes a page at a time.
    Replay {
        fork: u64,
        pages: VecDeque<Vec<HistoryRecord>>,
        replayed: usize,
    },
    /// Sending the interaction changes this node made while it served, a
    /// page at a time (the active node makes those it lacks).
    Interactions(Offer),
}

/// The interaction changes a heal offers, paged as they go (during a heal
/// this node takes no stream entries, so its state stands still).
pub(crate) struct Offer {
    /// Changes not yet begun, oldest first.
    changes: VecDeque<Arc<Entry<duet_interactions::Command>>>,
    /// The chunks of the change begun and the change itself, those not
    /// yet in a page.
    begun: VecDeque<Arc<Entry<duet_interactions::Command>>>,
}

/// A heal under way on the backup: its request (or page) waiting for an
/// answer, and the resynchronisation that follows.
pub(crate) struct HealRun {
    stage: HealStage,
    then: ResyncAsked,
    request_id: u64,
    /// On the driver's monotonic clock.
    asked_at_ms: u64,
}

impl<P: Clone, A> Replica<P, A> {
    /// The main connection to the active node is up: say where we are.
    pub(crate) fn hello(&mut self) -> StreamToActive {
        self.follower = Follower::new(self.position());
        self.sync.resync = None;
        self.sync.heal = None;
        self.sync.snapshot = None;
        self.sync.taking = None;
        // Back to full replication after an Upgrade state: be made whole.
        self.hello_here(self.sync.filtered && self.settings.scope == Scope::Full)
    }

    /// Where this node stands, for the active node.
    pub(crate) fn hello_here(&self, full_resync: bool) -> StreamToActive {
        StreamToActive::Hello {
            applied: self.position(),
            last: self.last_position(),
            full_resync,
            history: self.sync.history,
        }
    }

    /// A change from the active node; what it says back goes once durable.
    /// The settings' scope says what this backup keeps (less in an
    /// Upgrade state).
    pub(crate) fn receive(&mut self, entry: Entry<Change>) {
        let scope = self.settings.scope.clone();
        if self.sync.resync.is_some()
            || self.sync.heal.is_some()
            || self.sync.snapshot.is_some()
            || self.leader.is_some()
        {
            // A heal or resync brings this (a hello follows it); a node that leads
            // the stream takes no entries from another.
            return;
        }
        if scope != Scope::Full {
            self.mark_filtered();
        }
        let mut replies = Vec::new();
        let mut failed = false;
        for command in self.follower.receive(entry) {
            match command {
                FollowerCommand::Apply(e) => {
                    let seq = e.seq;
                    if let Err(e) = self.apply_entry(e, &scope) {
                        failed = true;
                        self.out.event(Event::ReplicatedNotApplied {
                            seq,
                            error: e.to_string(),
                        });
                    }
                }
                // A change not applied and stored is not acknowledged: say
                // where this node really is, so the stream resumes from there.
                FollowerCommand::Ack { .. } if failed => {
                    self.follower = Follower::new(self.position());
                    replies.push(self.hello_here(false));
                }
                FollowerCommand::Ack { seq } => replies.push(StreamToActive::Ack { seq }),
                FollowerCommand::CatchUp { .. } => replies.push(self.hello_here(false)),
            }
        }
        // What this node says it holds goes once it is durable.
        for reply in replies {
            self.after_durable(AfterDurable::Reply(Box::new(reply)));
        }
    }

    /// The active node asks for a resynchronisation. A full copy with history
    /// heals first: the active node's runs are compared with this node's,
    /// and changes only this node made (while it served on its own) are
    /// made on the active node before the resync would drop them. A node
    /// of another `history` than the active node's shares no change with
    /// it: every change it keeps is offered. Returns the first request.
    pub(crate) fn resync_start(
        &mut self,
        upto: Position,
        root: u128,
        history: HistoryId,
    ) -> Option<StreamToActive> {
        let (scope, compress) = (self.settings.scope.clone(), self.settings.compress);
        self.sync.resync = None;
        self.sync.taking = Some(history);
        // A filtered copy (an Upgrade state) never served this history; an
        // empty one has nothing to heal.
        let has_history = self.tree.history_runs(0, u64::MAX).next().is_some();
        let heals = scope == Scope::Full && !self.sync.filtered && has_history;
        let then = ResyncAsked {
            upto,
            root,
            scope,
            compress,
        };
        if !heals {
            return self.heal_interactions(then);
        }
        let (heal, request) = Heal::start();
        let run = HealRun {
            stage: HealStage::Runs(heal),
            then,
            request_id: 0,
            asked_at_ms: self.ctx.mono_ms,
        };
        if history != self.sync.history {
            let orphans = heal::Orphans::of_another_history(&self.tree);
            return self.heal_orphans(run, orphans);
        }
        Some(self.heal_send(run, |id| StreamToActive::SyncRequest { id, request }))
    }

    /// Sends the heal's next message under a new id.
    pub(crate) fn heal_send(
        &mut self,
        mut run: HealRun,
        body: impl FnOnce(u64) -> StreamToActive,
    ) -> StreamToActive {
        self.sync.last_request_id += 1;
        run.request_id = self.sync.last_request_id;
        run.asked_at_ms = self.ctx.mono_ms;
        self.sync.heal = Some(run);
        body(self.sync.last_request_id)
    }

    /// A heal step that failed: like a resync answer that cannot be used,
    /// it starts over after Switchover DS Request Timeout (no answer
    /// matches id 0); this node's changes stay in its history meanwhile.
    pub(crate) fn heal_retry_later(&mut self, mut run: HealRun) {
        run.request_id = 0;
        run.asked_at_ms = self.ctx.mono_ms;
        self.sync.heal = Some(run);
    }

    /// The active node's runs, during a heal.
    pub(crate) fn heal_answer(&mut self, answer: Answer) -> Option<StreamToActive> {
        let mut run = self.sync.heal.take()?;
        let HealStage::Runs(session) = &mut run.stage else {
            self.sync.heal = Some(run);
            return None;
        };
        match session.on_answer(&self.tree, answer) {
            Err(e) => {
                self.out.event(Event::HealCompareFailed {
                    error: e.to_string(),
                });
                self.heal_retry_later(run);
                None
            }
            Ok(HealStep::Ask(request)) => {
                Some(self.heal_send(run, |id| StreamToActive::SyncRequest { id, request }))
            }
            Ok(HealStep::Replay(orphans)) => self.heal_orphans(run, orphans),
        }
    }

    /// The changes this node made that the active node lacks go to it a
    /// page at a time; then its interaction changes.
    fn heal_orphans(&mut self, mut run: HealRun, orphans: heal::Orphans) -> Option<StreamToActive> {
        if orphans.records.is_empty() {
            return self.heal_interactions(run.then);
        }
        self.out.event(Event::HealOrphans {
            changes: orphans.records.len(),
            fork: orphans.fork,
        });
        let mut pages: VecDeque<_> = heal::pages(orphans.records).into();
        let records = pages.pop_front()?;
        let fork = orphans.fork;
        run.stage = HealStage::Replay {
            fork,
            replayed: records.len(),
            pages,
        };
        Some(self.heal_send(run, |id| StreamToActive::HealReplay { id, fork, records }))
    }

    /// The active node made (or failed to make) a page of this node's
    /// orphaned changes: the next page, or the resynchronisation, which
    /// may now drop them.
    pub(crate) fn heal_replayed(
        &mut self,
        id: u64,
        error: Option<String>,
    ) -> Option<StreamToActive> {
        if self.sync.heal.as_ref()?.request_id != id {
            return None;
        }
        let mut run = self.sync.heal.take()?;
        if let HealStage::Interactions(offer) = &mut run.stage {
            if let Some(e) = error {
                self.out.event(Event::HealInteractionsRefused { error: e });
                self.heal_retry_later(run);
                return None;
            }
            return match offer.next_page(&self.ix.state) {
                Some(entries) => {
                    Some(self.heal_send(run, |id| StreamToActive::HealInteractions { id, entries }))
                }
                None => self.resync_begin(run.then),
            };
        }
        let HealStage::Replay {
            fork,
            pages,
            replayed,
        } = &mut run.stage
        else {
            self.sync.heal = Some(run);
            return None;
        };
        if let Some(e) = error {
            self.out.event(Event::HealReplayRefused { error: e });
            self.heal_retry_later(run);
            return None;
        }
        let fork = *fork;
        match pages.pop_front() {
            Some(records) => {
                *replayed += records.len();
                Some(self.heal_send(run, |id| StreamToActive::HealReplay { id, fork, records }))
            }
            None => {
                self.out.event(Event::HealReplayed { changes: *replayed });
                self.heal_interactions(run.then)
            }
        }
    }

    /// Before the resynchronisation replaces the interaction state: the
    /// interaction changes this node holds (not those made because it
    /// served, which the active node makes itself) go to the active node,
    /// which makes those it lacks, once each by their client ids. Those of
    /// every epoch: a node cut off while it served has acknowledged its
    /// own, and the active node may have lost the last of its own in a
    /// crash (applied, not yet stored) that this node holds and has
    /// acknowledged to a client's retry.
    pub(crate) fn heal_interactions(&mut self, then: ResyncAsked) -> Option<StreamToActive> {
        let changes: VecDeque<_> = if then.scope == Scope::Full && !self.sync.filtered {
            (self.ix.feed.recent())
                .filter(|e| !e.change.made_by_serving())
                .cloned()
                .collect()
        } else {
            VecDeque::new()
        };
        let count = changes.len();
        let mut offer = Offer {
            changes,
            begun: VecDeque::new(),
        };
        let Some(entries) = offer.next_page(&self.ix.state) else {
            return self.resync_begin(then);
        };
        self.out.event(Event::HealOffering { changes: count });
        let run = HealRun {
            stage: HealStage::Interactions(offer),
            then,
            request_id: 0,
            asked_at_ms: self.ctx.mono_ms,
        };
        Some(self.heal_send(run, |id| StreamToActive::HealInteractions { id, entries }))
    }

    /// Starts the resynchronisation; returns the first request (compressed
    /// when asked), or the hello that follows an already equal tree.
    pub(crate) fn resync_begin(&mut self, asked: ResyncAsked) -> Option<StreamToActive> {
        let ResyncAsked {
            upto,
            root,
            scope,
            compress,
        } = asked;
        self.out.event(Event::ResyncStarted { upto_seq: upto.seq });
        if scope != Scope::Full {
            self.mark_filtered();
        }
        self.sync.scope_full = scope == Scope::Full;
        if self.sync.scope_full && self.sync.filtered {
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
            Some(request) => Some(self.ask(session, upto, request)),
            None => self.resync_done(session, upto),
        }
    }

    /// Sends the resynchronisation's next request, under a new id.
    pub(crate) fn ask(
        &mut self,
        session: Resync,
        upto: Position,
        request: Request,
    ) -> StreamToActive {
        self.sync.last_request_id += 1;
        self.sync.resync = Some(ResyncRun {
            session,
            upto,
            request_id: self.sync.last_request_id,
            asked_at_ms: self.ctx.mono_ms,
        });
        StreamToActive::SyncRequest {
            id: self.sync.last_request_id,
            request,
        }
    }

    /// The seed's Switchover DS Request Timeout: a resynchronisation request
    /// not answered in time is given up on, and the backup asks to be
    /// resynchronised again (by digests, so what was already copied is not
    /// sent again). Returns the hello to send.
    /// When the backup's request to the active node under way (a resync,
    /// a heal or a snapshot page) is given up on.
    pub(crate) fn resync_deadline(&self) -> Option<u64> {
        let asked_at_ms = match (&self.sync.resync, &self.sync.heal, &self.sync.snapshot) {
            (Some(run), _, _) => run.asked_at_ms,
            (None, Some(heal), _) => heal.asked_at_ms,
            (None, None, Some(snapshot)) => snapshot.asked_at_ms,
            (None, None, None) => return None,
        };
        Some(asked_at_ms.saturating_add(self.settings.ds_request_timeout_ms))
    }

    pub(crate) fn resync_overdue(&mut self) -> Option<StreamToActive> {
        let timeout_ms = self.settings.ds_request_timeout_ms;
        if self
            .resync_deadline()
            .is_none_or(|deadline| self.ctx.mono_ms < deadline)
        {
            return None;
        }
        self.out.event(Event::SyncRequestTimedOut {
            timeout_s: timeout_ms / 1_000,
        });
        self.hello();
        Some(self.hello_here(true))
    }

    pub(crate) fn resync_answer(&mut self, id: u64, answer: Answer) -> Option<StreamToActive> {
        if self
            .sync
            .heal
            .as_ref()
            .is_some_and(|run| run.request_id == id)
        {
            return self.heal_answer(answer);
        }
        // An answer to a request given up on is not this request's.
        if self.sync.resync.as_ref()?.request_id != id {
            return None;
        }
        let ResyncRun {
            mut session, upto, ..
        } = self.sync.resync.take()?;
        let next = session.on_answer(&mut self.tree, answer);
        let installed = std::mem::take(&mut session.installed);
        self.store_installed(installed);
        let next = match next {
            Ok(next) => next,
            failed => {
                if let Err(e) = failed {
                    self.out.event(Event::SyncAnswerUnreadable {
                        error: e.to_string(),
                    });
                }
                // Asking again at once could loop on a faulty peer or disk:
                // the resync starts over after Switchover DS Request Timeout,
                // as for a request not answered (no answer matches id 0).
                self.sync.resync = Some(ResyncRun {
                    session,
                    upto,
                    request_id: 0,
                    asked_at_ms: self.ctx.mono_ms,
                });
                return None;
            }
        };
        match next {
            Some(request) => Some(self.ask(session, upto, request)),
            None => self.resync_done(session, upto),
        }
    }

    /// The resync is complete; its hello goes once all of it is durable.
    pub(crate) fn resync_done(
        &mut self,
        session: Resync,
        upto: Position,
    ) -> Option<StreamToActive> {
        if self.sync.scope_full && self.sync.filtered {
            self.sync.filtered = false;
            self.out.persist(StoreWrite::Filtered(false));
        }
        // The tree takes its position with the interaction snapshot: a
        // node that stops or takes over before that holds a tree ahead of
        // its position (a resync that did not finish), never a tree whose
        // interactions lag it, which would serve without changes it holds
        // itself out as having.
        self.out.event(Event::ConfigResynchronised {
            entries: session.changed,
            history_records: session.history_changed,
            requests: session.requests,
            compressed_answers: session.compressed_answers,
        });
        // The interaction state follows, at the same position.
        Some(self.snapshot_begin(upto))
    }
}

/// The largest page of interaction changes offered in a heal, well inside
/// a frame (one change larger than this gets a page of its own).
const HEAL_PAGE_BYTES: usize = 512 * 1024;

impl Offer {
    /// The next page, of at most `HEAL_PAGE_BYTES` (one larger entry
    /// alone): each change after the chunks of the content it refers to
    /// that `state` holds, their bytes copied as the page is made (not
    /// all at once). `None` once every change is offered.
    fn next_page(
        &mut self,
        state: &duet_interactions::Interactions,
    ) -> Option<Vec<Entry<duet_interactions::Command>>> {
        let mut page = Vec::new();
        let mut bytes = 0;
        loop {
            if self.begun.is_empty() {
                let Some(change) = self.changes.pop_front() else {
                    break;
                };
                self.begun = with_content(state, change);
            }
            let Some(size) = self
                .begun
                .front()
                .map(|entry| duet_interactions::encode::size_of(&**entry))
            else {
                break;
            };
            if !page.is_empty() && bytes + size > HEAL_PAGE_BYTES {
                break;
            }
            let Some(entry) = self.begun.pop_front() else {
                break;
            };
            bytes += size;
            // A chunk made for the heal is held only here: moved, not copied.
            page.push(Arc::try_unwrap(entry).unwrap_or_else(|shared| (*shared).clone()));
        }
        (!page.is_empty()).then_some(page)
    }
}

/// `entry`, after the chunks of the content it refers to (those the
/// state holds, each once), as changes at its position (the active node
/// stores them at its own time, just before the change): the feed keeps
/// no chunk changes, the state keeps their bytes. Each change brings its
/// own: the active node skips a change it holds, and its chunks with it.
fn with_content(
    state: &duet_interactions::Interactions,
    entry: Arc<Entry<duet_interactions::Command>>,
) -> VecDeque<Arc<Entry<duet_interactions::Command>>> {
    let command = &entry.change;
    let mut sent = std::collections::HashSet::new();
    let mut out = VecDeque::new();
    for name in command.change.blobs().into_iter().flat_map(|b| &b.chunks) {
        let Some(chunk) = state.chunk(name) else {
            continue;
        };
        if !sent.insert(name) {
            continue;
        }
        out.push_back(Arc::new(Entry {
            epoch: entry.epoch,
            seq: entry.seq,
            change: duet_interactions::Command::new(
                format!("{}/chunk/{name}", command.client),
                command.at_ms,
                command.actor.clone(),
                duet_interactions::Change::Chunk {
                    name: name.clone(),
                    bytes: chunk.bytes.clone(),
                },
            ),
        }));
    }
    out.push_back(entry);
    out
}

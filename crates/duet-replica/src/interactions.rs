//! The interaction state's part of replication: applying its changes,
//! the directory it is checked against (derived from the configuration
//! tree at the same stream position on both nodes), its store log and
//! rows, the ACD router on the active node, the outbox, and the live
//! feed the API's WebSockets follow.

use std::sync::Arc;

use duet_interactions::{Command, Directory, Interactions, Router};
use duet_link::Change;
use duet_rsm::{Position, StateMachine};
use duet_stream::Entry;

use crate::directory;
use crate::effects::Effects;
use crate::feed::Feed;
use crate::io::Metric;
use crate::outbox::Outbox;
use crate::persist::{LoadedInteractions, ROWS_EVERY, ROWS_STORE_MS, StoreWrite};
use crate::{Replica, Waiter, WriteError};

/// The live interaction state with what replication keeps beside it.
pub struct InteractionsPart {
    pub state: Interactions,
    pub(crate) router: Router,
    /// Commands logged since the rows were last taken.
    logged: u64,
    /// On the node's monotonic clock: when the rows were last taken.
    rows_taken_ms: u64,
    /// On the wall clock: when the router last decided.
    pub(crate) routed_unix_ms: u64,
    /// The directory changed with the last configuration change.
    directory_changed: bool,
    /// Rises whenever the state takes a new directory.
    pub(crate) directory_generation: u64,
    /// Changes since the router last decided may give it work; it runs
    /// once per batch of the task's messages, not after each change.
    pub(crate) route_wanted: bool,
    /// Email replies and agents' messages not yet taken.
    pub(crate) outbox: Outbox,
    /// Every applied interaction change, for the API's live views.
    pub feed: Feed,
}

impl InteractionsPart {
    /// The state as loaded; the commands logged are the feed's recent
    /// ones (a heal finds them all, a resuming client those replayed on
    /// the rows).
    pub(crate) fn new(loaded: LoadedInteractions) -> InteractionsPart {
        let LoadedInteractions {
            state,
            logged: entries,
            from,
        } = loaded;
        let logged = entries.iter().filter(|(e, _)| e.seq > from).count() as u64;
        let mut feed = Feed::new(Position::new(0, from));
        // What the store holds is durable here: committed as far as this
        // node can tell (a diverged part is resynchronised away, and the
        // feed with it).
        let mut last = None;
        for (entry, no_op) in entries {
            last = Some(entry.seq);
            // Nothing follows the feed yet (and no mutation is in).
            feed.push(Arc::new(entry), no_op);
        }
        if let Some(last) = last {
            // Nobody follows the feed yet: nothing to publish.
            feed.commit(last);
        }
        InteractionsPart {
            outbox: Outbox::new(&state),
            state,
            router: Router::new(),
            logged,
            rows_taken_ms: 0,
            routed_unix_ms: 0,
            directory_changed: false,
            directory_generation: 0,
            route_wanted: true,
            feed,
        }
    }

    /// A configuration change touched `path`: the directory may change.
    pub(crate) fn config_changed(&mut self, path: &duet_config::TreePath) {
        if directory::affects(path) {
            self.directory_changed = true;
        }
    }

    /// The configuration changed the directory's part of the tree since
    /// the directory was last derived from it.
    pub(crate) fn directory_pending(&self) -> bool {
        self.directory_changed
    }

    /// Applies a change at `at`, logs it, and stores the changed rows
    /// when due.
    pub(crate) fn apply<P, A>(
        &mut self,
        out: &mut Effects<P, A>,
        entry: Entry<Command>,
    ) -> Result<(), duet_interactions::Error> {
        let at = Position::new(entry.epoch, entry.seq);
        let before = entry
            .change
            .change
            .interaction()
            .and_then(|id| self.state.get(id))
            .map(|ix| (ix.routing.queue.to_string(), ix.visit.since_ms));
        let no_op = self.state.apply(at, &entry.change)?.is_empty();
        count(out, &entry.change, before);
        self.outbox.applied(&self.state, &entry.change.change);
        let entry = Arc::new(entry);
        out.persist(StoreWrite::Interaction((*entry).clone()));
        if let Some(early) = self.feed.push(entry, no_op) {
            out.push(crate::Output::Publish(early));
        }
        self.logged += 1;
        if self.logged >= ROWS_EVERY {
            self.store_rows(out);
        }
        Ok(())
    }

    /// The state was replaced by a snapshot at `position`: what is derived
    /// from it is derived again (the directory, the outbox, the feed), and
    /// it is stored whole.
    pub(crate) fn installed<P, A>(
        &mut self,
        tree: &duet_config::Tree,
        out: &mut Effects<P, A>,
        position: Position,
    ) {
        self.write_rows(out, true);
        self.refresh_directory(tree, out, true);
        self.outbox = Outbox::new(&self.state);
        if self.feed.reset(position) {
            out.push(crate::Output::FeedReset);
        }
    }

    /// Stores the rows changed since the last time at the state's
    /// position (nothing when nothing was logged or changed); the log
    /// before it is replayed no more. Taking references to the changed
    /// items is all it costs here: the writer's thread encodes them.
    pub(crate) fn store_rows<P, A>(&mut self, out: &mut Effects<P, A>) {
        self.write_rows(out, false);
    }

    /// The rows are taken at a tick, at `now_ms` (the node's monotonic
    /// clock).
    pub(crate) fn store_rows_at<P, A>(&mut self, out: &mut Effects<P, A>, now_ms: u64) {
        self.rows_taken_ms = now_ms;
        self.store_rows(out);
    }

    /// When the rows changed since they were last taken are due to be
    /// stored (on the node's monotonic clock).
    pub(crate) fn rows_deadline(&self) -> Option<u64> {
        (self.logged > 0).then(|| self.rows_taken_ms.saturating_add(ROWS_STORE_MS))
    }

    /// `replaced`: the state was replaced, and the log before it (another
    /// history) goes too.
    fn write_rows<P, A>(&mut self, out: &mut Effects<P, A>, replaced: bool) {
        let rows = self.state.take_rows();
        if rows.is_empty() && self.logged == 0 && !replaced {
            return;
        }
        self.logged = 0;
        out.persist(StoreWrite::InteractionRows {
            at: self.state.position(),
            rows,
            replaced,
        });
    }

    /// After a configuration change (or a resync) the directory is derived
    /// again; when it changed, the changed rows are stored before the
    /// state takes it, so the log after them replays against this
    /// directory.
    pub(crate) fn refresh_directory<P, A>(
        &mut self,
        tree: &duet_config::Tree,
        out: &mut Effects<P, A>,
        force: bool,
    ) {
        if !self.directory_changed && !force {
            return;
        }
        self.directory_changed = false;
        let directory: Directory = directory::from_tree(tree);
        if &directory != self.state.directory() {
            self.directory_generation += 1;
            self.store_rows(out);
            self.state.set_directory(directory);
            // A new member, more room, a queue: offers it may allow.
            self.route_wanted = true;
        }
    }
}

/// Counts what an applied change did, for the operator's graphs; `before`
/// is the interaction's queue and queue entry time before the change.
fn count<P, A>(out: &mut Effects<P, A>, command: &Command, before: Option<(String, u64)>) {
    use duet_interactions::Change as Ix;
    let queue = || before.as_ref().map_or_else(String::new, |(q, _)| q.clone());
    let metric = match &command.change {
        Ix::Create(new) => Metric::Created {
            media: new.media.name(),
        },
        Ix::Offer { .. } => Metric::Offered { queue: queue() },
        Ix::OfferTimedOut { .. } | Ix::Reject { .. } => Metric::NoAnswer { queue: queue() },
        Ix::Accept { .. } => match before {
            Some((queue, since_ms)) => Metric::QueueWait {
                queue,
                waited_ms: command.at_ms.saturating_sub(since_ms),
            },
            None => return,
        },
        _ => return,
    };
    out.metric(metric);
}

/// The attribute naming an SMS or social interaction's conversation.
pub const CONVERSATION: &str = "conversation";

/// Rounds of routing decisions made in one go at most; the next tick
/// carries on, so a large backlog never stalls the task.
const ROUTE_ROUNDS_MAX: usize = 4;

/// The router decides at least this often while leading, without a
/// change or a deadline of its own: a callback whose window opens is not
/// indexed.
pub const ROUTE_IDLE_MS: u64 = 1_000;

impl<P: Clone, A> Replica<P, A> {
    /// Email addresses and their queues, for the intake.
    pub fn mail_queues(&self) -> std::collections::BTreeMap<String, String> {
        crate::directory::mail_queues(&self.tree)
    }

    /// Rises whenever the interaction state takes a new directory.
    pub fn directory_generation(&self) -> u64 {
        self.ix.directory_generation
    }

    /// A client's interaction change, on the active node: checked against
    /// the state (a retry of a change already made is answered, not
    /// checked again), made on the stream, then routed.
    pub(crate) fn write_interaction(&mut self, command: Command, waiter: Waiter<A>) {
        let Some(leader) = self.leader.as_ref() else {
            let refused = WriteError::Unavailable {
                message: format!(
                    "{} is not the active node; send it to the active node",
                    self.facts.this
                ),
                active: self.ctx.active_elsewhere.clone(),
            };
            self.answer_one(Some(waiter), Err(refused));
            return;
        };
        let retry = leader.known(&command.client).is_some();
        if !retry && let Err(e) = self.ix.state.check(&command) {
            self.answer_one(Some(waiter), Err(e.into()));
            return;
        }
        let may_route = duet_interactions::routing::may_route(&command.change);
        self.submit_change(Change::Interactions(command), Some(waiter));
        self.ix.route_wanted |= may_route;
    }

    /// The ACD router's decisions (offers, offer timeouts, no-answer Not
    /// Ready, ACW expiry, forgetting), made as changes on the stream like
    /// any other, so a new active node carries on from them. A few rounds
    /// at a time: when more may be waiting it stays wanted
    /// ([`Replica::routing_wanted`]), so the runtime comes back after its
    /// other work.
    fn route(&mut self) {
        self.ix.route_wanted = false;
        self.ix.routed_unix_ms = self.ctx.unix_ms;
        if self.leader.is_none() {
            return;
        }
        for _ in 0..ROUTE_ROUNDS_MAX {
            let commands = self.ix.router.decide(&self.ix.state, self.ctx.unix_ms);
            if commands.is_empty() {
                return;
            }
            for command in commands {
                // Nobody waits for the router's acknowledgement.
                self.submit_change(Change::Interactions(command), None);
            }
        }
        self.ix.route_wanted = true;
    }

    /// A new active node takes over (the state's `Takeover`: desktops of
    /// the old one lose their connection, the statistics interval splits,
    /// offers are routed again, the settings' recovery decides what
    /// carries on); the desktops already connected here stay attached.
    pub(crate) fn take_over(&mut self, epoch: u64, desktops_here: Vec<String>) {
        let at = self.ctx.unix_ms;
        let system = |client: String, change| {
            Command::new(client, at, duet_interactions::Actor::System, change)
        };
        let recovery = self.settings.recovery;
        let mut changes = vec![system(
            format!("takeover/{epoch}"),
            duet_interactions::Change::Takeover { recovery },
        )];
        for agent in desktops_here {
            let attached = duet_interactions::Change::DesktopAttached {
                agent: agent.clone(),
            };
            changes.push(system(format!("desktop-here/{at}/{agent}"), attached));
        }
        for command in changes {
            if self.ix.state.check(&command).is_ok() {
                self.submit_change(Change::Interactions(command), None);
            }
        }
    }

    /// Whether the router has more to decide now.
    pub fn routing_wanted(&self) -> bool {
        self.leader.is_some() && self.ix.route_wanted
    }

    /// When the router next has something to decide without a new
    /// change, on the wall clock: a routing deadline (an offer's, an ACW
    /// timer's), or [`ROUTE_IDLE_MS`] after it last decided (a callback
    /// whose window opens is not indexed). Only while leading.
    pub(crate) fn routing_deadline(&self) -> Option<u64> {
        self.leader.as_ref()?;
        let idle = self.ix.routed_unix_ms.saturating_add(ROUTE_IDLE_MS);
        Some(
            self.ix
                .router
                .next_deadline(&self.ix.state)
                .map_or(idle, |at| at.min(idle)),
        )
    }

    /// Routes when changes since the last decision asked for it, a
    /// routing deadline (an offer's, an ACW timer's) has come, or it has
    /// not decided for [`ROUTE_IDLE_MS`].
    pub(crate) fn route_if_wanted(&mut self) {
        let due = self
            .routing_deadline()
            .is_some_and(|at| at <= self.ctx.unix_ms);
        if self.leader.is_some() && (self.ix.route_wanted || due) {
            self.route()
        }
    }
}

//! The interaction state's part of replication: applying its changes,
//! the directory it is checked against (derived from the configuration
//! tree at the same stream position on both nodes), its store log and
//! rows, the ACD router on the active node, the live feed the API's
//! WebSockets follow, and the snapshot a resynchronising backup fetches.

use crate::answer::Answer as _;
use std::sync::Arc;

use duet_interactions::model::{Agent, Recovery};
use duet_interactions::state::{IntervalEnd, IntervalRecord};
use duet_interactions::{Command, Directory, Interaction, Interactions, QueueFigures, Router};
use duet_link::Change;
use duet_rsm::{Position, StateMachine};
use duet_stream::Entry;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

pub use super::feed::{Feed, Follow};

use super::{Replicator, WriteError};
use crate::events::unix_ms;
use crate::metrics::{Metrics, label};
use crate::shared::Shared;

use crate::directory;
use crate::store::{ROWS_EVERY, StoreWrite};
use crate::store_writer::StoreWriter;

/// The live interaction state with what replication keeps beside it.
pub struct InteractionsPart {
    pub state: Interactions,
    pub router: Router,
    /// Commands logged since the rows were last taken.
    logged: u64,
    /// The directory changed with the last configuration change.
    directory_changed: bool,
    /// Rises whenever the state takes a new directory.
    pub directory_generation: u64,
    /// Changes since the router last decided may give it work; it runs
    /// once per batch of the task's messages, not after each change.
    pub route_wanted: bool,
    /// The active node's snapshot for a resynchronising backup, taken at
    /// the resync's position.
    pub snapshot_out: Option<super::snapshot::SnapshotOut>,
    /// Sent email replies the relay has not taken (from the state).
    pub outbox: std::collections::BTreeSet<super::outbox::ReplyKey>,
    /// Those being relayed by a task now.
    pub relaying: std::collections::BTreeSet<super::outbox::ReplyKey>,
    /// Agents' SMS and social messages the provider has not taken.
    pub outbound: std::collections::BTreeSet<super::outbox::ReplyKey>,
    /// Those being posted by a task now.
    pub sending: std::collections::BTreeSet<super::outbox::ReplyKey>,
    /// Every applied interaction change, for the API's live views.
    pub feed: Feed,
}

impl InteractionsPart {
    /// The state as loaded; the commands logged are the feed's recent
    /// ones (a heal finds them all, a resuming client those replayed on
    /// the rows).
    pub fn new(loaded: crate::store::LoadedInteractions) -> InteractionsPart {
        let crate::store::LoadedInteractions {
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
            feed.push(Arc::new(entry), no_op);
        }
        if let Some(last) = last {
            feed.commit(last);
        }
        InteractionsPart {
            outbox: super::outbox::pending(&state),
            relaying: Default::default(),
            outbound: super::outbox::pending_messages(&state),
            sending: Default::default(),
            state,
            router: Router::new(),
            logged,
            directory_changed: false,
            directory_generation: 0,
            route_wanted: true,
            snapshot_out: None,
            feed,
        }
    }

    /// A configuration change touched `path`: the directory may change.
    pub fn config_changed(&mut self, path: &duet_config::TreePath) {
        if directory::affects(path) {
            self.directory_changed = true;
        }
    }

    /// Applies a change at `at`, logs it, and stores the changed rows
    /// when due.
    pub fn apply(
        &mut self,
        writer: &mut StoreWriter,
        metrics: &Metrics,
        entry: Entry<Command>,
    ) -> Result<(), duet_interactions::Error> {
        let at = Position::new(entry.epoch, entry.seq);
        let before = entry
            .change
            .change
            .interaction()
            .and_then(|id| self.state.get(id))
            .map(|ix| (ix.routing.queue.clone(), ix.visit.since_ms));
        let no_op = self.state.apply(at, &entry.change)?.is_empty();
        count(metrics, &entry.change, before);
        match &entry.change.change {
            duet_interactions::Change::EmailSend { id, reply_id } => {
                self.outbox.insert((id.clone(), reply_id.clone()));
            }
            duet_interactions::Change::EmailRelayed { id, reply_id, .. } => {
                let key = (id.clone(), reply_id.clone());
                self.outbox.remove(&key);
                self.relaying.remove(&key);
            }
            duet_interactions::Change::Message {
                id,
                message_id,
                sender: duet_interactions::model::Sender::Agent(_),
                ..
            } if self
                .state
                .get(id)
                .is_some_and(|ix| ix.attributes.contains_key(CONVERSATION)) =>
            {
                self.outbound.insert((id.clone(), message_id.clone()));
            }
            duet_interactions::Change::MessageDelivery { id, message_id, .. } => {
                let key = (id.clone(), message_id.clone());
                self.outbound.remove(&key);
                self.sending.remove(&key);
            }
            _ => {}
        }
        let entry = Arc::new(entry);
        writer.write(StoreWrite::Interaction((*entry).clone()));
        self.feed.push(entry, no_op);
        self.logged += 1;
        if self.logged >= ROWS_EVERY {
            self.store_rows(writer);
        }
        Ok(())
    }

    /// The state was replaced by a snapshot at `position`: what is derived
    /// from it is derived again (the directory, the outbox, the feed), and
    /// it is stored whole.
    pub fn installed(
        &mut self,
        tree: &duet_config::Tree,
        writer: &mut StoreWriter,
        position: Position,
    ) {
        self.write_rows(writer, true);
        self.refresh_directory(tree, writer, true);
        self.outbox = super::outbox::pending(&self.state);
        self.relaying.clear();
        self.outbound = super::outbox::pending_messages(&self.state);
        self.sending.clear();
        self.feed.reset(position);
    }

    /// Stores the rows changed since the last time at the state's
    /// position (nothing when nothing was logged or changed); the log
    /// before it is replayed no more. Taking references to the changed
    /// items is all it costs here: the writer's thread encodes them.
    pub fn store_rows(&mut self, writer: &mut StoreWriter) {
        self.write_rows(writer, false);
    }

    /// `replaced`: the state was replaced, and the log before it (another
    /// history) goes too.
    fn write_rows(&mut self, writer: &mut StoreWriter, replaced: bool) {
        let rows = self.state.take_rows();
        if rows.is_empty() && self.logged == 0 && !replaced {
            return;
        }
        self.logged = 0;
        writer.write(StoreWrite::InteractionRows {
            at: self.state.position(),
            rows,
            replaced,
        });
    }

    /// After a configuration change (or a resync) the directory is derived
    /// again; when it changed, the changed rows are stored before the
    /// state takes it, so the log after them replays against this
    /// directory.
    pub fn refresh_directory(
        &mut self,
        tree: &duet_config::Tree,
        writer: &mut StoreWriter,
        force: bool,
    ) {
        if !self.directory_changed && !force {
            return;
        }
        self.directory_changed = false;
        let directory: Directory = directory::from_tree(tree);
        if &directory != self.state.directory() {
            self.directory_generation += 1;
            self.store_rows(writer);
            self.state.set_directory(directory);
        }
    }
}

/// Counts what an applied change did, for the operator's graphs; `before`
/// is the interaction's queue and queue entry time before the change.
fn count(metrics: &Metrics, command: &Command, before: Option<(String, u64)>) {
    let queue = || before.as_ref().map_or_else(String::new, |(q, _)| q.clone());
    match &command.change {
        duet_interactions::Change::Create(new) => {
            metrics
                .interactions_created
                .get_or_create(&label("media", new.media.name()))
                .inc();
        }
        duet_interactions::Change::Offer { .. } => {
            metrics.offers.get_or_create(&label("queue", queue())).inc();
        }
        duet_interactions::Change::OfferTimedOut { .. }
        | duet_interactions::Change::Reject { .. } => {
            metrics
                .no_answers
                .get_or_create(&label("queue", queue()))
                .inc();
        }
        duet_interactions::Change::Accept { .. } => {
            if let Some((queue, since_ms)) = before {
                let waited_ms = command.at_ms.saturating_sub(since_ms);
                metrics
                    .queue_wait_seconds
                    .get_or_create(&label("queue", queue))
                    .observe(waited_ms as f64 / 1000.0);
            }
        }
        _ => {}
    }
}

/// The API's requests about the contact center, answered by the
/// replication task (which owns the state) without waiting on anything.
pub enum IxRequest {
    /// A change from a client (agent, customer, intake, supervisor), on
    /// the active node; `reply` hears when it is acknowledged.
    Write {
        command: Box<Command>,
        reply: super::WriteReply,
    },
    Get {
        id: String,
        reply: oneshot::Sender<Option<Interaction>>,
    },
    /// Every live interaction, shared (no copy): a search reads them
    /// on a thread of its own.
    Interactions(oneshot::Sender<Vec<std::sync::Arc<Interaction>>>),
    /// An agent and the interactions it holds.
    Agent {
        name: String,
        reply: oneshot::Sender<Option<AgentView>>,
    },
    Agents(oneshot::Sender<Vec<Agent>>),
    /// Every queue's figures now.
    Queues(oneshot::Sender<Vec<QueueView>>),
    /// The statistics interval records ending after `since_ms`, and the
    /// interval in progress.
    Intervals {
        since_ms: u64,
        reply: oneshot::Sender<IntervalsView>,
    },
    /// The open interaction of an SMS or social conversation, if any.
    Conversation {
        media: duet_interactions::MediaType,
        conversation: String,
        reply: oneshot::Sender<Option<String>>,
    },
    /// Counts for the metrics: interactions by (media, state), agents by
    /// status.
    Census(oneshot::Sender<Census>),
    /// What the backup's shadow is compared by.
    Shadow(oneshot::Sender<ShadowView>),
    /// What heals could not make as changes.
    Conflicts(oneshot::Sender<Vec<duet_interactions::model::HealConflict>>),
    /// A user of the contact center, for authentication.
    User {
        name: String,
        reply: oneshot::Sender<Option<crate::directory::ContactUser>>,
    },
    /// The live feed of applied changes, subscribed at the same step as
    /// `position` was read, so nothing between them is missed.
    Follow {
        /// The position the client last saw, when it resumes.
        after: Option<Position>,
        reply: oneshot::Sender<Follow>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentView {
    pub agent: Agent,
    pub interactions: Vec<Interaction>,
    /// The wrap-up codes of the queues of those interactions, by queue.
    pub wrap_up_codes: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub queue: String,
    pub figures: QueueFigures,
}

/// Statistics intervals: the records (identical on both nodes) and the
/// running totals of the interval in progress.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalsView {
    /// Takeovers the pair has made (activations, the first included).
    pub takeovers: u64,
    pub records: Vec<IntervalRecord>,
    /// The interval in progress, per queue (its record is written at its
    /// end or at a takeover).
    pub current: Vec<IntervalRecord>,
}

#[derive(Debug, Clone, Default)]
pub struct Census {
    pub interactions: std::collections::BTreeMap<(&'static str, &'static str), i64>,
    pub agents: std::collections::BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowView {
    pub position: Position,
    /// The interaction state's digest (equal on both nodes at one position).
    pub digest: String,
    pub live_interactions: usize,
    pub agents: usize,
}

/// The attribute naming an SMS or social interaction's conversation.
pub const CONVERSATION: &str = "conversation";

/// Rounds of routing decisions made in one go at most; the next tick
/// carries on, so a large backlog never stalls the task.
const ROUTE_ROUNDS_MAX: usize = 4;

impl Replicator {
    /// Email addresses and their queues, for the intake.
    pub fn mail_queues(&self) -> std::collections::BTreeMap<String, String> {
        crate::directory::mail_queues(&self.tree)
    }

    /// Rises whenever the interaction state takes a new directory.
    pub fn directory_generation(&self) -> u64 {
        self.ix.directory_generation
    }

    pub fn interaction_request(&mut self, shared: &Shared, request: IxRequest) {
        let state = &self.ix.state;
        match request {
            IxRequest::Write { command, reply } => self.write_interaction(shared, *command, reply),
            IxRequest::Get { id, reply } => {
                reply.answer(state.get(&id).cloned());
            }
            IxRequest::Interactions(reply) => {
                reply.answer(state.shared_interactions().cloned().collect());
            }
            IxRequest::Agent { name, reply } => {
                let view = state.agent(&name).map(|agent| {
                    let interactions: Vec<Interaction> = agent
                        .assigned
                        .values()
                        .flatten()
                        .filter_map(|id| state.get(id).cloned())
                        .collect();
                    let wrap_up_codes = interactions
                        .iter()
                        .filter_map(|ix| {
                            let queue = &ix.routing.queue;
                            let codes = crate::directory::wrap_up_codes(&self.tree, queue)?;
                            Some((queue.clone(), codes))
                        })
                        .collect();
                    AgentView {
                        interactions,
                        agent: agent.clone(),
                        wrap_up_codes,
                    }
                });
                reply.answer(view);
            }
            IxRequest::Agents(reply) => {
                // Every configured agent: one never logged in shows as
                // logged out.
                let agents = state
                    .directory()
                    .agents
                    .keys()
                    .map(|name| {
                        state
                            .agent(name)
                            .cloned()
                            .unwrap_or_else(|| Agent::new(name, 0))
                    })
                    .collect();
                reply.answer(agents);
            }
            IxRequest::Queues(reply) => {
                let now = unix_ms();
                let queues = state
                    .directory()
                    .queues
                    .keys()
                    .filter_map(|q| {
                        Some(QueueView {
                            queue: q.clone(),
                            figures: state.queue_figures(q, now)?,
                        })
                    })
                    .collect();
                reply.answer(queues);
            }
            IxRequest::Intervals { since_ms, reply } => {
                let reporting = state.reporting();
                let now = unix_ms();
                let current = state
                    .directory()
                    .queues
                    .keys()
                    .filter_map(|q| {
                        Some(IntervalRecord {
                            queue: q.clone(),
                            start_ms: reporting.interval_start_ms,
                            end_ms: now,
                            ended_by: IntervalEnd::Boundary,
                            takeovers: reporting.takeovers,
                            totals: state.queue_figures(q, now)?.totals,
                        })
                    })
                    .collect();
                reply.answer(IntervalsView {
                    takeovers: reporting.takeovers,
                    records: state
                        .intervals()
                        .filter(|r| r.end_ms > since_ms)
                        .cloned()
                        .collect(),
                    current,
                });
            }
            IxRequest::Conversation {
                media,
                conversation,
                reply,
            } => {
                // A scan: conversations are few beside the live state's
                // other interactions, and this is one request per message.
                let open = state
                    .interactions()
                    .find(|ix| {
                        ix.media == media
                            && !ix.is_closed()
                            && ix.attributes.get(CONVERSATION) == Some(&conversation)
                    })
                    .map(|ix| ix.id.clone());
                reply.answer(open);
            }
            IxRequest::Census(reply) => {
                let mut census = Census::default();
                for ix in state.interactions() {
                    *census
                        .interactions
                        .entry((ix.media.name(), ix.state.name()))
                        .or_default() += 1;
                }
                for agent in state.agents() {
                    *census
                        .agents
                        .entry(agent.status.name().to_string())
                        .or_default() += 1;
                }
                reply.answer(census);
            }
            IxRequest::Shadow(reply) => {
                reply.answer(ShadowView {
                    position: self.position(),
                    digest: format!("{:016x}", state.digest()),
                    live_interactions: state.len(),
                    agents: state.agents().count(),
                });
            }
            IxRequest::Conflicts(reply) => {
                reply.answer(state.conflicts().cloned().collect());
            }
            IxRequest::User { name, reply } => {
                reply.answer(crate::directory::user(&self.tree, &name));
            }
            IxRequest::Follow { after, reply } => {
                reply.answer(self.ix.feed.follow(state.position(), after));
            }
        }
    }

    /// A client's interaction change, on the active node: checked against
    /// the state (a retry of a change already made is answered, not
    /// checked again), made on the stream, then routed.
    fn write_interaction(&mut self, shared: &Shared, command: Command, reply: super::WriteReply) {
        let Some(leader) = self.leader.as_ref() else {
            reply.answer(Err(WriteError::Unavailable {
                message: format!(
                    "{} is not the active node; send it to the active node",
                    shared.boot.this
                ),
                active: super::leader::active_elsewhere(shared),
            }));
            return;
        };
        let retry = leader.known(&command.client).is_some();
        if !retry && let Err(e) = self.ix.state.check(&command) {
            reply.answer(Err(e.into()));
            return;
        }
        self.submit_change(shared, Change::Interactions(command), reply);
        self.ix.route_wanted = true;
    }

    /// The ACD router's decisions (offers, offer timeouts, no-answer Not
    /// Ready, ACW expiry, forgetting), made as changes on the stream like
    /// any other, so a new active node carries on from them. A few rounds
    /// at a time: returns whether more may be waiting, so the task comes
    /// back after its other work.
    pub fn route(&mut self, shared: &Shared) -> bool {
        self.ix.route_wanted = false;
        if self.leader.is_none() {
            return false;
        }
        for _ in 0..ROUTE_ROUNDS_MAX {
            let commands = self.ix.router.decide(&self.ix.state, unix_ms());
            if commands.is_empty() {
                return false;
            }
            for command in commands {
                // Nobody waits for the router's acknowledgement.
                let (reply, _) = oneshot::channel();
                self.submit_change(shared, Change::Interactions(command), reply);
            }
        }
        self.ix.route_wanted = true;
        true
    }

    /// A new active node takes over (the state's `Takeover`: desktops of
    /// the old one lose their connection, the statistics interval splits,
    /// offers are routed again, `recovery` decides what carries on); the
    /// desktops already connected here stay attached.
    pub fn take_over(&mut self, shared: &Shared, epoch: u64, recovery: Recovery) {
        let here: Vec<String> = shared
            .desktops
            .lock()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        let at = unix_ms();
        let system = |client: String, change| {
            Command::new(client, at, duet_interactions::Actor::System, change)
        };
        let mut changes = vec![system(
            format!("takeover/{epoch}"),
            duet_interactions::Change::Takeover { recovery },
        )];
        for agent in here {
            let attached = duet_interactions::Change::DesktopAttached {
                agent: agent.clone(),
            };
            changes.push(system(format!("desktop-here/{at}/{agent}"), attached));
        }
        for command in changes {
            if self.ix.state.check(&command).is_ok() {
                let (reply, _) = oneshot::channel();
                self.submit_change(shared, Change::Interactions(command), reply);
            }
        }
    }

    /// The router should decide at the next chance.
    pub fn want_routing(&mut self) {
        self.ix.route_wanted = true;
    }

    /// Routes when changes since the last decision asked for it, or a
    /// routing deadline (an offer's, an ACW timer's) has come; whether
    /// more may be waiting.
    pub fn route_if_wanted(&mut self, shared: &Shared) -> bool {
        let due = self
            .ix
            .router
            .next_deadline(&self.ix.state)
            .is_some_and(|at| at <= unix_ms());
        if self.leader.is_some() && (self.ix.route_wanted || due) {
            self.route(shared)
        } else {
            false
        }
    }
}

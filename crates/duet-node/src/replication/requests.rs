//! The API's requests about the contact center, answered by the
//! replication task from the replica's state (which it owns) without
//! waiting on anything; a write goes to the replica as an input.

use crate::answer::Answer as _;
use std::sync::Arc;

use duet_interactions::model::Agent;
use duet_interactions::state::{IntervalEnd, IntervalRecord};
use duet_interactions::{Command, Interaction};
use duet_link::protocol::StreamToActive;
use duet_replica::feed::Resume;
use duet_replica::{CONVERSATION, Input};
use duet_rsm::{Position, StateMachine};
use duet_stream::Entry;
use tokio::sync::{broadcast, oneshot};

use super::Replicator;
use crate::events::unix_ms;
use crate::replication::Handles;

/// A client's start on the live feed: where it stands, what it missed
/// (when all of it is still here), and what comes next.
pub struct Follow {
    /// The position the socket's state or resume stands at: later changes
    /// on `feed` are the ones to send.
    pub position: Position,
    /// The last change committed (see `duet_replica::feed::Resume`).
    pub committed: Position,
    pub missed: Option<Vec<Arc<Entry<Command>>>>,
    pub feed: broadcast::Receiver<Arc<Entry<Command>>>,
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
    /// One interaction, shared, not copied: a chat's transcript or an
    /// email with its attachments can run to megabytes, and the API asks
    /// for it at every message (its room, whose it is).
    Get {
        id: String,
        reply: oneshot::Sender<Option<Arc<Interaction>>>,
    },
    /// Which of these chunks of content the state holds, and the
    /// largest content it takes (`content_bytes_max`).
    ChunksHeld {
        names: Vec<String>,
        reply: oneshot::Sender<crate::content::Held>,
    },
    /// The chunks named, shared (no copy), in order; `None` when one is
    /// not held.
    Chunks {
        names: Vec<String>,
        reply: oneshot::Sender<Option<Vec<Arc<duet_interactions::model::Chunk>>>>,
    },
    /// Every live interaction, node (no copy): a search reads them
    /// on a thread of its own.
    Interactions(oneshot::Sender<Vec<std::sync::Arc<Interaction>>>),
    /// An agent and the interactions it holds.
    Agent {
        name: String,
        reply: oneshot::Sender<Option<duet_api::AgentState>>,
    },
    Agents(oneshot::Sender<Vec<Agent>>),
    /// Every queue's figures now.
    Queues(oneshot::Sender<Vec<duet_api::QueueState>>),
    /// The statistics interval records ending after `since_ms`, and the
    /// interval in progress.
    Intervals {
        since_ms: u64,
        reply: oneshot::Sender<duet_api::IntervalsState>,
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
    Shadow(oneshot::Sender<duet_api::Shadow>),
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

#[derive(Debug, Clone, Default)]
pub struct Census {
    pub interactions: std::collections::BTreeMap<(&'static str, &'static str), i64>,
    pub agents: std::collections::BTreeMap<String, i64>,
}

impl Replicator {
    /// Answers a read, or hands a write to the replica (returning what
    /// goes to the active node, which is nothing on the active node).
    pub(super) fn interaction_request(
        &mut self,
        node: &Handles,
        request: IxRequest,
    ) -> Vec<StreamToActive> {
        if let IxRequest::Write { command, reply } = request {
            return self.handle(node, Input::InteractionWrite { command, reply });
        }
        let (tree, state) = (self.core.tree(), &self.core.interactions().state);
        match request {
            IxRequest::Write { .. } => {}
            IxRequest::Get { id, reply } => {
                reply.answer(state.get_shared(&id).cloned());
            }
            IxRequest::ChunksHeld { names, reply } => {
                // Held for a while yet: one about to be let go is sent
                // again, which keeps it.
                let now_ms = unix_ms();
                reply.answer(crate::content::Held {
                    names: (names.into_iter())
                        .filter(|name| state.chunk_kept(name, now_ms))
                        .collect(),
                    content_bytes_max: state.directory().settings.content_bytes_max,
                });
            }
            IxRequest::Chunks { names, reply } => {
                reply.answer(
                    (names.iter())
                        .map(|name| state.chunk(name).cloned())
                        .collect::<Option<Vec<_>>>(),
                );
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
                            let codes = crate::directory::wrap_up_codes(tree, queue)?;
                            Some((queue.to_string(), codes))
                        })
                        .collect();
                    duet_api::AgentState {
                        interactions,
                        agent: Some(agent.clone()),
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
                        Some(duet_api::QueueState {
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
                reply.answer(duet_api::IntervalsState {
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
                            && ix
                                .attributes
                                .get(CONVERSATION)
                                .is_some_and(|c| *c == conversation)
                    })
                    .map(|ix| ix.id.to_string());
                reply.answer(open);
            }
            IxRequest::Census(reply) => {
                let mut census = Census::default();
                for ((media, state_name), n) in state.census() {
                    census
                        .interactions
                        .insert((media.name(), state_name), *n as i64);
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
                reply.answer(duet_api::Shadow {
                    position: self.core.position(),
                    digest: format!("{:016x}", state.digest()),
                    live_interactions: state.len(),
                    agents: state.agents().count(),
                });
            }
            IxRequest::Conflicts(reply) => {
                reply.answer(state.conflicts().cloned().collect());
            }
            IxRequest::User { name, reply } => {
                reply.answer(crate::directory::user(tree, &name));
            }
            IxRequest::Follow { after, reply } => {
                let Resume {
                    position,
                    committed,
                    missed,
                } = self
                    .core
                    .interactions()
                    .feed
                    .resume(state.position(), after);
                reply.answer(Follow {
                    position,
                    committed,
                    missed,
                    feed: self.live.subscribe(),
                });
            }
        }
        Vec::new()
    }
}

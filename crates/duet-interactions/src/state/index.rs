//! Indexes derived from the live state, kept as it changes (and rebuilt
//! on install), so routing and timers never scan every interaction.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::model::{
    Agent, AgentConfig, AgentStatus, Content, Desktop, Interaction, InteractionState, MediaType,
    Name,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Index {
    /// Queue -> waiting interactions in serving order `(order_key, id)`.
    pub waiting: BTreeMap<Name, BTreeSet<(i64, Name)>>,
    /// Queue -> how many of its waiting interactions entered it at each
    /// time (ms): the longest wait is the first. Counts, not ids: that
    /// is all the figures ask of it.
    pub waiting_since: BTreeMap<Name, BTreeMap<u64, u32>>,
    /// Pending offers by deadline.
    pub offers: BTreeSet<(u64, Name)>,
    /// Closed interactions by when they closed.
    pub closed: BTreeSet<(u64, Name)>,
    /// Agents in after call work by when it ends.
    pub acw: BTreeSet<(u64, String)>,
    /// Agents whose status is Available and who have room (load below
    /// capacity) in some media they are logged in to: the only ones a
    /// queue's offers can go to, so a decision while every agent is full
    /// looks at nobody.
    pub available: BTreeSet<String>,
    /// Agents with missed offers in a row.
    pub missed: BTreeSet<String>,
    /// Agents whose desktop connection was lost, by when.
    pub detached: BTreeSet<(u64, String)>,
    /// Queued chats whose customer is away, by when it went.
    pub away: BTreeSet<(u64, Name)>,
    /// The message ids of each transcript that has any, by interaction,
    /// so a new message's id is found repeated without scanning the
    /// transcript. One small set per interaction: a single set of every
    /// message in the state would, as it grows, rehash them all in one
    /// change.
    messages: BTreeMap<Name, HashSet<Name>>,
    /// Live interactions by media and state: what a scrape of the metrics
    /// reads, without a walk over every interaction on the replication
    /// task (at a million live, one walk per scrape held it up).
    census: BTreeMap<(MediaType, &'static str), usize>,
    /// The chunks of content held, and who refers to them.
    pub chunks: super::chunks::ChunkIndex,
}

impl Index {
    /// An interaction's transcript messages, as it arrives whole (a new
    /// one, or one installed from a snapshot).
    pub fn add_messages(&mut self, ix: &Interaction) {
        if let Content::Transcript(t) = &ix.content
            && !t.is_empty()
        {
            let ids = self.messages.entry(ix.id.clone()).or_default();
            ids.extend(t.iter().map(|m| Name::from(m.id.as_str())));
        }
    }

    /// An interaction leaves the live state.
    pub fn remove_messages(&mut self, ix: &Interaction) {
        self.messages.remove(&ix.id);
    }

    /// How many live interactions there are of each media and state.
    pub fn census(&self) -> &BTreeMap<(MediaType, &'static str), usize> {
        &self.census
    }

    /// Whether interaction `id`'s transcript holds message `message_id`.
    pub fn has_message(&self, id: &str, message_id: &str) -> bool {
        self.messages
            .get(id)
            .is_some_and(|ids| ids.contains(message_id))
    }

    /// Message `message_id` joined interaction `id`'s transcript.
    pub fn add_message(&mut self, id: &str, message_id: &str) {
        self.messages
            .entry(id.into())
            .or_default()
            .insert(message_id.into());
    }

    pub fn add_interaction(&mut self, ix: &Interaction) {
        self.chunks.add_refs(ix);
        *self.census.entry((ix.media, ix.state.name())).or_default() += 1;
        if let Some(since) = super::presence::away_since(ix) {
            self.away.insert((since, ix.id.clone()));
        }
        match &ix.state {
            InteractionState::Queued => {
                let q = ix.routing.queue.clone();
                self.waiting
                    .entry(q.clone())
                    .or_default()
                    .insert((ix.visit.order_key, ix.id.clone()));
                *self
                    .waiting_since
                    .entry(q)
                    .or_default()
                    .entry(ix.visit.since_ms)
                    .or_default() += 1;
            }
            InteractionState::Offered { deadline_ms, .. } => {
                self.offers.insert((*deadline_ms, ix.id.clone()));
            }
            InteractionState::Closed { at_ms } => {
                self.closed.insert((*at_ms, ix.id.clone()));
            }
            _ => {}
        }
    }

    pub fn remove_interaction(&mut self, ix: &Interaction) {
        self.chunks.remove_refs(ix);
        let kind = (ix.media, ix.state.name());
        if let Some(n) = self.census.get_mut(&kind) {
            *n -= 1;
            if *n == 0 {
                self.census.remove(&kind);
            }
        }
        if let Some(since) = super::presence::away_since(ix) {
            self.away.remove(&(since, ix.id.clone()));
        }
        match &ix.state {
            InteractionState::Queued => {
                let q = &ix.routing.queue;
                if let Some(set) = self.waiting.get_mut(q) {
                    set.remove(&(ix.visit.order_key, ix.id.clone()));
                    if set.is_empty() {
                        self.waiting.remove(q);
                    }
                }
                if let Some(counts) = self.waiting_since.get_mut(q) {
                    if let Some(n) = counts.get_mut(&ix.visit.since_ms) {
                        *n -= 1;
                        if *n == 0 {
                            counts.remove(&ix.visit.since_ms);
                        }
                    }
                    if counts.is_empty() {
                        self.waiting_since.remove(q);
                    }
                }
            }
            InteractionState::Offered { deadline_ms, .. } => {
                self.offers.remove(&(*deadline_ms, ix.id.clone()));
            }
            InteractionState::Closed { at_ms } => {
                self.closed.remove(&(*at_ms, ix.id.clone()));
            }
            _ => {}
        }
    }

    /// `agent`, configured as `cfg` (none: no longer in the directory).
    pub fn add_agent(&mut self, agent: &Agent, cfg: Option<&AgentConfig>) {
        match &agent.status {
            AgentStatus::Available if has_room(agent, cfg) => {
                self.available.insert(agent.name.clone());
            }
            AgentStatus::AfterCallWork { until_ms, .. } => {
                self.acw.insert((*until_ms, agent.name.clone()));
            }
            _ => {}
        }
        if agent.no_answers > 0 {
            self.missed.insert(agent.name.clone());
        }
        if let Desktop::Detached { since_ms } = agent.desktop {
            self.detached.insert((since_ms, agent.name.clone()));
        }
    }

    pub fn remove_agent(&mut self, agent: &Agent) {
        self.available.remove(&agent.name);
        if let AgentStatus::AfterCallWork { until_ms, .. } = &agent.status {
            self.acw.remove(&(*until_ms, agent.name.clone()));
        }
        self.missed.remove(&agent.name);
        if let Desktop::Detached { since_ms } = agent.desktop {
            self.detached.remove(&(since_ms, agent.name.clone()));
        }
    }

    /// The agents' capacities may have changed (a new directory): who
    /// has room is found again.
    pub fn capacities_changed<'a>(
        &mut self,
        agents: impl Iterator<Item = (&'a Agent, Option<&'a AgentConfig>)>,
    ) {
        self.available = agents
            .filter(|(agent, cfg)| agent.status == AgentStatus::Available && has_room(agent, *cfg))
            .map(|(agent, _)| agent.name.clone())
            .collect();
    }
}

/// Whether `agent` is below its capacity in some media it is logged in to.
fn has_room(agent: &Agent, cfg: Option<&AgentConfig>) -> bool {
    cfg.is_some_and(|cfg| {
        agent
            .logged_in
            .iter()
            .any(|m| agent.load(*m) < cfg.capacity(*m))
    })
}

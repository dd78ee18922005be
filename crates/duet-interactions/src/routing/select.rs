//! Choosing the agent: who may take an interaction of a queue, and which
//! of them the queue's strategy prefers.

use std::collections::BTreeMap;

use crate::model::{
    Agent, AgentConfig, AgentStatus, Interaction, MediaType, QueueConfig, Strategy,
};
use crate::state::Interactions;

/// Load added by a decision's own offers: agent -> media -> offers.
pub(crate) type Added = BTreeMap<String, BTreeMap<MediaType, usize>>;

/// Offers a decision has added for `agent` in `media`.
fn added_for(added: &Added, agent: &str, media: MediaType) -> usize {
    added
        .get(agent)
        .and_then(|m| m.get(&media))
        .copied()
        .unwrap_or(0)
}

/// An agent who may take offers of a queue now.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    /// Lower is offered first (a member without one comes last).
    pub member_priority: u32,
}

/// A candidate with their live state and configuration, looked up once
/// per queue rather than once per waiting interaction.
pub(crate) struct Resolved<'s> {
    pub candidate: Candidate,
    pub agent: &'s Agent,
    pub cfg: &'s AgentConfig,
}

/// The agents who may take offers of `queue`: its user-queue owner if it
/// is one (in any logged-in status), else its members who are Available.
/// Walks the smaller of the members and the available agents.
pub(crate) fn candidates<'s>(
    state: &'s Interactions,
    queue: &str,
    q: &QueueConfig,
) -> Vec<Resolved<'s>> {
    let resolve = |name: &str, member_priority: u32| {
        Some(Resolved {
            agent: state.agent(name)?,
            cfg: state.config.directory.agents.get(name)?,
            candidate: Candidate {
                name: name.to_string(),
                member_priority,
            },
        })
    };
    if let Some(owner) = state.config.user_queue_owner(queue) {
        let logged_in = state
            .agent(owner)
            .is_some_and(|a| !matches!(a.status, AgentStatus::LoggedOut { .. }));
        return if logged_in {
            resolve(owner, 0).into_iter().collect()
        } else {
            Vec::new()
        };
    }
    let available = &state.index.available;
    let names: Vec<&String> = if q.members.len() <= available.len() {
        q.members
            .keys()
            .filter(|m| available.contains(*m))
            .collect()
    } else {
        available
            .iter()
            .filter(|a| q.members.contains_key(*a))
            .collect()
    };
    names
        .into_iter()
        .filter_map(|name| {
            let priority = q
                .members
                .get(name)
                .and_then(|m| m.priority)
                .unwrap_or(u32::MAX);
            resolve(name, priority)
        })
        .collect()
}

fn spare(agent: &Agent, cfg: &AgentConfig, media: MediaType, added: &Added) -> usize {
    let load = agent.load(media) + added_for(added, &agent.name, media);
    cfg.capacity(media).saturating_sub(load)
}

/// Whether the candidate still has room in any media they are logged in to.
pub(crate) fn has_room(c: &Resolved<'_>, added: &Added) -> bool {
    c.agent
        .logged_in
        .iter()
        .any(|m| spare(c.agent, c.cfg, *m, added) > 0)
}

/// The candidate the queue's strategy prefers for `ix`, among those logged
/// in for its media, with room, and with every wanted skill at its minimum.
/// Agents who already let this visit's offer lapse come after the others.
pub(crate) fn best<'c, 's>(
    state: &Interactions,
    q: &QueueConfig,
    ix: &Interaction,
    candidates: &'c [Resolved<'s>],
    added: &Added,
    rr_cursor: Option<&str>,
) -> Option<&'c Resolved<'s>> {
    let user_queue = state.config.user_queue_owner(&ix.routing.queue).is_some();
    candidates
        .iter()
        .filter_map(|r| {
            let (c, agent, cfg) = (&r.candidate, r.agent, r.cfg);
            if !agent.logged_in.contains(&ix.media) {
                return None;
            }
            let skilled = ix
                .routing
                .skills
                .iter()
                .all(|(s, min)| cfg.skills.get(s).copied().unwrap_or(0) >= *min);
            if !skilled && !user_queue {
                return None;
            }
            if spare(agent, cfg, ix.media, added) == 0 {
                return None;
            }
            let declined = ix.visit.declined_by.contains(&c.name);
            let key = strategy_key(q.strategy, ix, agent, cfg, added, rr_cursor);
            Some(((declined, c.member_priority, key, c.name.as_str()), r))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r)
}

/// Smaller is preferred.
fn strategy_key(
    strategy: Strategy,
    ix: &Interaction,
    agent: &Agent,
    cfg: &AgentConfig,
    added: &Added,
    rr_cursor: Option<&str>,
) -> (i64, i64) {
    let idle = agent.last_became_idle_ms as i64;
    match strategy {
        Strategy::LongestIdle => (idle, 0),
        Strategy::LeastOccupied => {
            let extra: usize = added
                .get(agent.name.as_str())
                .map_or(0, |m| m.values().sum());
            ((agent.total_load() + extra) as i64, idle)
        }
        Strategy::BestSkilled => {
            let levels: i64 = ix
                .routing
                .skills
                .keys()
                .map(|s| i64::from(cfg.skills.get(s).copied().unwrap_or(0)))
                .sum();
            (-levels, idle)
        }
        // Names after the cursor first (then the name decides), wrapping.
        Strategy::RoundRobin => {
            let wrapped = rr_cursor.is_some_and(|c| agent.name.as_str() <= c);
            (i64::from(wrapped), 0)
        }
    }
}

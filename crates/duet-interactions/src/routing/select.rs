//! Choosing the agent: who may take an interaction of a queue, and which
//! of them the queue's strategy prefers.

use std::collections::{BTreeMap, HashMap};

use crate::model::{
    Agent, AgentConfig, AgentStatus, Interaction, MediaType, QueueConfig, Strategy,
};
use crate::state::Interactions;

/// Load added by a decision's own offers, per agent and media. Each agent
/// a queue's candidates name gets a slot when first resolved, so the
/// offers' load is found by index, not by name, for every candidate of
/// every queue it is a member of.
#[derive(Default)]
pub(crate) struct Added<'s> {
    slots: HashMap<&'s str, usize>,
    loads: Vec<BTreeMap<MediaType, usize>>,
}

impl<'s> Added<'s> {
    fn slot(&mut self, name: &'s str) -> usize {
        *self.slots.entry(name).or_insert_with(|| {
            self.loads.push(BTreeMap::new());
            self.loads.len() - 1
        })
    }

    /// One more offer to the candidate in `media`.
    pub(crate) fn offered(&mut self, c: &Resolved<'s>, media: MediaType) {
        *self.loads[c.slot].entry(media).or_insert(0) += 1;
    }

    fn of(&self, c: &Resolved<'s>, media: MediaType) -> usize {
        self.loads[c.slot].get(&media).copied().unwrap_or(0)
    }

    fn total(&self, c: &Resolved<'s>) -> usize {
        self.loads[c.slot].values().sum()
    }
}

/// An agent who may take offers of a queue now, with their live state
/// and configuration, looked up once per queue rather than once per
/// waiting interaction.
pub(crate) struct Resolved<'s> {
    pub name: &'s str,
    /// Lower is offered first (a member without one comes last).
    pub member_priority: u32,
    pub agent: &'s Agent,
    pub cfg: &'s AgentConfig,
    /// Its place in the decision's [`Added`].
    slot: usize,
}

/// The agents who may take offers of `queue`: its user-queue owner if it
/// is one (in any logged-in status), else its members who are Available.
/// Walks the smaller of the members and the available agents.
pub(crate) fn candidates<'s>(
    state: &'s Interactions,
    queue: &str,
    q: &'s QueueConfig,
    added: &mut Added<'s>,
) -> Vec<Resolved<'s>> {
    let mut resolve = |name: &'s str, member_priority: u32| {
        let agent = state.agent(name)?;
        let cfg = state.config.directory.agents.get(name)?;
        Some(Resolved {
            name,
            member_priority,
            agent,
            cfg,
            slot: added.slot(name),
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

fn spare(c: &Resolved<'_>, media: MediaType, added: &Added<'_>) -> usize {
    let load = c.agent.load(media) + added.of(c, media);
    c.cfg.capacity(media).saturating_sub(load)
}

/// Whether the candidate still has room in any media they are logged in to.
pub(crate) fn has_room(c: &Resolved<'_>, added: &Added<'_>) -> bool {
    c.agent.logged_in.iter().any(|m| spare(c, *m, added) > 0)
}

/// The candidate the queue's strategy prefers for `ix`, among those logged
/// in for its media, with room, and with every wanted skill at its minimum.
/// Agents who already let this visit's offer lapse come after the others.
/// Its index among `candidates`.
pub(crate) fn best(
    state: &Interactions,
    q: &QueueConfig,
    ix: &Interaction,
    candidates: &[Resolved<'_>],
    added: &Added<'_>,
    rr_cursor: Option<&str>,
) -> Option<usize> {
    let user_queue = state.config.user_queue_owner(&ix.routing.queue).is_some();
    candidates
        .iter()
        .enumerate()
        .filter_map(|(at, r)| {
            // Room first: it needs no lookup by name.
            if !r.agent.logged_in.contains(&ix.media) || spare(r, ix.media, added) == 0 {
                return None;
            }
            let skilled = ix
                .routing
                .skills
                .iter()
                .all(|(s, min)| r.cfg.skills.get(s.as_str()).copied().unwrap_or(0) >= *min);
            if !skilled && !user_queue {
                return None;
            }
            let declined = ix.visit.declined_by.contains(r.name);
            let key = strategy_key(q.strategy, ix, r, added, rr_cursor);
            Some(((declined, r.member_priority, key, r.name), at))
        })
        .min_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, at)| at)
}

/// Smaller is preferred.
fn strategy_key(
    strategy: Strategy,
    ix: &Interaction,
    r: &Resolved<'_>,
    added: &Added<'_>,
    rr_cursor: Option<&str>,
) -> (i64, i64) {
    let idle = r.agent.last_became_idle_ms as i64;
    match strategy {
        Strategy::LongestIdle => (idle, 0),
        Strategy::LeastOccupied => ((r.agent.total_load() + added.total(r)) as i64, idle),
        Strategy::BestSkilled => {
            let levels: i64 = ix
                .routing
                .skills
                .keys()
                .map(|s| i64::from(r.cfg.skills.get(s.as_str()).copied().unwrap_or(0)))
                .sum();
            (-levels, idle)
        }
        // Names after the cursor first (then the name decides), wrapping.
        Strategy::RoundRobin => {
            let wrapped = rr_cursor.is_some_and(|c| r.name <= c);
            (i64::from(wrapped), 0)
        }
    }
}

//! The ACD core: reads [`Interactions`] and proposes the changes routing
//! makes (offers, offer timeouts, no-answer Not Ready, after call work
//! expiry, forgetting closed interactions, statistics interval ends). Its decisions are commands on
//! the stream like any other, so a new active node continues where the
//! old one stopped (the round-robin place included).
//!
//! `decide` works in two phases and returns the first that has anything:
//! timers and no-answer handling first, then offers. The node applies what
//! it returns and calls `decide` again (a few rounds at most, then after
//! its other work), after a batch of changes of which one [`may_route`],
//! at [`Router::next_deadline`], and at least once a second; offers are
//! thus always made against the state after every timeout, so each
//! returned command passes `check`.

mod select;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::iter::Peekable;

use crate::change::{Actor, Change, Command};
use crate::model::{
    AgentStatus, ChosenStatus, Content, InteractionState, MediaType, Name, QueueConfig, SmallMap,
};
use crate::state::Interactions;

/// The logout reason of an agent whose desktop connection was lost past
/// its grace period (the seed's 50002).
pub const DESKTOP_LOST_REASON: u32 = 50002;

#[derive(Debug, Clone)]
pub struct Router {
    /// The most waiting interactions looked at per queue per decision, so
    /// a long queue none of the free agents can take costs a bounded scan.
    pub scan_max_per_queue: usize,
    /// The most offers one decision makes, so a large backlog (after a
    /// restart or a directory change) is routed in short steps the node
    /// interleaves with its other work; the next decision continues.
    pub offers_max: usize,
}

impl Default for Router {
    fn default() -> Self {
        Router {
            scan_max_per_queue: 1_000,
            offers_max: 256,
        }
    }
}

/// Builds the router's commands with client ids unique per decision:
/// deciding twice at one position gives the same ids (a retry). The
/// position's epoch is in them: a number alone recurs after a takeover
/// (the old active's last changes rolled back), and the stream would take
/// a new decision for a retry of the old one and never make it.
struct Out {
    now_ms: u64,
    at: duet_rsm::Position,
    commands: Vec<Command>,
}

impl Out {
    fn push(&mut self, change: Change) {
        let client = format!(
            "acd:{}:{}:{}",
            self.at.epoch,
            self.at.seq,
            self.commands.len()
        );
        self.commands
            .push(Command::new(client, self.now_ms, Actor::Router, change));
    }
}

/// Whether a change can give the router something new to decide (a new or
/// requeued interaction, an agent with room or back at work, a member, a
/// timer): every change can but those that only add to a transcript (a
/// message, a delivery receipt, a shared file and its chunks, an email
/// draft). A node
/// decides after a change that can, at the router's deadlines, and once a
/// second otherwise, so chat traffic costs no decisions however large the
/// contact center (an idle decision walks every queue's members).
pub fn may_route(change: &Change) -> bool {
    !matches!(
        change,
        Change::Message { .. }
            | Change::MessageDelivery { .. }
            | Change::FileShared { .. }
            | Change::Chunk { .. }
            | Change::EmailDraft { .. }
    )
}

impl Router {
    pub fn new() -> Self {
        Router::default()
    }

    /// The changes routing makes at `now_ms`.
    pub fn decide(&self, state: &Interactions, now_ms: u64) -> Vec<Command> {
        let mut out = Out {
            now_ms,
            at: duet_rsm::StateMachine::position(state),
            commands: Vec::new(),
        };
        self.timers(state, now_ms, &mut out);
        if out.commands.is_empty() {
            self.offers(state, now_ms, &mut out);
        }
        out.commands
    }

    /// When `decide` next has something to do without a new change: the
    /// first offer deadline, after call work end or retention end. (A
    /// callback whose window opens later is not indexed: the node decides
    /// now and then anyway.)
    pub fn next_deadline(&self, state: &Interactions) -> Option<u64> {
        let offer = state.index.offers.first().map(|(t, _)| *t);
        let acw = state.index.acw.first().map(|(t, _)| *t);
        let retention = state.directory().settings.closed_retention_ms;
        let forget = state
            .index
            .closed
            .first()
            .map(|(t, _)| t.saturating_add(retention));
        let grace = state.directory().settings.desktop_grace_ms;
        let desktop = state
            .index
            .detached
            .iter()
            .find(|(_, name)| state.agent(name).is_some_and(|a| !a.logged_in.is_empty()))
            .map(|(t, _)| t.saturating_add(grace));
        let abandon = state.index.away.first().map(|(since, _)| {
            since.saturating_add(state.directory().settings.customer_gone_abandon_ms)
        });
        [offer, acw, forget, desktop, abandon, interval_end(state)]
            .into_iter()
            .flatten()
            .min()
    }

    fn timers(&self, state: &Interactions, now_ms: u64, out: &mut Out) {
        for (deadline, id) in &state.index.offers {
            if *deadline > now_ms {
                break;
            }
            if let Some(InteractionState::Offered { agent, .. }) = state.get(id).map(|i| &i.state) {
                out.push(Change::OfferTimedOut {
                    id: id.to_string(),
                    agent: agent.clone(),
                });
            }
        }
        for name in &state.index.missed {
            let Some(agent) = state.agent(name) else {
                continue;
            };
            let Some(queue) = agent.no_answer_queue.as_deref() else {
                continue;
            };
            let Some(q) = state.config.queue(queue).ok() else {
                continue;
            };
            if agent.status == AgentStatus::Available
                && q.max_no_answer > 0
                && agent.no_answers >= q.max_no_answer
            {
                out.push(Change::AgentStatus {
                    agent: name.clone(),
                    status: ChosenStatus::NotReady {
                        reason: q.no_answer_reason.clone(),
                    },
                });
            }
        }
        for (until, name) in &state.index.acw {
            if *until > now_ms {
                break;
            }
            out.push(Change::AcwExpired {
                agent: name.clone(),
            });
        }
        // A lost desktop past its grace: logged out as the seed reports a
        // failure (50002); one that came back in time kept everything.
        let grace = state.directory().settings.desktop_grace_ms;
        for (since, name) in &state.index.detached {
            if since.saturating_add(grace) > now_ms {
                break;
            }
            if state.agent(name).is_some_and(|a| !a.logged_in.is_empty()) {
                out.push(Change::AgentLogout {
                    agent: name.clone(),
                    media: Vec::new(),
                    reason_code: DESKTOP_LOST_REASON,
                });
            }
        }
        // A queued chat whose customer went and said nothing since: ended
        // as abandoned (the router's disconnect of a waiting chat counts
        // as the customer's).
        let abandon_ms = state.directory().settings.customer_gone_abandon_ms;
        for (since, id) in &state.index.away {
            if since.saturating_add(abandon_ms) > now_ms {
                break;
            }
            out.push(Change::Disconnect { id: id.to_string() });
        }
        if interval_end(state).is_some_and(|end| end <= now_ms) {
            out.push(Change::StartInterval);
        }
        let retention = state.directory().settings.closed_retention_ms;
        for (closed_at, id) in &state.index.closed {
            if closed_at.saturating_add(retention) > now_ms {
                break;
            }
            out.push(Change::Forget { id: id.to_string() });
        }
    }

    /// Offers across every queue in serving order: the waiting
    /// interaction with the smallest order key (its arrival, less its
    /// priority's weight in its queue) goes first, whichever queue holds
    /// it, so no queue waits behind another's backlog for the agents
    /// they share.
    fn offers(&self, state: &Interactions, now_ms: u64, out: &mut Out) {
        // Load added by this decision's own offers, per agent and media.
        let mut added = select::Added::default();
        let mut lanes: Vec<Lane<'_>> = state
            .index
            .waiting
            .iter()
            .filter_map(|(queue, waiting)| {
                Some(Lane {
                    queue,
                    q: state.config.queue(queue).ok()?,
                    waiting: waiting.iter().peekable(),
                    scanned: 0,
                    candidates: None,
                    pruned_at: None,
                    unservable: BTreeSet::new(),
                    cursor: state.queue_live(queue).and_then(|l| l.rr_cursor.clone()),
                })
            })
            .collect();
        let mut next: BinaryHeap<Reverse<(i64, usize)>> = lanes
            .iter_mut()
            .enumerate()
            .filter_map(|(i, lane)| Some(Reverse((lane.waiting.peek()?.0, i))))
            .collect();
        // Agents this decision's offers filled: a queue whose best finds
        // nobody drops them from its candidates (another queue's offers
        // may have filled them) unless none filled since it last did.
        let mut filled = 0usize;
        while let Some(Reverse((_, i))) = next.pop() {
            let lane = &mut lanes[i];
            let Some((_, id)) = lane.waiting.next() else {
                continue;
            };
            lane.scanned += 1;
            // Resolved when the queue is first reached.
            let candidates = lane
                .candidates
                .get_or_insert_with(|| select::candidates(state, lane.queue, lane.q, &mut added));
            let offer = match state.get(id) {
                // A callback waits for the window the customer asked for.
                Some(ix) if matches!(&ix.content, Content::Callback(c) if c.window.from_ms > now_ms) => {
                    None
                }
                Some(ix) if !lane.unservable.contains(&(ix.media, &ix.routing.skills)) => {
                    let best = select::best(
                        state,
                        lane.q,
                        ix,
                        candidates,
                        &added,
                        lane.cursor.as_deref(),
                    )
                    .map(|at| (ix.media, at));
                    if best.is_none() {
                        // Room only shrinks within a decision: nobody here
                        // takes this media with these skills any more, and
                        // those other queues' offers filled go (a queue left
                        // with no room stops at once).
                        lane.unservable.insert((ix.media, &ix.routing.skills));
                        if lane.pruned_at != Some(filled) {
                            candidates.retain(|c| select::has_room(c, &added));
                            lane.pruned_at = Some(filled);
                        }
                    }
                    best
                }
                _ => None,
            };
            if let Some((media, at)) = offer {
                let chosen = &candidates[at];
                added.offered(chosen, media);
                let agent = chosen.name.to_string();
                out.push(Change::Offer {
                    id: id.to_string(),
                    agent: agent.clone(),
                    deadline_ms: now_ms.saturating_add(lane.q.alerting_timeout_ms.max(1)),
                });
                // Only the agent just offered to has less room now.
                if !select::has_room(chosen, &added) {
                    candidates.swap_remove(at);
                    filled += 1;
                }
                lane.cursor = Some(agent);
                if out.commands.len() >= self.offers_max {
                    return;
                }
            }
            if !candidates.is_empty()
                && lane.scanned < self.scan_max_per_queue
                && let Some((key, _)) = lane.waiting.peek()
            {
                next.push(Reverse((*key, i)));
            }
        }
    }
}

/// A queue's place in one decision: its waiting interactions in serving
/// order, how many were looked at, and its candidates once reached.
struct Lane<'s> {
    queue: &'s str,
    q: &'s QueueConfig,
    waiting: Peekable<std::collections::btree_set::Iter<'s, (i64, Name)>>,
    scanned: usize,
    candidates: Option<Vec<select::Resolved<'s>>>,
    /// The count of agents filled when its candidates last dropped the
    /// full ones.
    pruned_at: Option<usize>,
    /// The media and skills nobody among its candidates can take now.
    unservable: BTreeSet<(MediaType, &'s SmallMap<Name, u32>)>,
    /// The round-robin place: the last agent offered to.
    cursor: Option<String>,
}

/// When the statistics interval in progress ends (None: intervals are off,
/// or the state has seen no change yet).
fn interval_end(state: &Interactions) -> Option<u64> {
    let start = state.reporting().interval_start_ms;
    let length = state.directory().settings.statistics_interval_ms;
    (start > 0)
        .then(|| crate::state::next_boundary(start, length))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client id of the first command a decision at `at` makes.
    fn first_client(at: duet_rsm::Position) -> String {
        let mut out = Out {
            now_ms: 0,
            at,
            commands: Vec::new(),
        };
        out.push(Change::StartInterval);
        out.commands[0].client.clone()
    }

    #[test]
    fn a_decision_again_at_one_position_is_a_retry_and_at_the_same_number_of_another_epoch_is_not()
    {
        let at = |epoch, seq| duet_rsm::Position::new(epoch, seq);
        assert_eq!(first_client(at(8, 72)), first_client(at(8, 72)));
        assert_ne!(first_client(at(8, 72)), first_client(at(9, 72)));
    }
}

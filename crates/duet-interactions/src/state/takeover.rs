//! A new active node takes over: the seed's rules for what carries on
//! ("interactions in a connected state on a user queue do not change and
//! ACD automatically reprocesses interactions in an offering state on a
//! workgroup queue"), without the seed's losses for media that are
//! recovered, and with the seed's losses for media that are not.

use super::lifecycle::{marker, next_segment, status_line};
use super::{Applied, Interactions, IntervalEnd};
use crate::change::NewInteraction;
use crate::model::{Content, Desktop, InteractionState, MediaType, Recovery, SegmentKind};

/// The attribute a takeover sets on an interaction it did not recover;
/// its value is the id of the email requeued in its place, if any.
pub const LOST_AT_SWITCHOVER: &str = "lost_at_switchover";

/// The status line a customer sees when a conversation was not recovered.
pub const START_AGAIN: &str = "the conversation was lost in a switchover; please start a new one";

impl Interactions {
    pub(crate) fn take_over(&mut self, recovery: &Recovery, at: u64, out: &mut Applied) {
        let attached: Vec<String> = self
            .live
            .agents
            .values()
            .filter(|a| a.desktop == Desktop::Attached)
            .map(|a| a.name.clone())
            .collect();
        for agent in attached {
            self.edit_agent(&agent, |a| a.desktop = Desktop::Detached { since_ms: at });
            out.agents.insert(agent);
        }
        self.end_interval(IntervalEnd::Takeover, at, out);
        self.live.reporting.takeovers += 1;
        let takeovers = self.live.reporting.takeovers;
        let live: Vec<(String, bool)> = self
            .live
            .interactions
            .values()
            .filter(|ix| !ix.is_closed())
            .map(|ix| (ix.id.clone(), recovery.recovers(ix)))
            .collect();
        for (id, recovered) in live {
            if recovered {
                self.carry_on(&id, at, out);
            } else {
                self.lose(&id, takeovers, at, out);
            }
        }
    }

    /// The interaction carries on as it was, its records from now on with
    /// the next seqno; an offer is routed again, keeping its place.
    fn carry_on(&mut self, id: &str, at: u64, out: &mut Applied) {
        let Some(state) = self.edit(id, |ix| {
            ix.seqno = ix.seqno.saturating_add(1);
            ix.state.clone()
        }) else {
            return;
        };
        if let InteractionState::Offered { agent, .. } = state {
            self.withdraw_offer(id, &agent, false, at, out);
        } else {
            self.edit(id, |ix| {
                if let Some(open) = ix.segments.last().filter(|s| s.end_ms.is_none()) {
                    let (kind, agent) = (open.kind, open.agent.clone());
                    next_segment(ix, kind, agent.as_deref(), at);
                }
            });
        }
        out.interactions.insert(id.to_string());
    }

    /// The seed's behaviour without recovery: an email is requeued as a
    /// new one (a new id and creation time, the agent's work gone); a
    /// conversation ends, asking the customer to start again; a callback
    /// is lost.
    fn lose(&mut self, id: &str, takeovers: u64, at: u64, out: &mut Applied) {
        let Some(ix) = self.live.interactions.get(id) else {
            return;
        };
        let requeued = match &ix.content {
            Content::Email(email) => {
                let mut email = email.clone();
                email.replies.clear();
                Some(NewInteraction {
                    id: format!("{id}~{takeovers}"),
                    media: MediaType::Email,
                    // The queue it arrived in: a user queue it was moved to
                    // is an agent's work.
                    queue: ix
                        .segments
                        .first()
                        .map_or_else(|| ix.routing.queue.clone(), |s| s.queue.clone()),
                    priority: ix.routing.priority,
                    skills: ix.routing.skills.clone(),
                    attributes: ix.attributes.clone(),
                    customer: ix.parties.customer.clone(),
                    content: Content::Email(email),
                })
            }
            _ => None,
        };
        self.release_all(id, at, out);
        let Some(queue) = self.edit(id, |ix| {
            status_line(ix, at, START_AGAIN.to_string());
            marker(ix, SegmentKind::Disconnected, None, at);
            ix.state = InteractionState::Closed { at_ms: at };
            let replaced_by = requeued.as_ref().map(|n| n.id.clone()).unwrap_or_default();
            ix.attributes
                .insert(LOST_AT_SWITCHOVER.to_string(), replaced_by);
            ix.routing.queue.clone()
        }) else {
            return;
        };
        let totals = &mut self.live.queues.entry(queue.clone()).or_default().totals;
        totals.lost_at_switchover += 1;
        out.queues.insert(queue);
        out.interactions.insert(id.to_string());
        if let Some(new) = requeued
            && !self.live.interactions.contains_key(&new.id)
        {
            self.create(&new, at, out);
        }
    }
}

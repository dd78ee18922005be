//! A new active node takes over: the seed's rules for what carries on
//! ("interactions in a connected state on a user queue do not change and
//! ACD automatically reprocesses interactions in an offering state on a
//! workgroup queue"), without the seed's losses for media that are
//! recovered, and with the seed's losses for media that are not.

use super::lifecycle::{marker, status_line};
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
        // Two passes over the live state, the second changing what
        // carries on in place (its seqno and its open segment's, which no
        // index covers) and marking every row changed at once, not row by
        // row, so a takeover of many interactions stays short; offers and
        // losses follow.
        let open = |ix: &crate::model::Interaction| !ix.is_closed();
        let lost: Vec<String> = self
            .live
            .interactions
            .values()
            .filter(|ix| open(ix) && !recovery.recovers(ix))
            .map(|ix| ix.id.to_string())
            .collect();
        let mut offered = Vec::new();
        self.live.interactions.change_every_where(
            |ix| open(ix) && recovery.recovers(ix),
            |ix| {
                ix.seqno = ix.seqno.saturating_add(1);
                if let InteractionState::Offered { agent, .. } = &ix.state {
                    offered.push((ix.id.clone(), agent.clone()));
                } else if let Some(open) = ix.segments.last_mut().filter(|s| s.end_ms.is_none()) {
                    // The open segment's record is written when it ends:
                    // after the switchover, with the new seqno.
                    open.seqno = ix.seqno;
                }
            },
        );
        out.every_interaction = true;
        // Offering: routed again, keeping its place in the queue.
        for (id, agent) in offered {
            self.withdraw_offer(&id, &agent, false, at, out);
        }
        for id in lost {
            self.lose(&id, takeovers, at, out);
        }
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
                        .map_or(&ix.routing.queue, |s| &s.queue)
                        .to_string(),
                    priority: ix.routing.priority,
                    skills: (ix.routing.skills.iter())
                        .map(|(s, l)| (s.to_string(), *l))
                        .collect(),
                    attributes: (ix.attributes.iter())
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
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
                .insert(LOST_AT_SWITCHOVER.into(), replaced_by.into());
            ix.routing.queue.clone()
        }) else {
            return;
        };
        let totals = &mut self.live.queues.get_or_default(&queue).totals;
        totals.lost_at_switchover += 1;
        out.queues.insert(queue.to_string());
        out.interactions.insert(id.to_string());
        if let Some(new) = requeued
            && !self.live.interactions.contains_key(&new.id)
        {
            self.create(&new, at, out);
        }
    }
}

//! An interaction's life: creation and entering a queue, its segments and
//! status lines, and its end (disconnect, wrap-up phase, close, counted
//! once in its queue's totals).

use super::{Applied, Interactions, lines};
use crate::change::{Actor, NewInteraction};
use crate::model::{
    CallSignal, Content, Interaction, InteractionState, Message, MessageKind, Name, Parties,
    QueueVisit, Routing, Segment, SegmentKind, Sender, Seq, Supervision,
};

/// Ends the open segment (if any) and opens one of `kind`, starting where
/// the last ended so segments stay contiguous even if `at` runs behind.
pub(crate) fn next_segment(ix: &mut Interaction, kind: SegmentKind, agent: Option<&str>, at: u64) {
    let mut start = at;
    if let Some(last) = ix.segments.last_mut() {
        let end = *last.end_ms.get_or_insert(at.max(last.start_ms));
        start = end;
    }
    // Room for this one only: a vector's first growth is to four (320
    // bytes), and most live interactions have one or two segments.
    ix.segments.reserve_exact(1);
    ix.segments.push(Segment {
        kind,
        agent: agent.map(Name::from),
        queue: ix.routing.queue.clone(),
        start_ms: start,
        end_ms: None,
        seqno: ix.seqno,
    });
}

/// A zero-length segment marking an event (a transfer, the end).
pub(crate) fn marker(ix: &mut Interaction, kind: SegmentKind, agent: Option<&str>, at: u64) {
    next_segment(ix, kind, agent, at);
    if let Some(last) = ix.segments.last_mut() {
        last.end_ms = Some(last.start_ms);
    }
}

/// Adds a status line to a transcript right after the message `after` (a
/// healed message, which may sit before lines added since), or in its
/// place by time;
/// its id is derived from the transcript's length, so both nodes give it
/// the same one.
pub(crate) fn status_line_after(ix: &mut Interaction, after: Option<&str>, at: u64, body: String) {
    if let Content::Transcript(t) = &mut ix.content {
        // After `after`, else in its place by time (the end, but for a
        // line a heal makes from a change taken earlier), so the transcript
        // stays in time order and later healed messages find their place.
        let place = after
            .and_then(|after| t.iter().position(|m| m.id == after))
            .map_or_else(
                || t.len() - t.iter().rev().take_while(|m| m.at_ms > at).count(),
                |i| i + 1,
            );
        // "~" is duet's: a client's message id never starts with it.
        let id = format!("~status#{}", t.len());
        t.insert(
            place,
            Message {
                id,
                sender: Sender::System,
                at_ms: at,
                body,
                kind: MessageKind::Status,
                delivery: crate::model::Delivery::Accepted,
            },
        );
    }
}

/// Adds a status line to a transcript in its place by time.
pub(crate) fn status_line(ix: &mut Interaction, at: u64, body: String) {
    status_line_after(ix, None, at, body);
}

pub(crate) fn set_signal(ix: &mut Interaction, signal: CallSignal) {
    if let Content::Call(call) = &mut ix.content {
        call.signal = signal;
    }
}

impl Interactions {
    pub(crate) fn create(&mut self, new: &NewInteraction, at: u64, out: &mut Applied) {
        let ix = Interaction {
            id: new.id.as_str().into(),
            media: new.media,
            created_at_ms: at,
            routing: Routing {
                queue: new.queue.as_str().into(),
                priority: new.priority,
                skills: new.skills.iter().map(|(s, l)| (s.into(), *l)).collect(),
            },
            attributes: (new.attributes.iter())
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            parties: Parties {
                customer: new.customer.clone(),
                ..Parties::default()
            },
            state: InteractionState::Queued,
            segments: Seq::new(),
            content: new.content.clone(),
            files: Seq::new(),
            wrap_up: None,
            visit: QueueVisit::default(),
            seqno: 0,
        };
        // Indexed as it is, so `enqueue`'s edit takes out what it put in.
        self.index.add_messages(&ix);
        self.index.add_interaction(&ix);
        self.live.interactions.insert(new.id.clone(), ix);
        self.enqueue(&new.id, &new.queue, at, out);
    }

    /// Puts an interaction (held by no agent) into `queue` as a new visit.
    pub(crate) fn enqueue(&mut self, id: &str, queue: &str, at: u64, out: &mut Applied) {
        let weight = self.config.queue(queue).map_or(0, |q| q.priority_weight_ms);
        self.edit(id, |ix| {
            ix.routing.queue = queue.into();
            let boost = i64::from(ix.routing.priority).saturating_mul(weight as i64);
            ix.visit = QueueVisit {
                since_ms: at,
                order_key: (at as i64).saturating_sub(boost),
                ..QueueVisit::default()
            };
            ix.state = InteractionState::Queued;
            next_segment(ix, SegmentKind::Queued, None, at);
        });
        self.live.queues.get_or_default(queue).totals.entered += 1;
        out.queues.insert(queue.to_string());
        out.interactions.insert(id.to_string());
    }

    pub(crate) fn disconnect(&mut self, id: &str, actor: &Actor, at: u64, out: &mut Applied) {
        let Some(ix) = self.live.interactions.get(id) else {
            return;
        };
        // A supervisor on it only stops supervising (a silent one unseen).
        if let Actor::User(u) = actor
            && let Some(how) = ix.parties.supervisors.get(u).copied()
        {
            self.edit(id, |ix| {
                ix.parties.supervisors.remove(u);
                if how == Supervision::Barged {
                    status_line(ix, at, lines::left(u));
                }
            });
            out.interactions.insert(id.to_string());
            return;
        }
        // A conferenced agent who disconnects only leaves.
        if let Actor::Agent(a) = actor
            && ix.parties.conference.contains(a)
        {
            let media = ix.media;
            self.edit(id, |ix| {
                ix.parties.conference.remove(a);
                status_line(ix, at, lines::left(a));
            });
            self.release(a, media, id, at, out);
            out.interactions.insert(id.to_string());
            return;
        }
        let media = ix.media;
        let queue = ix.routing.queue.clone();
        match ix.state.clone() {
            InteractionState::Queued | InteractionState::Offered { .. } => {
                self.release_all(id, at, out);
                // The router ends a waiting chat only when its customer is
                // gone (`presence`): abandoned, as if the customer left.
                let abandoned = matches!(actor, Actor::Customer | Actor::Router);
                self.close(id, abandoned, at, out);
            }
            InteractionState::Connected { agent } | InteractionState::Held { agent } => {
                let line = lines::ended_by(actor);
                self.edit(id, |ix| {
                    status_line(ix, at, line);
                    set_signal(ix, CallSignal::Ended);
                    ix.parties.conference.remove(&agent);
                });
                // Conferenced agents leave; the owner wraps up.
                let others: Vec<String> = self
                    .live
                    .interactions
                    .get(id)
                    .map(|ix| ix.parties.conference.iter().cloned().collect())
                    .unwrap_or_default();
                self.edit(id, |ix| ix.parties.conference.clear());
                for other in others {
                    self.release(&other, media, id, at, out);
                }
                let (acw_ms, codes) = self
                    .config
                    .queue(&queue)
                    .map_or((0, false), |q| (q.acw_ms, !q.wrap_up_codes.is_empty()));
                if acw_ms > 0 || codes {
                    self.edit(id, |ix| {
                        ix.state = InteractionState::WrapUp {
                            agent: agent.clone(),
                        };
                        next_segment(ix, SegmentKind::WrapUp, Some(&agent), at);
                    });
                    if acw_ms > 0 {
                        self.start_acw(&agent, at.saturating_add(acw_ms), at, out);
                    }
                    out.interactions.insert(id.to_string());
                } else {
                    self.release(&agent, media, id, at, out);
                    self.close(id, false, at, out);
                }
            }
            // Ended by a supervisor or an administrator: closed without a
            // code, its agent released.
            InteractionState::WrapUp { agent } => {
                if let Actor::User(user) = actor {
                    self.edit(id, |ix| {
                        status_line(ix, at, lines::wrap_up_ended_by(user));
                    });
                    self.release(&agent, media, id, at, out);
                    self.close(id, false, at, out);
                }
            }
            InteractionState::Closed { .. } => {}
        }
    }

    /// Closes an interaction held by no agent, counting it in its queue's
    /// totals once.
    pub(crate) fn close(&mut self, id: &str, abandoned: bool, at: u64, out: &mut Applied) {
        let Some((queue, handle_ms, answered)) = self.edit(id, |ix| {
            marker(ix, SegmentKind::Disconnected, None, at);
            set_signal(ix, CallSignal::Ended);
            ix.state = InteractionState::Closed { at_ms: at };
            let handle = ix.time_in_ms(SegmentKind::Connected, at)
                + ix.time_in_ms(SegmentKind::Held, at)
                + ix.time_in_ms(SegmentKind::WrapUp, at);
            let answered = !ix.parties.joined.is_empty();
            (ix.routing.queue.clone(), handle, answered)
        }) else {
            return;
        };
        let t = &mut self.live.queues.get_or_default(&queue).totals;
        if answered {
            t.handled += 1;
            t.handle_ms_total += handle_ms;
        } else if abandoned {
            t.abandoned += 1;
        }
        out.queues.insert(queue.to_string());
        out.interactions.insert(id.to_string());
    }
}

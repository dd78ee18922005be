//! Making a checked command: the interaction side. Nothing here fails;
//! `check_command` has ruled out every case that could.

use super::lifecycle::{marker, next_segment, set_signal, status_line, status_line_after};
use super::lines;
use super::{Applied, Interactions, IntervalEnd};
use crate::change::{Change, Command, TransferTarget};
use crate::model::{
    CallSignal, Content, EmailReply, Interaction, InteractionState, Message, MessageKind,
    ReplyState, SegmentKind, Sender, Supervision, WrapUp,
};

impl Interactions {
    pub(crate) fn mutate(&mut self, cmd: &Command) -> Applied {
        let mut out = Applied::default();
        let at = cmd.at_ms;
        if self.live.reporting.interval_start_ms == 0 {
            // The first interval starts at the boundary before the first
            // change, so records line up with the clock's intervals.
            let length = self.config.directory.settings.statistics_interval_ms;
            self.live.reporting.interval_start_ms = at - at.checked_rem(length).unwrap_or(0);
        }
        match &cmd.change {
            Change::Create(new) => self.create(new, at, &mut out),
            Change::Offer {
                id,
                agent,
                deadline_ms,
            } => self.offer(id, agent, *deadline_ms, at, &mut out),
            Change::Accept { id, agent } => self.accept(id, agent, at, &mut out),
            Change::Reject { id, agent } | Change::OfferTimedOut { id, agent } => {
                self.withdraw_offer(id, agent, true, at, &mut out)
            }
            Change::Message {
                id,
                message_id,
                sender,
                body,
            } => {
                if *sender == crate::model::Sender::Customer {
                    self.customer_said_something(id, at);
                }
                self.add_message(
                    id,
                    message_id,
                    sender,
                    body,
                    MessageKind::Text,
                    at,
                    &mut out,
                );
            }
            Change::FileShared {
                id,
                message_id,
                sender,
                file,
                content,
            } => {
                let kind = MessageKind::File(file.clone());
                if self.add_message(id, message_id, sender, &file.name, kind, at, &mut out) {
                    self.edit(id, |ix| {
                        ix.files.push(crate::model::Attachment {
                            id: file.file_id.clone(),
                            name: file.name.clone(),
                            content_type: file.content_type.clone(),
                            content: content.clone(),
                        })
                    });
                }
            }
            Change::Chunk { name, bytes } => self.store_chunk(name, bytes, at),
            Change::MessageDelivery {
                id,
                message_id,
                delivery,
            } => {
                let stepped = self.edit(id, |ix| match &mut ix.content {
                    // The recent messages are the ones delivered and read.
                    Content::Transcript(t) => t
                        .iter_mut()
                        .rev()
                        .find(|m| &m.id == message_id)
                        .filter(|m| *delivery > m.delivery)
                        .map(|m| m.delivery = *delivery)
                        .is_some(),
                    _ => false,
                });
                if stepped == Some(true) {
                    out.interactions.insert(id.clone());
                }
            }
            Change::Hold { id } => self.hold(id, true, at, &mut out),
            Change::Resume { id } => self.hold(id, false, at, &mut out),
            Change::Transfer { id, to } => self.transfer(id, to, at, &mut out),
            Change::Conference { id, agent } => {
                let media = self.edit(id, |ix| {
                    ix.parties.conference.insert(agent.clone());
                    ix.parties.joined.push(agent.clone());
                    status_line(ix, at, lines::joined(agent));
                    ix.media
                });
                if let Some(media) = media {
                    self.assign(agent, media, id, &mut out);
                    out.interactions.insert(id.clone());
                }
            }
            Change::Supervise { id, user, barge } => {
                let joined = self.edit(id, |ix| {
                    let how = if *barge {
                        status_line(ix, at, lines::joined(user));
                        Supervision::Barged
                    } else {
                        Supervision::Silent
                    };
                    ix.parties.supervisors.insert(user.clone(), how);
                });
                if joined.is_some() {
                    out.interactions.insert(id.clone());
                }
            }
            Change::Disconnect { id } => self.disconnect(id, &cmd.actor, at, &mut out),
            Change::WrapUp { id, code, notes } => {
                let owner = self.edit(id, |ix| {
                    let agent = ix.state.owner().unwrap_or_default().to_string();
                    ix.wrap_up = Some(Box::new(WrapUp {
                        agent: agent.clone(),
                        code: code.clone(),
                        notes: notes.clone(),
                        at_ms: at,
                        seqno: ix.seqno,
                    }));
                    (agent, ix.media)
                });
                if let Some((agent, media)) = owner {
                    self.release(&agent, media, id, at, &mut out);
                    self.close(id, false, at, &mut out);
                }
            }
            Change::EmailDraft {
                id,
                reply_id,
                agent,
                html,
                text,
                attachments,
            } => {
                self.edit(id, |ix| {
                    if let Content::Email(email) = &mut ix.content {
                        let reply = EmailReply {
                            id: reply_id.clone(),
                            agent: agent.clone(),
                            html: html.clone(),
                            text: text.clone(),
                            attachments: attachments.clone(),
                            state: ReplyState::Draft,
                            updated_at_ms: at,
                            relayed: None,
                        };
                        match email.replies.iter_mut().find(|r| &r.id == reply_id) {
                            Some(r) => *r = reply,
                            None => email.replies.push(reply),
                        }
                    }
                });
                out.interactions.insert(id.clone());
            }
            Change::EmailSend { id, reply_id } => {
                self.edit(id, |ix| {
                    if let Content::Email(email) = &mut ix.content
                        && let Some(r) = email.replies.iter_mut().find(|r| &r.id == reply_id)
                    {
                        r.state = ReplyState::Sent;
                        r.updated_at_ms = at;
                    }
                });
                out.interactions.insert(id.clone());
            }
            Change::EmailRelayed {
                id,
                reply_id,
                message_id,
            } => {
                self.edit(id, |ix| {
                    if let Content::Email(email) = &mut ix.content
                        && let Some(r) = email.replies.iter_mut().find(|r| &r.id == reply_id)
                    {
                        r.relayed = Some(message_id.clone());
                    }
                });
                out.interactions.insert(id.clone());
            }
            Change::CallbackAttempt { id, agent, outcome } => {
                self.edit(id, |ix| {
                    if let Content::Callback(cb) = &mut ix.content {
                        cb.attempts.push(crate::model::CallbackAttempt {
                            at_ms: at,
                            agent: agent.clone(),
                            outcome: outcome.clone(),
                        });
                    }
                });
                out.interactions.insert(id.clone());
            }
            Change::Forget { id } => {
                if let Some(ix) = self.live.interactions.remove(id) {
                    self.index.remove_interaction(&ix);
                    self.index.remove_messages(&ix);
                    out.forgotten.insert(id.clone());
                }
            }
            Change::StartInterval => self.end_interval(IntervalEnd::Boundary, at, &mut out),
            Change::Healed { node, fact } => {
                let made = self.mutate(&Command {
                    change: (**fact).clone(),
                    ..cmd.clone()
                });
                if let Change::Message { id, message_id, .. }
                | Change::FileShared { id, message_id, .. } = &**fact
                    && made.interactions.contains(id)
                {
                    self.edit(id, |ix| {
                        status_line_after(ix, Some(message_id), at, lines::healed(node))
                    });
                }
                out.interactions.extend(made.interactions);
                out.agents.extend(made.agents);
                out.queues.extend(made.queues);
            }
            Change::HealConflict(conflict) => {
                self.live.conflicts.push_back((**conflict).clone());
                while self.live.conflicts.len() > super::HEAL_CONFLICTS_MAX {
                    self.live.conflicts.pop_front();
                }
            }
            Change::CustomerPresence { id, present } => {
                self.customer_presence(id, *present, at, &mut out)
            }
            Change::Takeover { recovery } => self.take_over(recovery, at, &mut out),
            Change::AgentLogin { .. }
            | Change::AgentLogout { .. }
            | Change::AgentStatus { .. }
            | Change::AcwExpired { .. }
            | Change::DesktopAttached { .. }
            | Change::DesktopDetached { .. } => self.mutate_agent(&cmd.change, at, &mut out),
        }
        out
    }

    /// Changes an interaction, keeping the indexes in step.
    pub(crate) fn edit<R>(&mut self, id: &str, f: impl FnOnce(&mut Interaction) -> R) -> Option<R> {
        let ix = self.live.interactions.get_mut(id)?;
        self.index.remove_interaction(ix);
        let r = f(ix);
        self.index.add_interaction(ix);
        Some(r)
    }

    fn offer(&mut self, id: &str, agent: &str, deadline_ms: u64, at: u64, out: &mut Applied) {
        let Some((media, queue)) = self.edit(id, |ix| {
            ix.state = InteractionState::Offered {
                agent: agent.to_string(),
                deadline_ms,
            };
            let kind = if ix.media == crate::model::MediaType::Call {
                SegmentKind::Alerting
            } else {
                SegmentKind::Offered
            };
            next_segment(ix, kind, Some(agent), at);
            set_signal(ix, CallSignal::Ringing);
            (ix.media, ix.routing.queue.clone())
        }) else {
            return;
        };
        self.assign(agent, media, id, out);
        self.live.queues.get_or_default(&queue).rr_cursor = Some(agent.to_string());
        out.queues.insert(queue.to_string());
        out.interactions.insert(id.to_string());
    }

    fn accept(&mut self, id: &str, agent: &str, at: u64, out: &mut Applied) {
        let sl_ms = self
            .live
            .interactions
            .get(id)
            .and_then(|ix| self.config.queue(&ix.routing.queue).ok())
            .map_or(0, |q| q.service_level_ms);
        let Some((queue, first_answer)) = self.edit(id, |ix| {
            ix.state = InteractionState::Connected {
                agent: agent.to_string(),
            };
            next_segment(ix, SegmentKind::Connected, Some(agent), at);
            set_signal(ix, CallSignal::Connected);
            if !ix.parties.joined.iter().any(|a| a == agent) {
                ix.parties.joined.push(agent.to_string());
            }
            status_line(ix, at, lines::joined(agent));
            let first = ix.visit.answered_at_ms.is_none();
            if first {
                ix.visit.answered_at_ms = Some(at);
            }
            let wait = at.saturating_sub(ix.visit.since_ms);
            (ix.routing.queue.clone(), first.then_some(wait))
        }) else {
            return;
        };
        if let Some(wait) = first_answer {
            let t = &mut self.live.queues.get_or_default(&queue).totals;
            t.answered += 1;
            t.answer_wait_ms_total += wait;
            if wait <= sl_ms {
                t.answered_within_sl += 1;
            }
            out.queues.insert(queue.to_string());
        }
        self.edit_agent(agent, |a| {
            a.no_answers = 0;
            a.no_answer_queue = None;
        });
        out.agents.insert(agent.to_string());
        out.interactions.insert(id.to_string());
    }

    /// An offer ends unanswered: back to waiting, in the same place of the
    /// same visit. `missed` counts it against the agent (not for a logout).
    pub(crate) fn withdraw_offer(
        &mut self,
        id: &str,
        agent: &str,
        missed: bool,
        at: u64,
        out: &mut Applied,
    ) {
        let Some((media, queue)) = self.edit(id, |ix| {
            ix.state = InteractionState::Queued;
            if missed {
                ix.visit.declined_by.insert(agent.to_string());
            }
            next_segment(ix, SegmentKind::Queued, None, at);
            (ix.media, ix.routing.queue.clone())
        }) else {
            return;
        };
        self.release(agent, media, id, at, out);
        if missed {
            self.edit_agent(agent, |a| {
                a.no_answers = a.no_answers.saturating_add(1);
                a.no_answer_queue = Some(queue.to_string());
            });
        }
        out.interactions.insert(id.to_string());
    }

    /// Adds a message in its place by time; whether it was new. A message
    /// held already stays once, at the earliest time it was taken: a
    /// heal brings the copy a node acknowledged while the other, lacking
    /// it, took the client's retry later.
    #[allow(clippy::too_many_arguments)]
    fn add_message(
        &mut self,
        id: &str,
        message_id: &str,
        sender: &Sender,
        body: &str,
        kind: MessageKind,
        at: u64,
        out: &mut Applied,
    ) -> bool {
        if self.index.has_message(id, message_id) {
            let moved = self.edit(id, |ix| match &mut ix.content {
                Content::Transcript(t) => move_earlier(t, message_id, at),
                _ => false,
            });
            if moved == Some(true) {
                out.interactions.insert(id.to_string());
            }
            return false;
        }
        let added = self.edit(id, |ix| match &mut ix.content {
            Content::Transcript(t) => {
                // In the order the active node took them: a message a node
                // took while it served alone, made here later by a heal,
                // goes where it belongs (almost always at the end).
                let place = t.len() - t.iter().rev().take_while(|m| m.at_ms > at).count();
                t.insert(
                    place,
                    Message {
                        id: message_id.to_string(),
                        sender: sender.clone(),
                        at_ms: at,
                        body: body.to_string(),
                        kind,
                        delivery: crate::model::Delivery::Accepted,
                    },
                );
                true
            }
            _ => false,
        });
        if added == Some(true) {
            self.index.add_message(id, message_id);
            out.interactions.insert(id.to_string());
        }
        added == Some(true)
    }

    fn hold(&mut self, id: &str, hold: bool, at: u64, out: &mut Applied) {
        self.edit(id, |ix| {
            let agent = ix.state.owner().unwrap_or_default().to_string();
            if hold {
                ix.state = InteractionState::Held {
                    agent: agent.clone(),
                };
                next_segment(ix, SegmentKind::Held, Some(&agent), at);
                set_signal(ix, CallSignal::Held);
            } else {
                ix.state = InteractionState::Connected {
                    agent: agent.clone(),
                };
                next_segment(ix, SegmentKind::Connected, Some(&agent), at);
                set_signal(ix, CallSignal::Connected);
            }
        });
        out.interactions.insert(id.to_string());
    }

    /// Releases every agent on the interaction (owner and conference).
    pub(crate) fn release_all(&mut self, id: &str, at: u64, out: &mut Applied) {
        let Some((media, agents)) = self.edit(id, |ix| {
            let agents: Vec<String> = ix.agents().map(str::to_string).collect();
            ix.parties.conference.clear();
            (ix.media, agents)
        }) else {
            return;
        };
        for agent in agents {
            self.release(&agent, media, id, at, out);
        }
    }

    fn transfer(&mut self, id: &str, to: &TransferTarget, at: u64, out: &mut Applied) {
        let queue = match to {
            TransferTarget::Queue(q) => q.clone(),
            TransferTarget::Agent(a) => match self.config.agent(a) {
                Ok(cfg) => cfg.user_queue.clone(),
                Err(_) => return,
            },
        };
        self.release_all(id, at, out);
        self.edit(id, |ix| {
            let from = ix.state.owner().map(str::to_string);
            marker(ix, SegmentKind::Transferred, from.as_deref(), at);
            // Held by no one until enqueued (the index drops the offer).
            ix.state = InteractionState::Queued;
        });
        self.enqueue(id, &queue, at, out);
    }
}

/// Moves `message_id` to its place by `at` when it was taken earlier than
/// the copy held; whether it moved.
fn move_earlier(t: &mut crate::model::Seq<Message>, message_id: &str, at: u64) -> bool {
    let Some(held) = t.iter().position(|m| m.id == message_id) else {
        return false;
    };
    if t[held].at_ms <= at {
        return false;
    }
    let mut message = t.remove(held);
    message.at_ms = at;
    let place = t.len() - t.iter().rev().take_while(|m| m.at_ms > at).count();
    t.insert(place, message);
    true
}

//! Whether a command may be made now. Reads only; `apply` runs the same
//! checks first, so a change that fails leaves the state as it was.

use std::collections::BTreeSet;

use super::Interactions;
use crate::change::{Actor, Change, Command, NewInteraction, TransferTarget};
use crate::encode;
use crate::error::{Error, Result};
use crate::model::{
    AgentStatus, ChosenStatus, Content, Interaction, InteractionState, MediaType, ReplyState,
    Sender, Supervision,
};

/// The part of the live limit that customers and intake may fill, in
/// hundredths: the other 5% is kept for agents' and users' own work.
pub const OUTSIDE_SHARE_PERCENT: usize = 95;

/// How many interactions customers and intake may fill of `entries_max`.
pub fn outside_share(entries_max: usize) -> usize {
    entries_max / 100 * OUTSIDE_SHARE_PERCENT + entries_max % 100 * OUTSIDE_SHARE_PERCENT / 100
}

fn illegal(ix: &Interaction, action: &str) -> Error {
    if ix.is_closed() {
        return Error::Closed {
            id: ix.id.to_string(),
            action: action.to_string(),
        };
    }
    Error::IllegalTransition {
        id: ix.id.to_string(),
        from: ix.state.name().to_string(),
        action: action.to_string(),
    }
}

impl Interactions {
    pub(crate) fn check_command(&self, cmd: &Command) -> Result<()> {
        let bytes = encode::size_of(cmd);
        if bytes > self.limits.change_bytes_max {
            return Err(Error::TooLarge {
                bytes,
                max: self.limits.change_bytes_max,
            });
        }
        let at = cmd.at_ms;
        let checked = match &cmd.change {
            Change::Create(new) => self.check_create(new, &cmd.actor),
            Change::Offer {
                id,
                agent,
                deadline_ms,
            } => {
                let ix = self.interaction(id)?;
                if ix.state != InteractionState::Queued {
                    return Err(illegal(ix, "offer"));
                }
                if *deadline_ms <= at {
                    return Err(Error::Invalid {
                        what: "offer deadline",
                        why: format!("{deadline_ms} is not after the offer's time {at}"),
                    });
                }
                self.check_may_offer(ix, agent)
            }
            Change::Accept { id, agent }
            | Change::Reject { id, agent }
            | Change::OfferTimedOut { id, agent } => {
                let ix = self.interaction(id)?;
                match &ix.state {
                    InteractionState::Offered { agent: a, .. } if a == agent => Ok(()),
                    _ => Err(illegal(ix, &format!("answer an offer as {agent}"))),
                }
            }
            Change::Message {
                id,
                sender,
                message_id,
                ..
            } => self.check_message(id, message_id, sender),
            Change::FileShared {
                id,
                sender,
                message_id,
                file,
                content,
            } => {
                self.check_message(id, message_id, sender)?;
                if file.size_bytes != content.size_bytes {
                    return Err(Error::Invalid {
                        what: "file",
                        why: format!(
                            "{} bytes said, its content is {}",
                            file.size_bytes, content.size_bytes
                        ),
                    });
                }
                self.check_blob(content)?;
                let ix = self.interaction(id)?;
                let repeat = self.index.has_message(id, message_id);
                if !repeat && ix.files.iter().any(|f| f.id == file.file_id) {
                    return Err(Error::Invalid {
                        what: "file",
                        why: format!("{} is shared already", file.file_id),
                    });
                }
                Ok(())
            }
            Change::Chunk { name, bytes } => self.check_chunk(name, bytes),
            Change::MessageDelivery { id, message_id, .. } => {
                let ix = self.interaction(id)?;
                match &ix.content {
                    Content::Transcript(t) if t.iter().any(|m| &m.id == message_id) => Ok(()),
                    Content::Transcript(_) => Err(Error::UnknownItem {
                        interaction: id.clone(),
                        what: "message",
                        id: message_id.clone(),
                    }),
                    _ => Err(wrong_media(ix.media, "carry messages")),
                }
            }
            Change::Hold { id } => {
                let ix = self.interaction(id)?;
                match ix.state {
                    InteractionState::Connected { .. } => Ok(()),
                    _ => Err(illegal(ix, "hold")),
                }
            }
            Change::Resume { id } => {
                let ix = self.interaction(id)?;
                match ix.state {
                    InteractionState::Held { .. } => Ok(()),
                    _ => Err(illegal(ix, "resume")),
                }
            }
            Change::Transfer { id, to } => {
                let ix = self.interaction(id)?;
                match ix.state {
                    InteractionState::Queued
                    | InteractionState::Offered { .. }
                    | InteractionState::Connected { .. }
                    | InteractionState::Held { .. } => {}
                    _ => return Err(illegal(ix, "transfer")),
                }
                match to {
                    TransferTarget::Queue(q) => self.config.queue(q).map(|_| ()),
                    TransferTarget::Agent(a) => {
                        let cfg = self.config.agent(a)?;
                        if cfg.user_queue.is_empty() {
                            return Err(Error::Invalid {
                                what: "transfer target",
                                why: format!("agent {a:?} has no user queue"),
                            });
                        }
                        Ok(())
                    }
                }
            }
            Change::Conference { id, agent } => {
                let ix = self.interaction(id)?;
                if !ix.media.allows_conference() {
                    return Err(wrong_media(ix.media, "be conferenced"));
                }
                if !matches!(ix.state, InteractionState::Connected { .. }) {
                    return Err(illegal(ix, "conference"));
                }
                if ix.has_agent(agent) {
                    return Err(illegal(ix, &format!("conference {agent} in again")));
                }
                self.config.agent(agent)?;
                self.check_can_hold(agent, ix.media)
            }
            Change::Supervise { id, user, barge } => {
                let ix = self.interaction(id)?;
                if cmd.actor != Actor::User(user.clone()) {
                    return Err(Error::Invalid {
                        what: "supervision",
                        why: format!(
                            "{user:?} supervises as itself, a supervisor (not as {:?})",
                            cmd.actor
                        ),
                    });
                }
                if !ix.media.allows_conference() {
                    return Err(wrong_media(ix.media, "be supervised"));
                }
                if !matches!(
                    ix.state,
                    InteractionState::Connected { .. } | InteractionState::Held { .. }
                ) {
                    return Err(illegal(ix, "supervise"));
                }
                match ix.parties.supervisors.get(user) {
                    Some(Supervision::Barged) => {
                        Err(illegal(ix, &format!("let {user} join again")))
                    }
                    Some(Supervision::Silent) if !barge => {
                        Err(illegal(ix, &format!("let {user} listen in again")))
                    }
                    _ => Ok(()),
                }
            }
            Change::Disconnect { id } => {
                let ix = self.interaction(id)?;
                match ix.state {
                    // A supervisor or an administrator ends a wrap-up its
                    // agent left (a stuck interaction); its agent wraps up.
                    InteractionState::WrapUp { .. } if matches!(cmd.actor, Actor::User(_)) => {
                        Ok(())
                    }
                    InteractionState::Closed { .. } | InteractionState::WrapUp { .. } => {
                        Err(illegal(ix, "disconnect"))
                    }
                    _ => Ok(()),
                }
            }
            Change::WrapUp { id, code, .. } => {
                let ix = self.interaction(id)?;
                if !matches!(ix.state, InteractionState::WrapUp { .. }) {
                    return Err(illegal(ix, "wrap up"));
                }
                let codes = self
                    .config
                    .queue(&ix.routing.queue)
                    .map(|q| q.wrap_up_codes.clone())
                    .unwrap_or_default();
                if !codes.is_empty() && !codes.contains(code) {
                    return Err(Error::InvalidWrapUpCode {
                        code: code.clone(),
                        queue: ix.routing.queue.to_string(),
                        allowed: join(&codes),
                    });
                }
                Ok(())
            }
            Change::EmailDraft {
                id,
                reply_id,
                agent,
                attachments,
                ..
            } => {
                let ix = self.interaction(id)?;
                let mut total = 0u64;
                for a in attachments {
                    self.check_blob(&a.content)?;
                    total = total.saturating_add(a.content.size_bytes);
                }
                // A reply is sent whole: its attachments together are
                // content like an email's.
                let max = self.config.directory.settings.content_bytes_max;
                if total > max {
                    return Err(Error::ContentTooLarge { bytes: total, max });
                }
                let Content::Email(email) = &ix.content else {
                    return Err(wrong_media(ix.media, "have email replies"));
                };
                match &ix.state {
                    InteractionState::Connected { agent: a }
                    | InteractionState::Held { agent: a }
                        if a == agent => {}
                    InteractionState::Connected { .. } | InteractionState::Held { .. } => {
                        return Err(Error::NotOnInteraction {
                            agent: agent.clone(),
                            id: id.clone(),
                        });
                    }
                    _ => return Err(illegal(ix, "draft a reply")),
                }
                match email.replies.iter().find(|r| &r.id == reply_id) {
                    Some(r) if r.state == ReplyState::Sent => {
                        Err(illegal(ix, &format!("edit the sent reply {reply_id}")))
                    }
                    _ => Ok(()),
                }
            }
            Change::EmailSend { id, reply_id } => {
                let ix = self.interaction(id)?;
                let Content::Email(email) = &ix.content else {
                    return Err(wrong_media(ix.media, "have email replies"));
                };
                if ix.is_closed() {
                    return Err(illegal(ix, "send a reply"));
                }
                match email.replies.iter().find(|r| &r.id == reply_id) {
                    Some(r) if r.state == ReplyState::Draft => Ok(()),
                    Some(_) => Err(illegal(ix, &format!("send {reply_id} again"))),
                    None => Err(Error::UnknownItem {
                        interaction: id.clone(),
                        what: "reply",
                        id: reply_id.clone(),
                    }),
                }
            }
            Change::EmailRelayed { id, reply_id, .. } => {
                let ix = self.interaction(id)?;
                let Content::Email(email) = &ix.content else {
                    return Err(wrong_media(ix.media, "have email replies"));
                };
                match email.replies.iter().find(|r| &r.id == reply_id) {
                    Some(r) if r.state == ReplyState::Sent && r.relayed.is_none() => Ok(()),
                    Some(_) => Err(illegal(
                        ix,
                        &format!("relay {reply_id}, not sent or relayed already"),
                    )),
                    None => Err(Error::UnknownItem {
                        interaction: id.clone(),
                        what: "reply",
                        id: reply_id.clone(),
                    }),
                }
            }
            Change::CallbackAttempt { id, agent, .. } => {
                let ix = self.interaction(id)?;
                if ix.media != MediaType::Callback {
                    return Err(wrong_media(ix.media, "record a callback attempt"));
                }
                match &ix.state {
                    InteractionState::Connected { agent: a } if a == agent => Ok(()),
                    InteractionState::Connected { .. } => Err(Error::NotOnInteraction {
                        agent: agent.clone(),
                        id: id.clone(),
                    }),
                    _ => Err(illegal(ix, "record a callback attempt")),
                }
            }
            Change::AgentLogin { agent, .. } => self.config.agent(agent).map(|_| ()),
            Change::AgentLogout { agent, .. } => {
                if self.live.agents.contains_key(agent) {
                    return Ok(());
                }
                self.config.agent(agent).map(|_| ())
            }
            Change::AgentStatus { agent, status } => {
                self.logged_in_agent(agent)?;
                if let ChosenStatus::NonAcd { name } = status
                    && !self.config.directory.non_acd_statuses.contains(name)
                {
                    return Err(Error::UnknownStatus {
                        status: name.clone(),
                        known: join(&self.config.directory.non_acd_statuses),
                    });
                }
                Ok(())
            }
            Change::DesktopAttached { agent } | Change::DesktopDetached { agent } => {
                self.config.agent(agent).map(|_| ())
            }
            Change::Takeover { .. } => Ok(()),
            Change::AcwExpired { agent } => {
                let live = self.logged_in_agent(agent)?;
                match live.status {
                    AgentStatus::AfterCallWork { .. } => Ok(()),
                    _ => Err(Error::Invalid {
                        what: "after call work expiry",
                        why: format!("agent {agent:?} is {}", live.status.name()),
                    }),
                }
            }
            Change::Forget { id } => {
                let ix = self.interaction(id)?;
                if ix.is_closed() {
                    Ok(())
                } else {
                    Err(illegal(ix, "forget"))
                }
            }
            Change::StartInterval => Ok(()),
            Change::CustomerPresence { id, .. } => {
                let ix = self.interaction(id)?;
                if ix.media.has_transcript() {
                    Ok(())
                } else {
                    Err(wrong_media(ix.media, "have a customer's presence"))
                }
            }
            Change::Healed { fact, .. } => match &**fact {
                Change::Message { id, message_id, .. } => self.check_fact(id, message_id),
                Change::FileShared {
                    id,
                    message_id,
                    content,
                    ..
                } => {
                    self.check_fact(id, message_id)?;
                    self.check_blob(content)
                }
                _ => Err(Error::Invalid {
                    what: "healed fact",
                    why: "only messages and files join a transcript whatever its state".into(),
                }),
            },
            Change::HealConflict(_) => Ok(()),
        };
        checked?;
        self.check_actor(cmd)
    }

    /// An agent changes only an interaction it is offered or holds
    /// (conference members included); who else may act is the API's to
    /// decide, but an agent's change is refused here too, so a transfer
    /// between the API's check and the change cannot slip one through.
    fn check_actor(&self, cmd: &Command) -> Result<()> {
        let (Actor::Agent(agent), Some(id)) = (&cmd.actor, cmd.change.interaction()) else {
            return Ok(());
        };
        // A heal's records are what another node's agent did then, not an
        // agent acting now.
        if matches!(
            cmd.change,
            Change::Create(_) | Change::Healed { .. } | Change::HealConflict(_)
        ) {
            return Ok(());
        }
        let ix = self.interaction(id)?;
        if ix.has_agent(agent) {
            return Ok(());
        }
        Err(Error::NotOnInteraction {
            agent: agent.clone(),
            id: id.to_string(),
        })
    }

    /// A message or file that joins a transcript whatever its state: the
    /// interaction exists, carries messages, and the id is a client's.
    fn check_fact(&self, id: &str, message_id: &str) -> Result<()> {
        let ix = self.interaction(id)?;
        if !ix.media.has_transcript() {
            return Err(wrong_media(ix.media, "carry messages"));
        }
        if message_id.is_empty() || message_id.starts_with('~') {
            return Err(Error::Invalid {
                what: "message id",
                why: format!("{message_id:?}: it is empty or starts with \"~\" (duet's own)"),
            });
        }
        Ok(())
    }

    /// What arrives from outside (customers, intake) may fill the live
    /// state only up to its share; the rest is kept for agents' and
    /// users' own work.
    fn check_create(&self, new: &NewInteraction, actor: &Actor) -> Result<()> {
        if new.id.is_empty() {
            return Err(Error::Invalid {
                what: "interaction id",
                why: "it is empty".into(),
            });
        }
        if self.live.interactions.contains_key(&new.id) {
            return Err(Error::AlreadyExists { id: new.id.clone() });
        }
        let max = match actor {
            Actor::Customer | Actor::System => outside_share(self.limits.entries_max),
            Actor::Agent(_) | Actor::User(_) | Actor::Router => self.limits.entries_max,
        };
        if self.live.interactions.len() >= max {
            return Err(Error::Full { max });
        }
        if !new.content.fits(new.media) {
            return Err(wrong_media(new.media, "carry this content"));
        }
        if let Content::Transcript(t) = &new.content {
            let ids: BTreeSet<&str> = t.iter().map(|m| m.id.as_str()).collect();
            if ids.len() != t.len() {
                return Err(Error::Invalid {
                    what: "transcript",
                    why: "two messages share an id".into(),
                });
            }
        }
        if let Content::Email(email) = &new.content {
            self.check_blob(&email.mime)?;
            for a in &email.attachments {
                self.check_blob(&a.content)?;
            }
        }
        self.config.queue(&new.queue).map(|_| ())
    }

    fn check_message(&self, id: &str, message_id: &str, sender: &Sender) -> Result<()> {
        self.check_fact(id, message_id)?;
        let ix = self.interaction(id)?;
        // A repeat by its sender changes nothing but, for a copy taken
        // earlier (a heal's), its place: it is kept whatever the state.
        if self.index.has_message(id, message_id)
            && let Content::Transcript(t) = &ix.content
            && t.iter().any(|m| m.id == message_id && &m.sender == sender)
        {
            return Ok(());
        }
        if ix.is_closed() {
            return Err(illegal(ix, "add a message"));
        }
        if let Sender::Agent(agent) = sender {
            let barged = ix.parties.supervisors.get(agent) == Some(&Supervision::Barged);
            let on = (ix.has_agent(agent) || barged)
                && matches!(
                    ix.state,
                    InteractionState::Connected { .. } | InteractionState::Held { .. }
                );
            if !on {
                return Err(Error::NotOnInteraction {
                    agent: agent.clone(),
                    id: id.to_string(),
                });
            }
        }
        Ok(())
    }
}

fn wrong_media(media: MediaType, action: &str) -> Error {
    Error::WrongMedia {
        media,
        action: action.to_string(),
    }
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        return "(none configured)".into();
    }
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

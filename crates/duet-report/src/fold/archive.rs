//! The archive's rows of one change (pure): the header of an interaction
//! created, an entry per message, file, email reply step or callback
//! attempt, and the status lines the interaction state adds to a
//! transcript, told from the open interaction's summary as it stood
//! before the change. Messages, files and email steps are written for
//! any interaction (a healed message joins a closed chat, a relay takes
//! a reply after its wrap-up); status lines only for one the fold holds
//! open, as the state adds them only then.

use std::collections::BTreeMap;

use duet_interactions::change::{Actor, Change, Command};
use duet_interactions::model::{Content, MessageKind};
use duet_interactions::state::{START_AGAIN, lines};

use super::Phase;
use crate::Position;
use crate::archive::rows::{ArchiveRow, AttachmentRef, EmailHead, Entry, Header, Item, Opening};
use crate::rows::{Row, Summary};

/// The entries of one change, numbered per interaction in order.
struct Entries {
    at: Position,
    at_ms: u64,
    rows: Vec<Row>,
    next: BTreeMap<String, u32>,
}

impl Entries {
    fn push(&mut self, interaction: &str, at_ms: u64, item: Item) {
        let n = self.next.entry(interaction.to_string()).or_default();
        self.rows
            .push(Row::Archive(ArchiveRow::Entry(Box::new(Entry {
                position: self.at,
                interaction: interaction.to_string(),
                n: *n,
                at_ms,
                item,
            }))));
        *n += 1;
    }

    fn status(&mut self, s: &Summary, line: String) {
        if s.media.has_transcript() {
            let at_ms = self.at_ms;
            self.push(&s.id, at_ms, Item::Status { line });
        }
    }

    /// A message or a file; whether it was one.
    fn said(&mut self, change: &Change) -> bool {
        let at_ms = self.at_ms;
        match change {
            Change::Message {
                id,
                message_id,
                sender,
                body,
            } => self.push(
                id,
                at_ms,
                Item::Message {
                    id: message_id.clone(),
                    sender: sender.clone(),
                    body: body.clone(),
                },
            ),
            Change::FileShared {
                id,
                message_id,
                sender,
                file,
                ..
            } => self.push(
                id,
                at_ms,
                Item::File {
                    id: message_id.clone(),
                    sender: sender.clone(),
                    file: file.clone(),
                },
            ),
            _ => return false,
        }
        true
    }
}

/// The archive rows the change at `at` makes; `open` is the fold's open
/// interactions before it.
pub(super) fn rows(at: Position, command: &Command, open: &BTreeMap<String, Summary>) -> Vec<Row> {
    let mut out = Entries {
        at,
        at_ms: command.at_ms,
        rows: Vec::new(),
        next: BTreeMap::new(),
    };
    let change = &command.change;
    if out.said(change) {
        return out.rows;
    }
    let at_ms = command.at_ms;
    match change {
        Change::Create(new) if !open.contains_key(&new.id) => {
            let opening = match &new.content {
                Content::Transcript(messages) => {
                    for m in messages {
                        let item = match &m.kind {
                            MessageKind::Text => Item::Message {
                                id: m.id.clone(),
                                sender: m.sender.clone(),
                                body: m.body.clone(),
                            },
                            MessageKind::Status => Item::Status {
                                line: m.body.clone(),
                            },
                            MessageKind::File(file) => Item::File {
                                id: m.id.clone(),
                                sender: m.sender.clone(),
                                file: file.clone(),
                            },
                        };
                        out.push(&new.id, m.at_ms, item);
                    }
                    Opening::Transcript
                }
                Content::Email(email) => Opening::Email(Box::new(EmailHead {
                    message_id: new.attributes.get("message_id").cloned(),
                    subject: email.subject.clone(),
                    from: email.from.clone(),
                    to: email.to.clone(),
                    text: email.text.clone(),
                    html: email.html.clone(),
                    attachments: email.attachments.iter().map(AttachmentRef::of).collect(),
                })),
                Content::Callback(callback) => Opening::Callback(*callback.clone()),
                Content::Call(call) => Opening::Call(*call.clone()),
            };
            out.rows
                .push(Row::Archive(ArchiveRow::Header(Box::new(Header {
                    position: at,
                    id: new.id.clone(),
                    media: new.media,
                    customer: new.customer.clone(),
                    attributes: new.attributes.clone(),
                    opening,
                }))));
        }
        Change::Healed { node, fact } => {
            if out.said(fact)
                && let Some(s) = fact.interaction().and_then(|id| open.get(id))
            {
                out.status(s, lines::healed(node));
            }
        }
        Change::EmailDraft {
            id,
            reply_id,
            agent,
            html,
            text,
            attachments,
        } => out.push(
            id,
            at_ms,
            Item::Draft {
                reply_id: reply_id.clone(),
                agent: agent.clone(),
                html: html.clone(),
                text: text.clone(),
                attachments: attachments.iter().map(AttachmentRef::of).collect(),
            },
        ),
        Change::EmailSend { id, reply_id } => out.push(
            id,
            at_ms,
            Item::Sent {
                reply_id: reply_id.clone(),
            },
        ),
        Change::EmailRelayed {
            id,
            reply_id,
            message_id,
        } => out.push(
            id,
            at_ms,
            Item::Relayed {
                reply_id: reply_id.clone(),
                message_id: message_id.clone(),
            },
        ),
        Change::CallbackAttempt { id, agent, outcome } => out.push(
            id,
            at_ms,
            Item::Attempt {
                agent: agent.clone(),
                outcome: outcome.clone(),
            },
        ),
        Change::Takeover { recovery } => {
            for s in open.values() {
                if !recovery.keeps(s.media, s.assigned) {
                    out.status(s, START_AGAIN.to_string());
                }
            }
        }
        change => {
            if let Some(s) = change.interaction().and_then(|id| open.get(id))
                && let Some(line) = status_line(s, &command.actor, change)
            {
                out.status(s, line);
            }
        }
    }
    out.rows
}

/// The status line the interaction state adds for `change`, if any.
fn status_line(s: &Summary, actor: &Actor, change: &Change) -> Option<String> {
    match change {
        Change::Accept { agent, .. } if matches!(s.phase, Phase::Offered { .. }) => {
            Some(lines::joined(agent))
        }
        Change::Conference { agent, .. } => Some(lines::joined(agent)),
        Change::Supervise {
            user, barge: true, ..
        } => Some(lines::joined(user)),
        Change::Disconnect { .. } => match actor {
            // A supervisor leaving: the state says so only of one who
            // barged in, which the summary does not keep.
            Actor::User(u) if s.supervisors.contains(u) => None,
            Actor::Agent(a) if s.conference.contains(a) => Some(lines::left(a)),
            _ => match s.phase {
                Phase::Connected { .. } | Phase::Held { .. } => Some(lines::ended_by(actor)),
                Phase::Ended { .. } => match actor {
                    Actor::User(u) => Some(lines::wrap_up_ended_by(u)),
                    _ => None,
                },
                _ => None,
            },
        },
        _ => None,
    }
}

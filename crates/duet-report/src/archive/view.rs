//! An archived interaction whole, put together (pure) from what a
//! database keeps of it: its summary, header, entries, segments and
//! wrap-ups. Its fields are named as `GET /api/interactions/{id}` names a
//! live one's, as far as the archive keeps them.

use std::collections::BTreeMap;

use duet_interactions::MediaType;
use duet_interactions::model::{
    CallSignal, Callback, CallbackAttempt, InteractionState, MessageKind, Party, ReplyState, Sender,
};
use serde::{Deserialize, Serialize};

use super::rows::{AttachmentRef, EmailHead, Entry, Header, Item, Opening};
use crate::Position;
use crate::disposition::Disposition;
use crate::rows::{Phase, SegmentRow, Summary, WrapUpRow};

/// A line of a transcript: a live message less its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ArchivedLine)]
pub struct Line {
    pub id: String,
    pub sender: Sender,
    pub at_ms: u64,
    pub body: String,
    pub kind: MessageKind,
}

/// An agent's reply to an email, its attachments as references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ArchivedReply)]
pub struct Reply {
    pub id: String,
    pub agent: String,
    pub html: String,
    pub text: String,
    pub attachments: Vec<AttachmentRef>,
    pub state: ReplyState,
    pub updated_at_ms: u64,
    /// The Message-ID the relay sent it with.
    pub relayed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ArchivedEmail)]
pub struct Email {
    #[serde(flatten)]
    pub head: EmailHead,
    pub replies: Vec<Reply>,
}

/// What it carried, as a live interaction's `content`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ArchivedContent)]
pub enum Content {
    Transcript(Vec<Line>),
    Email(Box<Email>),
    Callback(Callback),
    Call(duet_interactions::model::Call),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ArchivedRouting)]
pub struct Routing {
    /// The queue it is in, or ended in.
    pub queue: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ArchivedParties)]
pub struct Parties {
    pub customer: Party,
    /// Every agent connected to it, in order.
    pub joined: Vec<String>,
}

/// What only the archive says: the report's figures of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ArchivedFigures)]
pub struct Figures {
    pub disposition: Option<Disposition>,
    pub wait_ms: Option<u64>,
    pub talk_ms: u64,
    pub hold_ms: u64,
    pub wrap_ms: u64,
    pub transfers: u32,
    pub seqno: u32,
    /// The change that wrote it last.
    pub position: Position,
}

/// An archived interaction whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Archived {
    pub id: String,
    pub media: MediaType,
    pub created_at_ms: u64,
    pub routing: Routing,
    pub attributes: BTreeMap<String, String>,
    pub parties: Parties,
    pub state: InteractionState,
    /// The report's stretches (queued, offered, connected, held, wrap_up).
    pub segments: Vec<SegmentRow>,
    /// None for one written before the archive was (schema 5).
    pub content: Option<Content>,
    pub wrap_up: Option<WrapUpRow>,
    pub archive: Figures,
}

/// An interaction whole as `GET /api/interactions/{id}` answers it: the
/// live one, or once the live state has forgotten it, its archived copy
/// (told apart by `archive`, which only the copy has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Whole {
    Live(Box<duet_interactions::Interaction>),
    Archived(Box<Archived>),
}

impl Archived {
    pub fn is_closed(&self) -> bool {
        matches!(self.state, InteractionState::Closed { .. })
    }

    /// Which of two databases' copies is the more complete: a closed one,
    /// else the later written.
    pub fn rank(&self) -> (bool, Position) {
        (self.is_closed(), self.archive.position)
    }
}

/// Where it stood as the writer last saw it.
fn state(s: &Summary) -> InteractionState {
    if let Some(at_ms) = s.closed_ms {
        return InteractionState::Closed { at_ms };
    }
    match &s.phase {
        Phase::Queued => InteractionState::Queued,
        Phase::Offered { agent } => InteractionState::Offered {
            agent: agent.clone(),
            deadline_ms: 0,
        },
        Phase::Connected { agent } => InteractionState::Connected {
            agent: agent.clone(),
        },
        Phase::Held { agent } => InteractionState::Held {
            agent: agent.clone(),
        },
        Phase::Ended { agent } => InteractionState::WrapUp {
            agent: agent.clone(),
        },
    }
}

/// The transcript from its entries (in order): each message id once.
fn transcript(entries: &[Entry]) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for e in entries {
        let (id, sender, body, kind) = match &e.item {
            Item::Message { id, sender, body } => {
                (id.clone(), sender.clone(), body.clone(), MessageKind::Text)
            }
            Item::File { id, sender, file } => (
                id.clone(),
                sender.clone(),
                file.name.clone(),
                MessageKind::File(file.clone()),
            ),
            Item::Status { line } => (
                format!("~status#{}", lines.len()),
                Sender::System,
                line.clone(),
                MessageKind::Status,
            ),
            _ => continue,
        };
        if !lines.iter().any(|l| l.id == id) {
            lines.push(Line {
                id,
                sender,
                at_ms: e.at_ms,
                body,
                kind,
            });
        }
    }
    lines
}

/// An email's replies from its entries (in order).
fn replies(entries: &[Entry]) -> Vec<Reply> {
    let mut replies: Vec<Reply> = Vec::new();
    for e in entries {
        let id = match &e.item {
            Item::Draft { reply_id, .. }
            | Item::Sent { reply_id }
            | Item::Relayed { reply_id, .. } => reply_id,
            _ => continue,
        };
        let at = replies.iter().position(|r| r.id == *id);
        match (&e.item, at) {
            (
                Item::Draft {
                    agent,
                    html,
                    text,
                    attachments,
                    ..
                },
                _,
            ) => {
                let reply = Reply {
                    id: id.clone(),
                    agent: agent.clone(),
                    html: html.clone(),
                    text: text.clone(),
                    attachments: attachments.clone(),
                    state: ReplyState::Draft,
                    updated_at_ms: e.at_ms,
                    relayed: None,
                };
                match at {
                    Some(i) => replies[i] = reply,
                    None => replies.push(reply),
                }
            }
            (Item::Sent { .. }, Some(i)) => {
                replies[i].state = ReplyState::Sent;
                replies[i].updated_at_ms = e.at_ms;
            }
            (Item::Relayed { message_id, .. }, Some(i)) => {
                replies[i].relayed = Some(message_id.clone());
            }
            _ => {}
        }
    }
    replies
}

fn content(header: Header, entries: &[Entry], closed: bool) -> Content {
    match header.opening {
        Opening::Transcript => Content::Transcript(transcript(entries)),
        Opening::Email(head) => Content::Email(Box::new(Email {
            head: *head,
            replies: replies(entries),
        })),
        Opening::Callback(mut callback) => {
            callback
                .attempts
                .extend(entries.iter().filter_map(|e| match &e.item {
                    Item::Attempt { agent, outcome } => Some(CallbackAttempt {
                        at_ms: e.at_ms,
                        agent: agent.clone(),
                        outcome: outcome.clone(),
                    }),
                    _ => None,
                }));
            Content::Callback(callback)
        }
        Opening::Call(mut call) => {
            if closed {
                call.signal = CallSignal::Ended;
            }
            Content::Call(call)
        }
    }
}

/// What a database keeps of one interaction.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    pub summary: Option<Summary>,
    pub header: Option<Header>,
    /// In stream order.
    pub entries: Vec<Entry>,
    pub segments: Vec<SegmentRow>,
    pub wrap_ups: Vec<WrapUpRow>,
}

impl Kept {
    /// The interaction whole; none without its summary.
    pub fn assemble(self) -> Option<Archived> {
        let s = self.summary?;
        let mut entries = self.entries;
        entries.sort_by_key(|e| (e.at_ms, e.position, e.n));
        let closed = s.closed_ms.is_some();
        let attributes = self
            .header
            .as_ref()
            .map(|h| h.attributes.clone())
            .unwrap_or_default();
        let customer = self
            .header
            .as_ref()
            .map(|h| h.customer.clone())
            .unwrap_or_default();
        Some(Archived {
            id: s.id.clone(),
            media: s.media,
            created_at_ms: s.created_ms,
            routing: Routing {
                queue: s.queue.clone(),
            },
            attributes,
            parties: Parties {
                customer,
                joined: s.agents.clone(),
            },
            state: state(&s),
            segments: self.segments,
            content: self.header.map(|h| content(h, &entries, closed)),
            wrap_up: self.wrap_ups.into_iter().last(),
            archive: Figures {
                disposition: s.disposition,
                wait_ms: s.wait_ms,
                talk_ms: s.talk_ms,
                hold_ms: s.hold_ms,
                wrap_ms: s.wrap_ms,
                transfers: s.transfers,
                seqno: s.seqno,
                position: s.position,
            },
        })
    }
}

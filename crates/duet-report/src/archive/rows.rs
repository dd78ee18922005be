//! What the archive keeps of an interaction: a header written when it is
//! created (its customer, attributes and what it opened with) and an
//! entry per thing said or done in it afterwards (a message, a file, a
//! status line, an email reply's draft, its sending and relaying, a
//! callback attempt). Entries are appended, keyed by the position of the
//! change that made them and their place in it, so a long chat costs a
//! row per message, never a rewrite of what came before.

use std::collections::BTreeMap;

use duet_interactions::MediaType;
use duet_interactions::model::{
    Attachment, Call, Callback, CallbackOutcome, FileRef, Party, Sender,
};
use serde::{Deserialize, Serialize};

use crate::Position;

/// An attachment as the archive keeps it: what it is, not its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentRef {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// The SHA-256 of each chunk of its bytes, hex, in order: the names
    /// the live state kept them by (`model::blob`).
    pub chunks: Vec<String>,
}

impl AttachmentRef {
    pub fn of(a: &Attachment) -> AttachmentRef {
        AttachmentRef {
            id: a.id.clone(),
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size_bytes: a.size_bytes(),
            chunks: a.content.chunks.clone(),
        }
    }
}

/// An email as received, less its raw MIME and its attachments' bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmailHead {
    /// Its Message-ID (the `message_id` attribute the intake sets).
    pub message_id: Option<String>,
    pub subject: String,
    pub from: String,
    pub to: Vec<String>,
    pub text: String,
    pub html: String,
    pub attachments: Vec<AttachmentRef>,
}

/// What an interaction was created with, besides a transcript's first
/// messages (those are entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Opening {
    Transcript,
    Email(Box<EmailHead>),
    Callback(Callback),
    Call(Call),
}

/// Written once, when the interaction is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub position: Position,
    pub id: String,
    pub media: MediaType,
    pub customer: Party,
    pub attributes: BTreeMap<String, String>,
    pub opening: Opening,
}

impl Header {
    /// The email's Message-ID, as people search for it.
    pub fn message_id(&self) -> Option<&str> {
        self.attributes.get("message_id").map(String::as_str)
    }
}

/// One thing said or done in an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    /// A text message (`id`: the sender's message id).
    Message {
        id: String,
        sender: Sender,
        body: String,
    },
    /// A file shared in a transcript: its reference, not its bytes.
    File {
        id: String,
        sender: Sender,
        file: FileRef,
    },
    /// A line duet adds ("agent ann joined", "customer left").
    Status { line: String },
    /// An agent's draft reply to an email, as it stood then.
    Draft {
        reply_id: String,
        agent: String,
        html: String,
        text: String,
        attachments: Vec<AttachmentRef>,
    },
    /// The reply was sent (to the outbound relay).
    Sent { reply_id: String },
    /// The relay took it, with this Message-ID.
    Relayed {
        reply_id: String,
        message_id: String,
    },
    /// A callback attempt.
    Attempt {
        agent: String,
        outcome: CallbackOutcome,
    },
}

impl Item {
    /// The kind, as the `kind` column names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Message { .. } => "message",
            Item::File { .. } => "file",
            Item::Status { .. } => "status",
            Item::Draft { .. } => "draft",
            Item::Sent { .. } => "sent",
            Item::Relayed { .. } => "relayed",
            Item::Attempt { .. } => "attempt",
        }
    }
}

/// An entry: keyed by the change's position, the interaction and its
/// place among that change's entries (`n`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub position: Position,
    pub interaction: String,
    pub n: u32,
    pub at_ms: u64,
    pub item: Item,
}

/// A row of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArchiveRow {
    Header(Box<Header>),
    Entry(Box<Entry>),
}

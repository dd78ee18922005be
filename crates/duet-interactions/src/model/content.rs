//! What an interaction carries besides its routing: a transcript (chat,
//! SMS, social), an email with its replies, a callback request, a call's
//! signalling state.

use serde::{Deserialize, Serialize};

use super::media::MediaType;

/// The media-specific part of an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Content {
    /// Chat, SMS and social interactions: messages in the order accepted.
    #[cfg_attr(feature = "schema", schema(value_type = Vec<Message>))]
    Transcript(super::Seq<Message>),
    Email(Box<Email>),
    /// Boxed, as `Email`: a chat's content stays the size of its
    /// transcript's vector (the encoding is the same).
    Callback(Box<Callback>),
    Call(Box<Call>),
}

impl Content {
    /// Whether this content belongs to an interaction of `media`.
    pub fn fits(&self, media: MediaType) -> bool {
        match self {
            Content::Transcript(_) => media.has_transcript(),
            Content::Email(_) => media == MediaType::Email,
            Content::Callback(_) => media == MediaType::Callback,
            Content::Call(_) => media == MediaType::Call,
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Sender {
    Customer,
    Agent(String),
    /// duet itself (status messages such as "customer left").
    System,
}

/// How far a message got; it only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Delivery {
    Accepted,
    Delivered,
    Read,
}

/// A file shared in a transcript: its metadata; the bytes live in file
/// storage (mirrored separately), not in the change stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FileRef {
    pub file_id: String,
    pub name: String,
    pub size_bytes: u64,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum MessageKind {
    Text,
    /// A status line duet adds ("agent ann joined", "customer left").
    Status,
    File(FileRef),
}

/// One entry of a transcript. Its id is the sender's (a retry carries the
/// same id and is not added twice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: String,
    pub sender: Sender,
    pub at_ms: u64,
    pub body: String,
    pub kind: MessageKind,
    pub delivery: Delivery,
}

/// A file shared in a conversation, an email's attachment or a reply's:
/// its name and type, its bytes kept as chunks (`content`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub content: super::Blob,
}

impl Attachment {
    pub fn size_bytes(&self) -> u64 {
        self.content.size_bytes
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ReplyState {
    Draft,
    Sent,
}

/// An agent's reply to an email: kept whole (HTML, text and attachments),
/// so a switchover loses neither formatting nor attachments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct EmailReply {
    pub id: String,
    pub agent: String,
    pub html: String,
    pub text: String,
    pub attachments: Vec<Attachment>,
    pub state: ReplyState,
    pub updated_at_ms: u64,
    /// The outbound relay took the sent reply, with this Message-ID; until
    /// then it waits in the active node's outbox (across a switchover too).
    pub relayed: Option<String>,
}

/// An email as received: the raw MIME (as chunks), and what the intake
/// parsed from it (the HTML already sanitised by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Email {
    pub mime: super::Blob,
    pub subject: String,
    pub from: String,
    pub to: Vec<String>,
    pub text: String,
    pub html: String,
    pub attachments: Vec<Attachment>,
    pub replies: Vec<EmailReply>,
}

/// When the customer wants to be called back (unix ms, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CallbackWindow {
    pub from_ms: u64,
    pub to_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum CallbackOutcome {
    Reached,
    NoAnswer,
    Busy,
    InvalidNumber,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CallbackAttempt {
    pub at_ms: u64,
    pub agent: String,
    pub outcome: CallbackOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Callback {
    pub number: String,
    pub window: CallbackWindow,
    pub attempts: Vec<CallbackAttempt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum CallSignal {
    Ringing,
    Connected,
    Held,
    Ended,
}

/// A call: its signalling state as this state sees it, and the far end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Call {
    pub signal: CallSignal,
    pub party: super::media::Party,
}

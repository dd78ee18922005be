//! What a customer sees of its conversation: the REST answer
//! (`GET /api/chats/{id}`), its socket's `state` and each change as the
//! socket tells it. Never notes, wrap-up codes, user names, attributes,
//! routing or other parties' data: those are the contact center's.

use duet_interactions::MediaType;
use duet_interactions::model::Delivery;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where the conversation stands, in the customer's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChatStatus {
    Waiting,
    Connected,
    OnHold,
    Ended,
}

/// Who wrote a message, as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SenderView {
    Customer,
    /// The agent's display name.
    Agent(String),
    System,
}

/// What a line of the transcript is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum KindView {
    Text,
    /// A status line ("Alex joined").
    Status,
    /// A shared file (`GET /api/chats/{id}/files/{message_id}`).
    File {
        name: String,
        size_bytes: u64,
        content_type: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    pub sender: SenderView,
    pub at_ms: u64,
    pub body: String,
    pub kind: KindView,
    /// Accepted, Delivered or Read.
    pub delivery: Delivery,
}

/// The conversation as its customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChatView {
    pub id: String,
    /// call, chat, email, callback, sms, social_conversation,
    /// social_direct_message.
    pub media: MediaType,
    pub created_at_ms: u64,
    pub closed: bool,
    pub status: ChatStatus,
    /// The display name of the agent the customer is with, if any.
    pub agent: Option<String>,
    pub transcript: Vec<MessageView>,
}

/// A change to the conversation, as its customer's socket tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CustomerChange {
    Message(MessageView),
    Delivery {
        message_id: String,
        /// Accepted, Delivered or Read.
        delivery: Delivery,
    },
    Status {
        status: ChatStatus,
        agent: Option<String>,
        /// A status line for the transcript ("Alex joined").
        line: Option<String>,
    },
}

//! Changes to the live state. A [`Command`] is what the change stream
//! carries: the change with its time, who made it and the client's id
//! for it. Everything a change's effect depends on is inside it (ids,
//! `at_ms`, the routing decision), so both nodes apply it alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{
    Attachment, Blob, CallbackOutcome, ChosenStatus, Content, FileRef, MediaType, Party, Recovery,
};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Actor {
    Customer,
    Agent(String),
    /// A supervisor or administrator, by user name.
    User(String),
    /// The ACD router.
    Router,
    /// duet itself (intake, timers, recovery).
    System,
}

/// A change as the stream carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The client's own id for the change; a retry carries the same id
    /// (the node answers it from `recent_clients` instead of applying it).
    pub client: String,
    /// When the change was made, unix ms: the only clock the state reads.
    pub at_ms: u64,
    pub actor: Actor,
    pub change: Change,
}

impl Command {
    /// Whether the change is one the active node makes because it serves
    /// (a takeover): a node that served alone does not offer these to the
    /// winner in a heal, which makes its own. Its router's decisions do
    /// travel, so an accept of an offer it made is understood.
    pub fn made_by_serving(&self) -> bool {
        matches!(self.change, Change::Takeover { .. })
    }

    pub fn new(client: impl Into<String>, at_ms: u64, actor: Actor, change: Change) -> Self {
        Command {
            client: client.into(),
            at_ms,
            actor,
            change,
        }
    }
}

/// Where a transfer sends an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum TransferTarget {
    /// Back to waiting, in this workgroup queue.
    Queue(String),
    /// To this agent's user queue (offered to them only).
    Agent(String),
}

/// What a new interaction starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NewInteraction {
    pub id: String,
    pub media: MediaType,
    pub queue: String,
    pub priority: i32,
    pub skills: BTreeMap<String, u32>,
    pub attributes: BTreeMap<String, String>,
    pub customer: Party,
    /// Must fit `media` (a transcript for chat, an email for email...).
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Change {
    /// A new interaction, queued.
    Create(Box<NewInteraction>),
    /// The router offers a queued interaction to `agent` until `deadline_ms`.
    Offer {
        id: String,
        agent: String,
        deadline_ms: u64,
    },
    Accept {
        id: String,
        agent: String,
    },
    /// The agent turned the offer down; it goes back to waiting.
    Reject {
        id: String,
        agent: String,
    },
    /// The offer's deadline passed unanswered; it goes back to waiting.
    OfferTimedOut {
        id: String,
        agent: String,
    },
    /// A text message; a message id already in the transcript is a no-op.
    Message {
        id: String,
        message_id: String,
        sender: crate::model::Sender,
        body: String,
    },
    /// A message was delivered or read (a step back is a no-op).
    MessageDelivery {
        id: String,
        message_id: String,
        delivery: crate::model::Delivery,
    },
    /// A file shared in a transcript: kept with the interaction (its
    /// chunks, stored before), the transcript lists it.
    FileShared {
        id: String,
        message_id: String,
        sender: crate::model::Sender,
        file: FileRef,
        content: Blob,
    },
    /// A chunk of content (`model::blob`), named by the SHA-256 of its
    /// bytes, stored ahead of the change that refers to it; one already
    /// held is a no-op.
    Chunk {
        name: String,
        #[serde(with = "crate::model::blob::bytes")]
        #[cfg_attr(feature = "schema", schema(value_type = Vec<u8>))]
        bytes: crate::model::Bytes,
    },
    Hold {
        id: String,
    },
    Resume {
        id: String,
    },
    Transfer {
        id: String,
        to: TransferTarget,
    },
    /// Another agent joins (calls and chats).
    Conference {
        id: String,
        agent: String,
    },
    /// A supervisor (the command's actor, `Actor::User(user)`) listens
    /// in quietly, or joins the conversation (`barge`); a silent one may
    /// barge in later. Calls and chats, connected or held.
    Supervise {
        id: String,
        user: String,
        barge: bool,
    },
    /// The command's actor ends the interaction (a supervisor on it only
    /// stops supervising it) (a conferenced agent who
    /// disconnects only leaves it).
    Disconnect {
        id: String,
    },
    /// Closes an interaction in wrap-up; `code` must be one of its queue's.
    WrapUp {
        id: String,
        code: String,
        notes: String,
    },
    /// Creates or replaces an agent's draft reply to an email.
    EmailDraft {
        id: String,
        reply_id: String,
        agent: String,
        html: String,
        text: String,
        attachments: Vec<Attachment>,
    },
    EmailSend {
        id: String,
        reply_id: String,
    },
    /// The outbound relay took a sent reply (closed interactions too).
    EmailRelayed {
        id: String,
        reply_id: String,
        message_id: String,
    },
    CallbackAttempt {
        id: String,
        agent: String,
        outcome: CallbackOutcome,
    },
    /// Logs the agent in to these media (from Logged Out: Available).
    AgentLogin {
        agent: String,
        media: Vec<MediaType>,
    },
    /// Logs the agent out of these media (empty: all); out of all, the
    /// status becomes Logged Out with `reason_code`. Pending offers go back
    /// to waiting; connected interactions stay with the agent.
    AgentLogout {
        agent: String,
        media: Vec<MediaType>,
        reason_code: u32,
    },
    /// The agent's chosen status; during after call work it is what
    /// follows the work (Available ends the work at once).
    AgentStatus {
        agent: String,
        status: ChosenStatus,
    },
    /// The agent's after call work timer ran out.
    AcwExpired {
        agent: String,
    },
    /// The agent's desktop connected to the active node.
    DesktopAttached {
        agent: String,
    },
    /// The agent's desktop connection was lost: its grace period starts.
    DesktopDetached {
        agent: String,
    },
    /// A new active node takes over (after a switchover, or a pair that
    /// starts again): every attached desktop's connection (to the old
    /// active node) is lost and starts its grace period; the statistics
    /// interval in progress ends (its second part is a record of its own);
    /// offers go back to their place in the queue to be routed again;
    /// interactions of media `recovery` keeps carry on with their `seqno`
    /// one higher, the others get the seed's unrecovered behaviour.
    Takeover {
        recovery: Recovery,
    },
    /// A closed interaction past retention leaves the live state.
    Forget {
        id: String,
    },
    /// The statistics interval ends at its boundary: every queue's running
    /// totals become an interval record and start again from zero.
    StartInterval,
    /// A message or file (`fact`: a `Message` or `FileShared`) that node
    /// `node` acknowledged while both nodes served, which this state would
    /// refuse as a change now (the chat moved on: closed, or the agent is
    /// no longer on it): it is a fact, so it joins the transcript in its
    /// place by time, with a status line saying where it was taken.
    #[cfg_attr(feature = "schema", schema(no_recursion))]
    Healed {
        node: String,
        fact: Box<Change>,
    },
    /// A change node `node` acknowledged while both nodes served that the
    /// state here overrides (who holds an interaction, its state): kept as
    /// a conflict record people can list, never dropped.
    HealConflict(Box<crate::model::HealConflict>),
    /// A chat's customer is there (a socket opened) or gone (its last
    /// socket closed); see `state::presence`.
    CustomerPresence {
        id: String,
        present: bool,
    },
}

impl Change {
    /// The bytes of content the change carries (a chunk's).
    pub fn chunk_bytes(&self) -> usize {
        match self {
            Change::Chunk { bytes, .. } => bytes.len(),
            _ => 0,
        }
    }

    /// The content (stored as chunks before) the change refers to.
    pub fn blobs(&self) -> Vec<&Blob> {
        match self {
            Change::FileShared { content, .. } => vec![content],
            Change::Create(new) => match &new.content {
                Content::Email(email) => std::iter::once(&email.mime)
                    .chain(email.attachments.iter().map(|a| &a.content))
                    .collect(),
                _ => Vec::new(),
            },
            Change::EmailDraft { attachments, .. } => {
                attachments.iter().map(|a| &a.content).collect()
            }
            Change::Healed { fact, .. } => fact.blobs(),
            _ => Vec::new(),
        }
    }

    /// The interaction the change is about, if any.
    pub fn interaction(&self) -> Option<&str> {
        match self {
            Change::Create(new) => Some(&new.id),
            Change::Offer { id, .. }
            | Change::Accept { id, .. }
            | Change::Reject { id, .. }
            | Change::OfferTimedOut { id, .. }
            | Change::Message { id, .. }
            | Change::MessageDelivery { id, .. }
            | Change::FileShared { id, .. }
            | Change::Hold { id }
            | Change::Resume { id }
            | Change::Transfer { id, .. }
            | Change::Conference { id, .. }
            | Change::Supervise { id, .. }
            | Change::Disconnect { id }
            | Change::WrapUp { id, .. }
            | Change::EmailDraft { id, .. }
            | Change::EmailSend { id, .. }
            | Change::EmailRelayed { id, .. }
            | Change::CallbackAttempt { id, .. }
            | Change::CustomerPresence { id, .. }
            | Change::Forget { id } => Some(id),
            Change::Healed { fact, .. } => fact.interaction(),
            Change::HealConflict(c) => c.change.interaction(),
            Change::AgentLogin { .. }
            | Change::AgentLogout { .. }
            | Change::AgentStatus { .. }
            | Change::AcwExpired { .. }
            | Change::DesktopAttached { .. }
            | Change::DesktopDetached { .. }
            | Change::Takeover { .. }
            | Change::Chunk { .. }
            | Change::StartInterval => None,
        }
    }
}

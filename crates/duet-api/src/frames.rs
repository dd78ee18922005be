//! The frames of the WebSockets (`/api/agent/ws`, `/api/chats/{id}/ws`,
//! `/api/stream/ws`): one JSON object each, told apart by `type`.
//!
//! A socket starts with `state` (or, resuming after `?after=`, `resume`
//! and the changes missed; the stream says `gap` when it cannot vouch
//! for `after`), then sends each `change` once, in order. `resync` asks
//! the client to reconnect and start from the state; `moved` to go to
//! the node it names.

use duet_interactions::{Actor, Change, MediaType};
use duet_rsm::Position;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::answers::AgentState;
use crate::chat::{ChatView, CustomerChange};

/// A WebSocket frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame {
    /// The state as it stands and the position it was read at: the
    /// client starts again from it.
    State(StateFrame),
    /// Resumed after `after`: the changes missed follow.
    Resume(Resumed),
    /// The stream cannot vouch for `after` (another epoch's change, or
    /// older than what it keeps): changes follow from `position`, and the
    /// reader has a gap.
    Gap(Resumed),
    /// A committed change.
    Change(ChangeFrame),
    /// The stream is idle: where it stands.
    Heartbeat {
        /// `[epoch, seq]`.
        position: Position,
        at_ms: u64,
    },
    /// A customer's message sent on the socket was made.
    Ack { message_id: String, seq: u64 },
    /// A message sent on the socket was refused, or the socket cannot
    /// serve (no live conversation).
    Error {
        /// The refused message's own id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        error: String,
        /// The HTTP status the refusal would have (see `ErrorBody`): 503
        /// send it to the other node (`active` names it when known) or
        /// again, 429 later, 4xx never as it is.
        status: u16,
        /// The active node, for a message that must go there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        active: Option<String>,
    },
    /// This node does not serve desktops (it is the backup, or stopped
    /// serving): reconnect to `active`.
    Moved { active: String },
    /// The socket fell behind: reconnect without `after` and start from
    /// the state.
    Resync { why: String },
}

/// A socket's state, by the socket's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum StateFrame {
    /// A customer's chat socket.
    Chat {
        /// `[epoch, seq]`.
        position: Position,
        chat: Box<ChatView>,
    },
    /// An agent's desktop socket.
    Agent {
        /// `[epoch, seq]`.
        position: Position,
        /// Null for a user not known as an agent yet.
        agent: Option<Box<AgentState>>,
    },
}

/// Where a resumed socket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Resumed {
    /// The position asked for, `[epoch, seq]`.
    pub after: Option<Position>,
    /// The position of the state the socket follows on from.
    pub position: Position,
    /// The node's clock (the stream only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
}

/// A committed change, whole (agents, the stream) or as a customer sees
/// it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ChangeFrame {
    Committed {
        seq: u64,
        epoch: u64,
        at_ms: u64,
        /// Who made it ("System", "Customer", {"Agent": name},
        /// {"User": name}, ...).
        actor: Actor,
        /// The change, externally tagged by its kind ({"Offer": {...}},
        /// {"Message": {...}}, ...).
        change: Box<Change>,
        /// On an agent's socket, with an offer: the media of the
        /// interaction offered, so the desktop knows what it is offered
        /// before it asks for more.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media: Option<MediaType>,
    },
    /// On a customer's socket.
    Told {
        seq: u64,
        epoch: u64,
        at_ms: u64,
        change: CustomerChange,
    },
}

impl ChangeFrame {
    /// The change's place on the stream.
    pub fn position(&self) -> Position {
        match self {
            ChangeFrame::Committed { epoch, seq, .. } | ChangeFrame::Told { epoch, seq, .. } => {
                Position::new(*epoch, *seq)
            }
        }
    }
}

impl StateFrame {
    pub fn position(&self) -> Position {
        match self {
            StateFrame::Chat { position, .. } | StateFrame::Agent { position, .. } => *position,
        }
    }
}

impl Frame {
    /// A refusal of a message sent on a socket, or of the socket.
    pub fn error(status: u16, error: impl Into<String>) -> Frame {
        Frame::Error {
            message_id: None,
            error: error.into(),
            status,
            active: None,
        }
    }
}

//! The HTTP and WebSocket API of a duet pair as types: what clients send
//! (`requests`), what each route answers (`answers`, `chat`), what a
//! refusal says (`error`) and the frames a socket carries (`frames`).
//!
//! The node serialises these and the clients (`duet-client`, `duet ctl`)
//! read them, so both sides agree by construction; the node's OpenAPI
//! document takes its schemas from here. The JSON is what the web pages,
//! the docs and older clients read: a field is renamed or removed only
//! with them.
//!
//! Types of the contact center's state (`duet_interactions`) travel as
//! they are; their schemas here are `Object`, each field's doc saying
//! what it holds.

pub mod answers;
pub mod chat;
pub mod error;
pub mod frames;
pub mod requests;
pub mod whole;

pub use answers::{
    AgentState, BatchAnswer, BatchResult, Changed, Created, Injected, IntervalsState, NodeRole,
    Pair, PairNode, QueueState, RoleAnswer, Session, Shadow, Switching, Taken,
};
pub use chat::{ChatStatus, ChatView, CustomerChange, KindView, MessageView, SenderView};
pub use error::ErrorBody;
pub use frames::{ChangeFrame, Frame, StateFrame};
pub use requests::{
    Action, CONFIG_BATCH_MAX, CallReport, CallbackRequest, ConfigBatch, ConfigChange, CustomerSays,
    FaultRequest, Inbound, Login, Media, ModuleFault, NewAttachment, PutBody, RemoveBody, Said,
    Start, StatusRequest, SwitchRequest,
};

#[cfg(test)]
mod tests;

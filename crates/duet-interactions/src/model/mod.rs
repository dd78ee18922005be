//! The types of the interaction state: interactions and what they carry
//! ([`interaction`], [`content`]), agents ([`agent`]), and the
//! configuration the state is checked against ([`directory`]).

pub mod agent;
pub mod blob;
pub mod content;
pub mod directory;
pub mod heal;
pub mod interaction;
pub mod media;
pub mod recovery;
pub mod small_map;
pub mod small_set;

pub use agent::{Agent, AgentStatus, ChosenStatus, Desktop};
pub use blob::{Blob, Bytes, CHUNK_BYTES_MAX, Chunk, UNREFERENCED_CHUNK_KEEP_MS, chunk_name};
pub use content::{
    Attachment, Call, CallSignal, Callback, CallbackAttempt, CallbackOutcome, CallbackWindow,
    Content, Delivery, Email, EmailReply, FileRef, Message, MessageKind, ReplyState, Sender,
};
pub use directory::{AgentConfig, Directory, QueueConfig, QueueMember, Settings, Strategy};
pub use heal::HealConflict;
pub use interaction::{
    Interaction, InteractionState, Parties, QueueVisit, Routing, Segment, SegmentKind, Supervision,
    WrapUp,
};
pub use media::{MediaType, Party};
pub use recovery::Recovery;
pub use small_map::SmallMap;
pub use small_set::SmallSet;

/// A name or id an interaction carries (its id, queue, skills, the
/// customer's address): kept inline up to 24 bytes, so the usual short
/// ones cost no allocation of their own; written and read as a string.
pub type Name = compact_str::CompactString;

/// A list an interaction carries (its transcript, segments, files, the
/// agents who joined): one pointer wide, with its length and capacity
/// beside the items, and no allocation while empty; written and read as
/// a vector is.
pub type Seq<T> = thin_vec::ThinVec<T>;

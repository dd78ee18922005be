//! A replicated state machine: a state the change stream carries changes
//! for. The configuration tree and the interaction state both implement
//! [`StateMachine`]; the node's replicator owns them, gives every change a
//! [`Position`] on one ordered stream, and hands each change to the machine
//! it belongs to (the others pass over that position), so "the backup holds
//! a prefix of the active node's changes" holds across all of them.
//!
//! A machine is deterministic: it reads no clock (times come inside the
//! changes) and does no I/O; the same changes at the same positions give
//! the same state on both nodes.

use serde::{Deserialize, Serialize};

mod position;

pub use position::{BadPosition, HistoryId, Position};

/// A client's own id for a change, so a retry is applied once.
pub type ClientId = String;

/// What a machine admits, so memory, storage and frames stay bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The most entries (objects, live interactions) the state holds.
    pub entries_max: usize,
    /// The most bytes one change may carry (it must fit a link frame).
    pub change_bytes_max: usize,
    /// The most history records kept for catch-up, heal and retries.
    pub history_max: usize,
}

/// A state replicated by the change stream.
pub trait StateMachine {
    /// A change as the stream carries it (times inside, no clock read).
    type Change;
    /// What applying a change produced, for the caller to persist.
    type Applied;
    /// Why a change cannot be made; a library error that the API maps to
    /// a status in one place.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether `change` may be made now, without making it (the active
    /// node checks before the change gets a position).
    fn check(&self, change: &Self::Change) -> Result<(), Self::Error>;

    /// Makes `change` at `at`, after the machine's position. On error the
    /// state is unchanged.
    fn apply(&mut self, at: Position, change: &Self::Change) -> Result<Self::Applied, Self::Error>;

    /// A change of another machine took position `at`: this one passes
    /// over it, so every machine's position is the stream's.
    fn pass(&mut self, at: Position);

    /// The last position applied or passed over.
    fn position(&self) -> Position;

    /// The epoch of this machine's change `seq`, while its history has it
    /// (a returning backup whose last change is not the active's at that
    /// number has diverged).
    fn epoch_of(&self, seq: u64) -> Option<u64>;

    /// The client ids of the machine's last `n` changes with their sequence
    /// numbers, so a new active node answers a retry without applying it.
    fn recent_clients(&self, n: usize) -> Vec<(ClientId, u64)>;

    /// What the machine admits.
    fn limits(&self) -> Limits;
}

//! The interaction state of duet and its ACD routing core, sans-IO.
//!
//! - [`model`]: interactions (calls, chats, emails, callbacks, SMS, social),
//!   agents, and the [`Directory`] (queues, agents, statuses) they are
//!   checked against.
//! - [`change`]: every change to the live state, as a [`Command`] (client
//!   id, `at_ms`, actor, [`Change`]) carried by the change stream.
//! - [`state`]: [`Interactions`], the live state; a
//!   [`duet_rsm::StateMachine`] with read views, queue figures, snapshot
//!   pages, the rows changed since the node last stored them, and a
//!   digest.
//! - [`routing`]: [`Router`], which reads the state and proposes changes
//!   (offers, timeouts, no-answer Not Ready, ACW expiry, forgetting) that
//!   go on the stream like any other, so a new active node carries on.
//!
//! No clock, no I/O, no randomness: times arrive inside commands, and the
//! same commands at the same positions give the same state (and digest).
//!
//! Invariants (the property tests check them after every step):
//! - An interaction is held by at most one owner agent (offered, connected,
//!   held or in wrap-up), plus conferenced agents on calls and chats; an
//!   agent's `assigned` sets hold exactly the interactions that name them.
//! - No agent holds more interactions of a media than its capacity.
//! - A transcript holds each message id once (a retry is a no-op).
//! - `created_at_ms` never changes; segments are contiguous (each starts
//!   where the last ended) and only the last may be open, so durations are
//!   derivable and never reset.
//! - A command that fails `check` fails `apply` too and changes nothing.

pub mod change;
pub mod encode;
pub mod error;
pub mod heal;
pub mod model;
pub mod routing;
pub mod state;

pub use change::{Actor, Change, Command, NewInteraction, TransferTarget};
pub use error::Error;
pub use model::{Directory, Interaction, MediaType};
pub use routing::Router;
pub use state::{
    Applied, DEFAULT_LIMITS, Interactions, Page, PageItem, QueueFigures, RowKey, Rows, paginate,
};

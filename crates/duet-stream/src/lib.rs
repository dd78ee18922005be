//! The change stream: every change of state on the active node gets an
//! [`duet_rsm::Position`], is persisted, and is streamed to the backup, which applies
//! it in order and acknowledges it. While the backup is in sync, a client's
//! write is acknowledged only once the backup has it (synchronous
//! replication), so no acknowledged change is lost even if the active
//! machine vanishes. If the backup falls behind a bound, the active carries
//! on alone, says so, and the backup catches up when it returns.
//!
//! Sans-IO: [`Leader`] (active) and [`Follower`] (backup) take events and
//! return commands; the caller persists, sends and answers clients.

mod follower;
mod leader;

pub use duet_rsm::Position;
pub use follower::{CATCH_UP_REASK_ENTRIES, Follower, FollowerCommand};
pub use leader::{Leader, LeaderCommand, Limits, Replication, Weight};

use serde::{Deserialize, Serialize};

/// A change with its place in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<T> {
    pub epoch: u64,
    pub seq: u64,
    pub change: T,
}

/// A client's own id for a write, so a retry (after a switchover, say) is
/// applied once.
pub type ClientId = String;

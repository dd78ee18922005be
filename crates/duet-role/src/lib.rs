//! The right to serve, as pure state machines on an injected monotonic
//! clock (milliseconds): the active node's [`Lease`], the promise a node
//! gives when it answers its peer as not active ([`Promise`]), and the
//! [`TakeoverGate`] that holds a decided takeover until the old active node
//! cannot be serving; and [`Discovery`] and [`Membership`], what the peer's
//! answers mean for this node's role (start-up, fencing, rejoin), and the
//! [`TakeoverGuard`] that holds an automatic takeover back while the
//! active node's process answers and this node is not synchronised, or
//! switchovers come too often.
//!
//! The rule that makes two actives impossible (where something can confirm):
//! a node that answers its peer as not active promises not to serve for a
//! while from the moment it answers; the peer's lease counts from the moment
//! it *asked*, which is earlier, and lasts less than was promised. A node
//! never becomes active while a promise it gave may run, unless the peer's
//! process is found gone. So the old active's lease has run out before the
//! new active serves.

mod gate;
mod guard;
mod lease;
mod membership;
mod promise;

pub use gate::TakeoverGate;
pub use guard::{HeldBack, TakeoverGuard};
pub use lease::{Confirmation, Lease, LeaseCommand, PeerAnswer, SilentPeer, WitnessSeen};
pub use membership::{
    DISCOVERY_UNANSWERED_MAX, Discovered, Discovery, DiscoveryStep, INACTIVE_SILENT_MS, Membership,
    MembershipCommand, PeerSaid, Standing,
};
pub use promise::Promise;

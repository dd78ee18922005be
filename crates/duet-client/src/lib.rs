//! A client of a duet pair that carries on through a switchover, and the
//! load engine built on it.
//!
//! The client knows both nodes. Each request goes to the node that last
//! answered, then to the other one on no answer or a 503 (the backup
//! refuses writes and names the active node in `x-duet-active`), in a
//! bounded retry loop. Every write carries the caller's own client id, so
//! a resend after a switchover is applied once. WebSocket feeds reconnect
//! the same way and resume with `?after=<epoch>.<seq>` of the last change seen.
//!
//! - [`nodes`]: which node to try, in what order, and how long to wait.
//! - [`http`]: JSON requests that follow the active node.
//! - [`feed`]: a WebSocket feed that resumes where it stopped.
//! - [`customer`], [`agent`], [`directory`], [`smtp`]: the routes each
//!   party uses.
//! - [`load`]: customers and agents driven over the real protocols, with an
//!   exact tally of what was sent, acknowledged, delivered, lost or doubled.

pub mod agent;
pub mod customer;
pub mod directory;
mod error;
pub mod feed;
pub mod http;
pub mod load;
pub mod nodes;
pub mod smtp;

pub use error::Error;
pub use feed::{Feed, FeedEvent};
pub use http::{Auth, Client};
pub use nodes::{Nodes, Retry};

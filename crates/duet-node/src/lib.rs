//! A duet node: the runtime that carries out the switchover engine's
//! commands over the network and serves when active. Its HTTP API is a
//! crate of its own (duet-http), started through `node::run`.

pub mod answer;
pub mod arbiter;
pub mod bootstrap;
pub mod content;
/// The contact center's directory in the configuration tree.
pub use duet_replica::directory;
pub mod driver;
pub mod driver_inbox;
pub mod epoch;
pub mod events;
pub mod hooks;
pub mod ids;
pub mod intake;
pub mod limits;
pub mod link;
pub mod local_pair;
pub mod metrics;
pub mod mirror;
pub mod node;
pub mod passwords;
pub mod private;
pub mod probe;
pub mod replication;
pub mod right;
pub mod secrets;
pub mod shared;
pub mod status;
pub mod store;
pub mod store_writer;
pub mod supervisor;
pub mod wire;
pub mod witness;

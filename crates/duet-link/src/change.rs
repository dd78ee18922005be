//! What the change stream carries: a change of one of the replicated
//! states. Every kind shares one ordered stream, so the backup always holds
//! a prefix of the active node's changes, whatever their kind.

use serde::{Deserialize, Serialize};

/// A change of one replicated state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// A change of the configuration tree.
    Config(duet_config::Edit),
    /// A change of the live interactions, agents and queues.
    Interactions(duet_interactions::Command),
}

impl Change {
    /// The client's own id for the change.
    pub fn client(&self) -> &str {
        match self {
            Change::Config(edit) => &edit.client,
            Change::Interactions(command) => &command.client,
        }
    }
}

/// A chunk of content weighs its bytes; the rest is bounded by count.
impl duet_stream::Weight for Change {
    fn weight_bytes(&self) -> usize {
        match self {
            Change::Interactions(command) => command.change.chunk_bytes(),
            Change::Config(_) => 0,
        }
    }
}

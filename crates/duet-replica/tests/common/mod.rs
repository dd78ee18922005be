//! What the replica's tests share: a node with an empty state.

use duet_config::Tree;
use duet_interactions::{DEFAULT_LIMITS, Directory, Interactions};
use duet_replica::persist::{LoadedInteractions, StoredCopy};
use duet_replica::{NodeFacts, Replica, Settings};

/// A node's replica with connections and clients numbered by the test.
pub type Node = Replica<u8, u32>;

/// Node `this` of a pair with `peer`, empty, as it starts.
pub fn empty_node(this: &str, peer: &str) -> Node {
    empty_node_of_history(this, peer, 0)
}

/// An empty node whose store's history id is `history`.
pub fn empty_node_of_history(this: &str, peer: &str, history: u64) -> Node {
    let interactions = LoadedInteractions {
        state: Interactions::new(Directory::default(), DEFAULT_LIMITS),
        logged: Vec::new(),
        from: 0,
    };
    let facts = NodeFacts {
        this: this.into(),
        peer: peer.into(),
        lease_ms: 1_000,
    };
    let settings = Settings {
        scope: duet_config::scope::Scope::Full,
        ds_request_timeout_ms: 5_000,
        compress: false,
        history_retention: 1_000,
        catch_up_changes: 100,
        recovery: Default::default(),
    };
    Replica::new(
        facts,
        settings,
        Tree::default(),
        interactions,
        StoredCopy {
            filtered: false,
            history,
        },
    )
}

//! Replication over a real store: what a start or a tick leaves in it.

use duet_config::sync::Installed;
use duet_config::{Tree, TreePath};
use duet_rsm::Position;

use duet_store::testing::record;

use super::*;

/// The replication of a node `a` of a pair with `b` over `store`.
fn replicator(store: Store, tree: Tree) -> Replicator {
    let params = duet_params::ServerParams::default();
    Replicator::new(
        store,
        tree,
        crate::metrics::Metrics::default().store_commit_seconds,
        duet_replica::NodeFacts {
            this: "a".into(),
            peer: "b".into(),
            lease_ms: params.lease_ms(),
        },
        Settings::from_params(&params, duet_config::scope::Scope::Full).replica,
    )
}

#[test]
fn history_a_resync_stored_past_its_position_is_dropped_at_start() {
    // A resync stores history page by page under the old position; a
    // node stopped before it finished must not keep those records (a
    // retry from one of their client ids would be answered, not applied).
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let path = TreePath::parse("/config/Users/alice").unwrap();
    let installed = Installed {
        history: (1..=5).map(|seq| record(&path, 2, seq)).collect(),
        ..Installed::default()
    };
    store
        .resynchronised(&installed, Position::new(2, 2))
        .unwrap();
    let tree = store.load().unwrap();
    let replicator = replicator(store, tree);
    let kept: Vec<u64> = replicator.history(&path).iter().map(|r| r.seq).collect();
    assert_eq!(kept, vec![1, 2]);
    drop(replicator);
    let reloaded = Store::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(reloaded.history(&path).len(), 2, "dropped from storage too");
}

#[test]
fn compacted_history_stays_compacted_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let path = TreePath::parse("/config/Users/alice").unwrap();
    for seq in 1..=2_000 {
        store.applied(&record(&path, 2, seq)).unwrap();
    }
    let tree = store.load().unwrap();
    let mut replicator = replicator(store, tree);
    for retention in [1_500, 1_000] {
        let settings = crate::replication::Settings::from_params(
            &duet_params::ServerParams {
                history_retention: retention,
                ..duet_params::ServerParams::default()
            },
            duet_config::scope::Scope::Full,
        );
        replicator.set(settings.replica);
        replicator.quiet_tick(&duet_replica::Context::default());
    }
    assert_eq!(replicator.tree().history_len(), 1_000);
    drop(replicator);
    let reloaded = Store::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(reloaded.history_len(), 1_000);
    assert_eq!(reloaded.last_applied(), Position::new(2, 2_000));
    assert_eq!(reloaded.history(&path).first().unwrap().seq, 1_001);
}

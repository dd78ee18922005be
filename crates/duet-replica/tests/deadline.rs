//! When a replica asks for time to pass (`Replica::next_deadline`): the
//! runtime sleeps until then instead of waking at a fixed rate, so a
//! deadline it fails to ask for is a timer that never fires, and one still
//! due right after its tick keeps the runtime busy waking.

use duet_config::Tree;
use duet_interactions::{DEFAULT_LIMITS, Directory, Interactions};
use duet_replica::persist::{LoadedInteractions, ROWS_STORE_MS};
use duet_replica::{Context, Input, NodeFacts, ROUTE_IDLE_MS, Replica, Settings};

type Node = Replica<u8, u32>;

const UNIX_START_MS: u64 = 1_800_000_000_000;

fn node() -> Node {
    let interactions = LoadedInteractions {
        state: Interactions::new(Directory::default(), DEFAULT_LIMITS),
        logged: Vec::new(),
        from: 0,
    };
    let facts = NodeFacts {
        this: "a".into(),
        peer: "b".into(),
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
    let mut node = Replica::new(facts, settings, Tree::default(), interactions, false);
    node.take_outputs();
    node
}

/// The node's clocks at `mono_ms` (the wall clock moves with it).
fn at(mono_ms: u64) -> Context {
    Context {
        mono_ms,
        unix_ms: UNIX_START_MS + mono_ms,
        serving: true,
        active_elsewhere: None,
    }
}

#[test]
fn a_backup_with_nothing_under_way_asks_for_no_tick() {
    let mut node = node();
    assert_eq!(node.next_deadline(), None);
    node.handle(&at(1_000), Input::Tick);
    assert_eq!(node.next_deadline(), None, "still nothing waits for time");
}

#[test]
fn an_active_node_asks_to_store_its_rows_and_to_route_again_and_nothing_stays_due() {
    let mut node = node();
    // Taking over makes changes of its own (the takeover): rows to store.
    node.handle(
        &at(1_000),
        Input::BecomeActive {
            epoch: 2,
            desktops_here: Vec::new(),
        },
    );
    let due = node.next_deadline().expect("rows to store and routing");
    assert!(due <= 1_000, "due now: {due}");
    // Its tick and a routing round leave nothing due: the rows are
    // stored, and the router next decides a second later (a callback's
    // window may open without a change).
    node.handle(&at(1_000), Input::Tick);
    node.handle(&at(1_000), Input::Route);
    assert_eq!(node.next_deadline(), Some(1_000 + ROUTE_IDLE_MS));
    // A second later it routes again, and asks for the next second.
    node.handle(&at(2_000), Input::Tick);
    node.handle(&at(2_000), Input::Route);
    assert_eq!(node.next_deadline(), Some(2_000 + ROUTE_IDLE_MS));
}

#[test]
fn changed_rows_are_stored_within_their_interval_after_the_last_take() {
    let mut node = node();
    node.handle(
        &at(1_000),
        Input::BecomeActive {
            epoch: 2,
            desktops_here: Vec::new(),
        },
    );
    node.handle(&at(1_000), Input::Tick);
    node.handle(&at(1_000), Input::Route);
    // A later takeover (a new epoch: its own takeover change) logs again:
    // the rows are due ROWS_STORE_MS after the last take, before routing.
    node.handle(
        &at(1_050),
        Input::BecomeActive {
            epoch: 4,
            desktops_here: Vec::new(),
        },
    );
    assert_eq!(node.next_deadline(), Some(1_000 + ROWS_STORE_MS));
}

//! When a replica asks for time to pass (`Replica::next_deadline`): the
//! runtime sleeps until then instead of waking at a fixed rate, so a
//! deadline it fails to ask for is a timer that never fires, and one still
//! due right after its tick keeps the runtime busy waking.

mod common;

use common::{Node, empty_node};
use duet_replica::persist::ROWS_STORE_MS;
use duet_replica::{Context, Input, ROUTE_IDLE_MS};

const UNIX_START_MS: u64 = 1_800_000_000_000;

fn node() -> Node {
    let mut node = empty_node("a", "b");
    node.take_outputs();
    node
}

/// The node takes over in `epoch` at `mono_ms`.
fn become_active(node: &mut Node, mono_ms: u64, epoch: u64) {
    node.handle(
        &at(mono_ms),
        Input::BecomeActive {
            epoch,
            desktops_here: Vec::new(),
        },
    );
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
    become_active(&mut node, 1_000, 2);
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
    become_active(&mut node, 1_000, 2);
    node.handle(&at(1_000), Input::Tick);
    node.handle(&at(1_000), Input::Route);
    // A later takeover (a new epoch: its own takeover change) logs again:
    // the rows are due ROWS_STORE_MS after the last take, before routing.
    become_active(&mut node, 1_050, 4);
    assert_eq!(node.next_deadline(), Some(1_000 + ROWS_STORE_MS));
}

//! History ids: two changes at one position are the same change only
//! within one history. A node whose disk was replaced serves the pair's
//! first epochs again, so its positions say nothing about the pair's: an
//! active node resynchronises (and heals) a backup of another history
//! whatever its numbers, and a backup that holds nothing takes the active
//! node's history from the first message.

use duet_config::{Class, Edit, Object, Op, TreePath};
use duet_link::Change;
use duet_link::protocol::StreamToBackup;
use duet_replica::persist::StoreWrite;
use duet_replica::{Context, FromBackup, Input, Output};
use duet_rsm::Position;
use duet_stream::Entry;

mod common;

use common::{Node, empty_node, empty_node_of_history};

fn ctx() -> Context {
    Context {
        mono_ms: 1_000,
        unix_ms: 1_800_000_000_000,
        serving: true,
        active_elsewhere: None,
    }
}

fn edit(client: &str) -> Edit {
    Edit {
        at_unix_ms: ctx().unix_ms,
        who: "admin".into(),
        client: client.into(),
        op: Op::Put {
            path: TreePath::parse("/config/Sim/k").unwrap(),
            object: Object::new(Class::Folder).with("v", "1"),
        },
        healed_from: None,
    }
}

/// The messages sent to the backup, in order.
fn sent(outputs: Vec<Output<u8, u32>>) -> Vec<StreamToBackup> {
    outputs
        .into_iter()
        .filter_map(|output| match output {
            Output::Send { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

/// An active node of history 7 in epoch 2 that made change 1.
fn active() -> Node {
    let mut node = empty_node_of_history("a", "b", 7);
    node.take_outputs();
    node.handle(
        &ctx(),
        Input::BecomeActive {
            epoch: 2,
            desktops_here: Vec::new(),
        },
    );
    node.handle(
        &ctx(),
        Input::ConfigWrite {
            client: "c1".into(),
            who: "admin".into(),
            op: edit("c1").op,
            reply: 1,
        },
    );
    node
}

fn hello(history: u64) -> Input<u8, u32> {
    let at = Position::new(2, 1);
    Input::FromBackup(FromBackup::Hello {
        applied: at,
        last: at,
        full_resync: false,
        history,
        to: 1,
        link: 1,
    })
}

fn is_resync_start(message: &StreamToBackup) -> bool {
    matches!(message, StreamToBackup::ResyncStart { .. })
}

#[test]
fn a_backup_of_another_history_at_the_same_position_is_resynchronised() {
    // Of this history, change 1 of epoch 2 is this node's: it catches up.
    let same = sent(active().handle(&ctx(), hello(7)));
    assert_eq!(same.first(), Some(&StreamToBackup::History(7)));
    assert!(!same.iter().any(is_resync_start), "{same:?}");
    // Of another history, the same numbers say nothing: it resynchronises
    // (its heal first offers every change it keeps), told this history,
    // once this node's writes are durable.
    let mut node = active();
    node.handle(&ctx(), hello(9));
    let other = sent(node.handle(&ctx(), Input::Durable(u64::MAX)));
    assert!(
        other
            .iter()
            .any(|m| matches!(m, StreamToBackup::ResyncStart { history: 7, .. })),
        "{other:?}"
    );
}

/// Counts the store writes among `outputs` (each a ticket).
fn persisted(outputs: &[Output<u8, u32>]) -> u64 {
    outputs
        .iter()
        .filter(|o| matches!(o, Output::Persist(_)))
        .count() as u64
}

#[test]
fn a_resync_starts_once_what_it_hands_the_backup_is_durable_and_later_changes_wait_behind_it() {
    // An active node whose store has not yet made its takeover (change 1)
    // and change 2 durable: a resync handing them to the backup now would
    // let the backup take over with changes this node loses if it crashes.
    let mut node = empty_node_of_history("a", "b", 7);
    let mut tickets = persisted(&node.take_outputs());
    for input in [
        Input::BecomeActive {
            epoch: 2,
            desktops_here: Vec::new(),
        },
        Input::ConfigWrite {
            client: "c1".into(),
            who: "admin".into(),
            op: edit("c1").op,
            reply: 1,
        },
    ] {
        tickets += persisted(&node.handle(&ctx(), input));
    }
    let held = node.handle(&ctx(), hello(9));
    tickets += persisted(&held);
    let held = sent(held);
    assert_eq!(held, vec![StreamToBackup::History(7)], "the resync waits");
    // A change made meanwhile (3) is not streamed ahead of the resync's
    // start: the diverged backup would apply it on top of what it holds.
    let write = node.handle(
        &ctx(),
        Input::ConfigWrite {
            client: "c2".into(),
            who: "admin".into(),
            op: edit("c2").op,
            reply: 2,
        },
    );
    let resync_ticket = tickets;
    tickets += persisted(&write);
    assert_eq!(sent(write), Vec::new());
    let mut durable = |ticket| sent(node.handle(&ctx(), Input::Durable(ticket)));
    assert_eq!(durable(resync_ticket - 1), Vec::new(), "not yet durable");
    // Durable up to the takeover and change 2: the resync starts there;
    // change 3 follows once it is durable too.
    let released = durable(resync_ticket);
    assert!(
        matches!(
            released.as_slice(),
            [StreamToBackup::ResyncStart { upto, history: 7, .. }] if upto.seq == 2
        ),
        "{released:?}"
    );
    let released = durable(tickets);
    assert!(
        matches!(released.as_slice(), [StreamToBackup::Entry(entry)] if entry.seq == 3),
        "{released:?}"
    );
}

#[test]
fn a_snapshot_is_taken_when_asked_for_and_handed_over_once_what_it_holds_is_durable() {
    // Change 1 (the takeover) and change 2 are not yet durable here.
    let mut node = active();
    let asked = node.handle(
        &ctx(),
        Input::FromBackup(FromBackup::SnapshotRequest {
            id: 1,
            at: None,
            page: 0,
            to: 1,
        }),
    );
    let (at, items) = asked
        .into_iter()
        .find_map(|o| match o {
            Output::EncodeSnapshot { at, items } => Some((at, items)),
            _ => None,
        })
        .expect("a snapshot taken at once");
    assert_eq!(at.seq, 2, "at this node's position when asked");
    let chunks = std::sync::Arc::new(duet_replica::snapshot::encode(items));
    let encoded = sent(node.handle(&ctx(), Input::SnapshotEncoded { at, chunks }));
    assert_eq!(encoded, Vec::new(), "not handed over before it is durable");
    let released = sent(node.handle(&ctx(), Input::Durable(u64::MAX)));
    assert!(
        matches!(
            released.as_slice(),
            [StreamToBackup::SnapshotPage(page)] if page.at == at && page.id == 1 && page.error.is_none()
        ),
        "{released:?}"
    );
}

#[test]
fn a_hello_again_on_the_same_connection_drops_what_waited_for_the_one_before() {
    // (A backup says hello again on its connection once a resync ends.)
    let mut node = active();
    node.handle(&ctx(), hello(9));
    node.handle(&ctx(), hello(9));
    // Durable: one resync starts, for the second hello; none for the first.
    let released = sent(node.handle(&ctx(), Input::Durable(u64::MAX)));
    let starts = released.iter().filter(|m| is_resync_start(m)).count();
    assert_eq!(starts, 1, "{released:?}");
}

#[test]
fn a_backup_that_holds_nothing_takes_the_active_nodes_history_and_one_that_holds_a_change_does_not()
{
    let mut empty = empty_node_of_history("b", "a", 9);
    empty.take_outputs();
    let outputs = empty.handle(&ctx(), Input::FromActive(StreamToBackup::History(7)));
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Persist(StoreWrite::HistoryId(7)))),
        "the history taken is stored"
    );
    assert_eq!(empty.history_id(), 7);

    let mut holding = empty_node("b", "a");
    holding.take_outputs();
    let entry = Entry {
        epoch: 2,
        seq: 1,
        change: Change::Config(edit("c1")),
    };
    holding.handle(&ctx(), Input::FromActive(StreamToBackup::Entry(entry)));
    holding.handle(&ctx(), Input::FromActive(StreamToBackup::History(7)));
    assert_eq!(holding.history_id(), 0, "taken only once it is a copy");
}

//! A backup that resynchronises never moves the pair or wipes it: an
//! interaction larger than a link frame reaches a backup that fell more
//! than a catch-up behind (its snapshot travels in chunks; it used to
//! stop the active node's link writer, and the pair then switched over
//! forever, serving two states in turn), and a node started with an
//! empty data directory before the node holding the pair's history does
//! not resynchronise that history away: it steps down for the newer one.

mod harness;

use std::time::Duration;

use harness::contact::{Api, set_up_directory, wait_for, wait_shadow_equal};
use harness::{Pair, in_sync};
use serde_json::json;

/// Starts `count` chats on `base`, returning their ids.
fn start_chats(base: &str, count: usize, tag: &str) -> Vec<String> {
    (0..count)
        .map(|i| {
            let (code, chat) = Api::new(base).post(
                "/api/chats",
                json!({"queue": "Sales", "name": format!("{tag} {i}")}),
            );
            assert_eq!(code, 200, "{chat}");
            chat["id"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The live interactions on `base`'s state.
fn live_count(base: &str) -> u64 {
    let (code, shadow) = Api::new(base).get("/api/shadow");
    assert_eq!(code, 200, "{shadow}");
    shadow["live_interactions"].as_u64().expect("a count")
}

fn epoch(pair: &Pair, node: usize) -> u64 {
    pair.nodes[node].status().expect("a status").epoch
}

#[test]
fn an_interaction_larger_than_a_frame_reaches_a_backup_that_resynchronises() {
    // The active node keeps 100 changes for a backup to catch up from.
    let mut pair = harness::Pair::loopback(harness::Setup {
        params: format!(
            "{}\n\"Duet Catch-up Changes\" = 100\n",
            harness::fast_params()
        ),
        ..harness::Setup::default()
    });
    pair.start();
    let a = pair.nodes[0].url();
    set_up_directory(&pair, 0);
    // A chat with three shared files of 500 kB: 1.5 MB in one interaction,
    // more than a link frame (1 MiB), each file within its own limit.
    let (code, chat) = Api::new(&a).post("/api/chats", json!({"queue": "Sales", "name": "Big"}));
    assert_eq!(code, 200, "{chat}");
    let (id, token): (String, String) = (
        chat["id"].as_str().unwrap().to_string(),
        chat["token"].as_str().unwrap().to_string(),
    );
    for n in 0..3u8 {
        let file: Vec<u8> = (0..500_000u32).map(|i| (i % 251) as u8 ^ n).collect();
        let uploaded = harness::api_agent()
            .post(&format!(
                "{a}/api/chats/{id}/files?name=scan{n}.pdf&message_id=big{n}&token={token}"
            ))
            .header("content-type", "application/pdf")
            .send(&file[..])
            .expect("upload");
        assert_eq!(uploaded.status().as_u16(), 200, "file {n}");
    }
    wait_shadow_equal(&pair);
    let epoch_before = epoch(&pair, 0);

    // The backup goes away; more changes than the active node keeps for
    // it follow.
    pair.nodes[1].kill9();
    start_chats(&a, 210, "while b was away");

    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(60), "b back in sync", in_sync);
    wait_shadow_equal(&pair);
    let log = harness::event_messages(&pair.data_dir(1)).join("\n");
    assert!(
        log.contains("Interactions resynchronised"),
        "b took the snapshot path:\n{log}"
    );
    // Nothing moved: a still serves in its epoch, b is its backup, and the
    // pair stays so.
    pair.holds_for(Duration::from_secs(3), "a serving, b in sync", |p| {
        in_sync(p) && harness::serving(&p.nodes[0].status())
    });
    assert_eq!(epoch(&pair, 0), epoch_before, "no switchover");
    // Equal digests at one position (above) mean equal states, the big
    // chat's files included.
    assert_eq!(live_count(&pair.nodes[1].url()), 211);
    // The node measures how long its acknowledgement path was held up;
    // taking and serving a 1.6 MB snapshot is far from seconds.
    let stall_ms = pair.nodes[0].status().unwrap().longest_stall_ms;
    assert!(stall_ms < 5_000, "longest stall {stall_ms} ms");
    let metrics = harness::api_agent()
        .get(&format!("{a}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(metrics.contains("duet_replication_longest_stall_ms"));
    pair.assert_invariants();
}

/// A backup that returns further behind than a single catch-up window
/// (200 changes), but within what the active node keeps, catches up from
/// those changes with no resynchronisation.
#[test]
fn a_backup_far_behind_catches_up_without_a_resynchronisation() {
    let mut pair = harness::fast_pair();
    let a = pair.nodes[0].url();
    set_up_directory(&pair, 0);
    wait_shadow_equal(&pair);
    pair.nodes[1].kill9();
    start_chats(&a, 450, "while b was away");
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(60), "b back in sync", in_sync);
    wait_shadow_equal(&pair);
    assert_eq!(live_count(&pair.nodes[1].url()), 450);
    let log = harness::event_messages(&pair.data_dir(1)).join("\n");
    assert!(
        !log.contains("Interactions resynchronised"),
        "b caught up from the retained changes:\n{log}"
    );
    pair.assert_invariants();
}

#[test]
fn an_empty_node_started_first_does_not_resynchronise_the_pairs_history_away() {
    let mut pair = harness::fast_pair();
    let a = pair.nodes[0].url();
    set_up_directory(&pair, 0);
    start_chats(&a, 5, "before");
    wait_shadow_equal(&pair);

    // Both stop; b's disk is replaced; the operator starts b first.
    pair.nodes[1].kill9();
    pair.nodes[0].kill9();
    let b_data = pair.data_dir(1);
    std::fs::remove_dir_all(&b_data).expect("remove b's data");
    std::fs::create_dir_all(&b_data).expect("an empty data directory");
    // A replaced disk forgets the epochs b saw: the fencing invariants
    // count from here.
    pair.start_sampling();
    pair.nodes[1].start(&[]);
    wait_for(&pair, Duration::from_secs(20), "b serving alone", || {
        harness::serving(&pair.nodes[1].status()).then_some(())
    });
    assert_eq!(live_count(&pair.nodes[1].url()), 0);

    // a, holding the pair's history, joins: b steps down for it, a
    // serves, and b becomes its backup with the history.
    pair.nodes[0].start(&[]);
    pair.wait_until(
        Duration::from_secs(60),
        "a serving and b its backup, in sync",
        |p| in_sync(p) && harness::serving(&p.nodes[0].status()),
    );
    wait_shadow_equal(&pair);
    let log = harness::event_messages(&pair.data_dir(1)).join("\n");
    assert!(
        log.contains("newer history"),
        "b said why it stepped down:\n{log}"
    );
    for node in [0, 1] {
        assert_eq!(live_count(&pair.nodes[node].url()), 5, "node {node}");
    }
    pair.assert_invariants();
}

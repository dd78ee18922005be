//! A backup that resynchronises never moves the pair or wipes it: an
//! interaction larger than a link frame reaches a backup that fell more
//! than a catch-up behind (its snapshot travels in chunks; it used to
//! stop the active node's link writer, and the pair then switched over
//! forever, serving two states in turn), and a node started with an
//! empty data directory before the node holding the pair's history does
//! not resynchronise that history away: it steps down for the newer one,
//! also when it served the pair's first epoch again (another history id),
//! and what people did on it alone is healed into the pair's history.

mod harness;

use std::time::Duration;

use harness::contact::{AGENT_PASSWORD, Api, set_up_directory, wait_for, wait_shadow_equal};
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

/// Both nodes stop, `node`'s data directory is emptied (a replaced disk)
/// and it starts first, serving alone. A replaced disk forgets the epochs
/// the node saw: the fencing invariants count from here.
fn replace_disk_and_serve_alone(pair: &mut Pair, node: usize) {
    pair.nodes[1].kill9();
    pair.nodes[0].kill9();
    let data = pair.data_dir(node);
    std::fs::remove_dir_all(&data).expect("remove the node's data");
    std::fs::create_dir_all(&data).expect("an empty data directory");
    pair.start_sampling();
    pair.nodes[node].start(&[]);
    wait_for(
        pair,
        Duration::from_secs(20),
        "the new disk's node serving alone",
        || harness::serving(&pair.nodes[node].status()).then_some(()),
    );
}

/// Node `newer`, holding the newer history, ends up serving with the other
/// as its backup, in sync with one state, and the other said why it
/// stepped down.
fn newer_history_serves(pair: &Pair, newer: usize) {
    pair.wait_until(
        Duration::from_secs(60),
        "the newer history serving, the other node its backup, in sync",
        |p| in_sync(p) && harness::serving(&p.nodes[newer].status()),
    );
    wait_shadow_equal(pair);
    let log = harness::event_messages(&pair.data_dir(1 - newer)).join("\n");
    assert!(
        log.contains("newer history"),
        "the other node said why it stepped down:\n{log}"
    );
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
    replace_disk_and_serve_alone(&mut pair, 1);
    assert_eq!(live_count(&pair.nodes[1].url()), 0);

    // a, holding the pair's history, joins: b steps down for it, a
    // serves, and b becomes its backup with the history.
    pair.nodes[0].start(&[]);
    newer_history_serves(&pair, 0);
    for node in [0, 1] {
        assert_eq!(live_count(&pair.nodes[node].url()), 5, "node {node}");
    }
    pair.assert_invariants();
}

#[test]
fn a_node_with_a_new_disk_that_served_the_pairs_first_epoch_again_is_healed_into_the_pairs_history()
{
    let mut pair = harness::fast_pair();
    let a = pair.nodes[0].url();
    set_up_directory(&pair, 0);
    // The pair's history is the longer one at that epoch.
    start_chats(&a, 20, "before");
    wait_shadow_equal(&pair);
    let pairs_epoch = epoch(&pair, 0);

    // Both stop; a's disk is replaced and a starts first: knowing no
    // epoch, it serves the pair's first epoch again, and people use it.
    replace_disk_and_serve_alone(&mut pair, 0);
    assert_eq!(epoch(&pair, 0), pairs_epoch, "the same epoch number again");
    set_up_directory(&pair, 0);
    let (code, body) = pair.config_put(
        0,
        "/config/Users/carol",
        "User",
        json!({"roles": "agent", "password": "carol-secret-1", "skills": "sales:5"}),
        Some("carol-while-alone"),
    );
    assert_eq!(code, 200, "{body}");
    let alone = start_chats(&a, 3, "alone");

    // b, holding the pair's history (more changes of that epoch, another
    // history id), joins: a steps down for it, b serves, and what a
    // acknowledged alone is healed into the pair's history.
    pair.nodes[1].start(&[]);
    newer_history_serves(&pair, 1);
    for node in [0, 1] {
        assert_eq!(
            live_count(&pair.nodes[node].url()),
            23,
            "node {node}: the pair's 20 chats and the 3 started on a alone"
        );
        let sue = Api::login(&pair.nodes[node].url(), "sue", AGENT_PASSWORD);
        for id in &alone {
            let (code, chat) = sue.get(&format!("/api/interactions/{id}"));
            assert_eq!(code, 200, "node {node}, {id}: {chat}");
        }
        assert!(
            pair.config_get(node, "/config/Users/carol").is_some(),
            "node {node}: the user added on a alone"
        );
    }
    pair.assert_invariants();
}

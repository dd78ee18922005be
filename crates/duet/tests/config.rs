//! Configuration replication between two real nodes: changes are made on
//! the active node only, reach the backup, survive the backup being away
//! and a switchover, and bad changes are refused.

mod harness;

use std::time::Duration;

use harness::{Pair, Setup, USER, fast_params, serving};

/// Starts b again and waits until it has resynchronised and is in sync.
fn restart_backup_and_wait_in_sync(pair: &mut Pair) {
    pair.nodes[1].start(&[]);
    pair.wait_until(
        Duration::from_secs(15),
        "b resynchronised and in sync",
        |p| {
            let (a, b) = (p.nodes[0].status(), p.nodes[1].status());
            matches!((a, b), (Some(a), Some(b)) if a.replication == duet_stream::Replication::InSync
            && b.config_applied == a.config_applied)
        },
    );
}

#[test]
fn configuration_changes_replicate_and_survive_the_backup_being_away_and_a_switchover() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    // A change on the active node reaches the backup.
    let (code, body) = pair.config_put(
        0,
        "/config/Users/alice",
        "User",
        serde_json::json!({"Extension": "100"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    pair.wait_until(Duration::from_secs(5), "alice on b", |p| {
        p.config_attribute(1, "/config/Users/alice", "Extension")
            .as_deref()
            == Some("100")
    });
    // Changes are made on the active node only.
    let (code, body) = pair.config_put(1, "/config/Users/bob", "User", serde_json::json!({}), None);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("make configuration changes on the active node, a"),
        "{body}"
    );
    // Bad changes are refused and change nothing.
    let (code, body) = pair.config_put(
        0,
        "/config/Server Parameters/Switchover TS Timeout",
        "ServerParameter",
        serde_json::json!({"value": "4"}),
        None,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("allowed: 5-60 s"), "{body}");
    let (code, body) = pair.config_put(
        0,
        "/config/Gadgets/x",
        "Gadget",
        serde_json::json!({}),
        None,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("unknown object class"), "{body}");
    let long_id = "c".repeat(300);
    let (code, body) = pair.config_put(
        0,
        "/config/Users/alice",
        "User",
        serde_json::json!({"Extension": "999"}),
        Some(&long_id),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("client_id"), "{body}");
    // The backup is away while three changes are made; it catches up.
    pair.nodes[1].kill9();
    for ext in ["101", "102", "103"] {
        let (code, body) = pair.config_put(
            0,
            "/config/Users/alice",
            "User",
            serde_json::json!({"Extension": ext}),
            None,
        );
        assert_eq!(
            code, 200,
            "acknowledged alone while the backup is away: {body}"
        );
    }
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(10), "b caught up", |p| {
        p.config_attribute(1, "/config/Users/alice", "Extension")
            .as_deref()
            == Some("103")
    });
    pair.wait_until(Duration::from_secs(5), "replication in sync", |p| {
        p.nodes[0]
            .status()
            .is_some_and(|s| s.replication == duet_stream::Replication::InSync)
    });
    // In sync, a change is acknowledged once the backup has it.
    let (code, _) = pair.config_put(
        0,
        "/config/Workgroups/Sales",
        "Workgroup",
        serde_json::json!({"Queue": "sales"}),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(
        pair.config_attribute(1, "/config/Workgroups/Sales", "Queue")
            .as_deref(),
        Some("sales")
    );
    // The active node fails: the new one has everything, history included.
    pair.nodes[0].kill9();
    pair.wait_until(Duration::from_secs(10), "b active", |p| {
        serving(&p.nodes[1].status())
    });
    let view = pair.config_get(1, "/config/Users/alice").unwrap();
    assert_eq!(view["object"]["attributes"]["Extension"], "103");
    let history = view["history"].as_array().unwrap();
    assert_eq!(history.len(), 4, "{view}");
    assert_eq!(history[0]["who"], USER);
    let (code, body) = pair.config_put(
        1,
        "/config/Users/carol",
        "User",
        serde_json::json!({}),
        None,
    );
    assert_eq!(code, 200, "the new active takes changes: {body}");
    // The former active rejoins as backup and receives what it missed.
    pair.nodes[0].start(&[]);
    pair.wait_until(Duration::from_secs(10), "carol on a", |p| {
        p.config_get(0, "/config/Users/carol").is_some()
    });
    assert_eq!(
        pair.config_attribute(0, "/config/Users/alice", "Extension")
            .as_deref(),
        Some("103")
    );
    pair.assert_invariants();
}

#[test]
fn ctl_config_reads_and_changes_the_tree_on_the_active_node() {
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let run = |args: &[&str]| {
        let out = pair.ctl(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = run(&[
        "config",
        "set",
        r"${CONFIG}\Users\dana",
        "User",
        "Extension=4242",
        "Skills=chat,email",
    ]);
    assert!(ok, "{text}");
    // (change 1 is the first active node's takeover of the interactions)
    assert!(text.contains("/config/Users/dana set (change 2)"), "{text}");
    let (ok, text) = run(&["config", "get", "/config/Users/dana"]);
    assert!(ok && text.contains("Extension = 4242"), "{text}");
    let (ok, text) = run(&["config", "ls", "/config/Users"]);
    assert!(ok && text.contains("dana  (User)"), "{text}");
    let (ok, text) = run(&["config", "rm", "/config/Users/dana"]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["config", "history", "/config/Users/dana"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("#2 by admin") && text.contains("#3 by admin"),
        "{text}"
    );
    let (ok, text) = run(&["config", "rm", "/config/Users/dana"]);
    assert!(
        !ok && text.contains("nothing at /config/Users/dana to remove"),
        "{text}"
    );
    let (ok, text) = run(&[
        "config",
        "set",
        "/config/Users/erin",
        "User",
        "no-equals-sign",
    ]);
    assert!(!ok && text.contains("is not NAME=VALUE"), "{text}");
}

#[test]
fn server_parameters_in_the_tree_take_effect_on_both_nodes_when_dynamic() {
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let params = |node: usize| -> serde_json::Value {
        harness::api_agent()
            .get(&format!("{}/api/params", pair.nodes[node].url()))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    };
    assert_eq!(params(1)["ts_timeout"]["seconds_ms"], 10_000);
    // Dynamic: takes effect at once, on the backup too.
    let (code, body) = pair.config_put(
        0,
        "/config/Server Parameters/Switchover TS Timeout",
        "ServerParameter",
        serde_json::json!({"value": "20"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    pair.wait_until(Duration::from_secs(5), "20 s on both", |_| {
        params(0)["ts_timeout"]["seconds_ms"] == 20_000
            && params(1)["ts_timeout"]["seconds_ms"] == 20_000
    });
    // Not dynamic: waits for a restart, and says so.
    let (code, _) = pair.config_put(
        0,
        "/config/Server Parameters/Switchover Max Restarts",
        "ServerParameter",
        serde_json::json!({"value": "5"}),
        None,
    );
    assert_eq!(code, 200);
    pair.wait_until(Duration::from_secs(5), "the restart note on b", |p| {
        p.nodes[1].log().contains(
            "Switchover Max Restarts changed; the new value takes effect when this node restarts",
        )
    });
    assert_eq!(params(1)["max_restarts"], 2);
    pair.assert_invariants();
}

#[test]
fn upgrade_states_replicate_only_what_appendix_c_allows() {
    for (backup_release, kept, skipped) in [
        // Upgrade Higher: everything but the opt-outs and fixed exclusions.
        (
            "2026.2.0",
            ["/config/Users/u1", "/config/Queues/q1"],
            "/config/Phones/p1",
        ),
        // Upgrade Lower: only the opt-in paths.
        (
            "2025.9.0",
            ["/config/Users/u1", "/config/Roles/r1"],
            "/config/Queues/q1",
        ),
    ] {
        let mut pair = Pair::loopback(Setup {
            releases: ["2026.1.0".into(), backup_release.into()],
            ..Setup::default()
        });
        pair.start();
        for path in kept.iter().chain([&skipped]) {
            let (code, body) =
                pair.config_put(0, path, "Folder", serde_json::json!({"x": "1"}), None);
            assert_eq!(code, 200, "{body}");
        }
        for path in kept {
            pair.wait_until(Duration::from_secs(5), &format!("{path} on b"), |p| {
                p.config_get(1, path).is_some()
            });
        }
        // Once b is at a's position, the skipped change was passed over.
        let a = pair.nodes[0].status().unwrap();
        pair.wait_until(Duration::from_secs(5), "same position", |p| {
            p.nodes[1].status().unwrap().config_applied == a.config_applied
        });
        assert!(
            pair.config_get(1, skipped).is_none(),
            "{backup_release}: {skipped} replicated"
        );
        assert!(!pair.nodes[1].status().unwrap().automatic);
    }
}

/// The active node keeps 100 changes for a backup to catch up from (the
/// least it may): further behind, the backup resynchronises.
const CATCH_UP_100: &str = "\n\"Duet Catch-up Changes\" = 100\n";

#[test]
fn a_backup_too_far_behind_resynchronises_by_digests() {
    let mut pair = Pair::loopback(Setup {
        params: format!("{}{CATCH_UP_100}", fast_params()),
        ..Setup::default()
    });
    pair.start();
    pair.nodes[1].kill9();
    // More changes than the active node keeps for a backup to catch up
    // from (100).
    for i in 0..250 {
        let (code, body) = pair.config_put(
            0,
            &format!("/config/Users/u{i}"),
            "User",
            serde_json::json!({"i": i.to_string()}),
            None,
        );
        assert_eq!(code, 200, "{body}");
    }
    restart_backup_and_wait_in_sync(&mut pair);
    assert!(
        pair.nodes[1].log().contains("Configuration resynchronised"),
        "{}",
        pair.logs()
    );
    // Its start-up ends only once it has every change (the backup may
    // say so a moment after the active node counts it in sync).
    pair.wait_until(
        Duration::from_secs(10),
        "b's start-up complete after its resync",
        |p| {
            let log = p.nodes[1].log();
            matches!(
                (log.rfind("Configuration resynchronised"), log.rfind("Start-up complete")),
                (Some(synced), Some(started)) if started > synced
            )
        },
    );
    assert_eq!(
        pair.config_attribute(1, "/config/Users/u249", "i")
            .as_deref(),
        Some("249")
    );
    pair.assert_invariants();
}

#[test]
fn a_resync_brings_the_history_compressed_and_it_survives_a_switchover() {
    let mut pair = Pair::loopback(Setup {
        params: format!(
            "{}\n\"Switchover Use Compression For DS Request Sync\" = \"Yes\"\n{CATCH_UP_100}",
            fast_params()
        ),
        ..Setup::default()
    });
    pair.start();
    let watched = [
        "/config/Users/hal",
        "/config/Users/u0",
        "/config/Users/u249",
    ];
    let history = |pair: &Pair, node: usize, path: &str| {
        pair.config_get(node, path)
            .map(|view| view["history"].clone())
    };
    // History made while b was in sync, then while it was away: more
    // changes than the active node keeps for it to catch up from, so it resyncs.
    let change = |pair: &Pair, path: &str, value: String| {
        let (code, body) = pair.config_put(0, path, "User", serde_json::json!({"v": value}), None);
        assert_eq!(code, 200, "{body}");
    };
    change(&pair, watched[0], "before".into());
    pair.wait_until(Duration::from_secs(5), "hal on b", |p| {
        history(p, 1, watched[0]) == history(p, 0, watched[0])
    });
    pair.nodes[1].kill9();
    for i in 0..250 {
        change(&pair, &format!("/config/Users/u{i}"), i.to_string());
        if i % 50 == 0 {
            change(&pair, watched[0], format!("away {i}"));
        }
    }
    restart_backup_and_wait_in_sync(&mut pair);
    let log = pair.nodes[1].log();
    let line = log
        .lines()
        .rfind(|l| l.contains("Configuration resynchronised"))
        .unwrap_or_else(|| panic!("no resync: {}", pair.logs()));
    assert!(line.contains("255 history records"), "{line}");
    assert!(!line.contains("(0 answers compressed)"), "{line}");
    let on_a: Vec<_> = watched.iter().map(|p| history(&pair, 0, p)).collect();
    assert_eq!(on_a[0].as_ref().unwrap().as_array().unwrap().len(), 6);
    for (path, a) in watched.iter().zip(&on_a) {
        assert_eq!(&history(&pair, 1, path), a, "{path} on b");
    }
    // b takes over with the same history, so as-of reads agree.
    pair.nodes[0].kill9();
    pair.wait_until(Duration::from_secs(10), "b active", |p| {
        serving(&p.nodes[1].status())
    });
    for (path, a) in watched.iter().zip(&on_a) {
        assert_eq!(&history(&pair, 1, path), a, "{path} on b once active");
    }
    pair.assert_invariants();
}

#[test]
fn a_clients_retry_after_a_switchover_is_answered_not_applied_again() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    let put_with = |pair: &Pair, node: usize, client: &str, ext: &str| -> serde_json::Value {
        let (code, body) = pair.config_put(
            node,
            "/config/Users/gina",
            "User",
            serde_json::json!({"Extension": ext}),
            Some(client),
        );
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let first = put_with(&pair, 0, "client-7", "100");
    let (code, _) = pair.config_put(
        0,
        "/config/Users/gina",
        "User",
        serde_json::json!({"Extension": "200"}),
        None,
    );
    assert_eq!(code, 200);
    pair.nodes[0].kill9();
    pair.wait_until(Duration::from_secs(10), "b active", |p| {
        serving(&p.nodes[1].status())
    });
    // The client never heard back and retries its change on the new active.
    let retry = put_with(&pair, 1, "client-7", "100");
    assert_eq!(
        retry["seq"], first["seq"],
        "answered with the first change's number"
    );
    assert_eq!(
        pair.config_attribute(1, "/config/Users/gina", "Extension")
            .as_deref(),
        Some("200")
    );
    // A retried removal is answered too, not refused as missing.
    let remove = |pair: &Pair| {
        pair.config_remove(1, "/config/Users/gina", Some("client-8"))
            .0
    };
    assert_eq!(remove(&pair), 200);
    assert_eq!(remove(&pair), 200);
}

#[test]
fn a_backup_leaving_an_upgrade_state_is_made_whole_again() {
    let mut pair = Pair::loopback(Setup {
        releases: ["2026.1.0".into(), "2026.2.0".into()],
        ..Setup::default()
    });
    pair.start();
    // Upgrade Higher passes over the phones (Appendix C opt-out).
    let (code, body) = pair.config_put(
        0,
        "/config/Phones/p1",
        "Folder",
        serde_json::json!({"x": "1"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let a = pair.nodes[0].status().unwrap();
    pair.wait_until(Duration::from_secs(5), "same position", |p| {
        p.nodes[1].status().unwrap().config_applied == a.config_applied
    });
    assert!(pair.config_get(1, "/config/Phones/p1").is_none());

    // b is brought to a's release: the same position no longer means the
    // same tree, so b asks for a full resynchronisation and gets p1.
    pair.nodes[1].kill9();
    let config = std::fs::read_to_string(&pair.nodes[1].config).unwrap();
    assert!(config.contains("2026.2.0"), "{config}");
    std::fs::write(
        &pair.nodes[1].config,
        config.replace("2026.2.0", "2026.1.0"),
    )
    .unwrap();
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(20), "p1 on b", |p| {
        p.config_get(1, "/config/Phones/p1").is_some()
    });
    assert!(pair.nodes[1].status().unwrap().automatic);
    pair.assert_invariants();
}

#[test]
fn an_unanswered_sync_request_is_given_up_after_the_ds_request_timeout_and_asked_again() {
    // The seed: Switchover DS Request Timeout bounds "DS requests that are
    // sent by the backup server to the primary server ... during either the
    // initial startup of the backup server or the resynchronization".
    let mut pair = Pair::loopback(Setup {
        params: format!(
            "{}\"Switchover DS Request Timeout\" = \"1\"\n{CATCH_UP_100}",
            fast_params()
        ),
        ..Setup::default()
    });
    pair.start();
    pair.nodes[1].kill9();
    for i in 0..220 {
        let path = format!("/config/Users/u{i}");
        let (code, body) = pair.config_put(
            0,
            &path,
            "User",
            serde_json::json!({"i": i.to_string()}),
            None,
        );
        assert_eq!(code, 200, "{body}");
    }
    pair.nodes[0].fault("config-sync", "hang");
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(15), "b giving up on a request", |p| {
        p.nodes[1].log().contains(
            "was not answered within Switchover DS Request Timeout (1 s); resynchronising again",
        )
    });
    let a = pair.nodes[0].status().unwrap();
    assert_ne!(
        pair.nodes[1].status().unwrap().config_applied,
        a.config_applied
    );

    pair.nodes[0].fault("config-sync", "recover");
    pair.wait_until(Duration::from_secs(15), "b in sync", |p| {
        let (a, b) = (p.nodes[0].status(), p.nodes[1].status());
        matches!((a, b), (Some(a), Some(b)) if a.replication == duet_stream::Replication::InSync
            && b.config_applied == a.config_applied && b.config_digest == a.config_digest)
    });
    assert_eq!(
        pair.config_attribute(1, "/config/Users/u219", "i")
            .as_deref(),
        Some("219")
    );
    pair.assert_invariants();
}

/// `POST /api/config/batch` as docs/contact-center.md and the API document
/// describe it, with nothing but HTTP and JSON: up to 500 changes, made in
/// order, each answered on its own; a change the tree refuses is refused
/// alone; the same batch sent again is answered, not made again; the
/// backup refuses it whole and holds the changes once.
#[test]
fn a_batch_of_configuration_changes_is_made_in_order_each_answered_once() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    let auth = Some((USER, harness::PASSWORD));
    let mut changes: Vec<serde_json::Value> = (0..300)
        .map(|i| {
            serde_json::json!({"put": {
                "path": format!("/config/Batch/item-{i}"),
                "class": "Folder",
                "attributes": {"v": i.to_string()},
                "client_id": format!("batch-put-{i}"),
            }})
        })
        .collect();
    // A path the tree refuses (no object at the root), and the first
    // object removed again at the end: after its put, as given.
    changes.insert(
        150,
        serde_json::json!({"put": {"path": "/", "class": "Folder", "client_id": "batch-root"}}),
    );
    changes.push(serde_json::json!({"remove": {"path": "/config/Batch/item-0", "client_id": "batch-remove-0"}}));
    let batch = serde_json::json!({ "changes": changes });

    let send = |node: usize| {
        let (code, body) = pair.nodes[node].post("/api/config/batch", batch.clone(), auth);
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        (code, body, answer)
    };
    let (code, body, first) = send(0);
    assert_eq!(code, 200, "{body}");
    let results = first["results"].as_array().expect("results");
    assert_eq!(results.len(), 302, "one result per change");
    assert_eq!(results[150]["error"]["status"], 400, "{}", results[150]);
    assert!(results[150]["seq"].is_null());
    let seqs: Vec<u64> = results
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 150)
        .map(|(i, r)| {
            r["seq"]
                .as_u64()
                .unwrap_or_else(|| panic!("change {i}: {r}"))
        })
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "made in the batch's order"
    );

    // Sent again (a client that lost the answer): each change answered
    // with its sequence number, none made twice.
    let (code, body, again) = send(0);
    assert_eq!(code, 200, "{body}");
    assert_eq!(again, first, "the same answers");

    // The backup refuses the batch whole, naming the active node, and
    // holds every change once.
    let (code, body, _) = send(1);
    assert_eq!(code, 503, "{body}");
    pair.wait_until(Duration::from_secs(10), "the batch on b", |p| {
        p.config_attribute(1, "/config/Batch/item-299", "v")
            .as_deref()
            == Some("299")
            && p.config_get(1, "/config/Batch/item-0")
                .is_some_and(|v| v["object"].is_null())
    });
    for node in 0..2 {
        let folder = pair.config_get(node, "/config/Batch").expect("the folder");
        let children = folder["children"].as_array().expect("children");
        assert_eq!(children.len(), 299, "node {node}: items 1 to 299");
        for i in [1, 150, 299] {
            let item = pair
                .config_get(node, &format!("/config/Batch/item-{i}"))
                .expect("the item");
            let history = item["history"].as_array().map_or(0, Vec::len);
            assert_eq!(history, 1, "node {node}: item {i} made once: {item}");
        }
    }

    // More than 500 changes: refused whole, nothing made.
    let too_many: Vec<serde_json::Value> = (0..501)
        .map(|i| serde_json::json!({"remove": {"path": format!("/config/Batch/item-{i}")}}))
        .collect();
    let (code, body) = pair.nodes[0].post(
        "/api/config/batch",
        serde_json::json!({ "changes": too_many }),
        auth,
    );
    assert_eq!(code, 400, "{body}");
    assert!(pair.config_get(0, "/config/Batch/item-1").is_some());
}

/// `duet ctl config apply FILE`: a directory of 700 users from a file, in
/// two batches; applied again, every change is answered as before and none
/// made twice; a file with a change the tree refuses says so and fails.
#[test]
fn ctl_config_apply_loads_a_file_of_changes_once() {
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let dir = tempfile::tempdir().expect("a directory");
    let changes: Vec<serde_json::Value> = (0..700)
        .map(|i| {
            serde_json::json!({"put": {
                "path": format!("/config/Users/u{i}"),
                "class": "User",
                "attributes": {"roles": "agent", "capacity": "chat:2"},
            }})
        })
        .collect();
    let file = dir.path().join("users.json");
    std::fs::write(&file, serde_json::json!({ "changes": changes }).to_string()).unwrap();
    let run = |args: &[&str]| {
        let out = pair.ctl(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let path = file.to_str().expect("a path");
    let (ok, first) = run(&["config", "apply", path]);
    assert!(ok, "{first}");
    assert_eq!(
        first
            .lines()
            .filter(|l| l.contains(" set (change "))
            .count(),
        700
    );
    let (ok, again) = run(&["config", "apply", path]);
    assert!(ok, "{again}");
    assert_eq!(again, first, "answered as before, nothing made again");
    pair.wait_until(Duration::from_secs(10), "the users on b", |p| {
        p.config_attribute(1, "/config/Users/u699", "capacity")
            .as_deref()
            == Some("chat:2")
    });
    let users = pair.config_get(1, "/config/Users").expect("the users");
    assert_eq!(users["children"].as_array().map_or(0, Vec::len), 700);

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"changes": [{"put": {"path": "/config/Users/ok", "class": "User"}}, {"put": {"path": "/config/Users/x", "class": "Nonsense"}}]}"#,
    )
    .unwrap();
    let (ok, text) = run(&["config", "apply", bad.to_str().expect("a path")]);
    assert!(!ok, "{text}");
    assert!(text.contains("/config/Users/ok set (change "), "{text}");
    assert!(
        text.contains("change 2 (/config/Users/x) refused"),
        "{text}"
    );
    assert!(text.contains("1 of 2 changes refused"), "{text}");
}

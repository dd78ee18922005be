//! Healing after both nodes served, with two real nodes: each serves on its
//! own in turn (the other stopped, as a partition would leave them), writes
//! its own changes and one to the same path; when they meet, the one that
//! rejoins as backup has its changes made on the active node (the same
//! path's as a conflict record) before its copy is resynchronised.

mod harness;

use std::time::Duration;

use harness::{Pair, Setup, api_agent, basic_auth, basic_auth_for, event_messages, fast_params};

fn put(pair: &Pair, node: usize, path: &str, value: &str, client: Option<&str>) {
    let (code, body) = pair.config_put(
        node,
        path,
        "User",
        // Each side sets a password too, so the conflict record's losing
        // value holds a password hash, which no answer may show.
        serde_json::json!({ "Extension": value, "password": format!("password-{value}") }),
        client,
    );
    assert_eq!(code, 200, "{path} on node {node}: {body}\n{}", pair.logs());
}

/// Starts `node` with its peer stopped and waits until it serves.
fn serve_alone(pair: &mut Pair, node: usize) -> u64 {
    pair.nodes[node].start(&[]);
    pair.wait_until(Duration::from_secs(20), "the node serves on its own", |p| {
        p.nodes[node].status().is_some_and(|s| s.serving)
    });
    pair.nodes[node]
        .status()
        .map(|s| s.epoch)
        .unwrap_or_default()
}

fn conflicts(pair: &Pair, node: usize) -> Vec<serde_json::Value> {
    let url = format!("{}/api/config/conflicts", pair.nodes[node].url());
    // Conflict records are a master administrator's to read.
    for (auth, refused) in [
        (None, 401),
        (Some(basic_auth_for("viewer", "just-looking")), 403),
    ] {
        let mut request = api_agent().get(&url);
        if let Some(auth) = &auth {
            request = request.header("authorization", auth);
        }
        let status = request.call().expect("conflicts").status().as_u16();
        assert_eq!(status, refused, "{auth:?}");
    }
    let text = api_agent()
        .get(&url)
        .header("authorization", &basic_auth())
        .call()
        .expect("conflicts")
        .body_mut()
        .read_to_string()
        .expect("an answer");
    assert!(!text.contains("argon2"), "a password hash is shown: {text}");
    serde_json::from_str(&text).expect("a list")
}

#[test]
fn a_node_that_served_alone_has_its_changes_made_on_the_active_node_when_they_meet() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    // Both nodes serve at different times in this test, by design.
    pair.sampler = None;
    put(&pair, 0, "/config/Users/alice", "100", Some("common-1"));
    put(&pair, 0, "/config/Users/sam", "1", Some("common-2"));
    pair.wait_until(Duration::from_secs(10), "b has the common changes", |p| {
        let (a, b) = (p.nodes[0].status(), p.nodes[1].status());
        matches!((a, b), (Some(a), Some(b)) if b.config_applied == a.config_applied)
    });
    pair.nodes[0].kill9();
    pair.nodes[1].kill9();

    // b serves on its own: these are acknowledged, then b stops.
    let b_epoch = serve_alone(&mut pair, 1);
    put(&pair, 1, "/config/Users/bea", "200", Some("b-1"));
    put(&pair, 1, "/config/Users/sam", "b", Some("b-2"));
    put(&pair, 1, "/config/Users/nobody-b", "201", None);
    pair.nodes[1].kill9();

    // a serves on its own, in a newer epoch, changing sam too.
    let a_epoch = serve_alone(&mut pair, 0);
    assert!(a_epoch > b_epoch, "a serves the newer epoch");
    put(&pair, 0, "/config/Users/ann", "300", Some("a-1"));
    put(&pair, 0, "/config/Users/sam", "a", Some("a-2"));

    // They meet: b rejoins as backup; its changes are made on a first.
    pair.nodes[1].start(&[]);
    pair.wait_until(
        Duration::from_secs(30),
        "b healed, resynchronised and in sync",
        |p| {
            let (a, b) = (p.nodes[0].status(), p.nodes[1].status());
            matches!((a, b), (Some(a), Some(b)) if a.serving && !b.serving
                && a.replication == duet_stream::Replication::InSync
                && b.config_applied == a.config_applied
                && b.config_digest == a.config_digest)
        },
    );
    for node in [0, 1] {
        let ext = |path: &str| pair.config_attribute(node, path, "Extension");
        assert_eq!(ext("/config/Users/alice").as_deref(), Some("100"));
        assert_eq!(ext("/config/Users/bea").as_deref(), Some("200"));
        assert_eq!(ext("/config/Users/nobody-b").as_deref(), Some("201"));
        assert_eq!(ext("/config/Users/ann").as_deref(), Some("300"));
        // The winner's value stands; b's is a conflict record.
        assert_eq!(ext("/config/Users/sam").as_deref(), Some("a"));
        let found = conflicts(&pair, node);
        assert_eq!(found.len(), 1, "node {node}: {found:#?}");
        let c = &found[0];
        assert_eq!(c["path"], serde_json::json!(["config", "Users", "sam"]));
        assert_eq!(c["client"], "b-2");
        assert_eq!(c["healed_from"]["epoch"], b_epoch);
        assert_eq!(c["conflict"]["value"]["attributes"]["Extension"], "b");
        assert_eq!(
            c["conflict"]["value"]["attributes"]["password_hash"],
            "(set)"
        );
        assert_eq!(c["conflict"]["lost_to"]["client"], "a-2");
        assert_eq!(c["conflict"]["lost_to"]["epoch"], a_epoch);
    }
    let events = event_messages(&pair.data_dir(0));
    assert!(
        events.iter().any(
            |m| m.contains("Configuration conflict at /config/Users/sam")
                && m.contains("\"b-2\"")
                && m.contains("\"a-2\"")
        ),
        "the event log names both changes: {events:#?}"
    );
    let out = pair.ctl(&["config", "conflicts"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("/config/Users/sam")
            && text.contains("lost:  admin")
            && text.contains("\"b-2\"")
            && text.contains("stands: admin")
            && text.contains("\"a-2\""),
        "{text}"
    );

    // A client's retry of a change b acknowledged is answered, not applied
    // again, now that a has it.
    let before = pair.nodes[0].status().unwrap().config_applied;
    put(&pair, 0, "/config/Users/bea", "200", Some("b-1"));
    assert_eq!(pair.nodes[0].status().unwrap().config_applied, before);
}

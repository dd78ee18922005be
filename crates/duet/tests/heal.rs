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

/// A pair on loopback, both serving in turn by design (no sampler), with
/// the directory made on a and alice logged in to chat there: the pair,
/// a's URL and alice's session.
fn pair_with_alice_on_chat() -> (Pair, String, harness::contact::Api) {
    use harness::contact::{AGENT_PASSWORD, Api, set_up_directory};
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    pair.sampler = None;
    let a = pair.nodes[0].url();
    set_up_directory(&pair, 0);
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let (code, body) = alice.post("/api/agent/login", serde_json::json!({"media": ["chat"]}));
    assert_eq!(code, 200, "{body}");
    (pair, a, alice)
}

/// The chat's customer says `message_id` on the node at `base`.
fn customer_says(base: &str, id: &str, token: &str, message_id: &str) {
    let (code, body) = harness::contact::Api::new(base).post_with(
        &format!("/api/chats/{id}/messages"),
        serde_json::json!({"message_id": message_id, "body": format!("text {message_id}")}),
        &[("x-duet-token", token)],
    );
    assert_eq!(code, 200, "{message_id} on {base}: {body}");
}

/// The agent signed in as `api` does `action` on interaction `id` on the
/// node at `base`.
fn agent_does(
    api: &harness::contact::Api,
    base: &str,
    id: &str,
    action: &str,
    body: serde_json::Value,
) {
    let (code, answer) = api
        .on(base)
        .post(&format!("/api/interactions/{id}/{action}"), body);
    assert_eq!(code, 200, "{action} on {base}: {answer}");
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

/// The interactions' heal keeps every fact: messages both parties
/// exchanged on b while it served alone join the chat a closed meanwhile
/// (with a status line saying where they were taken), and what b's agent
/// did that a's state overrides (a hold of a chat that is closed here) is
/// an interaction conflict record on both nodes, never dropped.
#[test]
fn messages_exchanged_on_the_side_that_lost_join_a_chat_the_other_side_closed() {
    use harness::contact::{AGENT_PASSWORD, Api, wait_for};
    use serde_json::json;
    let (mut pair, a, alice) = pair_with_alice_on_chat();
    let (code, chat) = Api::new(&a).post("/api/chats", json!({"queue": "Sales", "name": "Ida"}));
    assert_eq!(code, 200, "{chat}");
    let id = chat["id"].as_str().unwrap().to_string();
    let token = chat["token"].as_str().unwrap().to_string();
    wait_for(&pair, Duration::from_secs(10), "the offer to alice", || {
        let (code, _) = alice.post(&format!("/api/interactions/{id}/accept"), json!({}));
        (code == 200).then_some(())
    });
    let customer_says = |base: &str, message_id: &str| customer_says(base, &id, &token, message_id);
    let alice_does = |base: &str, action: &str, body| agent_does(&alice, base, &id, action, body);
    customer_says(&a, "c1");
    alice_does(&a, "message", json!({"message_id": "a1", "body": "hello"}));
    pair.wait_until(Duration::from_secs(10), "b in sync", harness::in_sync);
    pair.nodes[0].kill9();
    pair.nodes[1].kill9();

    // b serves alone: the customer and alice talk on, and alice holds.
    serve_alone(&mut pair, 1);
    let b = pair.nodes[1].url();
    customer_says(&b, "c2");
    alice_does(&b, "message", json!({"message_id": "a2", "body": "on b"}));
    alice_does(&b, "hold", json!({}));
    pair.nodes[1].kill9();

    // a serves alone, in a newer epoch: the customer leaves there.
    serve_alone(&mut pair, 0);
    let (code, body) = Api::new(&a).post_with(
        &format!("/api/chats/{id}/leave"),
        json!({}),
        &[("x-duet-token", &token)],
    );
    assert_eq!(code, 200, "{body}");

    // They meet: a's history serves, b's facts are healed into it.
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(30), "b healed and in sync", |p| {
        harness::in_sync(p) && harness::serving(&p.nodes[0].status())
    });
    harness::contact::wait_shadow_equal(&pair);
    for node in [0, 1] {
        let sue = Api::login(&pair.nodes[node].url(), "sue", AGENT_PASSWORD);
        let (code, ix) = sue.get(&format!("/api/interactions/{id}"));
        assert_eq!(code, 200, "{ix}");
        let lines = ix["content"]["Transcript"].as_array().unwrap();
        let ids: Vec<&str> = lines.iter().filter_map(|m| m["id"].as_str()).collect();
        for kept in ["c1", "a1", "c2", "a2"] {
            assert!(ids.contains(&kept), "node {node}: {kept} in {ids:?}");
        }
        assert!(
            lines
                .iter()
                .any(|m| m["body"].as_str().is_some_and(|b| b.contains("taken on b"))),
            "node {node}: a status line says where: {lines:#?}"
        );
        let (code, conflicts) = sue.get("/api/interactions/conflicts");
        assert_eq!(code, 200, "{conflicts}");
        let conflicts = conflicts.as_array().unwrap();
        assert_eq!(conflicts.len(), 1, "node {node}: {conflicts:#?}");
        assert_eq!(conflicts[0]["node"], "b");
        assert!(conflicts[0]["change"]["Hold"].is_object(), "{conflicts:#?}");
        assert!(
            pair.nodes[node]
                .status()
                .is_some_and(|s| s.right_to_serve.interaction_conflicts == 1),
            "node {node} counts it in its status"
        );
    }
}

/// An offer the lone node's router made is understood when the nodes
/// meet: a chat a customer started on b while b served alone, offered
/// there to alice and accepted by her, is on a afterwards with its
/// transcript and alice on it, and alice and the customer carry on there
/// to the end, with no conflict record.
#[test]
fn an_offer_the_lone_node_made_and_its_accept_are_kept_when_the_nodes_meet() {
    use harness::contact::{AGENT_PASSWORD, Api, wait_for};
    use serde_json::json;
    let (mut pair, a, alice) = pair_with_alice_on_chat();
    pair.wait_until(Duration::from_secs(10), "b in sync", harness::in_sync);
    pair.nodes[0].kill9();
    pair.nodes[1].kill9();

    // b serves alone: a customer starts a chat, b offers it to alice, she
    // accepts it there and they talk.
    serve_alone(&mut pair, 1);
    let b = pair.nodes[1].url();
    let (code, chat) = Api::new(&b).post("/api/chats", json!({"queue": "Sales", "name": "Ida"}));
    assert_eq!(code, 200, "{chat}");
    let id = chat["id"].as_str().unwrap().to_string();
    let token = chat["token"].as_str().unwrap().to_string();
    wait_for(&pair, Duration::from_secs(10), "b's offer to alice", || {
        let (code, _) = alice
            .on(&b)
            .post(&format!("/api/interactions/{id}/accept"), json!({}));
        (code == 200).then_some(())
    });
    let customer_says = |base: &str, message_id: &str| customer_says(base, &id, &token, message_id);
    let alice_does = |base: &str, action: &str, body| agent_does(&alice, base, &id, action, body);
    customer_says(&b, "c1");
    alice_does(
        &b,
        "message",
        json!({"message_id": "a1", "body": "hello from b"}),
    );
    pair.nodes[1].kill9();

    // a serves alone in a newer epoch, knowing nothing of the chat.
    serve_alone(&mut pair, 0);
    let sue = Api::login(&a, "sue", AGENT_PASSWORD);
    assert_eq!(sue.get(&format!("/api/interactions/{id}")).0, 404);

    // They meet: b's chat, its offer and alice's accept are made on a.
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(30), "b healed and in sync", |p| {
        harness::in_sync(p) && harness::serving(&p.nodes[0].status())
    });
    harness::contact::wait_shadow_equal(&pair);
    let ix = wait_for(&pair, Duration::from_secs(10), "the chat on a", || {
        let (code, ix) = sue.get(&format!("/api/interactions/{id}"));
        (code == 200).then_some(ix)
    });
    assert_eq!(
        ix["state"]["Connected"]["agent"], "alice",
        "alice keeps the chat she accepted on b: {ix:#?}"
    );
    let ids = |ix: &serde_json::Value| -> Vec<String> {
        ix["content"]["Transcript"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["kind"] != "Status")
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(ids(&ix), ["c1", "a1"], "{ix:#?}");

    // They carry on on a, and alice ends and wraps the chat up there.
    customer_says(&a, "c2");
    alice_does(
        &a,
        "message",
        json!({"message_id": "a2", "body": "hello from a"}),
    );
    alice_does(&a, "disconnect", json!({}));
    alice_does(&a, "wrap-up", json!({"code": "sale", "notes": "kept"}));
    harness::contact::wait_shadow_equal(&pair);
    for node in [0, 1] {
        let sue = sue.on(&pair.nodes[node].url());
        let (code, ix) = sue.get(&format!("/api/interactions/{id}"));
        assert_eq!(code, 200, "node {node}: {ix}");
        assert_eq!(ids(&ix), ["c1", "a1", "c2", "a2"], "node {node}: {ix:#?}");
        let (code, conflicts) = sue.get("/api/interactions/conflicts");
        assert_eq!(code, 200, "{conflicts}");
        assert_eq!(conflicts, json!([]), "node {node}: nothing overridden");
    }
}

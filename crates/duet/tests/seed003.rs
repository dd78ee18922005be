//! Seed 003's chat failure scenarios ("In all of the below failures, an
//! integrated agent is logged in with an active customer chat session"),
//! where the seed's customer is "notified that messages sent after failure
//! were lost, and to start a new session" and its agent is "incorrectly
//! told that session is still active". With duet nothing is lost:
//!
//! - the node serving chats fails: `tests/load.rs` (kill -9 under load);
//! - the interaction state fails: its module hangs on the active node, the
//!   backup takes over, and the chats carry on;
//! - message delivery fails: the SMS provider refuses for a while, across
//!   a switchover; each agent message stays "accepted" (not "delivered")
//!   until the provider takes it, once.

mod harness;

use std::sync::atomic::Ordering;
use std::time::Duration;

use duet_client::load::Load;
use harness::contact::{
    AGENT_PASSWORD, Api, HttpCapture, set_up_directory, signature, wait_for, wait_shadow_equal,
};
use harness::{in_sync, serving, traffic};
use serde_json::{Value, json};

#[test]
fn when_the_interaction_state_fails_the_backup_takes_over_and_the_chats_carry_on() {
    let pair = harness::fast_pair();
    let load = Load::start(traffic::spec(&pair)).expect("the load starts");
    std::thread::sleep(Duration::from_secs(3));
    let before = load.tally();
    // The interaction module stops answering on the active node.
    pair.nodes[0].fault("interactions", "hang");
    pair.wait_until(Duration::from_secs(20), "b serves", |p| {
        serving(&p.nodes[1].status())
    });
    let events = harness::event_messages(&pair.data_dir(1));
    assert!(
        events.iter().any(|e| e.contains("TS Ping Failure")),
        "{events:#?}"
    );
    pair.wait_until(
        Duration::from_secs(30),
        "a back as backup, in sync",
        in_sync,
    );
    std::thread::sleep(Duration::from_secs(3));
    let report = load.stop_and_drain(Duration::from_secs(40));
    assert!(
        report.tally.messages_acknowledged > before.messages_acknowledged + 10,
        "traffic after the switchover: {report:#?}"
    );
    traffic::assert_all_delivered(&report, &pair.logs());
    wait_shadow_equal(&pair);
}

/// The transcript's agent messages: (id, delivery).
fn agent_lines(ix: &Value) -> Vec<(String, String)> {
    ix["content"]["Transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["sender"]["Agent"].is_string())
        .map(|m| {
            (
                m["id"].as_str().unwrap_or_default().to_string(),
                m["delivery"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn when_message_delivery_fails_each_message_is_kept_shown_as_not_delivered_and_sent_once_later() {
    let mut pair = harness::fast_pair();
    set_up_directory(&pair, 0);
    let (a, b) = (pair.nodes[0].url(), pair.nodes[1].url());
    let provider = HttpCapture::start();
    provider.down.store(true, Ordering::SeqCst);
    let (code, body) = pair.config_put(
        0,
        "/config/Interactions",
        "Folder",
        json!({"outbound_webhook": format!("http://127.0.0.1:{}/send", provider.port)}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let inbound = serde_json::to_vec(&json!({"conversation": "+15550123", "queue": "Sales",
        "message_id": "sms-1", "text": "Can I change my order?", "from": "+15550123"}))
    .unwrap();
    let (code, sms) = Api::new(&a).post_bytes(
        "/api/webhooks/sms",
        &inbound,
        &[("x-duet-signature", &signature(&pair, &inbound))],
    );
    assert_eq!(code, 200, "{sms}");
    let id = sms["id"].as_str().unwrap().to_string();
    let bob = Api::login(&a, "bob", AGENT_PASSWORD);
    let (code, body) = bob.post("/api/agent/login", json!({"media": ["sms"]}));
    assert_eq!(code, 200, "{body}");
    wait_for(&pair, Duration::from_secs(10), "the SMS offered", || {
        let (_, me) = bob.get("/api/agent");
        me["interactions"]
            .as_array()?
            .iter()
            .any(|i| i["id"] == id.as_str())
            .then_some(())
    });
    let (code, body) = bob.post(&format!("/api/interactions/{id}/accept"), json!({}));
    assert_eq!(code, 200, "{body}");
    for (n, text) in ["Yes.", "Which item?", "Done."].iter().enumerate() {
        let (code, body) = bob.post(
            &format!("/api/interactions/{id}/message"),
            json!({"message_id": format!("b{n}"), "body": text}),
        );
        assert_eq!(code, 200, "{body}");
    }
    let sue = Api::login(&a, "sue", AGENT_PASSWORD);
    wait_for(
        &pair,
        Duration::from_secs(10),
        "the provider refusing",
        || (provider.refused.load(Ordering::SeqCst) >= 3).then_some(()),
    );
    // Nobody is told a message was delivered that was not.
    let (_, ix) = sue.get(&format!("/api/interactions/{id}"));
    let lines = agent_lines(&ix);
    assert_eq!(lines.len(), 3, "{ix}");
    assert!(
        lines.iter().all(|(_, delivery)| delivery == "Accepted"),
        "{lines:?}"
    );
    assert!(provider.posts.lock().unwrap().is_empty());

    // A switchover while the provider is down: the new active node keeps
    // trying; the provider comes back and takes each message once.
    wait_shadow_equal(&pair);
    pair.nodes[0].kill9();
    pair.wait_until(Duration::from_secs(10), "b serves", |p| {
        serving(&p.nodes[1].status())
    });
    std::thread::sleep(Duration::from_millis(500));
    provider.down.store(false, Ordering::SeqCst);
    let sue_b = sue.on(&b);
    wait_for(
        &pair,
        Duration::from_secs(20),
        "every message delivered",
        || {
            let (_, ix) = sue_b.get(&format!("/api/interactions/{id}"));
            agent_lines(&ix)
                .iter()
                .all(|(_, delivery)| delivery == "Delivered")
                .then_some(())
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    let posted: Vec<String> = provider
        .posts
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            let v: Value = serde_json::from_slice(body).unwrap();
            v["message_id"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    let mut sorted = posted.clone();
    sorted.sort();
    assert_eq!(sorted, ["b0", "b1", "b2"], "each once: {posted:?}");
}

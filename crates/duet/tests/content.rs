//! Large content through a real pair, driven as a customer's browser and
//! a sending mail server would, from the API documents alone (plain HTTP
//! with ureq, SMTP with lettre; not `duet-client`): a 25 MiB file shared
//! in a chat, and another cut off by a kill -9 of the active node and
//! sent again to the new one; a 17 MiB attachment by SMTP, answered 250
//! only once both nodes hold it, and one cut off by a kill -9 and sent
//! again. Afterwards each file and attachment downloads whole from the
//! node serving, once in its transcript, and both nodes' states are
//! equal, their chunks with them (the digest names every chunk, and a
//! chunk's name is the SHA-256 of its bytes, checked as it is stored).

mod harness;

use std::time::{Duration, Instant};

use harness::Pair;
use harness::contact::{AGENT_PASSWORD, Api, wait_for, wait_shadow_equal};
use harness::content::{bytes as content, email};
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

fn pair() -> Pair {
    harness::contact::contact_pair()
}

/// The backup holds every change as it is made (so an acknowledgement
/// means both nodes hold it).
fn in_sync(pair: &Pair) {
    wait_for(pair, Duration::from_secs(30), "the pair in sync", || {
        harness::in_sync(pair).then_some(())
    });
}

fn serving(pair: &Pair, node: usize) {
    wait_for(pair, Duration::from_secs(20), "the node serving", || {
        harness::serving(&pair.nodes[node].status()).then_some(())
    });
}

/// Shares `bytes` as file `message_id` in chat `id` on `base`: the
/// status, or the error that cut the request off.
fn upload(
    base: &str,
    id: &str,
    token: &str,
    message_id: &str,
    bytes: &[u8],
) -> Result<u16, String> {
    harness::agent(Duration::from_secs(60))
        .post(&format!(
            "{base}/api/chats/{id}/files?name=photo.jpg&message_id={message_id}"
        ))
        .header("x-duet-token", token)
        .header("content-type", "image/jpeg")
        .send(bytes)
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// How many times message `message_id` is in the chat's transcript.
fn in_transcript(base: &str, id: &str, token: &str, message_id: &str) -> usize {
    let (code, chat) = Api::new(base).get(&format!("/api/chats/{id}?token={token}"));
    assert_eq!(code, 200, "{chat}");
    chat["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["id"] == message_id)
        .count()
}

#[test]
fn a_25_mib_file_shared_in_a_chat_survives_a_kill_mid_upload_whole_and_once() {
    let mut pair = pair();
    let (a, b) = (pair.nodes[0].url(), pair.nodes[1].url());
    let (code, chat) = Api::new(&a).post("/api/chats", json!({"queue": "Sales", "name": "Carol"}));
    assert_eq!(code, 200, "{chat}");
    let id = chat["id"].as_str().unwrap().to_string();
    let token = chat["token"].as_str().unwrap().to_string();
    in_sync(&pair);

    // A whole 25 MiB photo (the default content_bytes_max).
    let first = content(25 * MIB, 1);
    assert_eq!(upload(&a, &id, &token, "f1", &first), Ok(200));
    wait_shadow_equal(&pair);

    // Another, cut off by a kill -9 of the active node part way.
    let second = content(25 * MIB, 2);
    let (a_up, id_up, token_up, bytes_up) = (a.clone(), id.clone(), token.clone(), second.clone());
    let started = Instant::now();
    let cut = std::thread::spawn(move || upload(&a_up, &id_up, &token_up, "f2", &bytes_up));
    std::thread::sleep(Duration::from_millis(300));
    pair.nodes[0].kill9();
    let first_try = cut.join().expect("the upload thread");
    eprintln!(
        "the upload cut by the kill: {first_try:?} after {:?}",
        started.elapsed()
    );
    serving(&pair, 1);
    // The customer sends it again, to the node serving now: kept once,
    // whether or not the first try was acknowledged.
    assert_eq!(upload(&b, &id, &token, "f2", &second), Ok(200));

    let file = |base: &str, message_id: &str| {
        let path = format!("/api/chats/{id}/files/{message_id}");
        Api::new(base).get_bytes(&path, &[("x-duet-token", &token)])
    };
    for (message_id, bytes) in [("f1", &first), ("f2", &second)] {
        let (code, got) = file(&b, message_id);
        assert_eq!(code, 200);
        assert!(got == *bytes, "{message_id}: {} bytes back", got.len());
        assert_eq!(
            in_transcript(&b, &id, &token, message_id),
            1,
            "{message_id}"
        );
    }

    // The old active node comes back as the backup: both nodes hold the
    // same state and chunks; then it serves again and gives both back.
    pair.nodes[0].start(&[]);
    in_sync(&pair);
    wait_shadow_equal(&pair);
    let (code, body) = pair.nodes[0].post(
        "/api/switch",
        json!({}),
        Some((harness::USER, harness::PASSWORD)),
    );
    assert_eq!(code, 202, "{body}");
    serving(&pair, 0);
    for (message_id, bytes) in [("f1", &first), ("f2", &second)] {
        let (code, got) = wait_for(&pair, Duration::from_secs(10), "a download on a", || {
            let (code, got) = file(&a, message_id);
            (code == 200).then_some((code, got))
        });
        assert_eq!(code, 200);
        assert!(got == *bytes, "{message_id} on a: {} bytes back", got.len());
        assert_eq!(in_transcript(&a, &id, &token, message_id), 1);
    }
    // The largest content is a setting: at 1 MiB, a 2 MiB file is
    // refused (413) and nothing of it is kept; 1 MiB is taken.
    let (code, body) = pair.config_put(
        0,
        "/config/Interactions",
        "Folder",
        json!({"content_bytes_max": (MIB).to_string()}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let (code, shadow) = Api::new(&a).get("/api/shadow");
    assert_eq!(code, 200);
    assert_eq!(upload(&a, &id, &token, "f3", &content(2 * MIB, 5)), Ok(413));
    assert_eq!(Api::new(&a).get("/api/shadow").1, shadow, "nothing kept");
    assert_eq!(upload(&a, &id, &token, "f4", &content(MIB, 6)), Ok(200));
    wait_shadow_equal(&pair);
    pair.assert_invariants();
}

#[test]
fn a_17_mib_attachment_by_smtp_is_answered_250_only_once_both_nodes_hold_it() {
    use lettre::{SmtpTransport, Transport};
    let mut pair = pair();
    let smtp = |pair: &Pair, node: usize| {
        SmtpTransport::builder_dangerous("127.0.0.1")
            .port(pair.nodes[node].placement.smtp_port)
            .timeout(Some(Duration::from_secs(60)))
            .build()
    };
    // 17 MiB of attachment is about 23 MiB of MIME (base64).
    let first = content(17 * MIB, 3);
    in_sync(&pair);
    let sent = smtp(&pair, 0)
        .send(&email(&first, "scans-1"))
        .unwrap_or_else(|e| panic!("250: {e:?}\n{}", pair.logs()));
    assert!(sent.is_positive());
    // 250 came once both nodes held every chunk and the email: a kill -9
    // now loses nothing.
    pair.nodes[0].kill9();
    serving(&pair, 1);
    let b = pair.nodes[1].url();
    let second = content(17 * MIB, 4);
    pair.nodes[0].start(&[]);
    in_sync(&pair);
    wait_shadow_equal(&pair);

    // A second, cut off by a kill -9 of the active node (b) part way; the
    // sending server tries again at the node serving (a).
    let cut_email = email(&second, "scans-2");
    let port_b = pair.nodes[1].placement.smtp_port;
    let cut = std::thread::spawn(move || {
        SmtpTransport::builder_dangerous("127.0.0.1")
            .port(port_b)
            .timeout(Some(Duration::from_secs(60)))
            .build()
            .send(&cut_email)
            .map(|r| r.is_positive())
            .map_err(|e| e.to_string())
    });
    std::thread::sleep(Duration::from_millis(300));
    pair.nodes[1].kill9();
    eprintln!(
        "the email cut by the kill: {:?}",
        cut.join().expect("the SMTP thread")
    );
    serving(&pair, 0);
    let a = pair.nodes[0].url();
    wait_for(
        &pair,
        Duration::from_secs(30),
        "the email taken again",
        || smtp(&pair, 0).send(&email(&second, "scans-2")).ok(),
    );

    // alice takes both emails on a; each attachment downloads whole.
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let (code, body) = alice.post("/api/agent/login", json!({"media": ["email"]}));
    assert_eq!(code, 200, "{body}");
    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < 2 {
        let offered = wait_for(&pair, Duration::from_secs(15), "an email offered", || {
            let (_, me) = alice.get("/api/agent");
            me["interactions"]
                .as_array()?
                .iter()
                .find(|ix| !seen.iter().any(|s| s["id"] == ix["id"]))
                .cloned()
        });
        let id = offered["id"].as_str().unwrap().to_string();
        let (code, body) = alice.post(&format!("/api/interactions/{id}/accept"), json!({}));
        assert_eq!(code, 200, "{body}");
        let (_, full) = alice.get(&format!("/api/interactions/{id}"));
        seen.push(full);
    }
    let mut by_message_id: Vec<(String, Vec<u8>)> = seen
        .iter()
        .map(|ix| {
            let id = ix["id"].as_str().unwrap();
            let attachment = ix["content"]["Email"]["attachments"][0]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no attachment: {ix}"));
            let (code, bytes) =
                alice.get_bytes(&format!("/api/interactions/{id}/files/{attachment}"), &[]);
            assert_eq!(code, 200);
            (ix["attributes"]["message_id"].to_string(), bytes)
        })
        .collect();
    by_message_id.sort();
    for ((message_id, got), (sent_id, sent)) in by_message_id
        .iter()
        .zip([("scans-1", &first), ("scans-2", &second)])
    {
        assert!(message_id.contains(sent_id), "{message_id} for {sent_id}");
        assert!(got == sent, "{sent_id}: {} bytes", got.len());
    }
    // Sent twice (the cut try may have been taken): one interaction each,
    // none left waiting.
    let sue = Api::login(&a, "sue", AGENT_PASSWORD);
    let (_, queues) = sue.get("/api/queues");
    let sales = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "Sales")
        .unwrap()
        .clone();
    assert_eq!(sales["figures"]["waiting"], 0, "{sales}");
    pair.nodes[1].start(&[]);
    wait_shadow_equal(&pair);
    drop(b);
    pair.assert_invariants();
}

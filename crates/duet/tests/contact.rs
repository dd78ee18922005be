//! The contact center on a real pair: a chat routed to an agent and
//! worked over WebSockets and REST, email by SMTP with HTML and an
//! attachment, a callback, signed SMS webhooks, bad input refused; after
//! each, the backup's shadow equals the active node's state. Then the
//! backup restarts and a switchover (kill -9): nothing acknowledged is
//! lost and the new active node carries on.

mod harness;

use std::time::Duration;

use harness::contact::{
    AGENT_PASSWORD, Api, Capture, HttpCapture, Socket, set_up_directory, signature, wait_for,
    wait_shadow_equal,
};
use harness::{Pair, Setup, fast_params};
use serde_json::{Value, json};

fn pair() -> Pair {
    harness::contact::contact_pair()
}

fn ws_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.replace("http://", "ws://"))
}

/// The messages of a transcript as (sender, body) pairs.
fn transcript(chat: &Value) -> Vec<(String, String)> {
    chat["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["sender"].to_string(),
                m["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_chat_is_offered_accepted_worked_and_wrapped_up_and_the_backup_shadows_every_step() {
    let pair = pair();
    let a = pair.nodes[0].url();
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let (code, body) = alice.post("/api/agent/login", json!({"media": ["chat"]}));
    assert_eq!(code, 200, "{body}");
    let mut desk = Socket::connect(&ws_url(
        &a,
        &format!("/api/agent/ws?token={}", alice.token.clone().unwrap()),
    ));
    let state = desk
        .next(Duration::from_secs(5))
        .expect("the agent's state");
    assert_eq!(state["type"], "state");
    assert_eq!(state["agent"]["agent"]["status"], "Available", "{state}");

    // A customer starts a chat; the router offers it to alice.
    let customer = Api::new(&a);
    let (code, started) = customer.post(
        "/api/chats",
        json!({"queue": "Sales", "name": "Carol", "client_id": "carol-chat-1", "client_secret": "carol-secret-0123456789"}),
    );
    assert_eq!(code, 200, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    let token = started["token"].as_str().unwrap().to_string();
    // Starting it again with the same client id creates nothing new.
    let (code, again) = customer.post(
        "/api/chats",
        json!({"queue": "Sales", "name": "Carol", "client_id": "carol-chat-1", "client_secret": "carol-secret-0123456789"}),
    );
    assert_eq!((code, &again["id"]), (200, &started["id"]), "{again}");
    let offer = desk.until(Duration::from_secs(5), |m| {
        m["change"]["Offer"]["id"] == id.as_str()
    });
    assert_eq!(offer["change"]["Offer"]["agent"], "alice");
    // The offer says what it offers.
    assert_eq!(offer["media"], "chat", "{offer}");

    // Accepting what was offered to another is refused (not bob's) and
    // changes nothing.
    let bob = Api::login(&a, "bob", AGENT_PASSWORD);
    let (code, body) = bob.post(&format!("/api/interactions/{id}/accept"), json!({}));
    assert_eq!(code, 403, "{body}");
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/accept"),
        json!({"client_id": "alice-accept-1"}),
    );
    assert_eq!(code, 200, "{body}");

    // The customer's socket: messages both ways, each once.
    let mut chat = Socket::connect(&ws_url(&a, &format!("/api/chats/{id}/ws?token={token}")));
    assert_eq!(
        chat.next(Duration::from_secs(5)).expect("the chat's state")["type"],
        "state"
    );
    chat.send(json!({"message_id": "c1", "body": "Hello, I want to buy"}));
    let ack = chat.until(Duration::from_secs(5), |m| m["type"] == "ack");
    assert_eq!(ack["message_id"], "c1");
    // Sent again after a lost answer: kept once.
    chat.send(json!({"message_id": "c1", "body": "Hello, I want to buy"}));
    chat.until(Duration::from_secs(5), |m| m["type"] == "ack");
    desk.until(Duration::from_secs(5), |m| {
        m["change"]["Message"]["message_id"] == "c1"
    });
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/message"),
        json!({"message_id": "a1", "body": "Welcome! What would you like?"}),
    );
    assert_eq!(code, 200, "{body}");
    chat.until(Duration::from_secs(5), |m| {
        m["change"]["Message"]["id"] == "a1"
    });
    let (code, body) = customer.post_with(
        &format!("/api/chats/{id}/delivery"),
        json!({"message_id": "a1", "delivery": "Read"}),
        &[("x-duet-token", &token)],
    );
    assert_eq!(code, 200, "{body}");
    // The customer shares a file: it joins the transcript and alice
    // downloads it whole; too large a file is refused.
    let receipt: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let upload = |bytes: &[u8]| {
        let mut r = harness::api_agent()
            .post(&format!(
                "{a}/api/chats/{id}/files?name=receipt.pdf&message_id=cf1&token={token}"
            ))
            .header("content-type", "application/pdf")
            .send(bytes)
            .expect("upload");
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    };
    let (code, body) = upload(&receipt);
    assert_eq!(code, 200, "{body}");
    // Past the setting content_bytes_max (25 MiB by default): refused
    // before any of it is kept.
    let (code, _) = upload(&vec![0u8; 25 * 1024 * 1024 + 1]);
    assert_eq!(code, 413);
    desk.until(Duration::from_secs(5), |m| {
        m["change"]["FileShared"]["message_id"] == "cf1"
    });
    let mut got = harness::api_agent()
        .get(&format!("{a}/api/interactions/{id}/files/cf1"))
        .header(
            "authorization",
            &format!("Bearer {}", alice.token.clone().unwrap()),
        )
        .call()
        .expect("download");
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert_eq!(
        got.body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .unwrap(),
        receipt
    );
    // bob is not on this chat.
    let (code, _) = bob.get(&format!("/api/interactions/{id}/files/cf1"));
    assert_eq!(code, 403);

    // Another conversation's token does not open this one.
    let (code, _) = customer.post_with(
        &format!("/api/chats/{id}/messages"),
        json!({"message_id": "x", "body": "intruder"}),
        &[("x-duet-token", "not-a-token")],
    );
    assert_eq!(code, 401);
    wait_shadow_equal(&pair);

    // The customer leaves; alice wraps up with one of the queue's codes.
    let (code, body) = customer.post_with(
        &format!("/api/chats/{id}/leave"),
        json!({}),
        &[("x-duet-token", &token)],
    );
    assert_eq!(code, 200, "{body}");
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/wrap-up"),
        json!({"code": "bargain"}),
    );
    assert_eq!(code, 400, "a code the queue does not have: {body}");
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/wrap-up"),
        json!({"code": "sale", "notes": "two widgets"}),
    );
    assert_eq!(code, 200, "{body}");
    // Replying to a closed chat is refused.
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/message"),
        json!({"message_id": "a2", "body": "still there?"}),
    );
    assert_eq!(code, 409, "{body}");

    // The transcript: each message once, in order, with the status line.
    let (code, chat_view) = customer.get(&format!("/api/chats/{id}?token={token}"));
    assert_eq!(code, 200, "{chat_view}");
    let lines = transcript(&chat_view);
    let customer_says: Vec<_> = lines
        .iter()
        .filter(|(_, b)| b == "Hello, I want to buy")
        .collect();
    assert_eq!(customer_says.len(), 1, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|(_, b)| b == "Welcome! What would you like?"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(s, b)| s.contains("System") && b.contains("left")),
        "{lines:?}"
    );
    assert_eq!(chat_view["closed"], true);
    let a1 = chat_view["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "a1")
        .unwrap();
    assert_eq!(a1["delivery"], "Read");

    // The supervisor's figures count it.
    let sue = Api::login(&a, "sue", AGENT_PASSWORD);
    let (code, queues) = sue.get("/api/queues");
    assert_eq!(code, 200, "{queues}");
    let sales = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "Sales")
        .unwrap();
    assert_eq!(sales["figures"]["waiting"], 0, "{sales}");
    // An agent is not a supervisor.
    assert_eq!(alice.get("/api/queues").0, 403);
    let shadow = wait_shadow_equal(&pair);
    assert!(shadow["position"][1].as_u64().unwrap() > 10, "{shadow}");

    // What an administrator looks at on the command line.
    let ctl = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--user", "sue", "--password", AGENT_PASSWORD]);
        let out = pair.ctl(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let queues = ctl(&["queues"]);
    assert!(queues.contains("Sales"), "{queues}");
    let agents = ctl(&["agents"]);
    assert!(
        agents.contains("alice") && agents.contains("bob"),
        "{agents}"
    );
    let history = ctl(&["interaction", &id]);
    for kind in ["Queued", "Offered", "Connected", "WrapUp"] {
        assert!(history.contains(kind), "{kind} not in\n{history}");
    }
    assert!(history.contains("Hello, I want to buy"), "{history}");

    // The API describes itself.
    let (code, document) = Api::new(&a).get("/api/openapi.json");
    assert_eq!(code, 200);
    for path in [
        "/api/chats",
        "/api/interactions/{id}/{action}",
        "/api/agent/ws",
        "/api/webhooks/{kind}",
        "/api/queues",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }
    assert!(document["components"]["schemas"]["Action"].is_object());

    // What an operator graphs.
    let (code, metrics) = Api::new(&a).get("/metrics");
    assert_eq!(code, 200);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    for wanted in [
        "duet_interactions_created_total{media=\"chat\"} 1",
        "duet_offers_total{queue=\"Sales\"} 1",
        "duet_interactions{media=\"chat\",state=\"closed\"} 1",
        "duet_changes_acknowledged_total{state=\"interactions\"}",
        "duet_change_ack_seconds_bucket",
        "duet_store_commit_seconds_count",
        "duet_queue_wait_seconds_count{queue=\"Sales\"} 1",
        "duet_http_requests_total{route=\"/api/chats\",method=\"POST\",status=\"200\"} 2",
        "duet_websocket_connections{kind=\"agent\"} 1",
        "duet_serving 1",
    ] {
        assert!(metrics.contains(wanted), "{wanted} not in\n{metrics}");
    }
    let (_, backup_metrics) = Api::new(&pair.nodes[1].url()).get("/metrics");
    assert!(
        backup_metrics
            .as_str()
            .unwrap_or_default()
            .contains("duet_link_round_trip_seconds_count"),
        "{backup_metrics}"
    );
}

#[test]
fn email_by_smtp_keeps_html_sanitised_and_the_attachment_and_bad_input_is_refused() {
    use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
    use lettre::{Message, SmtpTransport, Transport};
    let pair = pair();
    let smtp = |node: usize| {
        SmtpTransport::builder_dangerous("127.0.0.1")
            .port(pair.nodes[node].placement.smtp_port)
            .timeout(Some(Duration::from_secs(10)))
            .build()
    };
    let attachment: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let message = Message::builder()
        .from("Dave <dave@customer.test>".parse().unwrap())
        .to("sales@example.test".parse().unwrap())
        .subject("Quote please")
        .message_id(Some("<quote-1@customer.test>".into()))
        .multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain("Please send a quote.".to_string()))
                        .singlepart(SinglePart::html(
                            "<p>Please send a <b>quote</b>.</p><script>alert(1)</script><img src=x onerror=alert(2)>".to_string(),
                        )),
                )
                .singlepart(Attachment::new("specs.bin".into()).body(attachment.clone(), ContentType::parse("application/octet-stream").unwrap())),
        )
        .unwrap();
    // The backup takes no email: a temporary refusal, so the sender retries.
    let refused = smtp(1).send(&message).expect_err("the backup refuses");
    assert!(refused.is_transient(), "{refused:?}");
    let sent = smtp(0)
        .send(&message)
        .expect("the active node takes the email");
    assert!(sent.is_positive());
    // Unknown recipients and malformed messages are refused.
    let stranger = Message::builder()
        .from("dave@customer.test".parse().unwrap())
        .to("nobody@example.test".parse().unwrap())
        .subject("?")
        .body("?".to_string())
        .unwrap();
    assert!(smtp(0).send(&stranger).is_err());

    let sue = Api::login(&pair.nodes[0].url(), "sue", AGENT_PASSWORD);
    wait_for(
        &pair,
        Duration::from_secs(5),
        "the email's interaction",
        || {
            let (_, queues) = sue.get("/api/queues");
            let waiting =
                queues.as_array()?.iter().find(|q| q["queue"] == "Sales")?["figures"]["waiting"]
                    .as_u64()?;
            (waiting == 1).then_some(())
        },
    );
    // Sent again (a lost 250): still one interaction.
    smtp(0).send(&message).expect("sent again");
    let alice = Api::login(&pair.nodes[0].url(), "alice", AGENT_PASSWORD);
    alice.post("/api/agent/login", json!({"media": ["email"]}));
    let offered = wait_for(
        &pair,
        Duration::from_secs(5),
        "the email offered to alice",
        || {
            let (_, me) = alice.get("/api/agent");
            me["interactions"].as_array()?.first().cloned()
        },
    );
    let id = offered["id"].as_str().unwrap().to_string();
    let (code, full) = alice.get(&format!("/api/interactions/{id}"));
    assert_eq!(code, 200, "{full}");
    let email = &full["content"]["Email"];
    let html = email["html"].as_str().unwrap();
    assert!(html.contains("<b>quote</b>"), "{html}");
    assert!(
        !html.contains("script") && !html.contains("onerror"),
        "{html}"
    );
    // The attachment and the message as received are downloads.
    let download = |file: &str| {
        let (code, bytes) = alice.get_bytes(&format!("/api/interactions/{id}/files/{file}"), &[]);
        assert_eq!(code, 200, "{file}");
        bytes
    };
    let attachment_id = email["attachments"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(download(&attachment_id), attachment);
    assert!(
        String::from_utf8_lossy(&download("mime")).contains("<script>"),
        "the MIME is kept as received"
    );
    let (code, body) = alice.post(&format!("/api/interactions/{id}/accept"), json!({}));
    assert_eq!(code, 200, "{body}");
    // A large attachment is stored first (held on both nodes), then named
    // by the draft; a small one may come whole in it.
    let catalogue = harness::content::bytes(3 * 1024 * 1024, 7);
    let (code, blob) =
        alice.post_bytes(&format!("/api/interactions/{id}/content"), &catalogue, &[]);
    assert_eq!(code, 200, "{blob}");
    assert_eq!(blob["size_bytes"], 3 * 1024 * 1024, "{blob}");
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/draft"),
        json!({"reply_id": "r1", "html": "<p>Our <i>quote</i></p>", "text": "Our quote",
               "attachments": [{"id": "q", "name": "quote.txt", "content_type": "text/plain", "bytes": [52, 50]},
                               {"id": "c", "name": "catalogue.pdf", "content_type": "application/pdf", "content": blob}]}),
    );
    assert_eq!(code, 200, "{body}");
    // Content that was never stored (or was let go) is refused for now
    // (503): stored again, the draft goes.
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/draft"),
        json!({"reply_id": "r2", "html": "", "text": "x",
               "attachments": [{"id": "n", "name": "n.pdf", "content_type": "application/pdf",
                                "content": {"size_bytes": 1, "chunks": ["00".repeat(32)]}}]}),
    );
    assert_eq!(code, 503, "{body}");
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/send"),
        json!({"reply_id": "r1"}),
    );
    assert_eq!(code, 200, "{body}");
    // The reply waits in the outbox until a relay is configured, then goes.
    let capture = Capture::start();
    let (code, body) = pair.config_put(
        0,
        "/config/Interactions",
        "Folder",
        json!({"smtp_relay": format!("127.0.0.1:{}", capture.port), "email_from": "Sales <sales@example.test>"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let relayed = wait_for(&pair, Duration::from_secs(10), "the reply relayed", || {
        capture.messages.lock().unwrap().first().cloned()
    });
    for wanted in [
        "To: dave@customer.test",
        "Subject: Re: Quote please",
        "In-Reply-To: <quote-1@customer.test>",
        "Our quote",
        "quote.txt",
        "catalogue.pdf",
    ] {
        assert!(relayed.contains(wanted), "{wanted} not in\n{relayed}");
    }
    wait_for(
        &pair,
        Duration::from_secs(5),
        "the reply marked relayed",
        || {
            let (_, full) = alice.get(&format!("/api/interactions/{id}"));
            full["content"]["Email"]["replies"][0]["relayed"]
                .as_str()
                .map(|_| ())
        },
    );
    assert_eq!(capture.messages.lock().unwrap().len(), 1, "relayed once");
    let (_, queues) = sue.get("/api/queues");
    assert_eq!(
        queues[0]["figures"]["waiting"], 0,
        "one interaction for the email sent twice: {queues}"
    );
    wait_shadow_equal(&pair);
}

#[test]
fn callbacks_and_signed_webhooks_become_interactions_and_survive_a_restart_and_a_switchover() {
    let mut pair = pair();
    let a = pair.nodes[0].url();
    let customer = Api::new(&a);
    let (code, cb) = customer.post(
        "/api/callbacks",
        json!({"queue": "Sales", "number": "+15550100", "name": "Erin", "client_id": "erin-cb", "client_secret": "erin-secret-0123456789"}),
    );
    assert_eq!(code, 200, "{cb}");
    let (code, body) = customer.post(
        "/api/callbacks",
        json!({"queue": "Nowhere", "number": "+15550100"}),
    );
    assert_eq!(code, 404, "an unknown queue: {body}");
    let (code, body) = customer.post("/api/callbacks", json!({"queue": "Sales", "number": " "}));
    assert_eq!(code, 400, "{body}");

    let inbound = |message_id: &str, text: &str| {
        serde_json::to_vec(&json!({"conversation": "+15550111", "queue": "Sales", "message_id": message_id, "text": text, "from": "+15550111"})).unwrap()
    };
    let first = inbound("sms-1", "Is the shop open?");
    let (code, sms) = customer.post_bytes(
        "/api/webhooks/sms",
        &first,
        &[("x-duet-signature", &signature(&pair, &first))],
    );
    assert_eq!(code, 200, "{sms}");
    // The provider retries: kept once.
    let (code, again) = customer.post_bytes(
        "/api/webhooks/sms",
        &first,
        &[("x-duet-signature", &signature(&pair, &first))],
    );
    assert_eq!((code, &again["id"]), (200, &sms["id"]), "{again}");
    let forged = inbound("sms-2", "forged");
    let (code, _) = customer.post_bytes(
        "/api/webhooks/sms",
        &forged,
        &[("x-duet-signature", &signature(&pair, b"something else"))],
    );
    assert_eq!(code, 401);
    let (code, _) = customer.post_bytes("/api/webhooks/sms", &forged, &[]);
    assert_eq!(code, 401);
    let before = wait_shadow_equal(&pair);

    // The backup restarts: it comes back with everything.
    pair.nodes[1].kill9();
    let second = inbound("sms-3", "Hello?");
    let (code, body) = customer.post_bytes(
        "/api/webhooks/sms",
        &second,
        &[("x-duet-signature", &signature(&pair, &second))],
    );
    assert_eq!(code, 200, "{body}");
    pair.nodes[1].start(&[]);
    let after_restart = wait_shadow_equal(&pair);
    assert_ne!(before, after_restart);

    // The active node is killed: the new active node has every
    // acknowledged interaction and message, and carries on.
    let sms_id = sms["id"].as_str().unwrap().to_string();
    let cb_id = cb["id"].as_str().unwrap().to_string();
    pair.nodes[0].kill9();
    let b = pair.nodes[1].url();
    let sue = Api::login(&b, "sue", AGENT_PASSWORD);
    wait_for(&pair, Duration::from_secs(10), "b serving", || {
        harness::serving(&pair.nodes[1].status()).then_some(())
    });
    let (code, ix) = sue.get(&format!("/api/interactions/{sms_id}"));
    assert_eq!(code, 200, "{ix}");
    let bodies: Vec<&str> = ix["content"]["Transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, ["Is the shop open?", "Hello?"]);
    assert_eq!(sue.get(&format!("/api/interactions/{cb_id}")).0, 200);
    // An agent signs in on the new active node and is offered work.
    let bob = Api::login(&b, "bob", AGENT_PASSWORD);
    let (code, body) = bob.post("/api/agent/login", json!({}));
    assert_eq!(code, 200, "{body}");
    wait_for(
        &pair,
        Duration::from_secs(5),
        "bob offered an interaction",
        || {
            let (_, me) = bob.get("/api/agent");
            (!me["interactions"].as_array()?.is_empty()).then_some(())
        },
    );

    // bob answers the SMS conversation; the provider gets his message,
    // signed, and it is marked delivered.
    let provider = HttpCapture::start();
    let (code, body) = pair.config_put(
        1,
        "/config/Interactions",
        "Folder",
        json!({"outbound_webhook": format!("http://127.0.0.1:{}/send", provider.port)}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    wait_for(
        &pair,
        Duration::from_secs(5),
        "the SMS offered to bob",
        || {
            let (_, me) = bob.get("/api/agent");
            me["interactions"]
                .as_array()?
                .iter()
                .any(|i| i["id"] == sms_id.as_str())
                .then_some(())
        },
    );
    let (code, body) = bob.post(&format!("/api/interactions/{sms_id}/accept"), json!({}));
    assert_eq!(code, 200, "{body}");
    let (code, body) = bob.post(
        &format!("/api/interactions/{sms_id}/message"),
        json!({"message_id": "b1", "body": "Yes, until six."}),
    );
    assert_eq!(code, 200, "{body}");
    let (sig, posted) = wait_for(
        &pair,
        Duration::from_secs(10),
        "the reply posted to the provider",
        || provider.posts.lock().unwrap().first().cloned(),
    );
    assert_eq!(
        sig,
        signature(&pair, &posted),
        "signed with the webhook secret"
    );
    let posted: Value = serde_json::from_slice(&posted).unwrap();
    assert_eq!(posted["text"], "Yes, until six.");
    assert_eq!(posted["conversation"], "+15550111");
    wait_for(&pair, Duration::from_secs(5), "the reply delivered", || {
        let (_, ix) = sue.get(&format!("/api/interactions/{sms_id}"));
        let last = ix["content"]["Transcript"].as_array()?.last()?.clone();
        (last["delivery"] == "Delivered").then_some(())
    });
    assert_eq!(provider.posts.lock().unwrap().len(), 1, "posted once");
}

#[test]
fn a_backup_restarted_after_many_interaction_changes_catches_up_from_the_stream() {
    let mut pair = pair();
    let a = pair.nodes[0].url();
    let customer = Api::new(&a);
    let (code, chat) = customer.post("/api/chats", json!({"queue": "Sales", "name": "Gil"}));
    assert_eq!(code, 200, "{chat}");
    let (id, token) = (
        chat["id"].as_str().unwrap().to_string(),
        chat["token"].as_str().unwrap().to_string(),
    );
    let say = |n: u32| {
        let (code, body) = customer.post_with(
            &format!("/api/chats/{id}/messages"),
            json!({"message_id": format!("g{n}"), "body": format!("line {n}")}),
            &[("x-duet-token", &token)],
        );
        assert_eq!(code, 200, "{body}");
    };
    // More interaction changes than a returning backup is sent to catch
    // up, long after the last configuration change.
    for n in 0..300 {
        say(n);
    }
    wait_shadow_equal(&pair);
    pair.nodes[1].kill9();
    for n in 300..320 {
        say(n);
    }
    pair.nodes[1].start(&[]);
    let shadow = wait_shadow_equal(&pair);
    assert!(shadow["position"][1].as_u64().unwrap() > 320, "{shadow}");
    let events = harness::event_messages(&pair.data_dir(1));
    assert!(
        !events.iter().any(|e| e.contains("Resynchronising")),
        "the backup knew where it stood, and caught up from the stream: {events:#?}"
    );
    let (_, chat_view) = customer.get(&format!("/api/chats/{id}?token={token}"));
    assert_eq!(chat_view["transcript"].as_array().unwrap().len(), 320);

    // And the other way: many configuration changes after the last
    // interaction change.
    for n in 0..300 {
        let (code, body) = pair.config_put(
            0,
            &format!("/config/Stations/s{n}"),
            "Station",
            json!({}),
            None,
        );
        assert_eq!(code, 200, "{body}");
    }
    wait_shadow_equal(&pair);
    pair.nodes[1].kill9();
    say(320);
    pair.nodes[1].start(&[]);
    wait_shadow_equal(&pair);
    let events = harness::event_messages(&pair.data_dir(1));
    assert!(
        !events.iter().any(|e| e.contains("Resynchronising")),
        "the backup caught up from the stream again: {events:#?}"
    );
}

#[test]
fn after_a_kill_9_an_agent_whose_desktop_reconnects_in_time_keeps_its_state_and_one_that_does_not_is_logged_out_with_50002()
 {
    let mut pair = pair();
    let (code, body) = pair.config_put(
        0,
        "/config/Interactions",
        "Folder",
        json!({"desktop_grace_s": "3"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let (a, b) = (pair.nodes[0].url(), pair.nodes[1].url());
    let desk = |api: &Api, base: &str| {
        let mut socket = Socket::connect(&ws_url(
            base,
            &format!("/api/agent/ws?token={}", api.token.clone().unwrap()),
        ));
        assert_eq!(
            socket.next(Duration::from_secs(5)).expect("state")["type"],
            "state"
        );
        socket
    };
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let bob = Api::login(&a, "bob", AGENT_PASSWORD);
    for agent in [&alice, &bob] {
        let (code, body) = agent.post("/api/agent/login", json!({"media": ["chat"]}));
        assert_eq!(code, 200, "{body}");
    }
    let (code, body) = alice.post(
        "/api/agent/status",
        json!({"status": "not_ready", "reason": "training"}),
    );
    assert_eq!(code, 200, "{body}");
    let _alice_desk = desk(&alice, &a);
    let _bob_desk = desk(&bob, &a);
    let sue = Api::login(&a, "sue", AGENT_PASSWORD);
    let desktop = |api: &Api, name: &str| {
        let (_, agents) = api.get("/api/agents");
        agents
            .as_array()
            .and_then(|all| all.iter().find(|x| x["name"] == name).cloned())
            .unwrap_or_default()
    };
    wait_for(
        &pair,
        Duration::from_secs(5),
        "both desktops attached on the backup too",
        || {
            let on_b = sue.on(&b);
            (desktop(&on_b, "alice")["desktop"] == "Attached"
                && desktop(&on_b, "bob")["desktop"] == "Attached")
                .then_some(())
        },
    );

    pair.nodes[0].kill9();
    wait_for(&pair, Duration::from_secs(10), "b serving", || {
        harness::serving(&pair.nodes[1].status()).then_some(())
    });
    // alice's desktop comes back on b at once, with the same session.
    let alice_b = alice.on(&b);
    let _alice_desk_b = desk(&alice_b, &b);
    let sue_b = sue.on(&b);
    let bob_state = wait_for(
        &pair,
        Duration::from_secs(15),
        "bob logged out after the grace",
        || {
            let bob = desktop(&sue_b, "bob");
            (bob["status"]["LoggedOut"]["reason_code"] == 50002).then_some(bob)
        },
    );
    assert_eq!(bob_state["logged_in"], json!([]), "{bob_state}");
    let alice_state = desktop(&sue_b, "alice");
    assert_eq!(alice_state["desktop"], "Attached", "{alice_state}");
    assert_eq!(
        alice_state["status"]["NotReady"]["reason"], "training",
        "{alice_state}"
    );
    assert_eq!(alice_state["logged_in"], json!(["chat"]), "{alice_state}");
    // bob logs in again with no trouble.
    let (code, body) = bob
        .on(&b)
        .post("/api/agent/login", json!({"media": ["chat"]}));
    assert_eq!(code, 200, "{body}");
}

#[test]
fn when_its_node_stops_serving_a_desktop_is_told_to_move_and_a_customer_message_is_refused_with_503()
 {
    let pair = pair();
    let a = pair.nodes[0].url();
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let mut desk = Socket::connect(&ws_url(
        &a,
        &format!("/api/agent/ws?token={}", alice.token.clone().unwrap()),
    ));
    assert_eq!(
        desk.next(Duration::from_secs(5)).expect("state")["type"],
        "state"
    );
    let (code, chat) = Api::new(&a).post("/api/chats", json!({"queue": "Sales", "name": "Ida"}));
    assert_eq!(code, 200, "{chat}");
    let (id, token) = (
        chat["id"].as_str().unwrap(),
        chat["token"].as_str().unwrap(),
    );
    let mut customer = Socket::connect(&ws_url(&a, &format!("/api/chats/{id}/ws?token={token}")));
    assert_eq!(
        customer.next(Duration::from_secs(5)).expect("state")["type"],
        "state"
    );

    let (code, body) = pair.nodes[1].post(
        "/api/switch",
        json!({}),
        Some((harness::USER, harness::PASSWORD)),
    );
    assert_eq!(code, 202, "{body}");
    // Told while connected, not only when it connects again.
    let moved = desk.until(Duration::from_secs(10), |m| m["type"] == "moved");
    assert_eq!(moved["active"], pair.nodes[1].name, "{moved}");
    // The customer's message on a, now the backup: refused with the
    // status a retry elsewhere needs, naming the node to go to.
    customer.send(json!({"message_id": "c1", "body": "still there?"}));
    let refused = customer.until(Duration::from_secs(5), |m| m["type"] == "error");
    assert_eq!(refused["status"], 503, "{refused}");
    assert_eq!(refused["message_id"], "c1", "{refused}");
    assert_eq!(refused["active"], pair.nodes[1].name, "{refused}");
}

/// A desktop that came to the backup while its active node did not answer
/// (hung: the backup is reconnecting) stays there as a view (the backup
/// may be about to take over); once the active node answers again the
/// desktop is told to move there, so it does not stay a view of a node
/// that does not serve it.
#[test]
fn a_desktop_on_a_backup_whose_active_node_hangs_stays_a_view_and_is_moved_once_it_answers() {
    // The backup never takes over in this test: it waits ten minutes to
    // reconnect before it would.
    let params = fast_params().replace(
        "\"Duet Reconnect Timeout ms\" = 300",
        "\"Duet Reconnect Timeout ms\" = 600000\n\"Switchover Unreachable Primary Ping Count\" = -1",
    );
    assert!(
        params.contains("600000"),
        "the fast profile's reconnect timeout"
    );
    let mut pair = Pair::loopback(Setup {
        params,
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    let (a, b) = (pair.nodes[0].url(), pair.nodes[1].url());
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    wait_shadow_equal(&pair);

    pair.nodes[0].signal("STOP");
    wait_for(
        &pair,
        Duration::from_secs(20),
        "the backup reconnecting to its active node",
        || {
            let status = pair.nodes[1].status()?;
            (format!("{:?}", status.state) == "Reconnecting").then_some(())
        },
    );
    let token = alice.token.clone().unwrap();
    let mut desk = Socket::connect(&ws_url(&b, &format!("/api/agent/ws?token={token}")));
    let first = desk.next(Duration::from_secs(5)).expect("a first frame");
    assert_eq!(first["type"], "state", "a view while cut off: {first}");
    let status = pair.nodes[1].status().expect("b answers");
    assert!(!status.serving, "b must not have taken over: {status:?}");

    pair.nodes[0].signal("CONT");
    let moved = desk.until(Duration::from_secs(20), |m| m["type"] == "moved");
    assert_eq!(moved["active"], pair.nodes[0].name, "{moved}");
    assert!(harness::serving(&pair.nodes[0].status()), "a still serves");
    pair.assert_invariants();
}

#[test]
fn a_customer_socket_resumes_from_the_last_position_it_saw_on_either_node() {
    let mut pair = pair();
    let (a, b) = (pair.nodes[0].url(), pair.nodes[1].url());
    let customer = Api::new(&a);
    let (code, chat) = customer.post("/api/chats", json!({"queue": "Sales", "name": "Hal"}));
    assert_eq!(code, 200, "{chat}");
    let (id, token) = (
        chat["id"].as_str().unwrap().to_string(),
        chat["token"].as_str().unwrap().to_string(),
    );
    let say = |base: &str, n: u32| {
        let (code, body) = Api::new(base).post_with(
            &format!("/api/chats/{id}/messages"),
            json!({"message_id": format!("h{n}"), "body": format!("line {n}")}),
            &[("x-duet-token", &token)],
        );
        assert_eq!(code, 200, "{body}");
    };
    // Reads the socket until `n` messages came; their ids and the last
    // position, `<epoch>.<seq>`.
    let read = |socket: &mut Socket, n: usize| {
        let mut ids = Vec::new();
        let mut last = String::new();
        while ids.len() < n {
            let m = socket.until(Duration::from_secs(5), |m| m["type"] == "change");
            last = format!("{}.{}", m["epoch"], m["seq"]);
            if let Some(mid) = m["change"]["Message"]["id"].as_str() {
                ids.push(mid.to_string());
            }
        }
        (ids, last)
    };
    let url = |base: &str, after: Option<&str>| {
        let after = after.map(|s| format!("&after={s}")).unwrap_or_default();
        ws_url(base, &format!("/api/chats/{id}/ws?token={token}{after}"))
    };
    let mut socket = Socket::connect(&url(&a, None));
    assert_eq!(
        socket.next(Duration::from_secs(5)).unwrap()["type"],
        "state"
    );
    for n in 0..5 {
        say(&a, n);
    }
    let (ids, seen) = read(&mut socket, 5);
    assert_eq!(ids, ["h0", "h1", "h2", "h3", "h4"]);
    drop(socket);
    // Away for a while: it comes back and gets exactly what it missed.
    for n in 5..10 {
        say(&a, n);
    }
    let mut socket = Socket::connect(&url(&a, Some(&seen)));
    let resume = socket.next(Duration::from_secs(5)).unwrap();
    assert_eq!(resume["type"], "resume", "{resume}");
    let (ids, seen) = read(&mut socket, 5);
    assert_eq!(ids, ["h5", "h6", "h7", "h8", "h9"]);
    drop(socket);
    // A position the node cannot vouch for gets the state again: a bare
    // sequence number (another epoch may have given it to another change),
    // the same number in another epoch, or one past what it holds.
    let (epoch, seq) = seen.split_once('.').unwrap();
    let seq: u64 = seq.parse().unwrap();
    for unvouched in [
        seq.to_string(),
        format!("{}.{seq}", epoch.parse::<u64>().unwrap() + 1),
        format!("{epoch}.{}", seq + 1_000),
    ] {
        let mut socket = Socket::connect(&url(&a, Some(&unvouched)));
        let first = socket.next(Duration::from_secs(5)).unwrap();
        assert_eq!(first["type"], "state", "after={unvouched}: {first}");
    }
    // Messages sent while it was away, then the active node is killed:
    // on the new active node it resumes where it was, nothing lost or
    // doubled.
    for n in 10..13 {
        say(&a, n);
    }
    wait_shadow_equal(&pair);
    pair.nodes[0].kill9();
    wait_for(&pair, Duration::from_secs(10), "b serving", || {
        harness::serving(&pair.nodes[1].status()).then_some(())
    });
    let mut socket = Socket::connect(&url(&b, Some(&seen)));
    assert_eq!(
        socket.next(Duration::from_secs(5)).unwrap()["type"],
        "resume"
    );
    say(&b, 13);
    let (ids, _) = read(&mut socket, 4);
    assert_eq!(ids, ["h10", "h11", "h12", "h13"]);
    assert!(
        socket.next(Duration::from_millis(500)).is_none(),
        "nothing doubled"
    );
}

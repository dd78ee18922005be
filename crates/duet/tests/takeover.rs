//! Takeover of live interactions on a real pair (seed 004, "Recovery of
//! ACD email, chat, and callback interactions during switchover"): a
//! controlled switchover keeps a chat with its file and status lines, an
//! email with its HTML, attachment and draft, and a callback, all with
//! their ids and creation times; the statistics interval splits into two
//! records, equal on both nodes. With the recovery parameters turned off
//! (at once, no restart), an uncontrolled switchover gives the seed's
//! losses instead, so the difference shows.

mod harness;

use std::time::Duration;

use harness::contact::{
    AGENT_PASSWORD, Api, Socket, send_email, set_up_directory, wait_for, wait_shadow_equal,
};
use harness::{Pair, Setup, fast_params};
use serde_json::{Value, json};

fn ws_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.replace("http://", "ws://"))
}

/// The interaction offered to `agent` that is not in `known`.
fn next_offer(pair: &Pair, agent: &Api, known: &[String]) -> String {
    wait_for(pair, Duration::from_secs(10), "an offer", || {
        let (_, me) = agent.get("/api/agent");
        me["interactions"]
            .as_array()?
            .iter()
            .filter_map(|i| i["id"].as_str())
            .find(|id| !known.iter().any(|k| k == id))
            .map(str::to_string)
    })
}

fn serving_node(pair: &Pair, node: usize) {
    wait_for(pair, Duration::from_secs(15), "the new active node", || {
        harness::serving(&pair.nodes[node].status()).then_some(())
    });
}

fn intervals(api: &Api) -> Value {
    let (code, body) = api.get("/api/statistics/intervals");
    assert_eq!(code, 200, "{body}");
    body
}

/// Sales' totals over every record and the interval in progress.
fn sales_total(view: &Value, field: &str) -> u64 {
    view["records"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(view["current"].as_array().into_iter().flatten())
        .filter(|r| r["queue"] == "Sales")
        .map(|r| r["totals"][field].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn a_switchover_keeps_every_live_interaction_whole_and_with_recovery_off_the_seeds_losses_show() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    let (a, b) = (pair.nodes[0].url(), pair.nodes[1].url());
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let sue = Api::login(&a, "sue", AGENT_PASSWORD);
    let (code, body) = alice.post(
        "/api/agent/login",
        json!({"media": ["chat", "email", "callback"]}),
    );
    assert_eq!(code, 200, "{body}");

    // A chat, accepted, with messages both ways and a file.
    let customer = Api::new(&a);
    let (code, chat) = customer.post("/api/chats", json!({"queue": "Sales", "name": "Ida"}));
    assert_eq!(code, 200, "{chat}");
    let chat_id = chat["id"].as_str().unwrap().to_string();
    let token = chat["token"].as_str().unwrap().to_string();
    // `after` is a position, `<epoch>.<seq>`.
    let chat_ws = |base: &str, after: &str| {
        ws_url(
            base,
            &format!("/api/chats/{chat_id}/ws?token={token}&after={after}"),
        )
    };
    let mut known = vec![next_offer(&pair, &alice, &[])];
    assert_eq!(known[0], chat_id);
    let act = |api: &Api, id: &str, action: &str, body: Value| {
        let (code, answer) = api.post(&format!("/api/interactions/{id}/{action}"), body);
        assert_eq!(code, 200, "{action}: {answer}");
    };
    act(&alice, &chat_id, "accept", json!({}));
    let say = |base: &str, message_id: &str| {
        let (code, body) = Api::new(base).post_with(
            &format!("/api/chats/{chat_id}/messages"),
            json!({"message_id": message_id, "body": format!("text {message_id}")}),
            &[("x-duet-token", &token)],
        );
        assert_eq!(code, 200, "{body}");
    };
    say(&a, "c1");
    act(
        &alice,
        &chat_id,
        "message",
        json!({"message_id": "a1", "body": "Hello Ida"}),
    );
    let receipt: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let uploaded = harness::api_agent()
        .post(&format!(
            "{a}/api/chats/{chat_id}/files?name=receipt.pdf&message_id=f1&token={token}"
        ))
        .header("content-type", "application/pdf")
        .send(&receipt[..])
        .expect("upload");
    assert_eq!(uploaded.status().as_u16(), 200);

    // An email with HTML and an attachment, accepted, with a draft reply.
    let attachment: Vec<u8> = (0..=255u8).cycle().take(8_000).collect();
    send_email(
        &pair,
        0,
        ("Dave <dave@customer.test>", "<quote-9@customer.test>"),
        "<p>A <b>quote</b>, please.</p>",
        &attachment,
    );
    let email_id = next_offer(&pair, &alice, &known);
    known.push(email_id.clone());
    act(&alice, &email_id, "accept", json!({}));
    act(
        &alice,
        &email_id,
        "draft",
        json!({"reply_id": "r1", "html": "<p>Our <i>quote</i></p>", "text": "Our quote", "attachments": []}),
    );

    // A callback, offered to alice and not answered yet.
    let (code, cb) = customer.post(
        "/api/callbacks",
        json!({"queue": "Sales", "number": "+15550100", "name": "Ida", "client_id": "ida-cb", "client_secret": "ida-secret-0123456789"}),
    );
    assert_eq!(code, 200, "{cb}");
    let callback_id = next_offer(&pair, &alice, &known);
    known.push(callback_id.clone());

    let before: Vec<Value> = known
        .iter()
        .map(|id| sue.get(&format!("/api/interactions/{id}")).1)
        .collect();
    let shadow = wait_shadow_equal(&pair);
    let seq_before = format!("{}.{}", shadow["position"][0], shadow["position"][1]);

    // A controlled switchover, asked of the backup.
    let (code, body) = pair.nodes[1].post(
        "/api/switch",
        json!({}),
        Some((harness::USER, harness::PASSWORD)),
    );
    assert_eq!(code, 202, "{body}");
    serving_node(&pair, 1);
    let sue_b = sue.on(&b);
    let alice_b = alice.on(&b);
    for (id, then) in known.iter().zip(&before) {
        let now = wait_for(
            &pair,
            Duration::from_secs(5),
            "the takeover applied",
            || {
                let (_, ix) = sue_b.get(&format!("/api/interactions/{id}"));
                (ix["seqno"] == 1).then_some(ix)
            },
        );
        assert_eq!(now["id"], then["id"]);
        assert_eq!(now["created_at_ms"], then["created_at_ms"], "{id}");
        assert_eq!(now["content"], then["content"], "{id}: content whole");
        assert_eq!(now["files"], then["files"], "{id}: files kept");
        let last = now["segments"].as_array().unwrap().last().unwrap();
        assert_eq!(last["seqno"], 1, "{id}: records after it carry seqno 1");
    }
    assert_eq!(before[0]["state"], json!({"Connected": {"agent": "alice"}}));
    let chat_now = sue_b.get(&format!("/api/interactions/{chat_id}")).1;
    assert_eq!(chat_now["state"], json!({"Connected": {"agent": "alice"}}));
    let email_now = sue_b.get(&format!("/api/interactions/{email_id}")).1;
    assert_eq!(
        email_now["content"]["Email"]["replies"][0]["html"],
        "<p>Our <i>quote</i></p>"
    );
    let (code, stored) = sue_b.get_bytes(&format!("/api/interactions/{email_id}/files/0"), &[]);
    assert_eq!(code, 200, "the attachment on b");
    assert_eq!(stored, attachment);
    // The offered callback is routed again, and alice takes it on b.
    wait_for(
        &pair,
        Duration::from_secs(10),
        "the callback offered again",
        || {
            let (_, ix) = sue_b.get(&format!("/api/interactions/{callback_id}"));
            ix["state"]["Offered"].is_object().then_some(())
        },
    );
    act(&alice_b, &callback_id, "accept", json!({}));
    // The customer's socket resumes on b; a message typed now arrives once.
    let mut socket = Socket::connect(&chat_ws(&b, &seq_before));
    assert_eq!(
        socket.next(Duration::from_secs(5)).unwrap()["type"],
        "resume"
    );
    say(&b, "c2");
    socket.until(Duration::from_secs(5), |m| {
        m["change"]["Message"]["id"] == "c2"
    });

    // The interval in progress was split; the records are the same on
    // both nodes, and they count the traffic once.
    let on_b = intervals(&sue_b);
    let split: Vec<&Value> = on_b["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["queue"] == "Sales" && r["ended_by"] == "takeover")
        .collect();
    assert!(!split.is_empty(), "{on_b}");
    assert_eq!(sales_total(&on_b, "entered"), 3, "{on_b}");
    assert_eq!(sales_total(&on_b, "answered"), 3, "{on_b}");
    wait_for(&pair, Duration::from_secs(10), "the backup is back", || {
        harness::in_sync(&pair).then_some(())
    });
    wait_shadow_equal(&pair);
    assert_eq!(
        intervals(&sue.on(&a))["records"],
        intervals(&sue_b)["records"]
    );

    // Recovery turned off, on the running pair.
    for name in [
        "Chat Interaction Recovery Enabled",
        "Mail Interaction Recovery Enabled",
        "Callback Interaction Recovery Enabled",
    ] {
        let (code, body) = pair.config_put(
            1,
            &format!("/config/Server Parameters/{name}"),
            "ServerParameter",
            json!({"value": "0"}),
            None,
        );
        assert_eq!(code, 200, "{name}: {body}");
    }
    let params = |node: usize| {
        let mut r = harness::api_agent()
            .get(&format!("{}/api/params", pair.nodes[node].url()))
            .call()
            .expect("params");
        r.body_mut().read_json::<Value>().unwrap()
    };
    pair.wait_until(Duration::from_secs(5), "recovery off on both", |_| {
        params(0)["chat_recovery"] == false && params(1)["callback_recovery"] == false
    });
    wait_shadow_equal(&pair);
    let now = wait_shadow_equal(&pair);
    let seq_now = format!("{}.{}", now["position"][0], now["position"][1]);

    // An uncontrolled switchover: the seed's losses.
    pair.nodes[1].kill9();
    serving_node(&pair, 0);
    let sue_a = sue.on(&a);
    let chat_after = wait_for(&pair, Duration::from_secs(5), "the chat ended", || {
        let (_, ix) = sue_a.get(&format!("/api/interactions/{chat_id}"));
        ix["state"]["Closed"].is_object().then_some(ix)
    });
    let lines = chat_after["content"]["Transcript"].as_array().unwrap();
    assert_eq!(
        lines.last().unwrap()["body"],
        "the conversation was lost in a switchover; please start a new one"
    );
    let mut socket = Socket::connect(&chat_ws(&a, &seq_now));
    socket.until(Duration::from_secs(5), |m| {
        m.to_string().contains("please start a new one")
    });
    // The email is requeued as a new one: new id, the agent's draft gone,
    // the customer's email as it came.
    let email_after = sue_a.get(&format!("/api/interactions/{email_id}")).1;
    let new_id = email_after["attributes"]["lost_at_switchover"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(new_id.starts_with(&format!("{email_id}~")), "{email_after}");
    let requeued = sue_a.get(&format!("/api/interactions/{new_id}")).1;
    assert_eq!(requeued["content"]["Email"]["replies"], json!([]));
    assert_eq!(
        requeued["content"]["Email"]["html"],
        email_now["content"]["Email"]["html"]
    );
    assert_ne!(requeued["created_at_ms"], email_now["created_at_ms"]);
    // The callback is lost.
    let cb_after = sue_a.get(&format!("/api/interactions/{callback_id}")).1;
    assert!(cb_after["state"]["Closed"].is_object(), "{cb_after}");
    assert_eq!(sales_total(&intervals(&sue_a), "lost_at_switchover"), 3);
}

//! The archive on a real pair: two report writers follow it while chats
//! are answered, talked in (one message near the 16 KiB bound) and
//! closed, and an email with an attachment comes by SMTP and is
//! answered; once the live state has forgotten them
//! (`closed_retention_s` of 1 s), `GET /api/interactions` finds them by
//! customer, queue, agent, media, Message-ID and disposition, a page at
//! a time, and `GET /api/interactions/{id}` answers each whole from the
//! archive on either node (the transcript what was sent; the email's
//! headers, HTML and attachment by reference) for its agent, a
//! supervisor of its queue and an administrator, and to nobody else;
//! `duet report archive` reads the same from the databases. A chat
//! still open is found with them, from the live state.
//!
//! The client is plain HTTP (ureq) written from the docs, not
//! duet-client.

mod harness;

use std::time::{Duration, Instant};

use harness::contact::{AGENT_PASSWORD, Api, send_email, set_up_directory, wait_for};
use harness::report_writer::{Writer, given, reporting_pair, writer};
use harness::{DUET, PASSWORD, Pair, USER, serving};
use serde_json::{Value, json};

/// What a test client said in a chat: (sender, body), in order.
type Said = Vec<(String, String)>;

fn ok(api: &Api, path: &str, body: Value) -> Value {
    let (code, answer) = api.post(path, body);
    assert_eq!(code, 200, "{path}: {answer}");
    answer
}

/// A chat from `name` that alice answers; both talk, the customer
/// leaves, alice wraps it up. Its id and what was said.
fn chat(pair: &Pair, a: &str, alice: &Api, name: &str, long: bool) -> (String, Said) {
    let customer = Api::new(a);
    let start = ok(
        &customer,
        "/api/chats",
        json!({"queue": "Sales", "name": name, "address": format!("{}@customer.test", name.to_lowercase().replace(' ', "."))}),
    );
    let id = start["id"].as_str().unwrap().to_string();
    let token = start["token"].as_str().unwrap().to_string();
    wait_for(
        pair,
        Duration::from_secs(20),
        "the chat offered to alice",
        || {
            let (_, me) = alice.get("/api/agent");
            me["interactions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|ix| ix["id"] == id.as_str() && ix["state"]["Offered"]["agent"] == "alice")
                .then_some(())
        },
    );
    ok(alice, &format!("/api/interactions/{id}/accept"), json!({}));
    let mut said = Said::new();
    let long_body = "a long answer. ".repeat(1_000);
    for (k, (who, body)) in [
        ("customer", format!("Hello, I am {name}")),
        (
            "alice",
            if long {
                long_body
            } else {
                "Hi! How can I help?".into()
            },
        ),
        ("customer", "Thank you, that is all".to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        let path_body = json!({"message_id": format!("{who}-{k}"), "body": body});
        let (code, answer) = if who == "customer" {
            customer.post_with(
                &format!("/api/chats/{id}/messages"),
                path_body,
                &[("x-duet-token", &token)],
            )
        } else {
            alice.post(&format!("/api/interactions/{id}/message"), path_body)
        };
        assert_eq!(code, 200, "{answer}");
        said.push((who.to_string(), body));
    }
    let (code, answer) = customer.post_with(
        &format!("/api/chats/{id}/leave"),
        json!({}),
        &[("x-duet-token", &token)],
    );
    assert_eq!(code, 200, "{answer}");
    ok(
        alice,
        &format!("/api/interactions/{id}/wrap-up"),
        json!({"code": "sale", "notes": format!("notes on {name}")}),
    );
    (id, said)
}

/// An email with an attachment by SMTP to the active node, answered by
/// alice, ended and wrapped up; its id.
fn email(pair: &Pair, node: usize, alice: &Api) -> String {
    send_email(
        pair,
        node,
        ("Fay Mail <fay@customer.test>", "<archived-1@customer.test>"),
        "<p>A <b>quote</b>, please.</p>",
        &[7u8; 3_000],
    );
    let id = wait_for(
        pair,
        Duration::from_secs(20),
        "the email offered to alice",
        || {
            let (_, me) = alice.get("/api/agent");
            me["interactions"]
                .as_array()?
                .iter()
                .find(|ix| ix["media"] == "email")?["id"]
                .as_str()
                .map(String::from)
        },
    );
    for (action, body) in [
        ("accept", json!({})),
        ("disconnect", json!({})),
        ("wrap-up", json!({"code": "sale", "notes": "quoted"})),
    ] {
        ok(alice, &format!("/api/interactions/{id}/{action}"), body);
    }
    id
}

/// The messages of an answer's transcript: (sender, body), status
/// lines left out.
fn transcript(ix: &Value) -> Said {
    ix["content"]["Transcript"]
        .as_array()
        .unwrap_or_else(|| panic!("no transcript: {ix}"))
        .iter()
        .filter(|line| line["kind"] == "Text")
        .map(|line| {
            let sender = match &line["sender"] {
                Value::String(s) if s == "Customer" => "customer".to_string(),
                other => other["Agent"].as_str().unwrap_or("?").to_string(),
            };
            (sender, line["body"].as_str().unwrap().to_string())
        })
        .collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["interactions"]
        .as_array()
        .unwrap_or_else(|| panic!("no interactions: {page}"))
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn closed_chats_are_found_and_read_whole_from_the_archive_by_whom_they_concern() {
    let dir = tempfile::tempdir().unwrap();
    let (pair, [db1, db2]) = reporting_pair(dir.path());
    let first = (0..2)
        .find(|&i| serving(&pair.nodes[i].status()))
        .expect("a serving node");
    set_up_directory(&pair, first);
    for (path, class, attributes) in [
        (
            "/config/Users/sam",
            "User",
            json!({"roles": "supervisor", "password": AGENT_PASSWORD, "supervises": "Support"}),
        ),
        (
            "/config/Interactions",
            "Folder",
            json!({"closed_retention_s": "1"}),
        ),
    ] {
        let (code, body) = pair.config_put(first, path, class, attributes, None);
        assert_eq!(code, 200, "{path}: {body}");
    }
    let _w1 = Writer(writer(&pair, first, &db1));
    let _w2 = Writer(writer(&pair, 1 - first, &db2));
    std::thread::sleep(Duration::from_secs(1));

    let a = pair.nodes[first].url();
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    ok(
        &alice,
        "/api/agent/login",
        json!({"media": ["chat", "email"]}),
    );
    let (carol, carol_said) = chat(&pair, &a, &alice, "Carol Archive", true);
    let (dan, dan_said) = chat(&pair, &a, &alice, "Dan Archive", false);
    let fay = email(&pair, first, &alice);

    // One more, still open (waiting for alice).
    let customer = Api::new(&a);
    let erin = ok(
        &customer,
        "/api/chats",
        json!({"queue": "Sales", "name": "Erin Live"}),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();

    let admin = Api::login(&a, USER, PASSWORD);
    // Forgotten by the live state, then read from the archive.
    let started = Instant::now();
    for id in [&carol, &dan, &fay] {
        wait_for(
            &pair,
            Duration::from_secs(30),
            "each answered from the archive, closed",
            || {
                let (code, ix) = admin.get(&format!("/api/interactions/{id}"));
                (code == 200 && ix["archive"].is_object() && ix["state"]["Closed"].is_object())
                    .then_some(())
            },
        );
    }
    eprintln!("archived in {:?}", started.elapsed());

    // `duet report archive` reads the same from the databases.
    let cli = |args: &[&str]| -> Value {
        let out = std::process::Command::new(DUET)
            .args(["report", "archive", "--database"])
            .arg(given(&db1.database))
            .arg("--database")
            .arg(given(&db2.database))
            .args(args)
            .output()
            .expect("duet report archive");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    assert_eq!(
        ids(&cli(&["--where", "customer=archive"])),
        [dan.clone(), carol.clone()]
    );
    assert_eq!(transcript(&cli(&["--id", &carol])), carol_said);

    let b = pair.nodes[1 - first].url();
    for node in [&a, &b] {
        let admin = admin.on(node);
        let alice = alice.on(node);
        let sue = Api::login(node, "sue", AGENT_PASSWORD);
        let sam = Api::login(node, "sam", AGENT_PASSWORD);
        let bob = Api::login(node, "bob", AGENT_PASSWORD);

        // Found by each field, newest first.
        for (query, wanted) in [
            ("customer=carol", vec![carol.clone()]),
            ("message_id=archived-1@customer.test", vec![fay.clone()]),
            ("media=email&customer=fay&agent=alice", vec![fay.clone()]),
            (
                "customer=archive&queue=Sales&agent=alice&media=chat",
                vec![dan.clone(), carol.clone()],
            ),
            (
                "disposition=customer_ended&customer=Archive",
                vec![dan.clone(), carol.clone()],
            ),
            ("customer=archive&disposition=abandoned", vec![]),
        ] {
            let (code, page) = admin.get(&format!("/api/interactions?{query}"));
            assert_eq!(code, 200, "{query}: {page}");
            assert_eq!(ids(&page), wanted, "{query}: {page}");
            for hit in page["interactions"].as_array().unwrap() {
                assert_eq!(hit["found"], "archive", "{hit}");
                assert_eq!(hit["agents"], json!(["alice"]), "{hit}");
            }
        }
        // A page at a time.
        let (_, one) = admin.get("/api/interactions?customer=archive&limit=1");
        assert_eq!(ids(&one), std::slice::from_ref(&dan), "{one}");
        let next = one["next"].as_str().expect("a next token");
        let (_, two) = admin.get(&format!(
            "/api/interactions?customer=archive&limit=1&next={next}"
        ));
        assert_eq!(ids(&two), std::slice::from_ref(&carol), "{two}");
        assert!(two["next"].is_null(), "{two}");
        // Bounded.
        let (code, body) = admin.get("/api/interactions?limit=500");
        assert_eq!(code, 400, "{body}");
        let (code, body) = admin.get(&format!("/api/interactions?customer={}", "x".repeat(400)));
        assert_eq!(code, 400, "{body}");

        // Whole, for its agent, a supervisor of its queue, an admin.
        for (who, api) in [("alice", &alice), ("sue", &sue), ("admin", &admin)] {
            for (id, said) in [(&carol, &carol_said), (&dan, &dan_said)] {
                let (code, ix) = api.get(&format!("/api/interactions/{id}"));
                assert_eq!(code, 200, "{who} {id}: {ix}");
                assert_eq!(&transcript(&ix), said, "{who} {id}");
                assert!(ix["state"]["Closed"]["at_ms"].is_u64(), "{ix}");
                assert_eq!(ix["routing"]["queue"], "Sales");
                assert_eq!(ix["parties"]["joined"], json!(["alice"]));
                assert_eq!(ix["wrap_up"]["code"], "sale");
                assert_eq!(ix["archive"]["disposition"], "customer_ended");
                let lines = ix["content"]["Transcript"].to_string();
                assert!(
                    lines.contains("agent alice joined") && lines.contains("customer left"),
                    "{lines}"
                );
            }
            let (_, page) = api.get("/api/interactions?customer=archive");
            assert_eq!(ids(&page), [dan.clone(), carol.clone()], "{who}: {page}");
        }
        // The email whole: its headers, HTML and attachment by reference.
        let (code, ix) = alice.get(&format!("/api/interactions/{fay}"));
        assert_eq!(code, 200, "{ix}");
        let mail = &ix["content"]["Email"];
        assert_eq!(mail["message_id"], "archived-1@customer.test", "{mail}");
        assert_eq!(mail["subject"], "Quote please");
        assert!(
            mail["html"].as_str().unwrap().contains("<b>quote</b>"),
            "{mail}"
        );
        let attachment = &mail["attachments"][0];
        assert_eq!(attachment["name"], "specs.bin", "{mail}");
        assert_eq!(attachment["size_bytes"], 3_000, "{mail}");
        // Named by the SHA-256 of its one chunk (the live state's name).
        assert_eq!(
            attachment["chunks"][0].as_str().map(str::len),
            Some(64),
            "{mail}"
        );
        assert!(attachment.get("bytes").is_none(), "{mail}");

        // A live one is found with the archived ones, from the live state.
        let (_, page) = admin.get("/api/interactions?queue=Sales&limit=3");
        assert_eq!(
            ids(&page),
            [erin.clone(), fay.clone(), dan.clone()],
            "{page}"
        );
        assert_eq!(page["interactions"][0]["found"], "live", "{page}");
        assert_eq!(page["interactions"][0]["closed_ms"], Value::Null, "{page}");
        let (_, page) = sue.get("/api/interactions?customer=erin");
        assert_eq!(ids(&page), std::slice::from_ref(&erin), "{page}");
        // Not to a supervisor of another queue, nor another agent.
        for (who, api) in [("sam", &sam), ("bob", &bob)] {
            let (code, body) = api.get(&format!("/api/interactions/{carol}"));
            assert_eq!(code, 403, "{who}: {body}");
            let (code, page) = api.get("/api/interactions?customer=archive");
            assert_eq!(code, 200, "{who}: {page}");
            assert_eq!(ids(&page), Vec::<String>::new(), "{who}: {page}");
        }
        // Nor without a session.
        let (code, _) = Api::new(node).get("/api/interactions");
        assert_eq!(code, 401);
        let (code, body) = admin.get("/api/interactions/no-such-interaction");
        assert_eq!(code, 404, "{body}");
    }
}

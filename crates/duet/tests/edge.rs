//! The node's edge against a real pair, driven by a small client written
//! from the API documents alone (plain HTTP, not `duet-client`): floods of
//! new chats and of sign-ins from one address get 429 with `Retry-After`
//! while a signed-in agent keeps working; configuration reads need
//! credentials and never show a password hash; a signed-out session is
//! refused on both nodes; every answer carries the security headers and a
//! shared HTML file comes back as bytes, in a sandbox; what the nodes
//! write is the owner's only.

mod harness;

use std::time::{Duration, Instant};

use harness::contact::{AGENT_PASSWORD, set_up_directory};
use harness::{Pair, Setup, basic_auth, basic_auth_for, fast_params};
use serde_json::{Value, json};

/// The limits this test runs under: small, and slow to refill, so what
/// the flood takes is not given back while the test runs.
fn limits() -> duet_node::limits::Limits {
    duet_node::limits::Limits {
        creations_burst: 8,
        creation_interval_ms: 600_000,
        sign_in_failures_per_address_burst: 6,
        sign_in_failure_per_address_interval_ms: 600_000,
        sign_in_failures_per_user_burst: 3,
        sign_in_failure_per_user_interval_ms: 600_000,
        tracked_sources_max: 1_000,
        ..Default::default()
    }
}

/// One answer: status, headers we look at, body.
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Value,
    bytes: Vec<u8>,
}

fn call(
    method: &str,
    url: &str,
    auth: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> Answer {
    let agent = harness::agent(Duration::from_secs(15));
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let result = match body {
        Some(body) => agent.run(
            request
                .header("content-type", "application/json")
                .body(body.to_string().into_bytes())
                .expect("a request"),
        ),
        None => agent.run(request.body(Vec::new()).expect("a request")),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let bytes = response
        .body_mut()
        .with_config()
        .limit(4 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        bytes,
    }
}

fn header<'a>(answer: &'a Answer, name: &str) -> &'a str {
    answer
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn sign_in(base: &str, user: &str, password: &str) -> Answer {
    call(
        "POST",
        &format!("{base}/api/sessions"),
        None,
        Some(json!({"user": user, "password": password})),
        &[],
    )
}

#[test]
fn floods_from_one_address_get_429_while_agents_work_and_secrets_stay_secret() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        limits: Some(limits()),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    let a = pair.nodes[0].url();
    let b = pair.nodes[1].url();

    // Configuration reads need credentials; users need an administrator;
    // hashes are never shown.
    let users = format!("{a}/api/config?path=/config/Users/alice");
    assert_eq!(call("GET", &users, None, None, &[]).status, 401);
    let viewer = basic_auth_for("viewer", "just-looking");
    assert_eq!(call("GET", &users, Some(&viewer), None, &[]).status, 403);
    let alice = sign_in(&a, "alice", AGENT_PASSWORD);
    assert_eq!(alice.status, 200, "{}", alice.body);
    let alice = bearer(alice.body["token"].as_str().expect("a token"));
    assert_eq!(call("GET", &users, Some(&alice), None, &[]).status, 403);
    let read = call("GET", &users, Some(&basic_auth()), None, &[]);
    assert_eq!(read.status, 200, "{}", read.body);
    let text = read.body.to_string();
    assert!(
        !text.contains("argon2") && text.contains("(set)"),
        "a hash is shown: {text}"
    );
    let sue = sign_in(&a, "sue", AGENT_PASSWORD);
    let sue = bearer(sue.body["token"].as_str().expect("a token"));
    let sales = format!("{a}/api/config?path=/config/Workgroups/Sales");
    assert_eq!(call("GET", &sales, Some(&sue), None, &[]).status, 200);
    assert_eq!(call("GET", &users, Some(&sue), None, &[]).status, 403);

    // Every answer carries the security headers.
    let me = call("GET", &format!("{a}/api/agent"), Some(&alice), None, &[]);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(header(&me, "x-content-type-options"), "nosniff");
    assert_eq!(header(&me, "referrer-policy"), "no-referrer");
    assert_eq!(header(&me, "x-frame-options"), "DENY");

    // A shared HTML file comes back as bytes, in a sandbox.
    let chat = call(
        "POST",
        &format!("{a}/api/chats"),
        None,
        Some(json!({"queue": "Sales", "name": "Mallory"})),
        &[],
    );
    assert_eq!(chat.status, 200, "{}", chat.body);
    let id = chat.body["id"].as_str().expect("an id").to_string();
    let token = chat.body["token"].as_str().expect("a token").to_string();
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let agent = harness::agent(Duration::from_secs(15));
    let shared = agent
        .post(&format!(
            "{a}/api/chats/{id}/files?name=page.html&message_id=f1"
        ))
        .header("x-duet-token", &token)
        .header("content-type", "text/html")
        .send(&html[..])
        .expect("a share");
    assert_eq!(shared.status().as_u16(), 200);
    let file = call(
        "GET",
        &format!("{a}/api/chats/{id}/files/f1"),
        None,
        None,
        &[("x-duet-token", &token)],
    );
    assert_eq!(file.status, 200);
    assert_eq!(file.bytes, html);
    assert_eq!(header(&file, "content-type"), "application/octet-stream");
    assert_eq!(header(&file, "content-security-policy"), "sandbox");
    assert_eq!(header(&file, "x-content-type-options"), "nosniff");
    assert!(header(&file, "content-disposition").starts_with("attachment"));

    // One chat token holds at most 4 sockets at once; a closed one frees
    // its place.
    let ws = |n: usize| {
        let address = a.trim_start_matches("http://").to_string();
        let stream = std::net::TcpStream::connect(&address).expect("connect");
        let url = format!("ws://{address}/api/chats/{id}/ws?token={token}");
        tungstenite::client(url.as_str(), stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r)) => {
                r.status().as_u16()
            }
            other => panic!("socket {n}: {other}"),
        })
    };
    let mut open: Vec<_> = (0..4).map(|n| ws(n).expect("within the bound")).collect();
    assert_eq!(ws(4).err(), Some(429), "the fifth socket");
    let (mut first, _) = open.remove(0);
    first.close(None).expect("a close");
    while first.read().is_ok() {}
    let reopened = (0..50).find_map(|n| {
        std::thread::sleep(Duration::from_millis(20));
        ws(n).ok()
    });
    assert!(reopened.is_some(), "a closed socket frees its place");
    drop(open);

    // A chat holds at most 20 files from its customer.
    let share = |n: usize| {
        agent
            .post(&format!(
                "{a}/api/chats/{id}/files?name=f.txt&message_id=more-{n}"
            ))
            .header("x-duet-token", &token)
            .header("content-type", "text/plain")
            .send(&b"some text"[..])
            .expect("a share")
            .status()
            .as_u16()
    };
    let codes: Vec<u16> = (0..20).map(share).collect();
    assert_eq!(codes[..19], [200; 19], "{codes:?}");
    assert_eq!(codes[19], 413, "the 21st file: {codes:?}");

    // Fields are bounded, and a refusal names the field and its bound.
    let long = call(
        "POST",
        &format!("{a}/api/chats"),
        None,
        Some(json!({"queue": "Sales", "name": "n".repeat(700 * 1024)})),
        &[],
    );
    assert_eq!(long.status, 400, "{}", long.body);
    assert!(
        long.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("name is 716800 characters; at most 256")),
        "{}",
        long.body
    );
    // A customer's priority is ignored unless the queue allows it.
    let jumper = call(
        "POST",
        &format!("{a}/api/chats"),
        None,
        Some(json!({"queue": "Sales", "name": "Jumper", "priority": i32::MAX})),
        &[],
    );
    assert_eq!(jumper.status, 200, "{}", jumper.body);
    let jumper_id = jumper.body["id"].as_str().expect("an id");
    let ix = call(
        "GET",
        &format!("{a}/api/interactions/{jumper_id}"),
        Some(&sue),
        None,
        &[],
    );
    assert_eq!(ix.status, 200, "{}", ix.body);
    assert_eq!(ix.body["routing"]["priority"], 0, "{}", ix.body);

    // When the waiting customer's last socket closes, the chat notes when
    // it went (the router ends it as abandoned 300 s later, unless it
    // comes back); a socket opened again clears it.
    let jumper_token = jumper.body["token"].as_str().expect("a token");
    let customer_ws = || {
        let address = a.trim_start_matches("http://").to_string();
        let stream = std::net::TcpStream::connect(&address).expect("connect");
        let url = format!("ws://{address}/api/chats/{jumper_id}/ws?token={jumper_token}");
        tungstenite::client(url.as_str(), stream)
            .expect("a socket")
            .0
    };
    let away = || {
        let ix = call(
            "GET",
            &format!("{a}/api/interactions/{jumper_id}"),
            Some(&sue),
            None,
            &[],
        );
        ix.body["attributes"]["customer_away_since_ms"].is_string()
    };
    let until = |want: bool| {
        (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            away() == want
        })
    };
    let mut socket = customer_ws();
    socket.close(None).expect("a close");
    while socket.read().is_ok() {}
    assert!(until(true), "the customer's going is noted");
    let _back = customer_ws();
    assert!(until(false), "the customer's return is noted");

    // A flood of new chats from one address: the burst (less the one
    // above) is taken, the rest get 429 with Retry-After, and the agent's
    // requests keep answering meanwhile.
    let mut codes = Vec::new();
    let mut agent_ms: Vec<f64> = Vec::new();
    for n in 0..60 {
        let started = call(
            "POST",
            &format!("{a}/api/chats"),
            None,
            Some(json!({"queue": "Sales", "name": format!("flood {n}")})),
            &[],
        );
        if started.status == 429 {
            let retry: u64 = header(&started, "retry-after").parse().unwrap_or(0);
            assert!(retry >= 1, "a 429 says when to retry");
            assert!(
                started.body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("too many")),
                "{}",
                started.body
            );
        }
        codes.push(started.status);
        let t = Instant::now();
        let me = call("GET", &format!("{a}/api/agent"), Some(&alice), None, &[]);
        agent_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(me.status, 200, "the agent keeps working: {}", me.body);
    }
    let made = codes.iter().filter(|c| **c == 200).count();
    let refused = codes.iter().filter(|c| **c == 429).count();
    // 8 in the burst: Mallory's, the refused long name's and Jumper's
    // came first.
    assert_eq!((made, refused), (5, 55), "{codes:?}");
    agent_ms.sort_by(f64::total_cmp);
    let p99 = harness::percentile(&agent_ms, 99.0);
    eprintln!(
        "60 new chats from one address: {made} made, {refused} refused (429); the agent's GET /api/agent meanwhile: p50 {:.1} ms, p99 {p99:.1} ms",
        harness::percentile(&agent_ms, 50.0)
    );
    assert!(
        p99 < 1_000.0,
        "the agent's p99 during the flood: {p99:.1} ms"
    );

    // A flood of wrong passwords for one user: 401 for the per-user burst,
    // then 429; the right password is refused too until the wait is over.
    let codes: Vec<u16> = (0..10)
        .map(|_| sign_in(&a, "bob", "not-the-password").status)
        .collect();
    assert_eq!(codes, [401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
    let right = sign_in(&a, "bob", AGENT_PASSWORD);
    assert_eq!(right.status, 429, "{}", right.body);
    assert!(header(&right, "retry-after").parse::<u64>().unwrap_or(0) >= 1);
    // Unknown users and Basic credentials count against the address: three
    // more failures fill it, then even a new name gets 429.
    for name in ["nobody-1", "nobody-2"] {
        assert_eq!(sign_in(&a, name, "x").status, 401);
    }
    let switch = format!("{a}/api/switch");
    let wrong_basic = basic_auth_for("admin", "wrong-password");
    assert_eq!(
        call("POST", &switch, Some(&wrong_basic), None, &[]).status,
        401
    );
    assert_eq!(sign_in(&a, "nobody-3", "x").status, 429);
    assert_eq!(
        call("POST", &switch, Some(&wrong_basic), None, &[]).status,
        429
    );
    // The agent signed in before still works.
    let me = call("GET", &format!("{a}/api/agent"), Some(&alice), None, &[]);
    assert_eq!(me.status, 200, "{}", me.body);
    let log = pair.nodes[0].log();
    let reports = log
        .lines()
        .filter(|l| l.contains("over the API's limits"))
        .collect::<Vec<_>>();
    assert!(
        !reports.is_empty() && reports.len() <= 3 && reports[0].contains("127.0.0.1"),
        "refusals are logged with the address, once per interval: {reports:#?}"
    );

    // A webhook signed over its route and time (v2, as the API document
    // says) is taken at its route, refused at another and when stale.
    let key_hex = std::fs::read_to_string(pair.dir.path().join("certs/webhook.key")).unwrap();
    let key: Vec<u8> = (0..key_hex.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key_hex.trim()[i..i + 2], 16).unwrap())
        .collect();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let body =
        json!({"conversation": "+15550100", "queue": "Sales", "message_id": "sms-1", "text": "hi"})
            .to_string();
    let v2 = |kind: &str, at_s: u64| {
        let text = format!("v2\n{kind}\n{at_s}\n{body}");
        let tag = ring::hmac::sign(&key, text.as_bytes());
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("v2={hex}")
    };
    let post_webhook = |kind: &str, signature: &str, at_s: u64| {
        agent
            .post(&format!("{a}/api/webhooks/{kind}"))
            .header("content-type", "application/json")
            .header("x-duet-signature", signature)
            .header("x-duet-timestamp", &at_s.to_string())
            .send(body.as_bytes())
            .expect("a webhook")
            .status()
            .as_u16()
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = v2("sms", now_s);
    assert_eq!(post_webhook("sms", &signed, now_s), 200);
    assert_eq!(post_webhook("social", &signed, now_s), 401, "another route");
    let stale = now_s - 600;
    assert_eq!(post_webhook("sms", &v2("sms", stale), stale), 401, "stale");

    // Signing out is in the API's own description, and ends the session
    // on both nodes.
    let document = call("GET", &format!("{a}/api/openapi.json"), None, None, &[]);
    assert!(document.body["paths"]["/api/sessions"]["delete"].is_object());
    let out = call(
        "DELETE",
        &format!("{a}/api/sessions"),
        Some(&alice),
        None,
        &[],
    );
    assert_eq!(out.status, 200, "{}", out.body);
    for base in [&a, &b] {
        let me = call("GET", &format!("{base}/api/agent"), Some(&alice), None, &[]);
        assert_eq!(me.status, 401, "{base}: {}", me.body);
        assert!(
            me.body["error"]
                .as_str()
                .is_some_and(|e| e.contains("signed out")),
            "{}",
            me.body
        );
    }

    // What the nodes write is the owner's only.
    use std::os::unix::fs::PermissionsExt;
    for node in [0, 1] {
        let data = pair.data_dir(node);
        let mode = |name: &str| {
            std::fs::metadata(data.join(name))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        assert_eq!(mode(""), 0o700, "the data directory of node {node}");
        // Only a node that served has written an epoch file.
        let files: &[&str] = if node == 0 {
            &["state.redb", "events.jsonl", "epoch"]
        } else {
            &["state.redb", "events.jsonl"]
        };
        for name in files {
            assert_eq!(mode(name), 0o600, "{name} of node {node}");
        }
    }
}

#[test]
fn a_bootstrap_administrators_sessions_end_when_its_password_changes() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    let a = pair.nodes[0].url();
    let session = sign_in(&a, harness::USER, harness::PASSWORD);
    assert_eq!(session.status, 200, "{}", session.body);
    let admin = bearer(session.body["token"].as_str().expect("a token"));
    let queues = format!("{a}/api/queues");
    assert_eq!(call("GET", &queues, Some(&admin), None, &[]).status, 200);

    // The operator puts a hash of a new password in a's bootstrap file and
    // restarts it.
    let new_password = "a new long password";
    let hash = duet_node::passwords::hash(new_password).expect("a hash");
    let file = &pair.nodes[0].config;
    let text = std::fs::read_to_string(file).expect("the bootstrap file");
    let old_line = format!("password = \"{}\"", harness::PASSWORD);
    assert!(text.contains(&old_line), "{text}");
    std::fs::write(
        file,
        text.replace(&old_line, &format!("password = '{hash}'")),
    )
    .expect("the new bootstrap file");
    pair.nodes[0].kill9();
    pair.nodes[0].start(&[]);
    pair.wait_until(Duration::from_secs(20), "a answers again", |p| {
        p.nodes[0].status().is_some()
    });

    let refused = call("GET", &queues, Some(&admin), None, &[]);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(
        refused.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("password changed")),
        "{}",
        refused.body
    );
    assert_eq!(sign_in(&a, harness::USER, harness::PASSWORD).status, 401);
    let session = sign_in(&a, harness::USER, new_password);
    assert_eq!(session.status, 200, "{}", session.body);
    let admin = bearer(session.body["token"].as_str().expect("a token"));
    assert_eq!(call("GET", &queues, Some(&admin), None, &[]).status, 200);
}

/// The node's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the node's status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_flood_from_many_addresses_keeps_the_limits_table_bounded() {
    let tracked = 200;
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        limits: Some(duet_node::limits::Limits {
            creations_burst: 1,
            creation_interval_ms: 600_000,
            tracked_sources_max: tracked,
            ..duet_node::limits::Limits::default()
        }),
        ..Setup::default()
    });
    pair.start();
    let address = pair.nodes[0]
        .url()
        .trim_start_matches("http://")
        .to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A chat for a queue that does not exist: the limit takes its token,
    // then the API answers 404, so no interaction is made and only the
    // limits' table grows.
    let start_chat = |source: std::net::Ipv4Addr| -> u16 {
        runtime.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind((source, 0).into()).unwrap();
            let mut stream = socket
                .connect(address.parse().unwrap())
                .await
                .expect("a connection");
            let body = r#"{"queue": "Nowhere", "name": "x"}"#;
            let request = format!(
                "POST /api/chats HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
        })
    };
    let sources: Vec<std::net::Ipv4Addr> = (0..2_000u32)
        .map(|n| std::net::Ipv4Addr::new(127, 1 + (n / 250) as u8, (n % 250) as u8, 1))
        .collect();
    let first = sources[0];
    assert_eq!(start_chat(first), 404);
    assert_eq!(start_chat(first), 429, "its one chat is taken");
    let before_kib = rss_kib(pair.nodes[0].pid());
    let started = Instant::now();
    for source in &sources[1..] {
        assert_eq!(start_chat(*source), 404, "{source}: a new source");
    }
    let flood_s = started.elapsed().as_secs_f64();
    let after_kib = rss_kib(pair.nodes[0].pid());
    // The newest source is still tracked; the first was forgotten to keep
    // the table at its bound, so it starts afresh.
    assert_eq!(start_chat(sources[1_999]), 429);
    assert_eq!(start_chat(first), 404, "the table holds at most {tracked}");
    eprintln!(
        "2,000 sources in {flood_s:.1} s; node a's memory {before_kib} KiB -> {after_kib} KiB"
    );
    assert!(
        after_kib < before_kib + 16 * 1024,
        "memory grew from {before_kib} KiB to {after_kib} KiB"
    );
}

/// A customer's shared files count by the MiB (each started one of a
/// request's length) per address: past the burst, 429 with `Retry-After`
/// before a byte of the body is read; an agent's are not counted.
#[test]
fn customers_shared_files_count_by_their_megabytes_per_address() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        limits: Some(duet_node::limits::Limits {
            uploads_per_source_burst_mib: 3,
            upload_mib_interval_ms: 600_000,
            ..Default::default()
        }),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    let a = pair.nodes[0].url();
    let chat = call(
        "POST",
        &format!("{a}/api/chats"),
        None,
        Some(json!({"queue": "Sales", "name": "Flo"})),
        &[],
    );
    assert_eq!(chat.status, 200, "{}", chat.body);
    let id = chat.body["id"].as_str().expect("an id").to_string();
    let token = chat.body["token"].as_str().expect("a token").to_string();
    let agent = harness::agent(Duration::from_secs(15));
    let upload = |message_id: &str, bytes: usize| {
        agent
            .post(&format!(
                "{a}/api/chats/{id}/files?name=scan.pdf&message_id={message_id}"
            ))
            .header("x-duet-token", &token)
            .send(&vec![7u8; bytes][..])
            .expect("an answer")
    };
    // 1 (a small file) and 2 (1.5 MiB) of 3; then a small one (1) is
    // one too many. (Small, so its whole body is sent before the 429:
    // a refused large one can find the connection closed under it.)
    assert_eq!(upload("f1", 10).status().as_u16(), 200);
    assert_eq!(upload("f2", 1_536 * 1024).status().as_u16(), 200);
    let refused = upload("f3", 10);
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // The one refused was not kept.
    let (code, view) =
        harness::contact::Api::new(&a).get(&format!("/api/chats/{id}?token={token}"));
    assert_eq!(code, 200, "{view}");
    let files: Vec<&str> = (view["transcript"].as_array().into_iter().flatten())
        .filter_map(|m| m["id"].as_str())
        .filter(|m| m.starts_with('f'))
        .collect();
    assert_eq!(files, ["f1", "f2"]);
}

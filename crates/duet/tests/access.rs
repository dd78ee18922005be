//! Who may do what, against a real pair: every route of the OpenAPI
//! document called as every kind of caller, each answer checked against
//! the table in docs/access.md (a route without a row fails); an agent
//! refused another's interaction, by a plain HTTP client written from
//! the docs; the customer's view without notes or user names; a reused
//! client id answered only to its own caller.

mod harness;

use std::io::{Read, Write};
use std::time::Duration;

use harness::contact::{AGENT_PASSWORD, Api, Socket, set_up_directory, wait_for};
use harness::{PASSWORD, Pair, Setup, USER, api_agent, fast_params};
use serde_json::{Value, json};

/// The table of docs/access.md: (method, route) -> who.
fn table() -> Vec<(String, String, String)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/access.md"))
        .expect("docs/access.md");
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let route = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((
                cells[1].to_string(),
                route.to_string(),
                cells[3].to_string(),
            ))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Nobody,
    Customer,
    Agent,
    OtherAgent,
    Supervisor,
    Admin,
}

/// Whether `role` may call a route for `who`, as docs/access.md words it
/// (the agent holds the interaction, the other agent does not, the
/// supervisor's queue is the interaction's; no role has Basic
/// credentials or a webhook signature).
fn allowed(who: &str, role: Role) -> bool {
    use Role::*;
    let word = who.split(' ').next().unwrap_or_default();
    match word {
        "anyone" => true,
        "customer" => role == Customer,
        "provider" | "operator" => false,
        "agent" => matches!(role, Agent | OtherAgent | Admin),
        "related" => matches!(role, Agent | Supervisor | Admin),
        "supervisor" => matches!(role, Supervisor | Admin),
        "admin" | "master" => role == Admin,
        "signed-in" => matches!(role, Agent | OtherAgent | Supervisor | Admin),
        "reader" => matches!(role, Supervisor | Admin),
        other => panic!("docs/access.md names a caller {other:?} this test does not know"),
    }
}

fn call(base: &str, method: &str, path: &str, auth: &[(&str, String)]) -> u16 {
    let url = format!("{base}{path}");
    let agent = api_agent();
    let answer = match method {
        "GET" => {
            let mut r = agent.get(&url);
            for (k, v) in auth {
                r = r.header(*k, v);
            }
            r.call()
        }
        "DELETE" => {
            let mut r = agent.delete(&url);
            for (k, v) in auth {
                r = r.header(*k, v);
            }
            r.force_send_body()
                .content_type("application/json")
                .send("[]")
        }
        _ => {
            let mut r = match method {
                "PUT" => agent.put(&url),
                _ => agent.post(&url),
            };
            for (k, v) in auth {
                r = r.header(*k, v);
            }
            r.content_type("application/json").send("[]")
        }
    };
    answer.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// A GET by hand, as a client written from the docs alone would make it:
/// HTTP/1.1 over a socket, the session in `Authorization: Bearer`.
fn plain_get(base: &str, path: &str, bearer: &str) -> (u16, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let code = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, answer)
}

/// A started pair with the tests' directory and one object more.
fn pair_with(path: &str, class: &str, attributes: Value) -> Pair {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    let (code, body) = pair.config_put(0, path, class, attributes, None);
    assert_eq!(code, 200, "{path}: {body}");
    pair
}

#[test]
fn every_route_answers_every_role_as_the_access_table_says_and_customers_see_only_their_view() {
    let pair = pair_with(
        "/config/Users/alice",
        "User",
        json!({"roles": "agent", "password": AGENT_PASSWORD, "skills": "sales:5",
               "capacity": "chat:3", "display_name": "Alex"}),
    );
    // sam supervises Support only.
    let (code, body) = pair.config_put(
        0,
        "/config/Users/sam",
        "User",
        json!({"roles": "supervisor", "password": AGENT_PASSWORD, "supervises": "Support"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let a = pair.nodes[0].url();
    let sam = Api::login(&a, "sam", AGENT_PASSWORD);
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let bob = Api::login(&a, "bob", AGENT_PASSWORD);
    let sue = Api::login(&a, "sue", AGENT_PASSWORD);
    let admin = Api::login(&a, USER, PASSWORD);
    assert_eq!(
        alice.post("/api/agent/login", json!({"media": ["chat"]})).0,
        200
    );

    // A customer starts a chat; a reuse of its client id by another
    // caller (another secret) is a chat of its own.
    let start = |secret: &str| {
        Api::new(&a).post(
            "/api/chats",
            json!({"queue": "Sales", "name": "Carol", "client_id": "carol-1", "client_secret": secret}),
        )
    };
    let (code, chat) = start("carol-secret-0123456789");
    assert_eq!(code, 200, "{chat}");
    let (id, token) = (
        chat["id"].as_str().unwrap().to_string(),
        chat["token"].as_str().unwrap().to_string(),
    );
    let (_, again) = start("carol-secret-0123456789");
    assert_eq!(
        (&again["id"], &again["token"]),
        (&chat["id"], &chat["token"])
    );
    let (code, other) = start("mallory-secret-012345678");
    assert_eq!(code, 200, "{other}");
    assert_ne!(other["id"], chat["id"]);
    assert_ne!(other["token"], chat["token"]);
    let (code, body) = Api::new(&a).post(
        "/api/chats",
        json!({"queue": "Sales", "client_id": "carol-1"}),
    );
    assert_eq!(code, 400, "a client id without its secret: {body}");
    let mut customer_socket = Socket::connect(&format!(
        "{}/api/chats/{id}/ws?token={token}",
        a.replace("http://", "ws://")
    ));
    wait_for(
        &pair,
        Duration::from_secs(10),
        "the chat offered to alice",
        || {
            let (_, ix) = sue.get(&format!("/api/interactions/{id}"));
            ix["state"]["Offered"].is_object().then_some(())
        },
    );
    let (code, body) = alice.post(&format!("/api/interactions/{id}/accept"), json!({}));
    assert_eq!(code, 200, "{body}");

    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/message"),
        json!({"message_id": "a1", "body": "Welcome!"}),
    );
    assert_eq!(code, 200, "{body}");

    // Another agent can neither act on alice's chat nor read it; a
    // plain HTTP client written from the docs sees the same.
    for action in [
        "hold",
        "transfer",
        "conference",
        "disconnect",
        "wrap-up",
        "message",
    ] {
        let (code, body) = bob.post(
            &format!("/api/interactions/{id}/{action}"),
            json!({"agent": "bob", "message_id": "b1", "body": "hi"}),
        );
        assert_eq!(code, 403, "bob {action}: {body}");
    }
    let (code, _) = plain_get(
        &a,
        &format!("/api/interactions/{id}"),
        bob.token.as_deref().unwrap(),
    );
    assert_eq!(code, 403);
    let (code, answer) = plain_get(
        &a,
        &format!("/api/interactions/{id}"),
        alice.token.as_deref().unwrap(),
    );
    assert_eq!(code, 200, "{answer}");

    // Supervision: a supervisor of the chat's queue listens in (in the
    // parties, unseen by the customer), barges in and speaks, leaves;
    // a supervisor of other queues and the agents may not.
    let interaction = |api: &Api| api.get(&format!("/api/interactions/{id}"));
    assert_eq!(interaction(&sam).0, 403);
    assert_eq!(
        sam.post(&format!("/api/interactions/{id}/monitor"), json!({}))
            .0,
        403
    );
    assert_eq!(
        bob.post(&format!("/api/interactions/{id}/monitor"), json!({}))
            .0,
        403
    );
    let (code, body) = alice.post(&format!("/api/interactions/{id}/monitor"), json!({}));
    assert_eq!(code, 400, "an agent on it may not listen in: {body}");
    let (code, body) = sue.post(&format!("/api/interactions/{id}/monitor"), json!({}));
    assert_eq!(code, 200, "{body}");
    let (_, ix) = interaction(&alice);
    assert_eq!(ix["parties"]["supervisors"]["sue"], "Silent", "{ix}");
    assert_eq!(
        sue.post(&format!("/api/interactions/{id}/barge"), json!({}))
            .0,
        200
    );
    let (code, body) = sue.post(
        &format!("/api/interactions/{id}/message"),
        json!({"message_id": "s1", "body": "A supervisor here."}),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        sue.post(&format!("/api/interactions/{id}/disconnect"), json!({}))
            .0,
        200
    );
    let (_, ix) = interaction(&alice);
    assert_eq!(ix["state"]["Connected"]["agent"], "alice", "{ix}");

    // Every route for every role, as the table says.
    let rows = table();
    let (code, document) = Api::new(&a).get("/api/openapi.json");
    assert_eq!(code, 200);
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    // Leaving ends the chat (alice wraps it up after), and signing out ends
    // each caller's session: last.
    routes.sort_by_key(|(m, p)| (m == "DELETE" && p == "/api/sessions", p.ends_with("/leave")));
    let bearer = |api: &Api| {
        vec![(
            "authorization",
            format!("Bearer {}", api.token.clone().unwrap()),
        )]
    };
    let callers = [
        (Role::Nobody, vec![]),
        (Role::Customer, vec![("x-duet-token", token.clone())]),
        (Role::Agent, bearer(&alice)),
        (Role::OtherAgent, bearer(&bob)),
        (Role::Supervisor, bearer(&sue)),
        (Role::Admin, bearer(&admin)),
    ];
    let mut wrong = Vec::new();
    for (method, path) in &routes {
        let who = rows
            .iter()
            .find(|(m, p, _)| m == method && p == path)
            .map(|(_, _, who)| who.clone())
            .unwrap_or_else(|| panic!("{method} {path} has no row in docs/access.md"));
        let url = path
            .replace("{id}", &id)
            .replace("{action}", "delivery")
            .replace("{file}", "none")
            .replace("{kind}", "sms")
            .replace("{name}", "alice");
        for (role, auth) in &callers {
            let code = call(&a, method, &url, auth);
            let refused = code == 401 || code == 403;
            if refused == allowed(&who, *role) {
                wrong.push(format!(
                    "{method} {path} as {role:?}: {code}, the table says {who}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The walk signed every caller out last: alice signs in again.
    std::thread::sleep(Duration::from_millis(20));
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);

    // What the customer saw: messages, statuses and the display name;
    // never notes, codes or user names.
    let (code, body) = alice.post(
        &format!("/api/interactions/{id}/wrap-up"),
        json!({"code": "no sale", "notes": "do not refund"}),
    );
    assert_eq!(code, 200, "{body}");
    let mut seen = Vec::new();
    while let Some(frame) = customer_socket.next(Duration::from_secs(2)) {
        seen.push(frame);
    }
    let (code, view) = Api::new(&a).get(&format!("/api/chats/{id}?token={token}"));
    assert_eq!(code, 200, "{view}");
    seen.push(view);
    let told = Value::Array(seen).to_string();
    for secret in [
        "do not refund",
        "no sale",
        "alice",
        "sue",
        "Silent",
        "Sales",
    ] {
        assert!(
            !told.contains(secret),
            "the customer was shown {secret:?}: {told}"
        );
    }
    assert!(
        told.contains("Alex") && told.contains("Welcome!") && told.contains("A supervisor here."),
        "{told}"
    );
}

/// The old ids: a hash of what the caller sends, so anyone could name
/// another's interaction.
fn old_id(prefix: &str, basis: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, basis.as_bytes());
    let hex: String = digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}-{hex}")
}

#[test]
fn ids_are_not_derived_from_what_callers_send_and_an_email_reusing_a_message_id_is_new() {
    use harness::contact::signature;
    use lettre::{Message, SmtpTransport, Transport};
    let pair = pair_with(
        "/config/Workgroups/Support",
        "Workgroup",
        json!({"members": "bob", "addresses": "support@example.test"}),
    );
    let a = pair.nodes[0].url();

    // An SMS: its id is not the hash of its conversation and message id;
    // the provider's retry still finds it.
    let body = serde_json::to_vec(&json!({"conversation": "+15550111", "queue": "Sales",
        "message_id": "sms-1", "text": "Open?", "from": "+15550111"}))
    .unwrap();
    let send_sms = || {
        Api::new(&a).post_bytes(
            "/api/webhooks/sms",
            &body,
            &[("x-duet-signature", &signature(&pair, &body))],
        )
    };
    let (code, sms) = send_sms();
    assert_eq!(code, 200, "{sms}");
    assert_ne!(sms["id"], old_id("sms", "+15550111\nsms-1").as_str());
    assert_eq!(send_sms().1["id"], sms["id"]);
    // A chat without a client id: random.
    let (_, c1) = Api::new(&a).post("/api/chats", json!({"queue": "Sales"}));
    let (_, c2) = Api::new(&a).post("/api/chats", json!({"queue": "Sales"}));
    assert_ne!(c1["id"], c2["id"]);

    // The same Message-ID from another sender to another queue is a new
    // email; the same message sent again is not.
    let smtp = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(pair.nodes[0].placement.smtp_port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let email = |from: &str, to: &str| {
        Message::builder()
            .from(from.parse().unwrap())
            .to(to.parse().unwrap())
            .subject("Hello")
            .message_id(Some("<same-1@customer.test>".into()))
            .body("Hello.".to_string())
            .unwrap()
    };
    let dave = email("dave@customer.test", "sales@example.test");
    smtp.send(&dave).expect("dave's email");
    smtp.send(&dave).expect("dave's email sent again");
    smtp.send(&email("eve@other.test", "support@example.test"))
        .expect("eve's email");
    let admin = Api::login(&a, USER, PASSWORD);
    let waiting = |queues: &Value, name: &str| {
        queues
            .as_array()
            .and_then(|qs| qs.iter().find(|q| q["queue"] == name))
            .and_then(|q| q["figures"]["waiting"].as_u64())
    };
    wait_for(
        &pair,
        Duration::from_secs(10),
        "both emails waiting",
        || {
            let (_, queues) = admin.get("/api/queues");
            // Sales: dave's email and the two chats and the SMS.
            (waiting(&queues, "Sales") == Some(4) && waiting(&queues, "Support") == Some(1))
                .then_some(())
        },
    );
}

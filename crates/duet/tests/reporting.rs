//! Reporting on a real pair: two `duet report writer`s, each with its
//! own database (one SQLite, one PostgreSQL), follow the committed stream
//! while chats are answered, wrapped up and abandoned; the active node is
//! killed (-9) during the traffic, one writer is killed and started
//! again, and the PostgreSQL server is stopped and started again under
//! the other. Each database's `duet report queues` equals what this test
//! sent, counted here: no duplicate, and no interval marked with a gap
//! (none was made). Without PostgreSQL (Debian's `postgresql`) the test
//! fails, unless `DUET_SKIP_POSTGRES=1`: then both databases are SQLite.
//!
//! The traffic is driven by a client written from docs/contact-center.md
//! (plain HTTP with ureq), not by duet-client.

mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use duet_report::Database;
use duet_report::testing::Cluster;
use harness::contact::{AGENT_PASSWORD, Api, sales_workgroup, set_up_directory};
use harness::report_writer::{Db, Writer, given, reading, writer};
use harness::{DUET, Pair, fast_pair, serving};
use serde_json::{Value, json};

/// Intervals of one minute: the shortest `duet report` takes, so the
/// test waits little for one to close.
const INTERVAL_MS: u64 = 60_000;
const CHATS: usize = 18;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A password in the PostgreSQL database's URL, never to be shown.
const DATABASE_PASSWORD: &str = "never-shown-4f1c";

/// Whether a session of `sessions` ended for `reason`.
fn ended_as(sessions: &[duet_report::store::SessionRow], reason: &str) -> bool {
    sessions
        .iter()
        .any(|s| s.end_reason.as_deref() == Some(reason))
}

/// The serving node's index.
fn active(pair: &Pair) -> Option<usize> {
    (0..2).find(|&i| serving(&pair.nodes[i].status()))
}

/// A POST to whichever node serves, with the caller's client id so a
/// retry after a switchover is applied once; the answer.
fn post(pair: &Pair, api: &Api, path: &str, mut body: Value, client_id: &str) -> Value {
    body["client_id"] = json!(client_id);
    let started = Instant::now();
    loop {
        let node = active(pair).unwrap_or(0);
        let (code, answer) = api.on(&pair.nodes[node].url()).post(path, body.clone());
        if code == 200 {
            return answer;
        }
        assert!(
            code == 0 || code == 503 || code == 429,
            "{path}: {code} {answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{path} refused for 30 s: {code} {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `id` is offered to alice (her view on the serving node).
fn offered_to_alice(pair: &Pair, alice: &Api, id: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        if let Some(node) = active(pair) {
            let (code, me) = alice.on(&pair.nodes[node].url()).get("/api/agent");
            let offered = me["interactions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|ix| ix["id"] == id && ix["state"]["Offered"]["agent"] == "alice");
            if code == 200 && offered {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{id} was never offered to alice\n{}", pair.logs());
}

/// What the test sent, as the report should count it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sent {
    offered: u64,
    answered: u64,
    abandoned: u64,
    handled: u64,
}

fn report(database: &Database, from_ms: u64, to_ms: u64) -> Vec<Value> {
    report_of("queues", database, from_ms, to_ms)
}

/// `duet report <which>` of one database as JSON.
fn report_of(which: &str, database: &Database, from_ms: u64, to_ms: u64) -> Vec<Value> {
    let out = duet_report(which, "json", &[database], (from_ms, to_ms));
    serde_json::from_str::<Vec<Value>>(&out).expect("the report as JSON")
}

/// `duet report <which>` of `databases` in one-minute intervals, as
/// `format`: what it printed.
fn duet_report(
    which: &str,
    format: &str,
    databases: &[&Database],
    (from_ms, to_ms): (u64, u64),
) -> String {
    let out = Command::new(DUET)
        .args(["report", which, "--format", format, "--interval-s", "60"])
        .args(["--from", &from_ms.to_string(), "--to", &to_ms.to_string()])
        .args(
            databases
                .iter()
                .flat_map(|d| ["--database".to_string(), given(d)]),
        )
        .output()
        .expect("duet report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn totals(lines: &[Value]) -> Sent {
    let sum = |k: &str| lines.iter().map(|l| l[k].as_u64().unwrap_or(0)).sum();
    Sent {
        offered: sum("offered"),
        answered: sum("answered"),
        abandoned: sum("abandoned"),
        handled: sum("handled"),
    }
}

/// The stream from `url` resuming after `after` (none when empty): its
/// socket, or the status it was refused with.
fn open_stream(url: &str, after: &str) -> Result<tungstenite::WebSocket<std::net::TcpStream>, u16> {
    use tungstenite::client::IntoClientRequest;
    let address = url.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let query = if after.is_empty() {
        String::new()
    } else {
        format!("?after={after}")
    };
    let mut request = format!("ws://{address}/api/stream/ws{query}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", harness::basic_auth().parse().unwrap());
    match tungstenite::client(request, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(answer))) => {
            Err(answer.status().as_u16())
        }
        Err(e) => panic!("the stream's handshake: {e}"),
    }
}

/// The first frame of the stream from `url` resuming after `after`.
fn first_frame(url: &str, after: &str) -> Value {
    let mut ws = open_stream(url, after).expect("the stream's handshake");
    match ws.read().expect("a first frame") {
        tungstenite::Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("{other:?}"),
    }
}

/// Sets Sales's `service_level_s` (its other attributes as the harness
/// set them) on the serving node; the times around the change.
fn set_service_level(pair: &Pair, node: usize, seconds: &str) -> (u64, u64) {
    let before_ms = now_ms();
    let mut sales = sales_workgroup();
    sales["service_level_s"] = json!(seconds);
    let (code, body) = pair.config_put(node, "/config/Workgroups/Sales", "Workgroup", sales, None);
    assert_eq!(code, 200, "{body}");
    (before_ms, now_ms())
}

/// Sales's versions: the harness's (no service level of its own) until
/// the change, then 7 s, still in effect.
fn service_level_versions(
    store: &duet_report::database::AnyStore,
    (before_ms, after_ms): (u64, u64),
) {
    use duet_report::ReportStore;
    let versions: Vec<_> = store
        .config_versions(duet_report::config::ConfigKind::Queue)
        .unwrap()
        .into_iter()
        .filter(|v| v.name == "Sales")
        .collect();
    let levels: Vec<Option<&str>> = versions
        .iter()
        .map(|v| {
            v.attributes
                .as_ref()
                .and_then(|a| a.get("service_level_s"))
                .map(String::as_str)
        })
        .collect();
    assert_eq!(levels, [None, Some("7")], "{versions:#?}");
    let changed_ms = versions[1].valid_from_ms;
    assert!(
        (before_ms..=after_ms).contains(&changed_ms),
        "changed at {changed_ms}, not in {before_ms}..={after_ms}"
    );
    assert_eq!(versions[0].valid_to_ms, Some(changed_ms));
    assert_eq!(versions[1].valid_to_ms, None);
}

/// The agent report: alice answered and handled what the test counted,
/// transferred nothing, and was logged in (and never not ready) from her
/// log-in to the end of the window.
fn agents_report_what_alice_did(
    db: &Database,
    from_ms: u64,
    to_ms: u64,
    sent: &Sent,
    (login_before_ms, login_after_ms): (u64, u64),
) {
    let lines = report_of("agents", db, from_ms, to_ms);
    assert!(lines.iter().all(|l| l["agent"] == "alice"), "{lines:#?}");
    let sum = |k: &str| -> f64 { lines.iter().map(|l| l[k].as_f64().unwrap_or(0.0)).sum() };
    assert_eq!(sum("answered") as u64, sent.answered, "{lines:#?}");
    assert_eq!(sum("handled") as u64, sent.handled, "{lines:#?}");
    assert_eq!(sum("transfers"), 0.0);
    assert_eq!(sum("not_ready_s"), 0.0, "{lines:#?}");
    let logged_in_s = sum("logged_in_s");
    let most_s = (to_ms - login_before_ms) as f64 / 1000.0;
    let least_s = (to_ms - login_after_ms) as f64 / 1000.0;
    assert!(
        logged_in_s >= least_s - 0.5 && logged_in_s <= most_s + 0.5,
        "{db}: logged in {logged_in_s} s, not {least_s}..{most_s}: {lines:#?}"
    );
    for l in &lines {
        assert_eq!(l["gap"], false, "{l}");
        assert_eq!(l["ready_s"], l["logged_in_s"], "{l}");
        let occupancy = l["occupancy"].as_f64().unwrap_or(0.0);
        assert!((0.0..=1.0).contains(&occupancy), "{l}");
    }
    assert!(sum("talk_s") > 0.0 && sum("wrap_up_s") > 0.0, "{lines:#?}");
}

#[test]
fn both_writers_report_the_traffic_sent_through_a_switchover_a_writer_restart_and_a_database_restart()
 {
    let dir = tempfile::tempdir().unwrap();
    // The second writer's database is PostgreSQL, its URL with a password.
    let cluster = Cluster::start_or_skip();
    let db2 = match &cluster {
        Some(cluster) => Db {
            database: given(&cluster.database())
                .replacen("postgres@", &format!("postgres:{DATABASE_PASSWORD}@"), 1)
                .parse()
                .unwrap(),
            log: dir.path().join("two.log"),
        },
        None => Db::sqlite(dir.path(), "two"),
    };
    // The nodes read both databases for `GET /api/reports/...`.
    let (mut pair, [db1, db2]) = reading([Db::sqlite(dir.path(), "one"), db2]);
    let first = active(&pair).expect("a serving node");
    set_up_directory(&pair, first);
    // sam supervises Support only: none of this traffic.
    let (code, body) = pair.config_put(
        first,
        "/config/Users/sam",
        "User",
        json!({"roles": "supervisor", "password": AGENT_PASSWORD, "supervises": "Support"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    // One writer starts on the active node, the other on the backup.
    let mut w1 = Writer(writer(&pair, first, &db1));
    let w2 = Writer(writer(&pair, 1 - first, &db2));

    // Sales's service level changes once the writers run: both record
    // the version before and the one after, and the report counts
    // against the one in effect.
    std::thread::sleep(Duration::from_secs(1));
    let (changed_before_ms, changed_after_ms) = set_service_level(&pair, first, "7");

    // The report starts at the first whole interval after the writers
    // began and Sales's service level changed: the version in effect
    // from its start.
    std::thread::sleep(Duration::from_secs(2));
    let from_ms = (now_ms() / INTERVAL_MS + 1) * INTERVAL_MS;
    std::thread::sleep(Duration::from_millis(
        from_ms.saturating_sub(now_ms()) + 200,
    ));

    let a = pair.nodes[first].url();
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let login_before_ms = now_ms();
    post(
        &pair,
        &alice,
        "/api/agent/login",
        json!({"media": ["chat"]}),
        "alice-login",
    );
    let login_after_ms = now_ms();
    let customer = Api::new(&a);
    let mut sent = Sent::default();
    for i in 0..CHATS {
        if i == CHATS / 2 {
            // The active node dies without a word; the backup takes over.
            let old = active(&pair).expect("a serving node");
            pair.nodes[old].kill9();
            pair.wait_until(Duration::from_secs(20), "the backup serves", |p| {
                serving(&p.nodes[1 - old].status())
            });
        }
        if i == CHATS / 4 {
            w1.0.kill().unwrap();
            w1.0.wait().unwrap();
        }
        if i == CHATS / 4 + 3 {
            w1 = Writer(writer(&pair, first, &db1));
        }
        // The PostgreSQL server stops (as an operator stops it) for two
        // chats after the switchover, then starts again.
        if let Some(cluster) = &cluster {
            if i == CHATS * 2 / 3 {
                cluster.stop().unwrap();
            }
            if i == CHATS * 2 / 3 + 2 {
                cluster.resume().unwrap();
            }
        }
        let chat = post(
            &pair,
            &customer,
            "/api/chats",
            json!({"queue": "Sales", "name": format!("customer {i}"),
                   "client_secret": format!("secret-of-chat-number-{i:04}")}),
            &format!("chat-{i}"),
        );
        sent.offered += 1;
        let id = chat["id"].as_str().expect("a chat id").to_string();
        let token = chat["token"].as_str().expect("a token").to_string();
        let leave = |client: &str| {
            let path = format!("/api/chats/{id}/leave");
            let started = Instant::now();
            loop {
                let node = active(&pair).unwrap_or(0);
                let (code, body) = customer.on(&pair.nodes[node].url()).post_with(
                    &path,
                    json!({"client_id": client}),
                    &[("x-duet-token", &token)],
                );
                if code == 200 {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{path}: {code} {body}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        if i % 3 == 2 {
            // The customer leaves before anyone answers.
            leave(&format!("leave-{i}"));
            sent.abandoned += 1;
            continue;
        }
        offered_to_alice(&pair, &alice, &id);
        post(
            &pair,
            &alice,
            &format!("/api/interactions/{id}/accept"),
            json!({}),
            &format!("accept-{i}"),
        );
        sent.answered += 1;
        leave(&format!("leave-{i}"));
        sent.handled += 1;
        post(
            &pair,
            &alice,
            &format!("/api/interactions/{id}/wrap-up"),
            json!({"code": "sale", "notes": format!("chat {i}")}),
            &format!("wrap-{i}"),
        );
    }
    let to_ms = (now_ms() / INTERVAL_MS + 1) * INTERVAL_MS;
    // Heartbeats carry each writer's coverage past the last interval.
    std::thread::sleep(Duration::from_millis(
        to_ms.saturating_sub(now_ms()) + 3_000,
    ));

    for db in [&db1, &db2] {
        let (log, db) = (db.log(), &db.database);
        let started = Instant::now();
        let lines = loop {
            let lines = report(db, from_ms, to_ms);
            if totals(&lines) == sent || started.elapsed() > Duration::from_secs(30) {
                break lines;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert_eq!(totals(&lines), sent, "{db}: {lines:#?}\n{log}");
        assert!(!lines.is_empty());
        for line in &lines {
            assert_eq!(
                line["gap"], false,
                "{db}: an unmarked or unexpected gap: {line}\n{log}"
            );
            assert_eq!(line["lost_at_switchover"], 0, "{line}");
            assert_eq!(line["transferred"], 0, "{line}");
            assert_eq!(line["service_level_s"], 7.0, "the one in effect: {line}");
        }
        agents_report_what_alice_did(db, from_ms, to_ms, &sent, (login_before_ms, login_after_ms));
    }
    // Row by row: one summary per chat with its disposition, the writer
    // killed found at its next start, and no gap recorded anywhere.
    w1.stop();
    w2.stop();
    for db in [&db1, &db2] {
        let store = db.database.open_read_only().unwrap();
        let dispositions = store.dispositions().unwrap();
        assert_eq!(
            dispositions.get("abandoned").copied(),
            Some(sent.abandoned),
            "{dispositions:?}"
        );
        assert_eq!(
            dispositions.get("customer_ended").copied(),
            Some(sent.handled),
            "{dispositions:?}"
        );
        assert_eq!(store.count("wrap_ups").unwrap() as u64, sent.handled);
        service_level_versions(&store, (changed_before_ms, changed_after_ms));
        assert_eq!(
            store.gaps().unwrap(),
            [],
            "{}: {:?}\n{}",
            db.database,
            store.sessions().unwrap(),
            db.log()
        );
        let sessions = store.sessions().unwrap();
        assert!(
            sessions
                .iter()
                .all(|s| s.hello.as_deref() == Some("resume")),
            "{}: every connection resumed, the first from the pair's first change: {sessions:?}",
            db.database
        );
    }
    let sessions = db1.database.open_read_only().unwrap().sessions().unwrap();
    assert!(
        ended_as(&sessions, "writer_lost"),
        "the killed writer's session: {sessions:?}"
    );
    assert!(
        ended_as(&sessions, "disconnected"),
        "the session on the node killed: {sessions:?}"
    );
    for db in [&db1, &db2] {
        let sessions = db.database.open_read_only().unwrap().sessions().unwrap();
        assert_eq!(
            sessions.last().and_then(|s| s.end_reason.as_deref()),
            Some("shutdown"),
            "{}: {sessions:?}",
            db.database
        );
    }
    if cluster.is_some() {
        // The server stopped under the writer: its session ended as
        // `database_lost`, said once on its stderr, and the password in
        // the URL shown nowhere.
        let sessions = db2.database.open_read_only().unwrap().sessions().unwrap();
        assert!(
            ended_as(&sessions, "database_lost"),
            "the session the server stopped under: {sessions:?}"
        );
        let log = db2.log();
        assert_eq!(
            log.matches("waiting for it").count(),
            1,
            "said once, not per try: {log}"
        );
        assert!(!log.contains(DATABASE_PASSWORD), "{log}");
    }

    // The stream resumes after a position the node holds, and says
    // `gap` for one it never had (the writer then records a gap).
    let node = pair.nodes[active(&pair).expect("a serving node")].url();
    let store = db2.database.open_read_only().unwrap();
    let cursor = duet_report::ReportStore::cursor(&store)
        .unwrap()
        .expect("a cursor");
    assert_eq!(first_frame(&node, &cursor.to_string())["type"], "resume");
    let unknown = format!("{}.{}", cursor.epoch + 7, cursor.seq);
    assert_eq!(first_frame(&node, &unknown)["type"], "gap");
    assert_eq!(open_stream(&node, "not-a-position").err(), Some(400));

    // Both databases report the same figures, each on its own.
    let (db1, db2) = (&db1.database, &db2.database);
    let (one, two) = (report(db1, from_ms, to_ms), report(db2, from_ms, to_ms));
    let strip = |lines: &[Value]| -> Vec<Value> {
        lines
            .iter()
            .map(|l| {
                let mut l = l.clone();
                l["source"] = Value::Null;
                l
            })
            .collect()
    };
    assert_eq!(strip(&one), strip(&two));
    // And read together, each interval from one of them.
    let csv = duet_report("queues", "csv", &[db1, db2], (from_ms, to_ms));
    assert!(
        csv.starts_with("start_ms,end_ms,queue,source,gap,offered"),
        "{csv}"
    );
    assert!(!csv.contains(DATABASE_PASSWORD), "{csv}");
    reports_on_the_node(&pair, &node, &[db1, db2], from_ms, to_ms);
}

/// `GET /api/reports/...` on a node configured with both databases
/// answers a supervisor what `duet report` does over them; a supervisor
/// of another queue sees none of it.
fn reports_on_the_node(pair: &Pair, node: &str, databases: &[&Database], from_ms: u64, to_ms: u64) {
    let query = format!("?from={from_ms}&to={to_ms}&interval_s=60");
    let sue = Api::login(node, "sue", AGENT_PASSWORD);
    let sam = Api::login(node, "sam", AGENT_PASSWORD);
    for which in ["queues", "agents"] {
        let cli: Value =
            serde_json::from_str(&duet_report(which, "json", databases, (from_ms, to_ms))).unwrap();
        let path = format!("/api/reports/{which}{query}");
        let (code, api) = sue.get(&path);
        assert_eq!(code, 200, "{path}: {api}\n{}", pair.logs());
        assert_eq!(api, cli, "{path}");
        assert!(!cli.as_array().unwrap().is_empty(), "{which}: {cli}");
        let (code, narrowed) = sam.get(&path);
        assert_eq!((code, narrowed), (200, json!([])), "{path} as sam");
        // The same report as a chart names what it draws.
        let svg = duet_report(which, "svg", databases, (from_ms, to_ms));
        let named = if which == "queues" { "Sales" } else { "alice" };
        assert!(
            svg.starts_with("<svg") && svg.contains(named),
            "{which}: {svg}"
        );
    }
    // Staffing: each interval's estimate works from what was offered
    // there and reaches the goal it forecasts.
    let staffing: Vec<Value> = serde_json::from_str(&duet_report(
        "staffing",
        "json",
        databases,
        (from_ms, to_ms),
    ))
    .unwrap();
    let offered: u64 = staffing
        .iter()
        .map(|l| l["offered"].as_u64().unwrap())
        .sum();
    assert_eq!(offered, CHATS as u64, "{staffing:#?}");
    for l in staffing.iter().filter(|l| l["aht_s"].is_number()) {
        let agents = l["agents"].as_u64().expect("an estimate");
        let traffic = l["traffic_erlangs"].as_f64().unwrap();
        assert!(agents as f64 > traffic, "{l}");
        assert!(l["forecast_service_level"].as_f64().unwrap() >= 0.8, "{l}");
    }
    let (code, body) = sue.get("/api/reports/queues?from=yesterday&to=0");
    assert_eq!(code, 400, "{body}");
}

/// `duet report stuck` of `database` with chats allowed one second.
fn stuck(database: &Database) -> Vec<Value> {
    let out = Command::new(DUET)
        .args(["report", "stuck", "--format", "json", "--limit", "chat=1s"])
        .args(["--database", &given(database)])
        .output()
        .expect("duet report stuck");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the stuck list as JSON")
}

/// A chat whose agent never wraps it up stands still: `duet report
/// stuck` lists it past its media's limit, `duet ctl end-interaction`
/// ends it as the master administrator, and the report no longer lists
/// it. The writer starts only once the chat stands still: a writer with
/// nothing yet is sent every change from the pair's first.
#[test]
fn a_wrap_up_left_standing_is_reported_stuck_and_ended_from_ctl() {
    let pair = fast_pair();
    set_up_directory(&pair, 0);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::sqlite(dir.path(), "report");
    let a = pair.nodes[0].url();
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    post(
        &pair,
        &alice,
        "/api/agent/login",
        json!({"media": ["chat"]}),
        "login",
    );
    let chat = post(
        &pair,
        &Api::new(&a),
        "/api/chats",
        json!({"queue": "Sales", "name": "Ida", "client_secret": "the-secret-of-ida-0001"}),
        "c",
    );
    let id = chat["id"].as_str().unwrap().to_string();
    offered_to_alice(&pair, &alice, &id);
    post(
        &pair,
        &alice,
        &format!("/api/interactions/{id}/accept"),
        json!({}),
        "accept",
    );
    // alice ends the chat; Sales asks a wrap-up code, and she gives none.
    post(
        &pair,
        &alice,
        &format!("/api/interactions/{id}/disconnect"),
        json!({}),
        "bye",
    );
    let node = active(&pair).expect("a serving node");
    let hello = first_frame(&pair.nodes[node].url(), "");
    assert_eq!(hello["type"], "resume", "{hello}");
    let _writer = Writer(writer(&pair, node, &db));

    let started = Instant::now();
    let Database::Sqlite(file) = &db.database else {
        unreachable!("an SQLite file")
    };
    let listed = loop {
        // The writer makes its database when it starts.
        let list = if file.exists() {
            stuck(&db.database)
        } else {
            Vec::new()
        };
        if let Some(s) = list.iter().find(|s| s["id"] == id.as_str()) {
            break s.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{id} never listed as stuck: {list:?}\n{}",
            db.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(listed["phase"], "wrap_up", "{listed}");
    assert_eq!(listed["agent"], "alice", "{listed}");
    assert!(listed["still_ms"].as_u64().unwrap() > 1_000, "{listed}");

    let out = pair.ctl(&["end-interaction", &id]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sue = Api::login(&a, "sue", AGENT_PASSWORD);
    let (_, ix) = sue.get(&format!("/api/interactions/{id}"));
    assert!(ix["state"]["Closed"].is_object(), "{ix}");
    assert!(ix["wrap_up"].is_null(), "closed without a code: {ix}");
    let started = Instant::now();
    while stuck(&db.database).iter().any(|s| s["id"] == id.as_str()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{id} still listed as stuck after it was ended"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The agent is free for the next one.
    let (_, me) = alice.get("/api/agent");
    assert!(me["interactions"].as_array().unwrap().is_empty(), "{me}");
}

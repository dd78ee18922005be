//! The served OpenAPI document against the server: Schemathesis (the
//! OpenAPI-driven API tester, from PyPI; `scripts/test.sh` installs the
//! pinned version into `target/schemathesis`) calls every route of
//! `GET /api/openapi.json` on a real pair as a signed-in administrator
//! (configuration changes with a bootstrap master user's Basic
//! credentials, which those routes take),
//! with requests the document allows and requests it does not, and
//! checks every answer against the document: no server error, only
//! documented statuses, bodies and content types, what the document
//! allows accepted and what it does not refused. Any failure it reports
//! fails the test, with its output.
//!
//! Without Schemathesis the test fails, unless `DUET_SKIP_SCHEMATHESIS=1`.
//! `DUET_SCHEMATHESIS` names another executable; `DUET_SCHEMATHESIS_SEED`
//! another seed (the default one keeps CI's runs the same).

mod harness;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::contact::{Api, set_up_directory};
use harness::{PASSWORD, Pair, Setup, USER, fast_params};

/// The version `scripts/test.sh` installs; flags differ between versions.
const VERSION: &str = "4.32.5";
/// Test cases per operation and phase, and the run's whole time: enough
/// to reach every route's refusals, short enough for CI.
const EXAMPLES_MAX: &str = "60";
const RUN_SECONDS_MAX: u64 = 170;
const SEED: &str = "20261202";

/// Operations the run leaves out, each for a reason:
const EXCLUDED: &[(&str, &str)] = &[
    // Asks for a switchover: the active node steps down and every later
    // change is refused 503 by it.
    ("POST /api/switch", "switches the pair over mid-run"),
    // Injects faults (stops answering the peer, kills modules).
    ("POST /api/fault", "injects faults into the node mid-run"),
    // Ends every session of the caller: the run's own token would be
    // refused from then on.
    ("DELETE /api/sessions", "signs the run's administrator out"),
    // WebSocket handshakes: an accepted one (101) turns the connection
    // into a socket that Schemathesis, a request/response client, cannot
    // read, and the handshake's headers are checked by the WebSocket
    // library. tests/access.rs, contact.rs and replication.rs open them.
    ("GET /api/agent/ws", "a WebSocket handshake"),
    ("GET /api/chats/{id}/ws", "a WebSocket handshake"),
    ("GET /api/stream/ws", "a WebSocket handshake"),
];

/// Per operation: the one place a check is told more than the document
/// says, each with its reason.
const CONFIG: &str = r#"
# POST /api/callbacks: the window is checked against the node's clock
# (one that ends before now, or before its own from_ms, is refused 400),
# which a schema cannot state; every other check stands.
[[operations]]
include-name = "POST /api/callbacks"
checks.positive_data_acceptance.expected-statuses = [200, 400, 401, 403, 404, 409, 429]

# POST /api/interactions/{id}/{action}: one route for fifteen actions with
# one body; what an action needs in it (callback-attempt an outcome,
# message a message_id, transfer a queue or an agent, ...) depends on the
# action in the path, which the body's schema cannot be tied to, so such
# a body is refused 400 naming what is missing.
[[operations]]
include-name = "POST /api/interactions/{id}/{action}"
checks.positive_data_acceptance.expected-statuses = [200, 400, 401, 403, 404, 409, 429]

# PUT /api/config: what an object may hold depends on its class and where
# it goes (a ServerParameter's value against the parameter's kind and
# range, a user only under /config/Users, attribute names of 1 to 255
# bytes, a path without . or .. segments), which the body's schema cannot
# state: such a body is refused 400 saying why.
[[operations]]
include-name = "PUT /api/config"
checks.positive_data_acceptance.expected-statuses = [200, 400, 401, 403, 404, 409, 429]
"#;

fn executable() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DUET_SCHEMATHESIS") {
        return Some(path.into());
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/schemathesis/bin/schemathesis");
    if installed.exists() {
        return Some(installed);
    }
    let on_path = Command::new("schemathesis")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    on_path.then(|| PathBuf::from("schemathesis"))
}

#[test]
fn schemathesis_finds_nothing_wrong_in_the_served_document() {
    if std::env::var("DUET_SKIP_SCHEMATHESIS").is_ok_and(|v| v == "1") {
        eprintln!("DUET_SKIP_SCHEMATHESIS=1: not run");
        return;
    }
    let schemathesis = executable().unwrap_or_else(|| {
        panic!(
            "Schemathesis {VERSION} is not installed: scripts/test.sh installs it into \
             target/schemathesis (python3 -m venv target/schemathesis && \
             target/schemathesis/bin/pip install schemathesis=={VERSION}); \
             DUET_SKIP_SCHEMATHESIS=1 skips this test"
        )
    });
    let version = Command::new(&schemathesis)
        .arg("--version")
        .output()
        .expect("schemathesis --version");
    let version = String::from_utf8_lossy(&version.stdout).to_string();
    assert!(
        version.contains(VERSION),
        "{} is {version:?}; this test is written for {VERSION}'s flags",
        schemathesis.display()
    );

    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    let a = pair.nodes[0].url();
    let admin = Api::login(&a, USER, PASSWORD);
    let token = admin.token.clone().expect("a session");

    let seed = std::env::var("DUET_SCHEMATHESIS_SEED").unwrap_or_else(|_| SEED.into());
    let reports = tempfile::tempdir().expect("a directory");
    let config = reports.path().join("schemathesis.toml");
    // A customer's chat, so the customer's routes and the routes on an
    // interaction reach a real one (with its token) rather than only
    // refusing unknown ids.
    let (code, chat) = Api::new(&a).post(
        "/api/chats",
        serde_json::json!({"queue": "Sales", "name": "Carol"}),
    );
    assert_eq!(code, 200, "{chat}");
    let (id, customer) = (
        chat["id"].as_str().expect("an id"),
        chat["token"].as_str().expect("a token"),
    );
    // The session for every route; configuration changes take a bootstrap
    // master user's Basic credentials instead (the document says so).
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    // (Top-level keys first: after a table they would belong to it.)
    let session = format!("headers = {{ \"Authorization\" = \"Bearer {token}\" }}\n");
    let chat = format!(
        r#"
[[operations]]
include-name = ["PUT /api/config", "DELETE /api/config"]
headers = {{ "Authorization" = "Basic {basic}" }}

[[operations]]
include-path-regex = '^/api/chats/\{{id\}}'
headers = {{ "x-duet-token" = "{customer}" }}
parameters = {{ "path.id" = "{id}" }}

[[operations]]
include-path-regex = '^/api/interactions/\{{id\}}'
parameters = {{ "path.id" = "{id}" }}
"#
    );
    std::fs::write(&config, format!("{session}{CONFIG}{chat}")).expect("the configuration");
    let mut command = Command::new(&schemathesis);
    command
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{a}/api/openapi.json"))
        .args(["--url", &a])
        .args(["--checks", "all"])
        .args(["--max-examples", EXAMPLES_MAX])
        .args(["--seed", &seed])
        .args(["--workers", "2"])
        .args(["--request-timeout", "20"])
        .arg("--no-color")
        // A throwaway pair's secrets: shown whole, so a failure can be
        // replayed by hand.
        .args(["--output-sanitize", "false"])
        .arg("--report-dir")
        .arg(reports.path())
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(reports.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _why) in EXCLUDED {
        command.args(["--exclude-name", name]);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("schemathesis starts");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = out.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("schemathesis runs") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(RUN_SECONDS_MAX + 20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (stdout, stderr) = (reader.join().unwrap(), err_reader.join().unwrap());
    let output = format!("{stdout}\n{stderr}");
    println!("{output}");
    let status = status.unwrap_or_else(|| {
        panic!("schemathesis ran past {RUN_SECONDS_MAX} s and was stopped:\n{output}")
    });
    assert!(
        status.success(),
        "schemathesis found failures ({status}):\n{output}\n{}",
        pair.logs()
    );
    // Every node still serves after the run.
    let (code, _) = admin.get("/api/status");
    assert_eq!(code, 200);
    drop(pair);
}

//! The `duet` binary as an administrator uses it: exit codes, JSON, errors.

use std::process::{Command, Output};

fn duet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_duet"))
        .args(args)
        .output()
        .expect("the duet binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(args: &[&str]) -> serde_json::Value {
    let o = duet(args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

#[test]
fn help_explains_each_subcommand() {
    let o = duet(&["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains("simulate"), "{text}");
    assert!(text.contains("params"), "{text}");
}

#[test]
fn every_issue_scenario_runs_and_reports_the_required_fields() {
    for name in [
        "module-down",
        "module-restarts",
        "notifier-lost",
        "main-link-down",
        "network-down",
        "primary-unreachable",
        "wan-partition",
        "manual-mode",
        "upgrade-higher",
    ] {
        let v = json(&["simulate", "--scenario", name, "--json"]);
        assert!(v["switched"].is_boolean(), "{name}");
        assert!(v["reason"].is_string(), "{name}");
        assert!(v["final_state"].is_string(), "{name}");
        if v["switched"].as_bool().unwrap() {
            assert!(v["switch_at_s"].is_number(), "{name}");
        } else {
            assert!(v["switch_at_s"].is_null(), "{name}");
        }
    }
}

#[test]
fn module_down_matches_the_seed_sample() {
    let v = json(&["simulate", "--scenario", "module-down", "--json"]);
    assert_eq!(v["switched"], true);
    assert_eq!(v["reason"], "TS Ping Failure");
    assert_eq!(v["final_state"], "StatePrimary");
}

#[test]
fn the_timeline_is_printed_in_the_seeds_log_style() {
    let o = duet(&["simulate", "--scenario", "notifier-lost"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(
        text.contains("Scheduling reconnect timeout to execute in 30 second(s)"),
        "{text}"
    );
    assert!(
        text.contains("Switchover Service: Switch Initiated"),
        "{text}"
    );
    assert!(text.contains("Outcome: switched 30.0"), "{text}");
}

#[test]
fn a_parameter_file_changes_the_outcome() {
    let dir = std::env::temp_dir().join(format!("duet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("params.toml");
    std::fs::write(&file, "\"Switchover Reconnect Timeout\" = 5\n").unwrap();
    let v = json(&[
        "simulate",
        "--scenario",
        "notifier-lost",
        "--json",
        "--params",
        file.to_str().unwrap(),
    ]);
    let at = v["switch_at_s"].as_f64().unwrap();
    assert!((5.0..6.0).contains(&at), "{at}");

    std::fs::write(
        &file,
        "\"Switchover TS Timeout\" = 99\n\"Switchover Bogus\" = 1\n",
    )
    .unwrap();
    let o = duet(&[
        "simulate",
        "--scenario",
        "module-down",
        "--params",
        file.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("Switchover TS Timeout: \"99\" is out of range; allowed: 5-60 s"),
        "{err}"
    );
    assert!(
        err.contains("unknown server parameter \"Switchover Bogus\""),
        "{err}"
    );

    let o = duet(&["params", "--check", file.to_str().unwrap()]);
    assert!(!o.status.success());
    std::fs::write(&file, "\"Switchover Max UDP Failures\" = 3\n").unwrap();
    let o = duet(&["params", "--check", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("warning: Switchover Max UDP Failures is ignored"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_scenarios_and_missing_files_fail_clearly() {
    let o = duet(&["simulate", "--scenario", "meteor-strike"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown scenario \"meteor-strike\"; the scenarios are: module-down")
    );
    let o = duet(&[
        "simulate",
        "--scenario",
        "module-down",
        "--params",
        "/nonexistent/params.toml",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cannot read the parameter file /nonexistent/params.toml"));
}

#[test]
fn a_random_seed_replays_identically() {
    let a = json(&["simulate", "--seed", "42", "--json"]);
    let b = json(&["simulate", "--seed", "42", "--json"]);
    assert_eq!(a, b);
    assert!(a["violation"].is_null());
}

#[test]
fn the_demo_runs_a_pair_shows_the_takeover_and_cleans_up() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_duet"))
        .args(["demo", "--seconds", "12"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    stdin.write_all(b"k\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // The active node's lease: b's promise, then, after the kill, a's
    // process found gone.
    assert!(
        text.contains("a: ACTIVE [lease: the peer promised] (StatePrimary"),
        "{text}"
    );
    assert!(text.contains(">>> kill -9 a"), "{text}");
    assert!(
        text.contains("b: ACTIVE [lease: the peer's process is gone] (StatePrimary"),
        "{text}"
    );
    assert!(
        text.contains("b: Switchover Service: Switch Initiated"),
        "{text}"
    );
    let dir = text
        .lines()
        .find_map(|l| l.strip_prefix("Stopped both nodes and removed "))
        .expect("a final line")
        .trim_end_matches('.');
    assert!(!std::path::Path::new(dir).exists(), "{dir} left behind");
}

#[test]
fn passwd_prints_a_hash_and_config_check_warns_about_plain_passwords() {
    use duet_node::bootstrap::User;
    use duet_node::local_pair::{NodeSpec, PairSpec, write};
    use std::io::Write as _;

    let mut child = Command::new(env!("CARGO_BIN_EXE_duet"))
        .arg("passwd")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("duet passwd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a long password\n")
        .expect("the password is written");
    let o = child.wait_with_output().expect("duet passwd ends");
    assert!(o.status.success(), "{}", stderr(&o));
    let hash = stdout(&o).trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(duet_node::passwords::matches(
        "a long password",
        Some(&hash)
    ));

    let dir = tempfile::tempdir().expect("a directory");
    let node = |name: &str, port: u16| NodeSpec {
        name: name.into(),
        address: "127.0.0.1".parse().unwrap(),
        arbiter_port: port,
        link_port: port + 1,
        http_port: port + 2,
        smtp_port: port + 3,
        http_listen: None,
        release: None,
    };
    let user = |name: &str, password: &str| User {
        name: name.into(),
        password: password.into(),
        remote_control: true,
        master: true,
    };
    let spec = PairSpec {
        nodes: [node("a", 40_000), node("b", 40_010)],
        params_toml: String::new(),
        users: vec![user("hashed", &hash), user("plain", "a plain password")],
        fault_injection: false,
        hooks: Default::default(),
        witness: None,
        limits: Default::default(),
        reporting_databases: Vec::new(),
    };
    let [a, _] = write(dir.path(), &spec).expect("the pair's files");
    let o = duet(&["config", "check", a.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("warning: user \"plain\" has a plain password")
            && text.contains("duet passwd")
            && !text.contains("\"hashed\""),
        "{text}"
    );
}

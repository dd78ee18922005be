//! Two real `duet serve` processes on loopback: roles, switchover after
//! `kill -9`, SIGSTOP and module faults, manual switch, manual mode, upgrade
//! state, credentials, and refusal of strangers. The sampler checks the
//! fencing invariants every 50 ms throughout.

mod harness;

use std::time::Duration;

use harness::{Pair, Setup, event_messages, fast_params, serving};

fn fast() -> Setup {
    Setup {
        params: fast_params(),
        ..Setup::default()
    }
}

fn b_active(p: &Pair) -> bool {
    serving(&p.nodes[1].status())
}

fn reason(p: &Pair, node: usize) -> Option<String> {
    p.nodes[node].status().and_then(|s| s.last_switch_reason)
}

#[test]
fn the_pair_finds_its_roles_and_ctl_status_shows_both_nodes() {
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let out = pair.ctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("a          A      active    StatePrimary"),
        "{text}"
    );
    assert!(
        text.contains("b          B      backup    StateBackup"),
        "{text}"
    );
    assert!(text.contains("up/up"), "{text}");
    assert!(
        // Change 1: the first active node's takeover of the interactions.
        text.contains("configuration replication: in sync; last change 1"),
        "{text}"
    );
    let role: serde_json::Value = harness::agent(Duration::from_secs(5))
        .get(&format!("{}/api/role", pair.nodes[1].url()))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(role["backup"], true, "the seed's Query Backup");
    assert_eq!(role["active"], "a");
    pair.assert_invariants();
}

#[test]
fn kill_9_of_the_active_switches_and_the_old_active_rejoins_as_backup() {
    let mut pair = Pair::loopback(fast());
    pair.start();
    let epoch_before = pair.nodes[0].status().unwrap().epoch;
    pair.nodes[0].kill9();
    pair.wait_until(Duration::from_secs(10), "b active", b_active);
    assert_eq!(
        reason(&pair, 1).as_deref(),
        Some("Loss of Connection to Notifier")
    );
    let b = pair.nodes[1].status().unwrap();
    assert!(b.epoch > epoch_before, "a takeover raises the epoch");
    // The seed reboots the former active; duet's rejoins by itself.
    pair.nodes[0].start(&[]);
    pair.wait_until(
        Duration::from_secs(10),
        "a back as backup with links up",
        |p| {
            p.nodes[0]
                .status()
                .is_some_and(|s| !s.serving && s.main_link_up && s.aux_link_up)
        },
    );
    let events = event_messages(&pair.data_dir(1));
    let i = events
        .iter()
        .position(|m| m == "b: Loss of Connection to Notifier")
        .expect("reason logged");
    assert_eq!(events[i + 1], "b: Switchover Service: Switch Initiated");
    pair.assert_invariants();
}

#[test]
fn a_manual_switch_with_ctl_swaps_the_roles_and_is_logged_on_both_nodes() {
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let out = pair.ctl(&["switch"]);
    assert!(
        !out.status.success(),
        "without a terminal, confirmation is required"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("run with --yes"));
    let out = pair.ctl(&["switch", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("b is now the active node"));
    // The former active steps down at once (the takeover notice) and rejoins.
    pair.wait_until(Duration::from_secs(5), "a backup again", |p| {
        p.nodes[0]
            .status()
            .is_some_and(|s| !s.serving && s.main_link_up)
    });
    assert_eq!(reason(&pair, 1).as_deref(), Some("Manual Switchover"));
    // "If the backup server can still communicate with the active server, it
    // updates the event log on the active server."
    let on_a = event_messages(&pair.data_dir(0));
    assert!(
        on_a.contains(&"b: Manual Switchover".to_string()),
        "{on_a:#?}"
    );
    assert!(
        on_a.contains(&"b: Switchover Service: Switch Initiated".to_string()),
        "{on_a:#?}"
    );
    pair.assert_invariants();
}

#[test]
fn manual_switch_only_mode_does_not_switch_when_the_active_dies() {
    let mut pair = Pair::loopback(fast());
    pair.nodes[0].start(&[]);
    pair.nodes[1].start(&["/ManualSwitchOnly"]);
    pair.wait_until(Duration::from_secs(20), "b backup", |p| {
        p.nodes[1]
            .status()
            .is_some_and(|s| s.main_link_up && !s.automatic)
    });
    pair.start_sampling();
    pair.nodes[0].kill9();
    pair.holds_for(Duration::from_secs(3), "b not active", |p| !b_active(p));
    pair.assert_invariants();
}

#[test]
fn an_upgrade_state_does_not_switch_automatically() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        releases: ["2026.1.0".into(), "2026.2.0".into()],
        ..Setup::default()
    });
    pair.start();
    let b = pair.nodes[1].status().unwrap();
    assert_eq!(b.state.seed_name(), "StateUpgradeHigher");
    assert!(!b.automatic);
    let out = pair.ctl(&["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("manual"));
    pair.nodes[0].kill9();
    pair.holds_for(Duration::from_secs(3), "b not active", |p| !b_active(p));
    pair.assert_invariants();
}

#[test]
fn a_hung_module_makes_the_backup_switch_with_a_ts_ping_failure() {
    let mut pair = Pair::loopback(fast());
    pair.start();
    pair.nodes[0].fault("interactions", "hang");
    pair.wait_until(Duration::from_secs(10), "b active", b_active);
    assert_eq!(reason(&pair, 1).as_deref(), Some("TS Ping Failure"));
    pair.wait_until(Duration::from_secs(5), "a stepped down", |p| {
        !serving(&p.nodes[0].status())
    });
    pair.assert_invariants();
}

#[test]
fn a_module_restarting_too_often_makes_the_backup_switch() {
    let mut pair = Pair::loopback(fast());
    pair.start();
    for _ in 0..3 {
        let (code, body) = pair.nodes[0].post(
            "/api/fault",
            serde_json::json!({"module": "interactions", "fault": "crash"}),
            Some((harness::USER, harness::PASSWORD)),
        );
        // On a loaded machine the switch can come between the last check
        // and this crash (a node stepping down runs no modules): what
        // follows checks that b took over, and why.
        if code != 202 {
            eprintln!("the crash was refused ({code}): {body}");
            break;
        }
        // The supervisor restarts it with a new incarnation.
        pair.wait_until(Duration::from_secs(5), "module back", |p| {
            serving(&p.nodes[1].status()) || {
                let (code, _) = p.nodes[0].post(
                    "/api/fault",
                    serde_json::json!({"module": "interactions", "fault": "recover"}),
                    Some((harness::USER, harness::PASSWORD)),
                );
                code == 202
            }
        });
        std::thread::sleep(Duration::from_millis(400));
        if b_active(&pair) {
            break;
        }
    }
    pair.wait_until(Duration::from_secs(10), "b active", b_active);
    assert_eq!(
        reason(&pair, 1).as_deref(),
        Some("TS Ping Failure: module restarting too often")
    );
    pair.assert_invariants();
}

#[test]
fn a_frozen_active_is_replaced_and_steps_down_when_it_thaws() {
    let mut pair = Pair::loopback(fast());
    pair.start();
    pair.nodes[0].signal("STOP");
    pair.wait_until(Duration::from_secs(10), "b active", b_active);
    pair.nodes[0].signal("CONT");
    pair.wait_until(
        Duration::from_secs(10),
        "a stepped down and rejoined",
        |p| {
            p.nodes[0]
                .status()
                .is_some_and(|s| !s.serving && s.main_link_up)
        },
    );
    pair.assert_invariants();
}

#[test]
fn switching_needs_the_remote_control_right() {
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let b = &pair.nodes[1];
    let (code, _) = b.post("/api/switch", serde_json::json!({}), None);
    assert_eq!(code, 401);
    let (code, _) = b.post(
        "/api/switch",
        serde_json::json!({}),
        Some((harness::USER, "wrong-password")),
    );
    assert_eq!(code, 401);
    let (code, body) = b.post(
        "/api/switch",
        serde_json::json!({}),
        Some(("viewer", "just-looking")),
    );
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("Remote Control"), "{body}");
    let (code, body) = pair.nodes[0].post(
        "/api/switch",
        serde_json::json!({}),
        Some((harness::USER, harness::PASSWORD)),
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("already the active server"), "{body}");
    // The active's own event-log entries reach the backup's log too.
    pair.wait_until(Duration::from_secs(3), "a's entry in b's log", |p| {
        event_messages(&p.data_dir(1)).iter().any(|m| {
            m.starts_with("a: Switch request refused: this server is already the active server")
        })
    });
    assert!(pair.nodes[1].log().contains("refused switch"));
    assert!(!b_active(&pair));
    pair.assert_invariants();
}

#[test]
fn strangers_and_garbage_on_the_link_are_refused_and_the_pair_carries_on() {
    use std::io::Write;
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let link = format!("127.0.0.1:{}", pair.nodes[0].placement.link_port);
    let mut garbage = std::net::TcpStream::connect(&link).unwrap();
    let _ = garbage.write_all(&[0xff; 4096]);
    drop(garbage);
    // A TLS client with a certificate from another authority.
    let status = std::process::Command::new(harness::DUET)
        .args(["certs", "init", "--nodes", "a,b", "--out"])
        .arg(pair.dir.path().join("stranger"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let stranger = pair.dir.path().join("stranger");
    let identity = duet_link::tls::Identity {
        ca_pem: std::fs::read_to_string(pair.dir.path().join("certs/ca.pem")).unwrap(),
        cert_pem: std::fs::read_to_string(stranger.join("b.pem")).unwrap(),
        key_pem: std::fs::read_to_string(stranger.join("b.key")).unwrap(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(&link).await.unwrap();
        let connector =
            tokio_rustls::TlsConnector::from(duet_link::tls::client_config(&identity).unwrap());
        let result = connector
            .connect(duet_link::tls::peer_name("a").unwrap(), tcp)
            .await;
        if let Ok(mut tls) = result {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = tls.write_all(b"hello").await;
            let mut buf = [0u8; 16];
            assert!(
                matches!(tls.read(&mut buf).await, Ok(0) | Err(_)),
                "a stranger got an answer"
            );
        }
    });
    pair.wait_until(Duration::from_secs(3), "the refusal logged", |p| {
        p.nodes[0]
            .log()
            .contains("without a valid pair certificate")
    });
    pair.holds_for(
        Duration::from_secs(1),
        "a still active, b still backup",
        |p| serving(&p.nodes[0].status()) && !b_active(p),
    );
    pair.assert_invariants();
}

#[test]
fn commence_and_discontinue_hooks_run_on_role_changes() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("hooks.log");
    let line = |event: &str| {
        format!(
            "echo \"{event} $DUET_EVENT $DUET_NODE $DUET_EPOCH\" >> {}",
            record.display()
        )
    };
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        hooks: duet_node::bootstrap::Hooks {
            commence: vec![line("C")],
            discontinue: vec![line("D")],
            webhooks: Vec::new(),
        },
        ..Setup::default()
    });
    pair.start();
    let out = pair.ctl(&["switch", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    pair.wait_until(Duration::from_secs(5), "hooks ran", |_| {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        text.contains("C commence b") && text.contains("D discontinue a")
    });
    let text = std::fs::read_to_string(&record).unwrap();
    assert!(text.contains("C commence a 2"), "a's own start: {text}");
    pair.assert_invariants();
}

#[test]
fn a_clients_epoch_header_cannot_unseat_the_active_node() {
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let agent = harness::agent(Duration::from_secs(15));
    for path in ["/api/status", "/metrics", "/nowhere"] {
        let _ = agent
            .get(&format!("{}{path}", pair.nodes[0].url()))
            .header("x-duet-epoch", "18446744073709551614")
            .call();
    }
    pair.holds_for(Duration::from_secs(2), "a still active", |p| {
        serving(&p.nodes[0].status())
    });
    pair.assert_invariants();
}

#[test]
fn bootstrap_files_that_disagree_on_a_and_b_make_no_node_active() {
    use duet_node::bootstrap::Bootstrap;
    let mut pair = Pair::loopback(Setup::default());
    // b's file swaps the roles: both nodes now believe they are A.
    let path = pair.nodes[1].config.clone();
    let mut boot = Bootstrap::load(&path).unwrap();
    std::mem::swap(&mut boot.server_a, &mut boot.server_b);
    std::fs::write(&path, toml::to_string(&boot).unwrap()).unwrap();
    pair.nodes[0].start(&[]);
    pair.wait_until(Duration::from_secs(10), "a active alone", |p| {
        serving(&p.nodes[0].status())
    });
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(10), "the mismatch reported", |p| {
        p.nodes[1].log().contains("the bootstrap files disagree")
    });
    pair.holds_for(
        Duration::from_secs(2),
        "b neither active nor connected",
        |p| {
            p.nodes[1]
                .status()
                .is_some_and(|s| !s.serving && !s.main_link_up)
        },
    );
}

//! The load engine against a real pair: customers chatting over REST and
//! WebSocket, emails by SMTP, callbacks, agents accepting, replying,
//! transferring and wrapping up, while the active node is killed (-9) and
//! then restarted as the backup. Nothing acknowledged is lost or doubled,
//! and every email and callback turns up once. Then `duet load` itself
//! against the same pair (its queue and agents already there).

mod harness;

use std::time::Duration;

use duet_client::load::Load;
use harness::{DUET, PASSWORD, USER, in_sync, traffic};

#[test]
fn a_kill_of_the_active_node_under_load_loses_and_doubles_nothing() {
    let mut pair = harness::fast_pair();
    let load = Load::start(traffic::spec(&pair)).expect("the load starts");
    std::thread::sleep(Duration::from_secs(4));
    let before = load.tally();
    assert!(
        before.messages_delivered > 0,
        "nothing delivered before the kill: {before:?}\n{}",
        pair.logs()
    );
    pair.nodes[0].kill9();
    pair.wait_until(Duration::from_secs(10), "b serves", |p| {
        p.nodes[1].status().is_some_and(|s| s.serving)
    });
    std::thread::sleep(Duration::from_secs(3));
    pair.nodes[0].start(&[]);
    pair.wait_until(
        Duration::from_secs(30),
        "a back as b's backup, in sync",
        in_sync,
    );
    std::thread::sleep(Duration::from_secs(2));
    let report = load.stop_and_drain(Duration::from_secs(40));
    let t = &report.tally;
    eprintln!("{report:#?}");
    let shown = format!("{report:#?}\n{}", pair.logs());
    // The tally counted real traffic on both sides of the kill.
    assert!(
        t.messages_acknowledged > before.messages_acknowledged + 10,
        "too little traffic after the kill: {shown}"
    );
    assert!(t.messages_acknowledged >= 40, "{shown}");
    assert!(
        t.emails_accepted > 0 && t.callbacks_acknowledged > 0,
        "{shown}"
    );
    assert!(t.wrap_ups > 0 && t.chats_ended > 0, "{shown}");
    // Nothing lost, doubled or out of order; everything found once.
    traffic::assert_all_delivered(&report, &pair.logs());

    // The command line, against the same pair: the JSON report, status 0.
    let out = std::process::Command::new(DUET)
        .args([
            "load",
            "--node",
            &pair.nodes[1].url(),
            "--node",
            &pair.nodes[0].url(),
        ])
        .args([
            "--customers",
            "3",
            "--agents",
            "2",
            "--seconds",
            "2",
            "--json",
        ])
        .args(["--user", USER, "--password", PASSWORD])
        .output()
        .expect("duet load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("the JSON report");
    assert!(
        json["tally"]["messages_delivered"].as_u64() > Some(0),
        "{json}"
    );
    assert_eq!(json["tally"]["messages_lost"], 0, "{json}");
    pair.assert_invariants();
}

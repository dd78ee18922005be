//! The load engine against a real pair: customers chatting over REST and
//! WebSocket, emails by SMTP, callbacks, agents accepting, replying,
//! transferring and wrapping up, while the active node is killed (-9) and
//! then restarted as the backup. Nothing acknowledged is lost or doubled,
//! and every email and callback turns up once. Then `duet load` itself
//! against the same pair (its queue and agents already there).

mod harness;

use std::time::Duration;

use duet_client::load::{Load, LoadSpec};
use harness::{DUET, PASSWORD, Pair, Setup, USER, fast_params, in_sync};

fn pair() -> Pair {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    pair
}

fn spec(pair: &Pair) -> LoadSpec {
    let mut spec = LoadSpec::new([pair.nodes[0].url(), pair.nodes[1].url()]);
    spec.smtp = pair
        .nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.placement.smtp_port))
        .collect();
    spec.customers = 6;
    spec.agents = 3;
    spec.rate_per_customer = 4.0;
    spec.email_every = 3;
    spec.callback_every = 4;
    spec.transfer_percent = 30;
    spec.admin = Some((USER.into(), PASSWORD.into()));
    spec
}

#[test]
fn a_kill_of_the_active_node_under_load_loses_and_doubles_nothing() {
    let mut pair = pair();
    let load = Load::start(spec(&pair)).expect("the load starts");
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
    assert!(report.settled, "{shown}");
    assert_eq!(t.messages_lost, 0, "{shown}");
    assert_eq!(t.messages_doubled, 0, "{shown}");
    assert_eq!(t.messages_out_of_order, 0, "{shown}");
    assert_eq!(t.messages_delivered, t.messages_acknowledged, "{shown}");
    assert_eq!(t.emails_present, t.emails_accepted, "{shown}");
    assert_eq!(t.emails_doubled, 0, "{shown}");
    assert_eq!(t.callbacks_present, t.callbacks_acknowledged, "{shown}");
    assert!(report.clean(), "{shown}");

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

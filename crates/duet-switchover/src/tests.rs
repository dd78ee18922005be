//! Unit tests of the engine, one per rule, named after the seed section they
//! check. Each feeds events and asserts the exact commands.

use duet_params::{ServerId, ServerParams, StartupModes, load};
use duet_rsm::Position;

use crate::*;

const GATEWAY: &str = "192.0.2.1";
const PEER: &str = "192.0.2.10";
const NET_TEST: &str = "198.51.100.7";

fn config(modes: StartupModes) -> Config {
    Config {
        this: ServerId::B,
        release: Release("2026.1.0".into()),
        modes,
        gateways: vec![GATEWAY.into()],
        peer_address: Some(PEER.into()),
    }
}

fn params(entries: &[(&str, &str)]) -> ServerParams {
    load(entries.iter().copied()).unwrap().params
}

struct Rig {
    engine: Engine,
    now_ms: u64,
}

impl Rig {
    fn new(modes: StartupModes, params: ServerParams) -> Rig {
        Rig {
            engine: Engine::new(config(modes), params),
            now_ms: 0,
        }
    }

    /// A started backup with both connections up at t = 0.
    fn backup(params: ServerParams) -> Rig {
        Rig::backup_with(StartupModes::default(), params)
    }

    fn backup_with(modes: StartupModes, params: ServerParams) -> Rig {
        let mut rig = Rig::new(modes, params);
        rig.on(Event::Start(ServiceMode::PeerActive {
            release: Release("2026.1.0".into()),
        }));
        rig.on(Event::StartupComplete);
        rig.on(Event::ConnectionUp(Conn::Main));
        rig.on(Event::ConnectionUp(Conn::Aux));
        rig
    }

    /// Runs to 5 s, when the first module ping goes out, and answers it.
    fn first_module_ping_answered(&mut self, incarnation: u64) {
        let first = self.run_answering_notifier(5_000);
        let (_, _, id) = first[0];
        self.on(Event::ModuleReply { id, incarnation });
    }

    /// Both connections drop (the process died); the diagnosis that follows
    /// finds the primary's address answering. Returns the last commands.
    fn lose_both_connections(&mut self) -> Vec<Command> {
        self.on(Event::ConnectionDown(Conn::Main));
        let out = self.on(Event::ConnectionDown(Conn::Aux));
        let (_, echo) = echo_ids(&out)
            .into_iter()
            .find(|(a, _)| a == PEER)
            .expect("an echo to the primary's address");
        self.on(Event::EchoReply { id: echo })
    }

    fn on(&mut self, event: Event) -> Vec<Command> {
        self.engine.handle(self.now_ms, event)
    }

    /// Ticks through every deadline up to `t_ms`.
    fn run_to(&mut self, t_ms: u64) -> Vec<Command> {
        let mut out = Vec::new();
        while let Some(deadline) = self.engine.next_deadline().filter(|d| *d <= t_ms) {
            self.now_ms = self.now_ms.max(deadline);
            out.extend(self.on(Event::Tick));
        }
        self.now_ms = t_ms;
        out
    }

    /// Runs to `t_ms` with a healthy primary: notifier and module pings are
    /// answered at once (the module with incarnation 1).
    fn run_healthy(&mut self, t_ms: u64) -> Vec<Command> {
        let mut all = Vec::new();
        while let Some(deadline) = self.engine.next_deadline().filter(|d| *d <= t_ms) {
            self.now_ms = self.now_ms.max(deadline);
            let mut queue = self.on(Event::Tick);
            while !queue.is_empty() {
                let cmd = queue.remove(0);
                match &cmd {
                    Command::SendNotifierPing { id, .. } => {
                        queue.extend(self.on(Event::NotifierReply { id: *id }))
                    }
                    Command::SendModulePing { id, .. } => {
                        queue.extend(self.on(Event::ModuleReply {
                            id: *id,
                            incarnation: 1,
                        }))
                    }
                    _ => {}
                }
                all.push(cmd);
            }
        }
        self.now_ms = t_ms;
        all
    }

    /// Runs to `t_ms`, answering every notifier ping at once but leaving
    /// module pings to the test; returns the module pings sent (time,
    /// connection, id).
    fn run_answering_notifier(&mut self, t_ms: u64) -> Vec<(u64, Conn, RequestId)> {
        let mut module_pings = Vec::new();
        loop {
            let Some(deadline) = self.engine.next_deadline().filter(|d| *d <= t_ms) else {
                self.now_ms = t_ms;
                return module_pings;
            };
            self.now_ms = self.now_ms.max(deadline);
            let mut queue = self.on(Event::Tick);
            while let Some(cmd) = queue.pop() {
                match cmd {
                    Command::SendNotifierPing { id, .. } => {
                        queue.extend(self.on(Event::NotifierReply { id }))
                    }
                    Command::SendModulePing { conn, id, .. } => {
                        module_pings.push((self.now_ms, conn, id))
                    }
                    _ => {}
                }
            }
        }
    }
}

fn actions(commands: &[Command]) -> Vec<Command> {
    commands
        .iter()
        .filter(|c| !matches!(c, Command::Record(_)))
        .cloned()
        .collect()
}

fn messages(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Record(r) => Some(r.message.clone()),
            _ => None,
        })
        .collect()
}

fn has_message(commands: &[Command], text: &str) -> bool {
    messages(commands).iter().any(|m| m.contains(text))
}

fn became_primary(commands: &[Command]) -> Option<Activation> {
    commands.iter().find_map(|c| match c {
        Command::BecomePrimary(a) => Some(*a),
        _ => None,
    })
}

fn echo_ids(commands: &[Command]) -> Vec<(String, RequestId)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::SendEcho { address, id } => Some((address.clone(), *id)),
            _ => None,
        })
        .collect()
}

fn module_ping_ids(commands: &[Command]) -> Vec<(Conn, RequestId)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::SendModulePing { conn, id, .. } => Some((*conn, *id)),
            _ => None,
        })
        .collect()
}

// --- Init -------------------------------------------------------------------

#[test]
fn switchover_system_has_trouble_communicating_starts_active_fail_safe() {
    // "If the Switchover subsystem on the first server cannot communicate with
    // the Switchover system on the opposite server, the first CIC server starts
    // up in active mode."
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    let out = rig.on(Event::Start(ServiceMode::PeerUnreachable));
    assert_eq!(
        actions(&out),
        vec![Command::BecomePrimary(Activation::FailSafeStart)]
    );
    assert_eq!(rig.engine.state(), State::Primary);
}

#[test]
fn force_backup_starts_as_backup_when_peer_unreachable() {
    // "/ForceBackup: This parameter forces server into backup mode."
    let modes = StartupModes {
        force_backup: true,
        ..StartupModes::default()
    };
    let mut rig = Rig::new(modes, ServerParams::default());
    let out = rig.on(Event::Start(ServiceMode::PeerUnreachable));
    assert_eq!(
        actions(&out),
        vec![
            Command::Connect(Conn::Main),
            Command::Connect(Conn::Aux),
            Command::Synchronize
        ]
    );
    assert_eq!(rig.engine.state(), State::Backup);
}

#[test]
fn init_state_starts_backup_when_peer_is_active() {
    // "Each time the Switchover system starts on the backup server, it
    // establishes a Notifier connection to the active server" and then
    // runs the compare-and-update.
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    let out = rig.on(Event::Start(ServiceMode::PeerActive {
        release: Release("2026.1.0".into()),
    }));
    assert_eq!(
        actions(&out),
        vec![
            Command::Connect(Conn::Main),
            Command::Connect(Conn::Aux),
            Command::Synchronize
        ]
    );
    assert_eq!(rig.engine.state(), State::Backup);
    assert!(rig.engine.status().automatic);
}

#[test]
fn upgrade_states_follow_the_release_comparison_and_never_switch_automatically() {
    // "Upgrade states on the backup server": older primary -> Upgrade Higher,
    // newer primary -> Upgrade Lower; "automatic switchovers do not occur".
    for (primary, expected) in [
        ("2025.9.3", State::UpgradeHigher),
        ("2026.1.10", State::UpgradeLower),
    ] {
        let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
        rig.on(Event::Start(ServiceMode::PeerActive {
            release: Release(primary.into()),
        }));
        rig.on(Event::StartupComplete);
        assert_eq!(rig.engine.state(), expected);
        assert!(!rig.engine.status().automatic);
        rig.on(Event::ConnectionUp(Conn::Main));
        rig.on(Event::ConnectionUp(Conn::Aux));
        let out = rig.run_to(120_000);
        assert!(
            module_ping_ids(&out).is_empty(),
            "no active monitoring in {expected:?}"
        );
        // Losing the primary entirely does not switch either.
        rig.on(Event::ConnectionDown(Conn::Main));
        rig.on(Event::ConnectionDown(Conn::Aux));
        let out = rig.run_to(600_000);
        assert_eq!(became_primary(&out), None);
        // A manual switch is allowed, with force (the seed's caution).
        let out = rig.on(Event::SwitchRequest { force: true });
        assert_eq!(
            became_primary(&out),
            Some(Activation::Switchover(SwitchReason::ManualSwitchover))
        );
    }
}

// --- The ping process and the module monitor ---------------------------------

#[test]
fn ts_ping_successful_pings_repeat_at_the_ts_timeout() {
    // "Switchover TS Timeout ... also specifies the number of seconds that the
    // Switchover system waits after a TS success before it sends another ping."
    let mut rig = Rig::backup(ServerParams::default());
    let pings = rig.run_answering_notifier(5_000);
    assert_eq!(pings.len(), 1, "first ping once the connections had time");
    let (t0, conn, id) = pings[0];
    assert_eq!((t0, conn), (5_000, Conn::Main));
    rig.on(Event::ModuleReply {
        id,
        incarnation: 42,
    });
    let pings = rig.run_answering_notifier(20_000);
    let times: Vec<u64> = pings.iter().map(|p| p.0).collect();
    assert_eq!(times, vec![15_000]);
}

/// Drives the module to fail every ping with `fail` and returns the times
/// of the module monitor's pings and connections, and the final commands.
fn failing_module(rig: &mut Rig, until_ms: u64, reject: bool) -> (Vec<(u64, Conn)>, Vec<Command>) {
    let mut pings = Vec::new();
    let mut all = Vec::new();
    while let Some(deadline) = rig.engine.next_deadline().filter(|d| *d <= until_ms) {
        rig.now_ms = rig.now_ms.max(deadline);
        let mut queue = rig.on(Event::Tick);
        while !queue.is_empty() {
            let cmd = queue.remove(0);
            match &cmd {
                Command::SendNotifierPing { id, .. } => {
                    queue.extend(rig.on(Event::NotifierReply { id: *id }))
                }
                Command::SendModulePing { conn, id, .. } => {
                    pings.push((rig.now_ms, *conn));
                    if reject {
                        queue.extend(rig.on(Event::ModuleRejected { id: *id }));
                    }
                }
                Command::SendEcho { address, id } if address == PEER => {
                    queue.extend(rig.on(Event::EchoReply { id: *id }))
                }
                _ => {}
            }
            all.push(cmd);
        }
    }
    (pings, all)
}

#[test]
fn ts_ping_failure_sample_rejected_pings_switch_thirty_seconds_after_the_first() {
    // The seed's TS ping failure sample: rejected pings 10 s apart, twice on
    // the main connection, twice on the auxiliary, then the primary
    // monitor's pings on the main connection and the network checks; the
    // switch comes "approximately 30 seconds from the first ping".
    let mut rig = Rig::backup(ServerParams::default());
    rig.first_module_ping_answered(7);
    let (pings, out) = failing_module(&mut rig, 200_000, true);
    assert_eq!(
        pings,
        vec![
            (15_000, Conn::Main),
            (25_000, Conn::Main),
            (35_000, Conn::Aux),
            (45_000, Conn::Aux),
            // The primary monitor's confirmation: "Sending up to 2 ping(s) to
            // the TsServer module using the main connection".
            (45_000, Conn::Main),
            (45_000, Conn::Main),
        ]
    );
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(SwitchReason::ModulePingFailure))
    );
    assert_eq!(rig.engine.state(), State::Primary);
    let log = messages(&out);
    let order = [
        "error count [1] is within maximum [2]",
        "reached maximum error count [2] pinging the TsServer module on the main connection, resetting error count and trying the alternate connection",
        "signaling that the module is down",
        "Module monitor indicated the [TsServer] module is not responding, both connections are up",
        "Did not receive a reply from the TsServer module after 2 ping(s) on the main connection",
        "No NetTest addresses to ping, setting network connection status to 'NetTestUnavailable'",
        "Successfully pinged primary address [192.0.2.10], setting network connection status to 'PrimaryReached'",
        "primary connection status is 'monitored module down', signaling the module is down",
        "TS Ping Failure",
        "Switchover Service: Switch Initiated",
        "StateBackup -> StatePrimary",
    ];
    let mut at = 0;
    for wanted in order {
        let found = log[at..].iter().position(|m| m.contains(wanted));
        assert!(
            found.is_some(),
            "missing {wanted:?} after position {at} in {log:#?}"
        );
        at += found.unwrap() + 1;
    }
    assert_eq!(
        rig.engine.status().last_switch_reason,
        Some(SwitchReason::ModulePingFailure)
    );
}

#[test]
fn ts_ping_timeouts_retry_after_the_failure_retry_delay() {
    // The older sample: "the first ping fails, and after a one-second sleep, a
    // second attempt fails" (10 s timeout, 1 s retry delay).
    let mut rig = Rig::backup(ServerParams::default());
    rig.first_module_ping_answered(7);
    let (pings, out) = failing_module(&mut rig, 200_000, false);
    let times: Vec<(u64, Conn)> = pings.into_iter().take(4).collect();
    assert_eq!(
        times,
        vec![
            (15_000, Conn::Main),
            (26_000, Conn::Main),
            (37_000, Conn::Aux),
            (48_000, Conn::Aux),
        ]
    );
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(SwitchReason::ModulePingFailure))
    );
}

#[test]
fn module_monitor_success_on_the_auxiliary_connection_averts_a_false_module_down() {
    // "If the issue is only with the main connection, the use of the auxiliary
    // is successful and the module monitor averts a false determination."
    let mut rig = Rig::backup(ServerParams::default());
    let mut now_pings = rig.run_answering_notifier(5_000);
    for round in 0..6 {
        let (_, conn, id) = now_pings[0];
        if conn == Conn::Main {
            rig.on(Event::ModuleRejected { id });
        } else {
            rig.on(Event::ModuleReply { id, incarnation: 1 });
        }
        now_pings = rig.run_answering_notifier(rig.now_ms + 10_000);
        assert_eq!(now_pings.len(), 1, "round {round}");
    }
    assert_eq!(rig.engine.state(), State::Backup);
}

#[test]
fn ping_on_aux_connection_moves_the_module_ping_and_qos_marks_it() {
    // "Switchover Ping on Aux Connection ... moves the TS ping from the main
    // data connection to the auxiliary connection"; QoS applies only then.
    let mut rig = Rig::backup(params(&[
        ("Switchover Ping on Aux Connection", "Yes"),
        ("Switchover Use QoS For Ping", "Yes"),
        ("Switchover QoS DSCP", "46"),
    ]));
    let out = rig.run_to(5_000);
    let pings: Vec<&Command> = out
        .iter()
        .filter(|c| matches!(c, Command::SendModulePing { .. }))
        .collect();
    assert_eq!(
        pings,
        vec![&Command::SendModulePing {
            conn: Conn::Aux,
            id: 2,
            dscp: Some(46)
        }]
    );
}

fn restart_rig(params: ServerParams) -> (Rig, impl Fn(&mut Rig, u64) -> Vec<Command>) {
    let mut rig = Rig::backup(params);
    rig.first_module_ping_answered(1);
    let answer = |rig: &mut Rig, incarnation: u64| {
        let pings = rig.run_answering_notifier(rig.now_ms + 10_000);
        let (_, _, id) = *pings.last().expect("a module ping");
        rig.on(Event::ModuleReply { id, incarnation })
    };
    (rig, answer)
}

#[test]
fn module_monitor_one_restart_is_tolerated() {
    let (mut rig, answer) = restart_rig(ServerParams::default());
    for incarnation in [1, 1, 2, 2, 2, 2] {
        let out = answer(&mut rig, incarnation);
        assert_eq!(became_primary(&out), None);
    }
    assert_eq!(rig.engine.state(), State::Backup);
}

#[test]
fn module_monitor_max_sequential_restarts_signals_module_down() {
    // "The monitor posts the MODULE_DOWN event when: The maximum sequential
    // restart count has been reached."
    let (mut rig, answer) = restart_rig(ServerParams::default());
    answer(&mut rig, 1);
    answer(&mut rig, 2);
    let out = answer(&mut rig, 3);
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(
            SwitchReason::ModuleRestartingTooOften
        ))
    );
    assert!(has_message(
        &out,
        "TS Ping Failure: module restarting too often"
    ));
}

#[test]
fn module_monitor_max_restarts_within_the_period_signals_module_down() {
    // Switchover Max Restarts (2) within Switchover Max Restarts Period (300 s).
    let (mut rig, answer) = restart_rig(ServerParams::default());
    for incarnation in [1, 2, 2, 2] {
        answer(&mut rig, incarnation);
    }
    let out = answer(&mut rig, 3);
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(
            SwitchReason::ModuleRestartingTooOften
        ))
    );
}

#[test]
fn module_monitor_restarts_outside_the_period_are_forgotten() {
    let (mut rig, answer) = restart_rig(ServerParams::default());
    answer(&mut rig, 1);
    answer(&mut rig, 2);
    for _ in 0..31 {
        answer(&mut rig, 2); // 310 s of stable answers
    }
    let out = answer(&mut rig, 3);
    assert_eq!(became_primary(&out), None);
    assert_eq!(rig.engine.state(), State::Backup);
}

#[test]
fn dynamic_monitoring_of_system_parameters_takes_effect_at_once() {
    // "If one of these parameters is changed on the primary server, its new
    // value takes effect immediately."
    let mut rig = Rig::backup(ServerParams::default());
    let pings = rig.run_answering_notifier(5_000);
    rig.on(Event::ParamsChanged(Box::new(params(&[(
        "Switchover TS Timeout",
        "20",
    )]))));
    rig.on(Event::ModuleReply {
        id: pings[0].2,
        incarnation: 1,
    });
    let pings = rig.run_answering_notifier(40_000);
    let times: Vec<u64> = pings.iter().map(|p| p.0).collect();
    assert_eq!(times, vec![25_000]);
}

// --- The primary monitor ------------------------------------------------------

#[test]
fn primary_monitor_non_successful_responses_send_retry_pings_then_diagnose() {
    // "A retry ping is sent for an unsuccessful response. If the retry count
    // has reached the maximum, no retry ping is sent and error processing
    // starts." Default timeout: half the module timeout, 5 s.
    let mut rig = Rig::backup(ServerParams::default());
    let mut notifier_pings = Vec::new();
    let mut out = Vec::new();
    while let Some(deadline) = rig.engine.next_deadline().filter(|d| *d <= 30_000) {
        rig.now_ms = deadline;
        let cmds = rig.on(Event::Tick);
        for c in &cmds {
            match c {
                Command::SendNotifierPing { .. } => notifier_pings.push(rig.now_ms),
                Command::SendModulePing { id, .. } => out.extend(rig.on(Event::ModuleReply {
                    id: *id,
                    incarnation: 1,
                })),
                _ => {}
            }
        }
        out.extend(cmds);
    }
    // First ping at 5 s, two retries right after each 5 s timeout, then the
    // diagnosis pings the primary's address.
    notifier_pings.retain(|t| *t < 20_000);
    assert_eq!(notifier_pings, vec![5_000, 10_000, 15_000]);
    assert!(has_message(
        &out,
        "no reply after 2 retry ping(s), checking connections"
    ));
    assert!(echo_ids(&out).iter().any(|(a, _)| a == PEER));
}

#[test]
fn primary_monitor_connection_loss_with_main_up_sends_a_standard_ping() {
    // "If the main connection is up, this response could indicate that the
    // auxiliary connection went down ... In this case, a standard ping is sent."
    let mut rig = Rig::backup(ServerParams::default());
    let out = rig.run_to(5_000);
    let aux_ping = out.iter().find_map(|c| match c {
        Command::SendNotifierPing { id, conn } => Some((*id, *conn)),
        _ => None,
    });
    assert_eq!(aux_ping.map(|p| p.1), Some(Conn::Main));
    // The ping was on main; losing aux leaves it alone.
    let out = rig.on(Event::ConnectionDown(Conn::Aux));
    assert!(!has_message(&out, "retry ping"));
    // Losing main while a ping is outstanding on it: retry on aux.
    let out = rig.on(Event::ConnectionDown(Conn::Main));
    assert!(
        has_message(&out, "sending retry ping 1 of 2"),
        "{:#?}",
        messages(&out)
    );
}

#[test]
fn loss_of_connection_to_notifier_switches_when_the_reconnect_timer_expires() {
    // The "Lost notifier connection" sample: both sockets fail, the reconnect
    // timer is scheduled for 30 s, and on expiry the backup switches.
    let mut rig = Rig::backup(ServerParams::default());
    rig.run_healthy(60_000);
    // The primary's address still answers (only the process died).
    let out = rig.lose_both_connections();
    assert_eq!(rig.engine.state(), State::Reconnecting);
    assert!(has_message(
        &out,
        "Scheduling reconnect timeout to execute in 30 second(s)"
    ));
    // Reconnect attempts every 5 s fail.
    let mut all = Vec::new();
    while let Some(deadline) = rig.engine.next_deadline().filter(|d| *d <= 200_000) {
        rig.now_ms = deadline;
        let cmds = rig.on(Event::Tick);
        for c in &cmds {
            if let Command::Connect(conn) = c {
                all.extend(rig.on(Event::ConnectFailed(*conn)));
            }
        }
        all.extend(cmds);
        if rig.engine.state() == State::Primary {
            break;
        }
    }
    assert_eq!(rig.now_ms, 90_000, "switch 30 s after the loss");
    assert_eq!(
        became_primary(&all),
        Some(Activation::Switchover(
            SwitchReason::LossOfConnectionToNotifier
        ))
    );
    let log = messages(&all);
    let i = log
        .iter()
        .position(|m| m.contains("posting [event=eConnectionsDown]"))
        .unwrap();
    assert_eq!(log[i + 1], "Loss of Connection to Notifier");
    assert_eq!(log[i + 2], "Switchover Service: Switch Initiated");
    let connects = all
        .iter()
        .filter(|c| matches!(c, Command::Connect(_)))
        .count();
    assert_eq!(
        connects, 12,
        "both connections retried every 5 s (Notifier Reconnect Delay)"
    );
}

#[test]
fn reconnect_timeout_zero_switches_at_once() {
    // "A value of 0 indicates an immediate switchover when a connection is lost."
    let mut rig = Rig::backup(params(&[("Switchover Reconnect Timeout", "0")]));
    rig.run_healthy(20_000);
    let out = rig.lose_both_connections();
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(
            SwitchReason::LossOfConnectionToNotifier
        ))
    );
}

#[test]
fn reconnecting_state_returns_to_backup_and_resynchronises_when_the_module_answers() {
    // "If reconnection succeeds ... the Switchover system will return to the
    // backup state and performs a re-synchronization."
    let mut rig = Rig::backup(ServerParams::default());
    rig.run_healthy(20_000);
    rig.lose_both_connections();
    assert_eq!(rig.engine.state(), State::Reconnecting);
    rig.run_to(25_000);
    let out = rig.on(Event::ConnectionUp(Conn::Main));
    let probe = module_ping_ids(&out);
    assert_eq!(probe.len(), 1);
    let out = rig.on(Event::ModuleReply {
        id: probe[0].1,
        incarnation: 1,
    });
    assert_eq!(rig.engine.state(), State::Backup);
    assert!(actions(&out).contains(&Command::Synchronize));
    let out = rig.run_healthy(300_000);
    assert_eq!(became_primary(&out), None);
}

#[test]
fn reconnecting_state_switches_when_the_module_is_down_although_the_notifier_answers() {
    // Reconnecting -> Primary when "the monitored module is determined to be down".
    let mut rig = Rig::backup(ServerParams::default());
    rig.run_healthy(20_000);
    rig.lose_both_connections();
    let mut pending = rig.on(Event::ConnectionUp(Conn::Main));
    let mut out = Vec::new();
    for _ in 0..3 {
        for cmd in actions(&pending) {
            match cmd {
                Command::SendNotifierPing { id, .. } => {
                    out.extend(rig.on(Event::NotifierReply { id }))
                }
                Command::SendModulePing { id, .. } => {
                    out.extend(rig.on(Event::ModuleRejected { id }))
                }
                _ => {}
            }
        }
        if rig.engine.state() == State::Primary {
            break;
        }
        pending = rig.run_to(rig.now_ms + 10_000);
    }
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(SwitchReason::ModulePingFailure))
    );
}

// --- Network diagnosis --------------------------------------------------------

/// A backup whose notifier and module stop answering at `t = 20 s`, with
/// `answer_echo` deciding which ICMP targets reply. Runs to `until_ms`.
fn silent_primary(
    entries: &[(&str, &str)],
    answer_echo: impl Fn(&str, u64) -> bool,
    until_ms: u64,
) -> (Rig, Vec<Command>) {
    let mut rig = Rig::backup(params(entries));
    rig.run_healthy(20_000);
    let mut all = Vec::new();
    while let Some(deadline) = rig.engine.next_deadline().filter(|d| *d <= until_ms) {
        rig.now_ms = deadline;
        let mut queue = rig.on(Event::Tick);
        while !queue.is_empty() {
            let cmd = queue.remove(0);
            match &cmd {
                Command::SendEcho { address, id } if answer_echo(address, rig.now_ms) => {
                    queue.extend(rig.on(Event::EchoReply { id: *id }))
                }
                Command::Connect(conn) => queue.extend(rig.on(Event::ConnectFailed(*conn))),
                _ => {}
            }
            all.push(cmd);
        }
        if rig.engine.state() == State::Primary {
            break;
        }
    }
    (rig, all)
}

#[test]
fn gateway_unreachable_means_the_backups_network_is_down_and_it_does_not_switch() {
    // "All gateway addresses have been pinged and no responses were received,
    // the network connection status is set to 'Gateway Unreachable' and the
    // backup's network connection is not good." -> Network Down -> Reconnecting.
    let (rig, out) = silent_primary(
        &[("Switchover Disable Gateway Ping", "No")],
        |_, _| false,
        600_000,
    );
    assert!(has_message(&out, "'GatewayUnreachable'"));
    assert!(has_message(
        &out,
        "StateBackup -> StateReconnecting: the backup's network is down"
    ));
    assert!(has_message(
        &out,
        "Not switching: the backup's own network is down"
    ));
    assert_eq!(became_primary(&out), None);
    assert_eq!(rig.engine.state(), State::Reconnecting);
}

#[test]
fn gateway_reached_and_primary_unreachable_switches_immediately_by_default() {
    // "The action taken when the primary is unreachable ... The default is to
    // switch over immediately."
    let (rig, out) = silent_primary(
        &[("Switchover Disable Gateway Ping", "No")],
        |address, _| address == GATEWAY,
        600_000,
    );
    assert!(has_message(&out, "'GatewayReached'"));
    assert!(has_message(&out, "'PrimaryUnreachable'"));
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(SwitchReason::PrimaryUnreachable))
    );
    assert_eq!(rig.engine.state(), State::Primary);
}

#[test]
fn unreachable_primary_ping_count_sends_ping_sets_before_switching() {
    // "If you enter values 0-3, the switchover system sends 3 additional ping
    // sets to the primary server. If these attempts fail, the server is
    // considered unreachable and a switchover is initiated." Delay 10 s; the
    // reconnect timer is set longer so the ping sets decide.
    let (rig, out) = silent_primary(
        &[
            ("Switchover Disable Gateway Ping", "No"),
            ("Switchover Unreachable Primary Ping Count", "0"),
            ("Switchover Reconnect Timeout", "120"),
        ],
        |address, _| address == GATEWAY,
        600_000,
    );
    assert!(has_message(&out, "ping set 3 of 3 unanswered"));
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(SwitchReason::PrimaryUnreachable))
    );
    // The first unanswered notifier ping goes at 21 s; three 5 s pings fail
    // at 36 s, the gateway answers, the primary's echoes take 2 s: 38 s. Then
    // three ping sets, each 10 s after the previous one ended.
    assert_eq!(rig.now_ms, 38_000 + 3 * (10_000 + 2_000));
}

#[test]
fn unreachable_primary_ping_count_minus_one_never_switches_for_an_unreachable_primary() {
    // "If you enter a value of -1, it results in unlimited attempts until the
    // primary server is reached ... switchover will not occur".
    let (rig, out) = silent_primary(
        &[
            ("Switchover Disable Gateway Ping", "No"),
            ("Switchover Unreachable Primary Ping Count", "-1"),
        ],
        |address, _| address == GATEWAY,
        600_000,
    );
    assert_eq!(became_primary(&out), None);
    assert!(has_message(
        &out,
        "Switchover Unreachable Primary Ping Count is -1"
    ));
    assert_eq!(rig.engine.state(), State::Reconnecting);
}

#[test]
fn primary_unreachable_with_gateway_ping_disabled_waits_for_the_reconnect_timer() {
    // With gateway pinging disabled the backup cannot tell its own network
    // from the primary's: "If there is a connection issue and ... Pinging the
    // gateway is disabled ... the switchover state machine enters the
    // reconnect state" and switches when the timer expires.
    let (rig, out) = silent_primary(&[], |_, _| false, 600_000);
    assert!(has_message(
        &out,
        "StateBackup -> StateReconnecting: the primary is unreachable"
    ));
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(
            SwitchReason::LossOfConnectionToNotifier
        ))
    );
    // The first unanswered notifier ping goes at 21 s (one a second); with
    // its two retries it fails at 36 s, the primary's address takes 2 s of
    // echoes, then the timer runs 30 s.
    assert_eq!(rig.now_ms, 68_000);
}

#[test]
fn net_test_unreachable_means_a_wan_failure_no_switch_and_monitoring_resumes_by_itself() {
    // "If the Switchover system cannot ping this endpoint, it assumes that the
    // active server is still operable and it does not cause a switchover ...
    // it logs an error to the event log and shuts down processing." duet
    // resumes by itself once the NetTest address answers, with no restart.
    let (rig, out) = silent_primary(
        &[("Switchover NetTest B", NET_TEST)],
        |address, now| address == NET_TEST && now > 200_000,
        600_000,
    );
    assert!(has_message(&out, "'NetTestUnreachable'"));
    assert!(has_message(
        &out,
        "-> StateError: WAN failure (NetTest unreachable)"
    ));
    assert!(has_message(
        &out,
        "The NetTest address answers again: resuming monitoring"
    ));
    // The primary is in fact gone: once the WAN is back the backup reconnects,
    // and when the reconnect timer expires it switches.
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(
            SwitchReason::LossOfConnectionToNotifier
        ))
    );
    assert!(
        rig.now_ms > 230_000,
        "not before the WAN came back: {}",
        rig.now_ms
    );
}

// --- Manual mode, start-up, manual switch -------------------------------------

#[test]
fn manual_mode_module_down_goes_to_stopping() {
    // "If the backup is in manual switchover mode, the state machine goes to
    // the stopping state and halts further processing."
    let modes = StartupModes {
        manual_switch_only: true,
        ..StartupModes::default()
    };
    let mut rig = Rig::backup_with(modes, ServerParams::default());
    assert!(!rig.engine.status().automatic);
    rig.first_module_ping_answered(1);
    let (_, out) = failing_module(&mut rig, 300_000, true);
    assert_eq!(became_primary(&out), None);
    assert_eq!(rig.engine.state(), State::Stopping);
    assert!(has_message(
        &out,
        "not switching, the backup is in Manual Switch Only mode"
    ));
    // The administrator can still switch by hand.
    let out = rig.on(Event::SwitchRequest { force: false });
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(SwitchReason::ManualSwitchover))
    );
}

#[test]
fn manual_mode_lost_connections_never_switch() {
    let modes = StartupModes {
        manual_switch_only: true,
        ..StartupModes::default()
    };
    let mut rig = Rig::backup_with(modes, ServerParams::default());
    rig.run_healthy(20_000);
    rig.on(Event::ConnectionDown(Conn::Main));
    rig.on(Event::ConnectionDown(Conn::Aux));
    let out = rig.run_to(1_000_000);
    assert_eq!(became_primary(&out), None);
    assert_eq!(rig.engine.state(), State::Reconnecting);
}

#[test]
fn module_down_while_starting_schedules_the_switch_for_after_start_up() {
    // "CIC is starting up, so a switchover to the Primary State is scheduled
    // and will occur after CIC has completed startup."
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    rig.on(Event::Start(ServiceMode::PeerActive {
        release: Release("2026.1.0".into()),
    }));
    rig.on(Event::ConnectionUp(Conn::Main));
    rig.on(Event::ConnectionUp(Conn::Aux));
    let (_, out) = failing_module(&mut rig, 100_000, true);
    assert_eq!(became_primary(&out), None);
    assert!(has_message(
        &out,
        "still starting up; switchover to StatePrimary scheduled"
    ));
    assert_eq!(
        rig.engine.status().pending_switch,
        Some(SwitchReason::ModulePingFailure)
    );
    let out = rig.on(Event::StartupComplete);
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(SwitchReason::ModulePingFailure))
    );
}

#[test]
fn file_replication_warnings_refuse_a_manual_switch_unless_forced() {
    // "If file replication is not running and you start a switchover manually
    // on the backup server, you'll see a warning message."
    let mut rig = Rig::backup(ServerParams::default());
    rig.on(Event::FileReplication { running: false });
    let out = rig.on(Event::SwitchRequest { force: false });
    assert!(matches!(
        actions(&out).as_slice(),
        [Command::RefuseSwitch(
            SwitchRefusal::FileReplicationNotRunning
        )]
    ));
    assert_eq!(rig.engine.state(), State::Backup);
    let out = rig.on(Event::SwitchRequest { force: true });
    let log = messages(&out);
    let i = log.iter().position(|m| m == "Manual Switchover").unwrap();
    assert_eq!(log[i + 1], "Switchover Service: Switch Initiated");
    assert_eq!(
        actions(&out),
        vec![Command::BecomePrimary(Activation::Switchover(
            SwitchReason::ManualSwitchover
        ))]
    );
}

#[test]
fn a_switch_request_on_the_active_server_is_refused() {
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    rig.on(Event::Start(ServiceMode::ChosenActive));
    let out = rig.on(Event::SwitchRequest { force: true });
    assert!(matches!(
        actions(&out).as_slice(),
        [Command::RefuseSwitch(SwitchRefusal::AlreadyActive)]
    ));
}

#[test]
fn a_stale_active_stops_serving_and_rejoins_as_backup_without_a_reboot() {
    // The seed: "Reboot the former active server. When it reboots, it will
    // detect that there is already an active server". duet needs no reboot.
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    rig.on(Event::Start(ServiceMode::ChosenActive));
    let out = rig.on(Event::NewerEpochSeen { epoch: 4 });
    assert_eq!(actions(&out), vec![Command::StopServing]);
    assert_eq!(rig.engine.state(), State::Inactive);
    let out = rig.on(Event::Start(ServiceMode::PeerActive {
        release: Release("2026.1.0".into()),
    }));
    assert!(has_message(&out, "rejoining the pair as backup"));
    assert_eq!(rig.engine.state(), State::Backup);
}

#[test]
fn an_active_node_with_an_older_history_stops_serving_for_the_peer() {
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    rig.on(Event::Start(ServiceMode::ChosenActive));
    let out = rig.on(Event::PeerHistoryNewer {
        peer_history: Position::new(337, 12),
        own_history: Position::new(2, 1),
    });
    assert_eq!(actions(&out), vec![Command::StopServing]);
    assert!(has_message(&out, "newer history"));
    assert_eq!(rig.engine.state(), State::Inactive);
}

#[test]
fn an_abandoned_takeover_goes_back_to_watching_the_active_node() {
    // With a witness, a backup that decided to switch while cut off from
    // the active node finds it still serving with the key: it rejoins.
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    rig.on(Event::Start(ServiceMode::ChosenActive));
    let out = rig.on(Event::TakeoverAbandoned { epoch: 4 });
    assert_eq!(actions(&out), vec![Command::StopServing]);
    assert!(has_message(&out, "the switchover is abandoned"));
    assert_eq!(rig.engine.state(), State::Inactive);
    rig.on(Event::Start(ServiceMode::PeerActive {
        release: Release("2026.1.0".into()),
    }));
    assert_eq!(rig.engine.state(), State::Backup);
}

#[test]
fn primary_monitor_restarts_a_module_monitor_that_stopped_reporting() {
    // "The primary monitor tracks the time between events received from the
    // module monitor ... to provide verification that the module monitor has
    // not stopped for an unintended reason."
    let mut rig = Rig::backup(ServerParams::default());
    rig.run_healthy(5_000);
    rig.engine.machine.module.stop(); // the module monitor stalls
    let pings = rig.run_answering_notifier(100_000);
    // Maximum silence: 3 x (10 s + 10 s) = 60 s after the last event at 5 s.
    assert_eq!(pings.first().map(|p| p.0), Some(65_000));
}

#[test]
fn module_monitor_restarts_seen_across_a_long_outage_are_not_in_a_row() {
    // Sequential restarts are consecutive answers with new incarnations; a
    // backup cut off for longer than Max Restarts Period saw nothing in
    // between, so the first answer after the outage starts a new count.
    let (mut rig, answer) = restart_rig(params(&[("Switchover Reconnect Timeout", "3600")]));
    answer(&mut rig, 2); // one restart, one in a row
    rig.lose_both_connections();
    rig.run_to(rig.now_ms + 400_000);
    assert_eq!(rig.engine.state(), State::Reconnecting);
    let out = rig.on(Event::ConnectionUp(Conn::Main));
    let (_, id) = module_ping_ids(&out)[0];
    let out = rig.on(Event::ModuleReply { id, incarnation: 3 });
    assert_eq!(became_primary(&out), None);
    assert!(has_message(
        &out,
        "1 restart(s) in the last 300 s, 1 in a row"
    ));
    assert_eq!(rig.engine.state(), State::Backup);
}

// --- Found in review ------------------------------------------------------------

#[test]
fn a_switch_scheduled_during_start_up_is_cancelled_when_the_primary_recovers() {
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    rig.on(Event::Start(ServiceMode::PeerActive {
        release: Release("2026.1.0".into()),
    }));
    rig.on(Event::ConnectionUp(Conn::Main));
    rig.on(Event::ConnectionUp(Conn::Aux));
    let (_, out) = failing_module(&mut rig, 100_000, true);
    assert!(has_message(&out, "scheduled for after start-up"));
    // The module answers again before start-up completes.
    let out = rig.run_healthy(200_000);
    assert!(has_message(&out, "is cancelled"));
    assert_eq!(rig.engine.status().pending_switch, None);
    let out = rig.on(Event::StartupComplete);
    assert_eq!(became_primary(&out), None);
    assert_eq!(rig.engine.state(), State::Backup);
}

#[test]
fn restart_history_starts_afresh_with_each_active_server() {
    // "the last PID is not zero (it is not the first ping response)": the
    // first answer of a new active server is not a restart.
    let (mut rig, answer) = restart_rig(ServerParams::default());
    answer(&mut rig, 2); // one restart seen on the old active
    rig.on(Event::SwitchRequest { force: true });
    rig.on(Event::NewerEpochSeen { epoch: 9 });
    rig.on(Event::Start(ServiceMode::PeerActive {
        release: Release("2026.1.0".into()),
    }));
    rig.on(Event::StartupComplete);
    rig.on(Event::ConnectionUp(Conn::Main));
    rig.on(Event::ConnectionUp(Conn::Aux));
    let pings = rig.run_answering_notifier(rig.now_ms + 10_000);
    let out = rig.on(Event::ModuleReply {
        id: pings[0].2,
        incarnation: 77,
    });
    assert_eq!(became_primary(&out), None);
    assert!(!has_message(&out, "restarted"));
}

#[test]
fn a_notifier_rejection_proves_the_path_even_when_net_test_is_silent() {
    // NetTest configured but its host does not answer ICMP; the module is down
    // and the notifier rejects its pings: the path works, so it switches.
    let mut rig = Rig::backup(params(&[("Switchover NetTest B", NET_TEST)]));
    rig.first_module_ping_answered(1);
    let mut out = Vec::new();
    while let Some(deadline) = rig.engine.next_deadline().filter(|d| *d <= 200_000) {
        rig.now_ms = deadline;
        let mut queue = rig.on(Event::Tick);
        while !queue.is_empty() {
            let cmd = queue.remove(0);
            match &cmd {
                Command::SendNotifierPing { id, .. } => {
                    queue.extend(rig.on(Event::NotifierReply { id: *id }))
                }
                Command::SendModulePing { id, .. } => {
                    queue.extend(rig.on(Event::ModuleRejected { id: *id }))
                }
                Command::SendEcho { address, id } if address == PEER => {
                    queue.extend(rig.on(Event::EchoReply { id: *id }))
                }
                _ => {}
            }
            out.push(cmd);
        }
        if rig.engine.state() == State::Primary {
            break;
        }
    }
    assert!(has_message(&out, "'NetTestUnreachable'"));
    assert!(has_message(&out, "the network path to the primary works"));
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(SwitchReason::ModulePingFailure))
    );
}

#[test]
fn a_gateway_that_drops_icmp_does_not_stop_a_switch_when_the_primary_answers() {
    // "some gateways block responses to pings (ICMP echoes)": the primary's
    // address answering shows the backup's network is up.
    let (rig, out) = silent_primary(
        &[("Switchover Disable Gateway Ping", "No")],
        |address, _| address == PEER,
        600_000,
    );
    assert!(has_message(&out, "the gateway does not answer ICMP"));
    assert!(!has_message(
        &out,
        "Not switching: the backup's own network is down"
    ));
    assert_eq!(
        became_primary(&out),
        Some(Activation::Switchover(
            SwitchReason::LossOfConnectionToNotifier
        ))
    );
    assert_eq!(rig.engine.state(), State::Primary);
}

#[test]
fn a_backup_whose_own_network_comes_back_gives_the_connections_a_reconnect_period_first() {
    // Nothing answers for a while (the backup's own network is down), then
    // the primary's address answers (the gateway not yet): the connections
    // get one more reconnect period before a switch; they stay down here,
    // so the backup switches after it.
    let back_at_ms = 300_000;
    let (rig, out) = silent_primary(
        &[("Switchover Disable Gateway Ping", "No")],
        |address, now_ms| address == PEER && now_ms >= back_at_ms,
        900_000,
    );
    assert!(has_message(
        &out,
        "Not switching: the backup's own network is down"
    ));
    let rearmed = out
        .iter()
        .position(|c| {
            has_message(
                std::slice::from_ref(c),
                "the connections get a reconnect period to come up first",
            )
        })
        .expect("a reconnect period after the network came back");
    let switched = out
        .iter()
        .position(|c| matches!(c, Command::BecomePrimary(_)))
        .expect("a switch once that period passed with the connections down");
    assert!(rearmed < switched);
    assert_eq!(rig.engine.state(), State::Primary);
}

#[test]
fn max_reconnect_attempts_keep_the_own_network_safeguard() {
    // The backup's own network goes down: connections drop, nothing answers.
    let mut rig = Rig::backup(params(&[
        ("Switchover Disable Gateway Ping", "No"),
        ("Duet Max Reconnect Attempts", "2"),
    ]));
    rig.run_healthy(20_000);
    let mut out = rig.on(Event::ConnectionDown(Conn::Main));
    out.extend(rig.on(Event::ConnectionDown(Conn::Aux)));
    while let Some(deadline) = rig.engine.next_deadline().filter(|d| *d <= 600_000) {
        rig.now_ms = deadline;
        for cmd in rig.on(Event::Tick) {
            if let Command::Connect(conn) = &cmd {
                out.extend(rig.on(Event::ConnectFailed(*conn)));
            }
            out.push(cmd);
        }
    }
    assert!(has_message(
        &out,
        "maximum number of reconnect attempts [2]"
    ));
    assert!(has_message(
        &out,
        "Not switching: the backup's own network is down"
    ));
    assert_eq!(became_primary(&out), None);
    assert_eq!(rig.engine.state(), State::Reconnecting);
}

#[test]
fn force_backup_never_becomes_active_by_itself_before_it_has_seen_an_active_server() {
    let modes = StartupModes {
        force_backup: true,
        ..StartupModes::default()
    };
    // Chosen by the arbiter: still backup.
    let mut rig = Rig::new(modes, ServerParams::default());
    rig.on(Event::Start(ServiceMode::ChosenActive));
    assert_eq!(rig.engine.state(), State::Backup);
    // Nobody there: it waits instead of switching.
    let mut rig = Rig::new(modes, ServerParams::default());
    rig.on(Event::Start(ServiceMode::PeerUnreachable));
    rig.on(Event::StartupComplete);
    let mut out = Vec::new();
    while let Some(deadline) = rig.engine.next_deadline().filter(|d| *d <= 300_000) {
        rig.now_ms = deadline;
        for cmd in rig.on(Event::Tick) {
            match &cmd {
                Command::Connect(conn) => out.extend(rig.on(Event::ConnectFailed(*conn))),
                Command::SendEcho { id, .. } => out.extend(rig.on(Event::EchoReply { id: *id })),
                _ => {}
            }
            out.push(cmd);
        }
    }
    assert_eq!(became_primary(&out), None);
    assert!(has_message(
        &out,
        "no active server has been seen since start-up (/ForceBackup)"
    ));
}

#[test]
fn reconnect_probes_follow_each_other_at_the_reconnect_delay() {
    // The notifier answers, the module is rejected, the link stays up: the
    // next probe goes a reconnect delay after the previous one finished.
    let mut rig = Rig::backup(ServerParams::default());
    rig.run_healthy(20_000);
    rig.lose_both_connections();
    rig.run_to(20_010);
    for cmd in actions(&rig.on(Event::ConnectionUp(Conn::Main))) {
        match cmd {
            Command::SendNotifierPing { id, .. } => drop(rig.on(Event::NotifierReply { id })),
            Command::SendModulePing { id, .. } => drop(rig.on(Event::ModuleRejected { id })),
            _ => {}
        }
    }
    let finished = rig.now_ms;
    let out = loop {
        rig.now_ms = rig.engine.next_deadline().expect("a next probe");
        let out = rig.on(Event::Tick);
        if !module_ping_ids(&out).is_empty() {
            break out;
        }
    };
    assert_eq!(rig.now_ms - finished, 5_000);
    assert_eq!(module_ping_ids(&out).len(), 1);
}

#[test]
fn manual_mode_resumes_backup_when_the_module_answers_again() {
    let modes = StartupModes {
        manual_switch_only: true,
        ..StartupModes::default()
    };
    let mut rig = Rig::backup_with(modes, ServerParams::default());
    rig.first_module_ping_answered(1);
    failing_module(&mut rig, 100_000, true);
    assert_eq!(rig.engine.state(), State::Stopping);
    let out = rig.run_healthy(200_000);
    assert!(has_message(
        &out,
        "StateStopping -> StateBackup: the module answers again"
    ));
    assert_eq!(rig.engine.state(), State::Backup);
}

#[test]
fn a_manual_switch_in_an_upgrade_state_needs_force() {
    // "Caution: Avoid manual switchovers while in either upgrade state".
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    rig.on(Event::Start(ServiceMode::PeerActive {
        release: Release("2025.1".into()),
    }));
    rig.on(Event::StartupComplete);
    let out = rig.on(Event::SwitchRequest { force: false });
    assert!(matches!(
        actions(&out).as_slice(),
        [Command::RefuseSwitch(SwitchRefusal::UpgradeState)]
    ));
    let out = rig.on(Event::SwitchRequest { force: true });
    assert!(became_primary(&out).is_some());
}

#[test]
fn releases_compare_by_number_and_ignore_trailing_zeros() {
    assert_eq!(Release("2026.1".into()), Release("2026.1.0".into()));
    assert!(Release("2026.1.10".into()) > Release("2026.1.9".into()));
    let mut rig = Rig::new(StartupModes::default(), ServerParams::default());
    rig.on(Event::Start(ServiceMode::PeerActive {
        release: Release("2026.1".into()),
    }));
    assert_eq!(rig.engine.state(), State::Backup);
}

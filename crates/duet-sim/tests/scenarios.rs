//! Timeline tests: the seed's log samples and troubleshooting cases,
//! reproduced with the seed's default parameters.

use duet_sim::scenario::{Outcome, run, scenario};

fn outcome(name: &str) -> Outcome {
    run(scenario(name).expect("a scenario"), &[]).expect("valid parameters")
}

fn assert_switch(o: &Outcome, reason: &str, from_s: f64, to_s: f64) {
    assert!(
        o.switched,
        "{}: expected a switch\n{}",
        o.scenario,
        duet_sim::scenario::render(o)
    );
    assert_eq!(o.reason, reason);
    let at = o.switch_at_s.unwrap();
    assert!(
        (from_s..=to_s).contains(&at),
        "{}: switched at {at} s",
        o.scenario
    );
    assert_eq!(o.final_state, "StatePrimary");
    assert!(
        at <= o.bound_s.unwrap(),
        "{}: {at} s beyond the bound {:?}",
        o.scenario,
        o.bound_s
    );
}

fn assert_no_switch(o: &Outcome, final_state: &str) {
    assert!(
        !o.switched,
        "{}: switched\n{}",
        o.scenario,
        duet_sim::scenario::render(o)
    );
    assert_eq!(
        o.final_state,
        final_state,
        "{}",
        duet_sim::scenario::render(o)
    );
}

fn logged(o: &Outcome, text: &str) -> bool {
    o.timeline.iter().any(|l| l.message.contains(text))
}

#[test]
fn module_monitor_sample_switches_about_thirty_seconds_after_the_first_failed_ping() {
    // "After all pings fail, a switchover is attempted (approximately 30
    // seconds from the first ping transmission)."
    let o = outcome("module-down");
    let first_failure = o
        .timeline
        .iter()
        .find(|l| l.message.contains("error count [1] is within maximum [2]"))
        .expect("a first failed ping")
        .at_s;
    let switch = o.switch_at_s.expect("a switch");
    let from_first = switch - first_failure;
    assert!(
        (30.0..=31.0).contains(&from_first),
        "{from_first} s from the first failed ping"
    );
    assert_switch(&o, "TS Ping Failure", 30.0, 41.0);
    assert!(logged(
        &o,
        "Sending up to 2 ping(s) to the TsServer module using the main connection"
    ));
    assert!(logged(
        &o,
        "setting network connection status to 'PrimaryReached'"
    ));
}

#[test]
fn hung_module_switches_after_timeouts_and_retry_delays() {
    // Each timed-out ping waits the 10 s TS Timeout, then the 1 s retry
    // delay: four pings on main and aux, then the confirmation pings.
    let o = outcome("module-hang");
    assert_switch(&o, "TS Ping Failure", 40.0, 65.0);
}

#[test]
fn a_module_restarting_too_often_switches() {
    let o = outcome("module-restarts");
    assert_switch(
        &o,
        "TS Ping Failure: module restarting too often",
        15.0,
        35.0,
    );
}

#[test]
fn lost_notifier_connection_sample_switches_when_the_thirty_second_reconnect_timer_expires() {
    // "Scheduling reconnect timeout to execute in 30 second(s)" ...
    // "Reconnect period expired, posting [event=eConnectionsDown]".
    let o = outcome("notifier-lost");
    assert_switch(&o, "Loss of Connection to Notifier", 30.0, 30.5);
    assert!(logged(
        &o,
        "Scheduling reconnect timeout to execute in 30 second(s)"
    ));
    let i = o
        .timeline
        .iter()
        .position(|l| l.message == "Loss of Connection to Notifier")
        .unwrap();
    assert_eq!(
        o.timeline[i + 1].message,
        "Switchover Service: Switch Initiated"
    );
}

#[test]
fn losing_only_the_main_connection_does_not_switch() {
    let o = outcome("main-link-down");
    assert_no_switch(&o, "StateBackup");
}

#[test]
fn the_backups_own_network_failing_does_not_switch_and_it_recovers() {
    let o = outcome("network-down");
    assert!(logged(&o, "'GatewayUnreachable'"));
    assert!(logged(
        &o,
        "Not switching: the backup's own network is down"
    ));
    assert_no_switch(&o, "StateBackup");
}

#[test]
fn an_unreachable_primary_with_the_backups_network_good_switches_at_once() {
    // Detection by notifier ping timeouts (1 s delay + 3 x 5 s), a gateway
    // answer and 2 s of unanswered echoes to the primary's address.
    let o = outcome("primary-unreachable");
    assert_switch(&o, "Primary Unreachable", 15.0, 20.0);
}

#[test]
fn a_vanished_host_with_gateway_ping_disabled_switches_after_the_reconnect_timer() {
    let o = outcome("host-vanish");
    assert_switch(&o, "Loss of Connection to Notifier", 45.0, 50.0);
}

#[test]
fn a_wan_partition_with_net_test_does_not_switch() {
    // "If the Switchover system cannot ping this endpoint, it assumes that the
    // active server is still operable and it does not cause a switchover."
    let o = outcome("wan-partition");
    assert!(logged(&o, "'NetTestUnreachable'"));
    assert_no_switch(&o, "StateError");
}

#[test]
fn manual_mode_does_not_switch_and_stops() {
    let o = outcome("manual-mode");
    assert_no_switch(&o, "StateStopping");
}

#[test]
fn a_manual_switch_is_logged_as_manual_switchover() {
    let o = outcome("manual-switch");
    assert_switch(&o, "Manual Switchover", 0.0, 0.1);
}

#[test]
fn upgrade_states_do_not_switch_automatically() {
    assert_no_switch(&outcome("upgrade-higher"), "StateUpgradeHigher");
    assert_no_switch(&outcome("upgrade-lower"), "StateUpgradeLower");
}

#[test]
fn a_parameter_override_changes_the_timeline() {
    // An administrator tries Switchover Reconnect Timeout 10 before setting it.
    let o = run(
        scenario("notifier-lost").unwrap(),
        &[("Switchover Reconnect Timeout".into(), "10".into())],
    )
    .unwrap();
    assert_switch(&o, "Loss of Connection to Notifier", 10.0, 10.5);
}

#[test]
fn the_fast_profile_switches_in_well_under_a_second() {
    let fast = duet_params::toml_entries(duet_params::FAST_PROFILE_TOML).unwrap();
    for (name, within_s) in [
        ("notifier-lost", 0.5),
        ("primary-unreachable", 0.6),
        ("module-down", 1.0),
    ] {
        let o = run(scenario(name).unwrap(), &fast).unwrap();
        assert!(o.switched, "{name}");
        assert!(
            o.switch_at_s.unwrap() < within_s,
            "{name}: {:?}",
            o.switch_at_s
        );
    }
}

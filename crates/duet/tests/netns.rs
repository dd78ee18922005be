//! The pair in network namespaces of its own, with faults made for real:
//! the pair network cut (a partition, from the backup's side a vanished
//! host), the backup's own network down, and a WAN failure with NetTest.
//! Needs root (to create namespaces); fails otherwise, unless
//! DUET_SKIP_NETNS=1 says to skip.

mod harness;

use std::time::Duration;

use harness::netns::{Lab, NET_TEST};
use harness::{Pair, Setup, fast_params, serving};

/// One lab at a time: the tests time failovers and switch decisions, which
/// five pairs sharing two cores would blur.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lab() -> Option<(std::sync::MutexGuard<'static, ()>, Lab)> {
    let alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match Lab::create() {
        Ok(lab) => Some((alone, lab)),
        Err(why) => {
            harness::environment_missing(
                "DUET_SKIP_NETNS",
                &format!("cannot create network namespaces ({why}); run as root with iproute2"),
            );
            None
        }
    }
}

fn pair(lab: &Lab, extra_params: &str) -> Pair {
    let mut pair = Pair::new(
        lab.placements(),
        Setup {
            params: format!("{}\n{extra_params}\n", fast_params()),
            ..Setup::default()
        },
    );
    pair.start();
    pair
}

fn b_active(p: &Pair) -> bool {
    serving(&p.nodes[1].status())
}

#[test]
fn a_partition_makes_the_backup_take_over_and_the_old_active_steps_down_when_it_heals() {
    let Some((_alone, lab)) = lab() else { return };
    let pair = pair(&lab, "");
    lab.cut(0);
    pair.wait_until(Duration::from_secs(15), "b active", b_active);
    assert_eq!(
        pair.nodes[1]
            .status()
            .unwrap()
            .last_switch_reason
            .as_deref(),
        Some("Loss of Connection to Notifier")
    );
    // Cut off, a cannot know yet; it serves an older epoch meanwhile.
    lab.repair(0);
    pair.wait_until(
        Duration::from_secs(15),
        "a stepped down and rejoined as backup",
        |p| {
            p.nodes[0]
                .status()
                .is_some_and(|s| !s.serving && s.main_link_up && s.aux_link_up)
        },
    );
    assert!(pair.nodes[0].log().contains("rejoining the pair as backup"));
    pair.assert_invariants();
}

#[test]
fn the_backups_own_network_going_down_does_not_make_it_switch() {
    let Some((_alone, lab)) = lab() else { return };
    let pair = pair(&lab, "\"Switchover Disable Gateway Ping\" = \"No\"");
    lab.own_network_down(1);
    pair.holds_for(Duration::from_secs(4), "b not active", |p| !b_active(p));
    // The probe's verdict may trail the hold under load; wait for it, generously.
    pair.wait_until(
        Duration::from_secs(10),
        "b saw its gateway unreachable",
        |p| p.nodes[1].log().contains("'GatewayUnreachable'"),
    );
    lab.own_network_up(1);
    pair.wait_until(
        Duration::from_secs(15),
        "b backup again with links up",
        |p| {
            p.nodes[1]
                .status()
                .is_some_and(|s| !s.serving && s.main_link_up && s.aux_link_up)
        },
    );
    // a served throughout (its gateway confirmed its lease while b was
    // silent); it may be renewing at this very moment, so allow a lease.
    pair.wait_until(Duration::from_secs(2), "a serving", |p| {
        serving(&p.nodes[0].status())
    });
    // b never took over.
    assert_eq!(pair.nodes[1].status().map(|s| s.switchovers), Some(0));
    pair.assert_invariants();
}

#[test]
fn a_vanished_primary_with_gateway_ping_on_is_switched_from_at_once() {
    let Some((_alone, lab)) = lab() else { return };
    let pair = pair(&lab, "\"Switchover Disable Gateway Ping\" = \"No\"");
    lab.cut(0);
    pair.wait_until(Duration::from_secs(15), "b active", b_active);
    let b = pair.nodes[1].status().unwrap();
    assert_eq!(b.last_switch_reason.as_deref(), Some("Primary Unreachable"));
    assert!(pair.nodes[1].log().contains("'GatewayReached'"));
    pair.assert_invariants();
}

#[test]
fn a_wan_failure_seen_through_net_test_does_not_make_the_backup_switch() {
    let Some((_alone, lab)) = lab() else { return };
    let pair = pair(&lab, &format!("\"Switchover NetTest B\" = \"{NET_TEST}\""));
    // The far site, with its NetTest host, drops off the WAN.
    lab.net_test_down();
    lab.cut(0);
    pair.holds_for(Duration::from_secs(4), "b not active", |p| !b_active(p));
    pair.wait_until(Duration::from_secs(10), "b in StateError", |p| {
        p.nodes[1]
            .status()
            .is_some_and(|s| s.state.seed_name() == "StateError")
    });
    assert!(!b_active(&pair));
    assert!(pair.nodes[1].log().contains("'NetTestUnreachable'"));
    pair.assert_invariants();
}

#[test]
fn kill_9_of_the_active_in_its_namespace_switches_and_it_rejoins_as_backup() {
    let Some((_alone, lab)) = lab() else { return };
    let mut pair = pair(&lab, "");
    pair.nodes[0].kill9();
    pair.wait_until(Duration::from_secs(10), "b active", b_active);
    pair.nodes[0].start(&[]);
    pair.wait_until(Duration::from_secs(10), "a backup with links up", |p| {
        p.nodes[0]
            .status()
            .is_some_and(|s| !s.serving && s.main_link_up && s.aux_link_up)
    });
    pair.assert_invariants();
}

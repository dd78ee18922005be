//! Randomised runs: a seed picks a parameter profile and a schedule of
//! faults and repairs; after every step the run checks that the backup never
//! switches while the primary and its module have been answering (no false
//! positive) and always switches within the bound the parameters imply after
//! the primary truly fails (no missed failover). A seed replays exactly.

use duet_params::{FAST_PROFILE_TOML, ServerParams, UnreachablePrimary, load, toml_entries};
use duet_switchover::bounds::failover_bounds;
use duet_switchover::{Conn, SwitchReason};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::{Entry, Sim, SimConfig, Switch};
use crate::world::{Fault, ModuleHealth, NET_TEST_ADDRESS, World};

/// What one seed did.
#[derive(Debug, Clone)]
pub struct RandomRun {
    pub seed: u64,
    pub profile: &'static str,
    pub faults: Vec<(u64, Fault)>,
    pub switch: Option<Switch>,
    pub ended_ms: u64,
}

/// A broken invariant, with what is needed to understand and replay it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub seed: u64,
    pub message: String,
    pub faults: Vec<(u64, Fault)>,
    pub log_tail: Vec<Entry>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed {}: {}", self.seed, self.message)?;
        writeln!(f, "replay: cargo run -- simulate --seed {}", self.seed)?;
        writeln!(f, "faults:")?;
        for (at, fault) in &self.faults {
            writeln!(f, "  {:>10} ms  {fault:?}", at)?;
        }
        writeln!(f, "last log entries:")?;
        for e in &self.log_tail {
            writeln!(f, "  {:>10} ms  {:?}  {}", e.at_ms, e.topic, e.message)?;
        }
        Ok(())
    }
}

/// The parameters, faults and bounds a seed chose.
pub struct Plan {
    pub profile: &'static str,
    pub params: ServerParams,
    pub faults: Vec<(u64, Fault)>,
    pub horizon_ms: u64,
}

/// Derives the plan for a seed.
pub fn plan(seed: u64) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fast = rng.random_bool(0.5);
    let mut entries: Vec<(String, String)> = if fast {
        toml_entries(FAST_PROFILE_TOML).expect("the fast profile is valid")
    } else {
        Vec::new()
    };
    let mut set = |name: &str, value: &str| entries.push((name.into(), value.into()));
    if rng.random_bool(0.5) {
        set("Switchover Disable Gateway Ping", "No");
    }
    if rng.random_bool(0.25) {
        set("Switchover NetTest B", NET_TEST_ADDRESS);
    }
    if rng.random_bool(0.25) {
        set("Switchover Ping on Aux Connection", "Yes");
    }
    match rng.random_range(0..10) {
        0..=1 => set("Switchover Unreachable Primary Ping Count", "0"),
        2 => set("Switchover Unreachable Primary Ping Count", "-1"),
        _ => {}
    }
    let params = load(entries.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .expect("generated parameters are valid")
        .params;

    // Time scale: the module ping timeout (10 s by default, 200 ms fast).
    let unit = params.module_timeout_ms();
    let horizon_ms = 60 * unit;
    let max_latency = (params
        .primary_monitor_timeout_ms()
        .min(params.net_test_timeout.ms())
        / 5)
    .max(1);
    // Each fault lasts its own time: most are blips shorter than detection,
    // some outlast it. Its repair is scheduled with it.
    let mut faults: Vec<(u64, Fault)> = Vec::new();
    let mut busy_until: Vec<(Fault, u64)> = Vec::new();
    let mut t = 3 * unit;
    while t < horizon_ms {
        t += rng.random_range(0..=10 * unit);
        // Weighted so that restarts (any two within Max Restarts Period
        // switch, by the seed's rule) do not decide most runs.
        let fault = match rng.random_range(0..40) {
            0..=1 => Fault::ProcessCrash,
            2..=4 => Fault::HostVanish,
            5..=7 => Fault::PathCut,
            8..=10 => Fault::ModuleHang,
            11..=12 => Fault::ModuleDie,
            13 => Fault::ModuleRestart,
            14..=18 => Fault::ConnBlock(Conn::Main),
            19..=23 => Fault::ConnBlock(Conn::Aux),
            24..=27 => Fault::BackupNetDown,
            28..=31 => Fault::GatewayDown,
            32..=35 => Fault::NetTestDown,
            _ => Fault::Latency(rng.random_range(1..=max_latency)),
        };
        // One fault of a kind at a time (a hang and a death are one kind).
        let kind = |f: &Fault| match f {
            Fault::ModuleDie => Fault::ModuleHang,
            Fault::Latency(_) => Fault::Latency(0),
            other => *other,
        };
        busy_until.retain(|(_, until)| *until > t);
        if busy_until.iter().any(|(f, _)| kind(f) == kind(&fault)) {
            continue;
        }
        faults.push((t, fault));
        if fault == Fault::ModuleRestart {
            continue;
        }
        let duration = if rng.random_bool(0.9) {
            rng.random_range(unit / 10..=3 * unit / 2)
        } else {
            rng.random_range(10 * unit..=60 * unit)
        };
        busy_until.push((fault, t + duration));
        faults.push((t + duration, repair(fault)));
    }
    faults.sort_by_key(|(at, _)| *at);
    Plan {
        profile: if fast { "fast" } else { "seed defaults" },
        params,
        faults,
        horizon_ms,
    }
}

fn repair(fault: Fault) -> Fault {
    match fault {
        Fault::ProcessCrash => Fault::ProcessRestart,
        Fault::HostVanish => Fault::HostReturn,
        Fault::PathCut => Fault::PathRepair,
        Fault::ModuleHang | Fault::ModuleDie => Fault::ModuleRecover,
        Fault::ConnBlock(c) => Fault::ConnUnblock(c),
        Fault::BackupNetDown => Fault::BackupNetUp,
        Fault::GatewayDown => Fault::GatewayUp,
        Fault::NetTestDown => Fault::NetTestUp,
        Fault::Latency(_) => Fault::Latency(1),
        other => other,
    }
}

/// The primary has truly failed and the backup is in a position to know it:
/// its own network, gateway (when pinged) and NetTest host (when configured)
/// are fine.
fn must_switch(world: &World, p: &ServerParams) -> bool {
    let net_test = p.net_test_b.is_some();
    let backup_sound = world.backup_net_up
        && (world.gateway_up || !p.gateway_ping_enabled())
        && (!net_test || (world.net_test_up && world.path_up));
    let host_failure = !world.host_up || !world.process_up || !world.path_up;
    let module_failure = world.module != ModuleHealth::Up;
    let never_for_unreachable = p.unreachable_primary_ping_count == UnreachablePrimary::Never;
    backup_sound
        && ((host_failure && !never_for_unreachable)
            || (module_failure && world.host_reachable() && world.process_up))
}

/// How long a switch may be based on evidence older than the current state
/// of the world: the slowest path from a recovered primary to the engine
/// noticing it.
fn grace_ms(p: &ServerParams) -> u64 {
    let echo = p.net_test_timeout.ms();
    p.notifier_reconnect_delay.ms()
        + p.module_timeout_ms()
        + p.module_retry_delay_ms()
        + 2 * p.primary_monitor_timeout_ms()
        + 4 * echo
}

fn deadline_ms(p: &ServerParams) -> u64 {
    let b = failover_bounds(p, 1, p.net_test_b.is_some());
    let echo = p.net_test_timeout.ms();
    // Faults combine: a module failure seen over one connection ends in the
    // reconnecting state, whose timer then decides.
    let base = b.module_down_ms + p.reconnect_timeout.ms() + b.connection_lost_ms.unwrap_or(0);
    // Slack: a reconnect cycle, a NetTest retest after a WAN failure, and
    // the echoes and pings of one more diagnosis.
    base + p.notifier_reconnect_delay.ms()
        + p.unreachable_primary_ping_delay.ms()
        + 3 * echo
        + 4 * p.primary_monitor_timeout_ms()
        + 1_000
}

/// Runs one seed and checks the invariants after every step.
pub fn run_seed(seed: u64) -> Result<RandomRun, Violation> {
    let plan = plan(seed);
    let p = plan.params.clone();
    let mut sim = Sim::new(SimConfig {
        params: plan.params,
        ..SimConfig::default()
    });
    for (at, fault) in &plan.faults {
        sim.schedule_fault(*at, *fault);
    }
    let grace = grace_ms(&p);
    let deadline = deadline_ms(&p);
    let restarts_needed = p.max_restarts.min(p.max_sequential_restarts) as usize;
    let mut answering_since: Option<u64> = Some(0);
    let mut failed_since: Option<u64> = None;
    let mut incarnation = sim.world.incarnation;
    // Restarts counted when the backup could first see them: a restart
    // during an outage shows when the primary answers again.
    let mut unseen_restarts = 0;
    let mut restart_times: Vec<u64> = Vec::new();
    let result = sim.run_until(plan.horizon_ms, |sim| {
        let now = sim.now_ms();
        let w = &sim.world;
        if w.incarnation != incarnation {
            incarnation = w.incarnation;
            unseen_restarts += 1;
        }
        if w.primary_answers() {
            restart_times.extend(std::iter::repeat_n(now, unseen_restarts));
            unseen_restarts = 0;
        }
        answering_since = match (w.primary_answers(), answering_since) {
            (true, Some(t)) => Some(t),
            (true, None) => Some(now),
            (false, _) => None,
        };
        failed_since = match (must_switch(w, &p), failed_since) {
            (true, Some(t)) => Some(t),
            (true, None) => Some(now),
            (false, _) => None,
        };
        if let Some(switch) = sim.switch {
            if switch.reason == SwitchReason::ModuleRestartingTooOften {
                // The engine sees a restart at its next answered ping.
                let window = p.max_restarts_period_ms + grace;
                let recent = restart_times
                    .iter()
                    .filter(|t| now.saturating_sub(**t) <= window)
                    .count();
                if recent < restarts_needed {
                    return Err(format!(
                        "switched at {now} ms for restarts, but the module restarted only {recent} time(s) in the period"
                    ));
                }
            } else if let Some(since) = answering_since.filter(|s| now.saturating_sub(*s) > grace) {
                return Err(format!(
                    "false positive: switched at {now} ms ({:?}) although the primary and its module have answered since {since} ms (grace {grace} ms)",
                    switch.reason
                ));
            }
        } else if let Some(since) = failed_since.filter(|s| now.saturating_sub(*s) > deadline) {
            return Err(format!(
                "missed failover: the primary has been down since {since} ms and the backup has not switched by {now} ms (bound {deadline} ms); state {:?}",
                sim.engine().state()
            ));
        }
        Ok(())
    });
    match result {
        Ok(()) => Ok(RandomRun {
            seed,
            profile: plan.profile,
            faults: plan.faults,
            switch: sim.switch,
            ended_ms: sim.now_ms(),
        }),
        Err(message) => Err(Violation {
            seed,
            message,
            faults: plan.faults,
            log_tail: sim.log.iter().rev().take(40).rev().cloned().collect(),
        }),
    }
}

/// Runs `count` seeds from `first`, returning the violations.
pub fn run_seeds(first: u64, count: u64) -> (Vec<RandomRun>, Vec<Violation>) {
    let mut runs = Vec::new();
    let mut violations = Vec::new();
    for seed in first..first + count {
        match run_seed(seed) {
            Ok(run) => runs.push(run),
            Err(v) => violations.push(v),
        }
    }
    (runs, violations)
}

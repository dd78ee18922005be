//! `duet simulate`: scenarios, replays of random seeds, and seed sweeps;
//! of the switchover engine, or with `--pair` of a whole pair's
//! replication (`duet_sim::pair`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail};
use duet_sim::random::{plan, run_seed, run_seeds};
use duet_sim::scenario::{SCENARIOS, render, run as run_scenario, scenario};

#[derive(clap::Args)]
pub struct Args {
    /// The scenario to run (see --list).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["seed", "seeds", "list"])]
    scenario: Option<String>,
    /// A file of server parameters (TOML: "Parameter Name" = value) applied
    /// on top of the seed's defaults and the scenario's own settings.
    #[arg(long, value_name = "FILE", requires = "scenario")]
    params: Option<PathBuf>,
    /// Print one JSON object instead of the timeline.
    #[arg(long)]
    json: bool,
    /// Replay the randomised run of this seed (as printed by a failing test).
    #[arg(long, value_name = "N", conflicts_with_all = ["seeds", "list"])]
    seed: Option<u64>,
    /// Run this many random seeds (from --first-seed) and summarise.
    #[arg(long, value_name = "COUNT", conflicts_with = "list")]
    seeds: Option<u64>,
    /// The first seed for --seeds.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "seeds")]
    first_seed: u64,
    /// List the scenarios.
    #[arg(long)]
    list: bool,
    /// Simulate a whole pair's replication (two replica cores, their
    /// stores, the link, crashes, clients) instead of the switchover
    /// engine: with --seed N or --seeds COUNT.
    #[arg(long, conflicts_with_all = ["scenario", "list"])]
    pair: bool,
    /// With --pair: every eighth customer message is 300 KiB, so
    /// snapshots grow past a frame.
    #[arg(long, requires = "pair")]
    large_messages: bool,
    /// With --pair: now and then a node of a whole pair gets an empty
    /// disk, and roles at a meeting follow the histories (duet-role).
    #[arg(long, requires = "pair")]
    replaced_disks: bool,
    /// With --pair: now and then a node pauses (handles nothing for a
    /// while; an active node's lease runs out and the other takes over)
    /// or its store stalls (failed commits retried, nothing durable).
    #[arg(long, requires = "pair")]
    stalls: bool,
    /// With --pair: an etcd witness holds the pair's key (a takeover
    /// needs it), and now and then the nodes alone cannot reach each
    /// other while both reach their gateways and the witness.
    #[arg(long, requires = "pair")]
    witness: bool,
    /// With --pair: now and then a component of the active node fails
    /// while its process answers; the backup's takeover guard holds the
    /// switchover back while it is not synchronised or switchovers come
    /// too often.
    #[arg(long, requires = "pair")]
    component_failures: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        for s in SCENARIOS {
            println!("{:<20} {}", s.name, s.summary);
        }
        return Ok(());
    }
    if args.pair {
        return match (args.seed, args.seeds) {
            (Some(seed), _) => pair_sweep(seed, 1, pair_options(&args), args.json),
            (None, Some(count)) => {
                pair_sweep(args.first_seed, count, pair_options(&args), args.json)
            }
            (None, None) => {
                bail!("say which pair to simulate: --pair --seed N or --pair --seeds COUNT")
            }
        };
    }
    if let Some(seed) = args.seed {
        return replay(seed, args.json);
    }
    if let Some(count) = args.seeds {
        return sweep(args.first_seed, count, args.json);
    }
    let Some(name) = args.scenario else {
        bail!("say what to simulate: --scenario NAME (see --list), --seed N or --seeds COUNT");
    };
    let scenario = scenario(&name).ok_or_else(|| {
        let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        anyhow!(
            "unknown scenario {name:?}; the scenarios are: {}",
            names.join(", ")
        )
    })?;
    let overrides = match &args.params {
        Some(path) => super::read_param_file(path)?,
        None => Vec::new(),
    };
    let outcome = run_scenario(scenario, &overrides).map_err(|e| match &args.params {
        Some(path) => anyhow!("{}:\n{e}", path.display()),
        None => anyhow!("{e}"),
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", render(&outcome));
    }
    Ok(())
}

fn replay(seed: u64, json: bool) -> anyhow::Result<()> {
    let plan = plan(seed);
    let result = run_seed(seed);
    if json {
        let value = match &result {
            Ok(run) => serde_json::json!({
                "seed": seed,
                "profile": run.profile,
                "violation": null,
                "switched": run.switch.is_some(),
                "switch_at_ms": run.switch.map(|s| s.at_ms),
                "reason": run.switch.map(|s| format!("{:?}", s.reason)),
                "faults": run.faults.iter().map(|(at, f)| serde_json::json!({"at_ms": at, "fault": format!("{f:?}")})).collect::<Vec<_>>(),
            }),
            Err(v) => {
                serde_json::json!({"seed": seed, "profile": plan.profile, "violation": v.message})
            }
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "Seed {seed}: profile {}, {} world changes over {} ms.",
            plan.profile,
            plan.faults.len(),
            plan.horizon_ms
        );
        match &result {
            Ok(run) => {
                for (at, fault) in &run.faults {
                    if run.switch.is_some_and(|s| *at > s.at_ms) {
                        break;
                    }
                    println!("  {at:>10} ms  {fault:?}");
                }
                match run.switch {
                    Some(s) => println!(
                        "Switched at {} ms: {:?}. All invariants held.",
                        s.at_ms, s.reason
                    ),
                    None => println!("No switchover by {} ms. All invariants held.", run.ended_ms),
                }
            }
            Err(v) => print!("{v}"),
        }
    }
    match result {
        Ok(_) => Ok(()),
        Err(v) => bail!("seed {seed} broke an invariant: {}", v.message),
    }
}

fn sweep(first: u64, count: u64, json: bool) -> anyhow::Result<()> {
    let (runs, violations) = run_seeds(first, count);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for run in &runs {
        let key = match run.switch {
            Some(s) => format!("{}: switched ({:?})", run.profile, s.reason),
            None => format!("{}: no switchover", run.profile),
        };
        *outcomes.entry(key).or_default() += 1;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "first_seed": first,
                "seeds": count,
                "violations": violations.iter().map(|v| serde_json::json!({"seed": v.seed, "message": v.message})).collect::<Vec<_>>(),
                "outcomes": outcomes,
            }))?
        );
    } else {
        println!(
            "Seeds {first}..{}: {} runs, {} broke an invariant.",
            first + count,
            count,
            violations.len()
        );
        for (outcome, n) in &outcomes {
            println!("  {n:>6}  {outcome}");
        }
        for v in violations.iter().take(3) {
            print!("\n{v}");
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        bail!("{} seed(s) broke an invariant", violations.len())
    }
}

/// Runs the pair simulation for `count` seeds from `first`: one line per
/// seed (or JSON), and for a seed that breaks a rule, the rule and the run.
fn pair_options(args: &Args) -> duet_sim::pair::Options {
    duet_sim::pair::Options {
        large_messages: args.large_messages,
        replaced_disks: args.replaced_disks,
        stalls: args.stalls,
        witness: args.witness,
        component_failures: args.component_failures,
        ..duet_sim::pair::Options::default()
    }
}

fn pair_sweep(
    first: u64,
    count: u64,
    options: duet_sim::pair::Options,
    json: bool,
) -> anyhow::Result<()> {
    for seed in first..first.saturating_add(count) {
        match duet_sim::pair::run(seed, options) {
            Ok(report) if json => println!("{}", serde_json::to_string(&report)?),
            Ok(report) => println!(
                "seed {seed}: every rule kept; {} steps, {} operations acknowledged ({} refused), {} crashes, {} takeovers, {} link cuts, {} links closed by an oversized message, {} disks replaced, {} pauses, {} store stalls ({} commits failed), {} splits, {} takeovers held back (not synchronised) and {} damped, {} changes shown by feeds; healed at {}",
                report.steps,
                report.acknowledged,
                report.refused,
                report.crashes,
                report.takeovers,
                report.cuts,
                report.oversize,
                report.replaced_disks,
                report.pauses,
                report.store_stalls,
                report.store_failures,
                report.splits,
                report.held_back_unsynchronised,
                report.held_back_damped,
                report.shown,
                report.position
            ),
            Err(failure) => {
                print!("{failure}");
                bail!("seed {seed} broke a rule: {}", failure.broken);
            }
        }
    }
    Ok(())
}

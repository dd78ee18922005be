//! Failover time of a real pair in network namespaces: from the fault to the
//! backup answering API calls as active. Two faults: the active process
//! killed (`kill -9`) and the active host vanishing (its link set down, so no
//! FIN or RST arrives). Two profiles: the seed's default parameters and the
//! fast profile (profiles/fast.toml). Prints p50, p99 and max per case.
//!
//! `--witness` adds an etcd witness (in the lab's gateway namespace, Duet
//! Witness TTL s = 1): a vanished host is then taken over once its key has
//! gone, about one TTL after its last renewal.
//!
//! cargo bench -p duet --bench failover -- [--trials N] [--profile default|fast|lan] [--fault kill|vanish] [--witness]
//!
//! Needs root (network namespaces).

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::netns::Lab;
use harness::{Pair, Setup, bench_arg as arg, bench_number, fast_params, percentile, serving};

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    Vanish,
}

fn active(pair: &Pair) -> Option<usize> {
    (0..2).find(|&i| serving(&pair.nodes[i].status()))
}

fn healthy(pair: &Pair) -> bool {
    let s: Vec<_> = pair.nodes.iter().map(|n| n.status()).collect();
    match (&s[0], &s[1]) {
        (Some(a), Some(b)) => {
            a.serving != b.serving && {
                let backup = if a.serving { b } else { a };
                backup.main_link_up && backup.aux_link_up
            }
        }
        _ => false,
    }
}

/// Runs `trials` failovers; returns the times in ms and the number of
/// switches nobody asked for.
fn run(fault: Fault, params: String, trials: usize, witness: bool) -> (Vec<f64>, usize) {
    let lab = Lab::create().unwrap_or_else(|e| panic!("cannot create network namespaces: {e}"));
    let etcd = witness.then(|| {
        harness::etcd::Etcd::start_in_netns(&lab.gw, harness::netns::GATEWAY)
            .unwrap_or_else(|e| panic!("cannot start etcd: {e}"))
    });
    let mut pair = Pair::new(
        lab.placements(),
        Setup {
            params: if witness {
                format!("{params}\n\"Duet Witness TTL s\" = 1\n")
            } else {
                params
            },
            witness: etcd.as_ref().map(|etcd| duet_node::bootstrap::Witness {
                endpoints: vec![etcd.url.clone()],
                key: None,
            }),
            ..Setup::default()
        },
    );
    pair.start();
    let mut times = Vec::new();
    let mut false_switches = 0;
    for trial in 0..trials {
        let victim = active(&pair).expect("an active node");
        let survivor = 1 - victim;
        let epoch = pair.nodes[survivor].status().map_or(0, |s| s.epoch);
        let start = Instant::now();
        match fault {
            Fault::Kill => pair.nodes[victim].kill9(),
            Fault::Vanish => lab.cut(victim),
        }
        loop {
            if pair.nodes[survivor]
                .status()
                .is_some_and(|s| s.serving && s.epoch > epoch)
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "no failover after 180 s\n{}",
                pair.logs()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        times.push(ms);
        eprintln!("  trial {:>2}: {ms:9.1} ms", trial + 1);
        match fault {
            Fault::Kill => pair.nodes[victim].start(&[]),
            Fault::Vanish => lab.repair(victim),
        }
        pair.wait_until(Duration::from_secs(60), "the pair healthy again", healthy);
        // Nothing may switch while the pair is healthy.
        let settled = active(&pair);
        std::thread::sleep(Duration::from_secs(1));
        if active(&pair) != settled || !healthy(&pair) {
            false_switches += 1;
        }
    }
    pair.assert_invariants();
    (times, false_switches)
}

fn main() {
    let trials: usize = bench_number("--trials", 20);
    let witness = std::env::args().any(|a| a == "--witness");
    let lan = include_str!("../../../profiles/lan.toml").to_string();
    let profiles: Vec<(&str, String)> = match arg("--profile").as_deref() {
        Some("default") => vec![("seed defaults", String::new())],
        Some("fast") => vec![("fast", fast_params())],
        Some("lan") => vec![("lan", lan)],
        _ => vec![
            ("lan", lan),
            ("fast", fast_params()),
            ("seed defaults", String::new()),
        ],
    };
    let faults: Vec<(&str, Fault)> = match arg("--fault").as_deref() {
        Some("kill") => vec![("kill -9", Fault::Kill)],
        Some("vanish") => vec![("host vanishes", Fault::Vanish)],
        _ => vec![("kill -9", Fault::Kill), ("host vanishes", Fault::Vanish)],
    };
    println!("| fault | profile | trials | p50 ms | p99 ms | max ms | false switchovers |");
    println!("|---|---|---|---|---|---|---|");
    for (profile, params) in &profiles {
        for (fault_name, fault) in &faults {
            eprintln!("{fault_name}, {profile}:");
            let (mut times, false_switches) = run(*fault, params.clone(), trials, witness);
            times.sort_by(|a, b| a.total_cmp(b));
            let profile = if witness {
                format!("{profile}, witness")
            } else {
                profile.to_string()
            };
            println!(
                "| {fault_name} | {profile} | {} | {:.1} | {:.1} | {:.1} | {false_switches} |",
                times.len(),
                percentile(&times, 50.0),
                percentile(&times, 99.0),
                times.last().copied().unwrap_or(0.0)
            );
        }
    }
}

//! Write unavailability per fault: a pair in network namespaces (LAN
//! profile, NetTest on both nodes) under writes from clients that follow
//! the active node; for each trial the active node is faulted, and two
//! times run from the fault: to the other node answering as serving in a
//! newer epoch, and to the first write it acknowledged (which includes the
//! clients' own wait: a client gives a silent node 1 s, and a node that is
//! cut off refuses a held write after three leases). Faults: `kill -9`, SIGSTOP for 2 s (SIGCONT after),
//! and the active node cut off (its link down for 2 s).
//!
//! cargo bench -p duet --bench unavailability -- [--trials N] [--fault kill|pause|cut] [--clients C]
//!
//! Needs root (network namespaces).

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::netns::{Lab, NET_TEST};
use harness::writers::Writers;
use harness::{Pair, Setup, bench_arg as arg, bench_number, in_sync, percentile, serving};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Fault {
    Kill,
    Pause,
    Cut,
}

fn main() {
    let trials: usize = bench_number("--trials", 20);
    let clients: usize = bench_number("--clients", 4);
    let faults: Vec<Fault> = match arg("--fault").as_deref() {
        Some("kill") => vec![Fault::Kill],
        Some("pause") => vec![Fault::Pause],
        Some("cut") => vec![Fault::Cut],
        _ => vec![Fault::Kill, Fault::Pause, Fault::Cut],
    };
    println!(
        "| fault | trials | clients | serving p50 ms | serving p99 ms | first write p50 ms | first write p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    for fault in faults {
        let lab = Lab::create().unwrap_or_else(|e| panic!("cannot create network namespaces: {e}"));
        let mut pair = Pair::new(
            lab.placements(),
            Setup {
                params: format!(
                    "{}\n\"Switchover NetTest A\" = \"{NET_TEST}\"\n\"Switchover NetTest B\" = \"{NET_TEST}\"\n",
                    include_str!("../../../profiles/lan.toml")
                ),
                ..Setup::default()
            },
        );
        pair.start();
        let urls = [pair.nodes[0].url(), pair.nodes[1].url()];
        let names = [pair.nodes[0].name.clone(), pair.nodes[1].name.clone()];
        let writers = Writers::start(clients, urls, names);
        let mut times = Vec::new();
        let mut serving_times = Vec::new();
        for trial in 0..trials {
            pair.wait_until(Duration::from_secs(60), "a healthy pair", in_sync);
            std::thread::sleep(Duration::from_millis(300));
            let victim = if serving(&pair.nodes[0].status()) {
                0
            } else {
                1
            };
            let epoch = pair.nodes[1 - victim].status().map_or(0, |s| s.epoch);
            let mut serving_at = None;
            let start = Instant::now();
            match fault {
                Fault::Kill => pair.nodes[victim].kill9(),
                Fault::Pause => pair.nodes[victim].signal("STOP"),
                Fault::Cut => lab.cut(victim),
            }
            let first = loop {
                if serving_at.is_none()
                    && pair.nodes[1 - victim]
                        .status()
                        .is_some_and(|s| s.serving && s.epoch > epoch)
                {
                    serving_at = Some(start.elapsed());
                }
                let found = writers
                    .acked()
                    .iter()
                    .filter(|a| a.node != victim && a.at > start)
                    .map(|a| a.at)
                    .min();
                if let Some(at) = found
                    && serving_at.is_some()
                {
                    break at;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "no write acknowledged by the new active within 60 s\n{}",
                    pair.logs()
                );
                std::thread::sleep(Duration::from_millis(5));
            };
            let ms = first.duration_since(start).as_secs_f64() * 1000.0;
            let serving_ms = serving_at.unwrap_or_default().as_secs_f64() * 1000.0;
            eprintln!(
                "  {fault:?} trial {:>2}: serving {serving_ms:8.1} ms, first write {ms:8.1} ms",
                trial + 1
            );
            times.push(ms);
            serving_times.push(serving_ms);
            match fault {
                Fault::Kill => pair.nodes[victim].start(&[]),
                Fault::Pause => {
                    std::thread::sleep(Duration::from_secs(2).saturating_sub(start.elapsed()));
                    pair.nodes[victim].signal("CONT");
                }
                Fault::Cut => {
                    std::thread::sleep(Duration::from_secs(2).saturating_sub(start.elapsed()));
                    lab.repair(victim);
                }
            }
        }
        pair.wait_until(Duration::from_secs(60), "a healthy pair", in_sync);
        let acked = writers.stop();
        eprintln!("  {} writes acknowledged", acked.len());
        pair.assert_invariants();
        times.sort_by(|a, b| a.total_cmp(b));
        serving_times.sort_by(|a, b| a.total_cmp(b));
        let name = match fault {
            Fault::Kill => "kill -9",
            Fault::Pause => "SIGSTOP 2 s",
            Fault::Cut => "cut off 2 s",
        };
        println!(
            "| {name} | {} | {clients} | {:.1} | {:.1} | {:.1} | {:.1} |",
            times.len(),
            percentile(&serving_times, 50.0),
            percentile(&serving_times, 99.0),
            percentile(&times, 50.0),
            percentile(&times, 99.0)
        );
    }
}

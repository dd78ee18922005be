//! Live interactions shadowed on the backup, and their takeover, through a
//! real pair on loopback (the LAN profile, backup in sync).
//!
//! a. `--live N` chats (100,000 by default) are started by `--clients`
//!    customers at once into a queue no agent serves, so they all stay
//!    live. Meanwhile the active node's `replication_lag_changes` gauge is
//!    sampled every 10 ms. Prints the rate reached, the lag p50/p99 (in
//!    changes, and in ms at that rate), the acknowledgement latency
//!    p50/p99 (a change is acknowledged once it is on both nodes) and each
//!    node's resident memory before and after.
//! b. The active node is killed (-9); from that moment the time until the
//!    new active node routes again: a chat started on it (retried until
//!    it is taken) is offered to the one agent logged in. Prints the time
//!    to the chat taken, and to it offered.
//!
//! cargo bench -p duet --bench takeover -- [--live N] [--clients C]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::contact::{AGENT_PASSWORD, Api, set_up_directory};
use harness::{Pair, Setup, bench_number as number, percentile};
use serde_json::{Value, json};

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn lag_changes(agent: &ureq::Agent, url: &str) -> Option<f64> {
    let text = agent
        .get(&format!("{url}/metrics"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    text.lines()
        .find(|l| l.starts_with("duet_replication_lag_changes "))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}

fn start_chats(pair: &Pair, live: usize, clients: usize) {
    let url = pair.nodes[0].url();
    let made = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let lags = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (url, done, lags) = (url.clone(), done.clone(), lags.clone());
        std::thread::spawn(move || {
            let agent = http();
            while !done.load(Ordering::Relaxed) {
                if let Some(lag) = lag_changes(&agent, &url) {
                    lags.lock().unwrap().push(lag);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let rss_before = [rss_mib(pair.nodes[0].pid()), rss_mib(pair.nodes[1].pid())];
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (url, made, busy) = (url.clone(), made.clone(), busy.clone());
            std::thread::spawn(move || {
                let agent = http();
                let mut latencies = Vec::new();
                while made.fetch_add(1, Ordering::Relaxed) < live {
                    let t = Instant::now();
                    let n = latencies.len();
                    let body = json!({"queue": "Backlog", "name": format!("Customer {c}-{n}"),
                                      "client_id": format!("live-{c}-{n}"), "client_secret": "bench-client-secret-1"});
                    // A busy node answers 503: the same request again (its
                    // client id makes it one chat).
                    for attempt in 0.. {
                        match agent.post(&format!("{url}/api/chats")).send_json(&body) {
                            Ok(r) if r.status() == 200 => break,
                            Ok(r) if r.status() == 503 && attempt < 100 => {
                                busy.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            Ok(mut r) => panic!(
                                "start a chat: {} {}",
                                r.status(),
                                r.body_mut().read_to_string().unwrap_or_default()
                            ),
                            Err(e) => panic!("start a chat: {e}"),
                        }
                    }
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let joined: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
    if joined.iter().any(Result::is_err) {
        // Whole logs for the reader: a tail shows only the end of it.
        for (node, name) in pair.nodes.iter().zip(["a", "b"]) {
            let path = std::env::temp_dir().join(format!("duet-takeover-{name}.log"));
            match std::fs::write(&path, node.log()) {
                Ok(()) => eprintln!("{name}'s whole log: {}", path.display()),
                Err(e) => eprintln!("{name}'s log could not be kept at {}: {e}", path.display()),
            }
        }
        panic!(
            "a customer failed after {} chats asked for\n{}",
            made.load(Ordering::Relaxed),
            pair.logs()
        );
    }
    let mut latencies: Vec<f64> = joined.into_iter().flatten().flatten().collect();
    let elapsed = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("the sampler");
    pair.wait_until(
        Duration::from_secs(60),
        "the backup in sync",
        harness::in_sync,
    );
    let rss_after = [rss_mib(pair.nodes[0].pid()), rss_mib(pair.nodes[1].pid())];
    latencies.sort_by(|a, b| a.total_cmp(b));
    let mut lags = lags.lock().unwrap().clone();
    lags.sort_by(|a, b| a.total_cmp(b));
    let rate = latencies.len() as f64 / elapsed;
    println!(
        "### a. {live} live interactions shadowed ({} answers 503, busy, retried)\n",
        busy.load(Ordering::Relaxed)
    );
    println!(
        "| clients | chats | seconds | chats/s | ack p50 ms | ack p99 ms | lag p50 changes | lag p99 changes | lag p99 ms at that rate |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {clients} | {} | {elapsed:.1} | {rate:.0} | {:.2} | {:.2} | {:.0} | {:.0} | {:.1} |\n",
        latencies.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        percentile(&lags, 50.0),
        percentile(&lags, 99.0),
        percentile(&lags, 99.0) / rate * 1000.0,
    );
    println!("| node | RSS before MiB | RSS after MiB | KiB per live interaction |");
    println!("|---|---|---|---|");
    for (i, name) in ["active", "backup"].iter().enumerate() {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} |",
            rss_before[i],
            rss_after[i],
            (rss_after[i] - rss_before[i]) * 1024.0 / live as f64
        );
    }
    println!();
}

/// From a kill -9 of the active node to the new one taking a new chat,
/// and to its offering that chat, ms.
fn takeover(pair: &mut Pair) -> (f64, f64) {
    let b = pair.nodes[1].url();
    let alice = Api::login(&pair.nodes[0].url(), "alice", AGENT_PASSWORD);
    let (code, body) = alice.post("/api/agent/login", json!({"media": ["chat"]}));
    assert_eq!(code, 200, "{body}");
    let alice_b = alice.on(&b);
    let agent = http();
    pair.nodes[0].kill9();
    let t0 = Instant::now();
    let (id, taken_ms) = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no takeover in 30 s"
        );
        if let Ok(mut r) = agent
            .post(&format!("{b}/api/chats"))
            .send_json(json!({"queue": "Sales", "name": "Probe", "client_id": "probe", "client_secret": "bench-client-secret-1"}))
            && r.status() == 200
        {
            let v: Value = r.body_mut().read_json().expect("json");
            let taken_ms = t0.elapsed().as_secs_f64() * 1000.0;
            break (v["id"].as_str().expect("an id").to_string(), taken_ms);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    loop {
        assert!(t0.elapsed() < Duration::from_secs(30), "not routed in 30 s");
        let (_, me) = alice_b.get("/api/agent");
        let offered = me["interactions"]
            .as_array()
            .is_some_and(|all| all.iter().any(|i| i["id"] == id.as_str()));
        if offered {
            return (taken_ms, t0.elapsed().as_secs_f64() * 1000.0);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() {
    let live = number("--live", 100_000);
    let clients = number("--clients", 64);
    let mut pair = Pair::loopback(Setup {
        params: include_str!("../../../profiles/lan.toml").to_string(),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    for (path, class, attributes) in [
        (
            "/config/Workgroups/Backlog",
            "Workgroup",
            json!({"members": ""}),
        ),
        (
            "/config/Interactions",
            "Folder",
            // Customers may fill only 95% of the limit (the rest is kept
            // for agents' own work): room for every chat and the probe.
            json!({"live_interactions_max": (live * 100 / 95 + 1_000).to_string()}),
        ),
    ] {
        let (code, body) = pair.config_put(0, path, class, attributes, None);
        assert_eq!(code, 200, "{path}: {body}");
    }
    pair.wait_until(
        Duration::from_secs(10),
        "replication in sync",
        harness::in_sync,
    );
    println!(
        "pair on loopback (LAN profile), active pid {}, backup pid {}\n",
        pair.nodes[0].pid(),
        pair.nodes[1].pid()
    );
    start_chats(&pair, live, clients);
    let (taken_ms, routed_ms) = takeover(&mut pair);
    println!("### b. Takeover of {live} live interactions\n");
    println!(
        "| kill -9 to a new chat taken by the new active node, ms | to it offered to an agent, ms |"
    );
    println!("|---|---|");
    println!("| {taken_ms:.0} | {routed_ms:.0} |\n");
}

//! Does write load move the pair by itself? A real pair on loopback (the
//! LAN profile: 106 ms lease) under `--clients` customers (64 by default)
//! each sending chat messages as fast as they are acknowledged (a chat
//! holds 1,000 of its customer's; then the customer starts another), for
//! `--seconds` (600 by default), both cores busy. Every client follows
//! the node that serves: a refused or failed send goes again, with the
//! same message id, to whichever node serves then.
//!
//! Prints the acknowledged messages and their rate, the acknowledgement
//! latency (p50, p99, max: the longest a client waited), the switchovers
//! (epoch changes seen by sampling both nodes' status every 100 ms), the
//! samples with both nodes serving, and each node's own longest stall
//! (`longest_stall_ms` in its status: the longest its replication task
//! made no progress), then each node's log lines on what moved it: the
//! replication task's long steps by kind, lapsed leases, takeovers.
//!
//! The clients run as ordinary work (nice 0; `--clients-nice N` to
//! change it) and the nodes at their own nice value (`nice` in the
//! bootstrap file, -5 by default): a node that runs as equal to 64 busy
//! threads on 2 cores waits about 100 ms for a core at times, longer
//! than the LAN profile's lease, whatever it does.
//!
//! cargo bench -p duet --bench stalls -- [--seconds S] [--clients C] [--clients-nice N]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harness::contact::{post_json, set_up_directory};
use harness::{Pair, Setup, api_agent, bench_number as number, percentile};
use serde_json::json;

/// What the sampler saw.
#[derive(Default)]
struct Seen {
    switchovers: u64,
    both_serving: u64,
    samples: u64,
}

/// Samples both nodes every 100 ms until `stop`: which one serves (for
/// the clients to follow), epoch changes, and both serving at once.
fn sample(pair: &Pair, serving_node: &AtomicUsize, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let mut epoch = 0;
    while !stop.load(Ordering::Relaxed) {
        let statuses = [pair.nodes[0].status(), pair.nodes[1].status()];
        let serving: Vec<usize> = (0..2)
            .filter(|&i| statuses[i].as_ref().is_some_and(|s| s.serving))
            .collect();
        if let Some(&i) = serving.first() {
            serving_node.store(i, Ordering::Relaxed);
        }
        let newest = statuses.iter().flatten().map(|s| s.epoch).max();
        if let Some(newest) = newest {
            if epoch != 0 && newest > epoch {
                seen.switchovers += newest - epoch;
            }
            epoch = epoch.max(newest);
        }
        seen.both_serving += u64::from(serving.len() == 2);
        seen.samples += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    seen
}

/// Starts a chat on the serving node (retried until taken); its id and
/// token, and the attempts that failed.
fn start_chat(
    agent: &ureq::Agent,
    url: &dyn Fn() -> String,
    client_id: &str,
) -> (String, String, u64) {
    let mut failed = 0;
    loop {
        let (code, chat) = post_json(
            agent,
            &format!("{}/api/chats", url()),
            json!({"queue": "Sales", "name": client_id,
                   "client_id": client_id, "client_secret": "stalls-client-secret-1"}),
            &[],
        );
        if code == 200 {
            let field = |name: &str| {
                chat[name]
                    .as_str()
                    .expect("a chat's id and token")
                    .to_string()
            };
            return (field("id"), field("token"), failed);
        }
        failed += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One customer: chats (nobody takes them: they stay queued), each with
/// messages until it is full (413: the customer leaves and starts
/// another), until `until`; the latency of each acknowledged message,
/// and the sends that had to go again.
fn customer(
    urls: &[String; 2],
    serving_node: &AtomicUsize,
    client: usize,
    until: Instant,
) -> (Vec<f64>, u64) {
    let agent = api_agent();
    let url = || urls[serving_node.load(Ordering::Relaxed)].clone();
    let mut chats = 0;
    let (mut id, mut token, mut retries) = start_chat(&agent, &url, &format!("stalls-{client}-0"));
    let mut latencies_ms = Vec::new();
    for n in 0.. {
        if Instant::now() >= until {
            break;
        }
        let t = Instant::now();
        let body = json!({"message_id": format!("m{n}"), "body": format!("message {n}")});
        loop {
            let path = format!("{}/api/chats/{id}/messages", url());
            match post_json(&agent, &path, body.clone(), &[("x-duet-token", &token)]).0 {
                200 => break,
                413 => {
                    // A chat not left only stays queued: nothing to retry.
                    let leave = format!("{}/api/chats/{id}/leave", url());
                    post_json(&agent, &leave, json!({}), &[("x-duet-token", &token)]);
                    chats += 1;
                    let again;
                    (id, token, again) =
                        start_chat(&agent, &url, &format!("stalls-{client}-{chats}"));
                    retries += again;
                }
                _ => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        latencies_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    (latencies_ms, retries)
}

fn main() {
    let seconds = number("--seconds", 600.0);
    let clients = number("--clients", 64);
    let clients_nice: i32 = number("--clients-nice", 0);
    let mut pair = Pair::loopback(Setup {
        params: include_str!("../../../profiles/lan.toml").to_string(),
        ..Setup::default()
    });
    pair.start();
    // This bench counts switchovers itself (the harness's sampler would
    // fail on the first one rather than count it).
    pair.sampler = None;
    set_up_directory(&pair, 0);
    pair.wait_until(
        Duration::from_secs(10),
        "replication in sync",
        harness::in_sync,
    );
    println!(
        "pair on loopback (LAN profile), a pid {}, b pid {}; {clients} clients at nice {clients_nice} for {seconds} s\n",
        pair.nodes[0].pid(),
        pair.nodes[1].pid()
    );
    let urls = [pair.nodes[0].url(), pair.nodes[1].url()];
    let serving_node = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let latencies = Mutex::new(Vec::new());
    let retries = AtomicUsize::new(0);
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let seen = std::thread::scope(|s| {
        let sampler = s.spawn(|| sample(&pair, &serving_node, &stop));
        let customers: Vec<_> = (0..clients)
            .map(|c| {
                let (urls, serving_node) = (&urls, &serving_node);
                let (latencies, retries) = (&latencies, &retries);
                s.spawn(move || {
                    // On Linux a thread's nice value is its own.
                    if let Err(e) = rustix::process::setpriority_process(None, clients_nice) {
                        eprintln!("cannot give client {c} nice {clients_nice}: {e}");
                    }
                    let (mine, again) = customer(urls, serving_node, c, until);
                    latencies.lock().unwrap().extend(mine);
                    retries.fetch_add(again as usize, Ordering::Relaxed);
                })
            })
            .collect();
        for c in customers {
            c.join().expect("a customer thread");
        }
        stop.store(true, Ordering::Relaxed);
        sampler.join().expect("the sampler")
    });
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort_by(f64::total_cmp);
    let stalls: Vec<String> = (0..2)
        .map(|i| {
            pair.nodes[i]
                .status()
                .map_or("-".into(), |s| s.longest_stall_ms.to_string())
        })
        .collect();
    let acked = latencies.len();
    println!(
        "| seconds | clients | messages acknowledged | per second | p50 / p99 / max ms | sends again | switchovers | samples both serving | longest stall a / b ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {seconds:.0} | {clients} | {acked} | {:.0} | {:.2} / {:.2} / {:.0} | {} | {} | {} of {} | {} / {} |",
        acked as f64 / seconds,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or_default(),
        retries.load(Ordering::Relaxed),
        seen.switchovers,
        seen.both_serving,
        seen.samples,
        stalls[0],
        stalls[1],
    );
    // What each node said about its stalls and its right to serve: the
    // replication task's long steps by kind, lapsed leases, takeovers.
    for node in &pair.nodes {
        println!("\n{}: what moved it", node.name);
        for line in node.log().lines().filter(|l| {
            l.contains("spent")
                || l.contains("Right to serve lost")
                || l.contains("made no progress")
                || l.contains("unanswered")
                || l.contains("Serving as the active node")
        }) {
            println!("  {line}");
        }
    }
}

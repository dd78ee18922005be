//! Configuration writes through a real pair on loopback with the backup in
//! sync: every write is acknowledged only once the backup has applied it, so
//! its latency includes the replication. Prints acknowledged writes per
//! second and the latency p50/p99, sequentially and with concurrent clients,
//! then from one client sending them `--batch` at a time (`POST
//! /api/config/batch`; its latency is a whole batch's).
//!
//! cargo bench -p duet --bench replication -- [--writes N] [--clients C] [--batch B]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{Pair, Setup, basic_auth, bench_number as number, percentile};

fn main() {
    let writes = number("--writes", 2000);
    let clients = number("--clients", 8);
    let batch = number("--batch", 500);
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let url = pair.nodes[0].url();
    let auth = basic_auth();
    pair.wait_until(Duration::from_secs(10), "replication in sync", |p| {
        p.nodes[0]
            .status()
            .is_some_and(|s| s.replication == duet_stream::Replication::InSync)
    });
    println!("| clients | writes | writes/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for concurrency in [1, clients] {
        let per_client = writes / concurrency;
        let started = Instant::now();
        let threads: Vec<_> = (0..concurrency)
            .map(|c| {
                let (url, auth) = (url.clone(), auth.clone());
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .timeout_global(Some(Duration::from_secs(10)))
                        .build()
                        .into();
                    let mut latencies = Vec::new();
                    for i in 0..per_client {
                        let t = Instant::now();
                        agent
                            .put(&format!("{url}/api/config"))
                            .header("authorization", &auth)
                            .send_json(serde_json::json!({
                                "path": format!("/config/Users/c{concurrency}-{c}-{i}"),
                                "class": "User",
                                "attributes": {"Extension": i.to_string()},
                            }))
                            .expect("an acknowledged write");
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies: Vec<f64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let seconds = started.elapsed().as_secs_f64();
        latencies.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| {concurrency} | {} | {:.0} | {:.2} | {:.2} |",
            latencies.len(),
            latencies.len() as f64 / seconds,
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0)
        );
    }
    // One client, `batch` changes a request.
    let agent = harness::agent(Duration::from_secs(30));
    let started = Instant::now();
    let mut latencies = Vec::new();
    for first in (0..writes).step_by(batch) {
        let changes: Vec<serde_json::Value> = (first..writes.min(first + batch))
            .map(|i| {
                serde_json::json!({"put": {
                    "path": format!("/config/Users/batch-{i}"),
                    "class": "User",
                    "attributes": {"Extension": i.to_string()},
                }})
            })
            .collect();
        let t = Instant::now();
        let mut answer = agent
            .post(&format!("{url}/api/config/batch"))
            .header("authorization", &auth)
            .send_json(serde_json::json!({ "changes": changes }))
            .expect("an answer");
        let answer: serde_json::Value = answer.body_mut().read_json().expect("results");
        let results = answer["results"].as_array().expect("results");
        assert!(
            results.iter().all(|r| r["seq"].is_u64()),
            "every change acknowledged: {answer}"
        );
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| 1, batches of {batch} | {writes} | {:.0} | {:.2} | {:.2} |",
        writes as f64 / seconds,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0)
    );
    let (a, b) = (
        pair.nodes[0].status().unwrap(),
        pair.nodes[1].status().unwrap(),
    );
    assert_eq!(
        a.replication,
        duet_stream::Replication::InSync,
        "the backup stayed in sync"
    );
    assert_eq!(
        a.config_applied, b.config_applied,
        "the backup holds every acknowledged write"
    );
    pair.assert_invariants();
}

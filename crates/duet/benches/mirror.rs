//! Mirrored directories through a real pair on loopback: the time from
//! files being complete on the active node to their being on the backup.
//! Three cases: one changed file at a time (the latency the file monitor
//! gives), 10,000 small files, and one 1 GiB file.
//!
//! cargo bench -p duet --bench mirror -- [--changes N] [--files N] [--gib G]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::io::Write;
use std::time::{Duration, Instant};

use harness::{Pair, Setup, bench_number as number, percentile};

fn main() {
    let changes = number("--changes", 50);
    let files = number("--files", 10_000);
    let gib = number("--gib", 1);
    let mut pair = Pair::loopback(Setup::default());
    let (a, b) = (
        pair.data_dir(0).join("Resources"),
        pair.data_dir(1).join("Resources"),
    );
    // In place before the nodes start, as mirrored directories are: a root
    // created later is found by the file monitor's next round (1 s).
    std::fs::create_dir_all(&a).unwrap();
    pair.start();
    let mut latencies_ms = Vec::new();
    for i in 0..changes {
        let name = format!("change-{i}.txt");
        std::fs::write(a.join(&name), format!("change {i}")).unwrap();
        let started = Instant::now();
        // Polled every millisecond: the harness's 50 ms would hide the figure.
        while !b.join(&name).exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{name} not on b\n{}",
                pair.logs()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        latencies_ms.push(started.elapsed().as_secs_f64() * 1_000.0);
    }
    latencies_ms.sort_by(f64::total_cmp);
    println!(
        "one changed file, {changes} times: p50 {:.1} ms, p99 {:.1} ms\n",
        percentile(&latencies_ms, 50.0),
        percentile(&latencies_ms, 99.0)
    );

    println!("| case | time s | throughput |");
    println!("|---|---|---|");

    let many = a.join("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..files {
        std::fs::write(
            many.join(format!("f{i:05}.wav")),
            vec![(i % 251) as u8; 1024],
        )
        .unwrap();
    }
    let started = Instant::now();
    let count = || {
        std::fs::read_dir(b.join("many"))
            .map(|d| d.count() as u64)
            .unwrap_or(0)
    };
    pair.wait_until(Duration::from_secs(600), "the small files on b", |_| {
        count() == files
    });
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "| {files} files of 1 KiB | {seconds:.2} | {:.0} files/s |",
        files as f64 / seconds
    );

    let size = gib * 1024 * 1024 * 1024;
    let mut file = std::fs::File::create(a.join("big.bin")).unwrap();
    let block: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    for _ in 0..size / block.len() as u64 {
        file.write_all(&block).unwrap();
    }
    file.sync_all().unwrap();
    drop(file);
    let started = Instant::now();
    let done = || std::fs::metadata(b.join("big.bin")).is_ok_and(|m| m.len() == size);
    pair.wait_until(Duration::from_secs(1200), "the big file on b", |_| done());
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "| one file of {gib} GiB | {seconds:.2} | {:.0} MiB/s |",
        size as f64 / (1024.0 * 1024.0) / seconds
    );
    pair.assert_invariants();
}

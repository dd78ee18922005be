//! Mirrored directories through a real pair on loopback: the time from
//! files being complete on the active node to their being on the backup.
//! Two cases: 10,000 small files, and one 1 GiB file.
//!
//! cargo bench -p duet --bench mirror -- [--files N] [--gib G]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::io::Write;
use std::time::{Duration, Instant};

use harness::{Pair, Setup, bench_number as number};

fn main() {
    let files = number("--files", 10_000);
    let gib = number("--gib", 1);
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    let (a, b) = (
        pair.data_dir(0).join("Resources"),
        pair.data_dir(1).join("Resources"),
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

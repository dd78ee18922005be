//! Resynchronisation cost for a large configuration tree, in process (no
//! network): a full initial sync of an empty backup, and a resync after 10
//! changes made while the backup was away, each without and with
//! compression. Every entry was made by a change, so the history holds as
//! many records as the tree has entries, and a sync brings it too. Prints
//! time, requests and bytes (postcard, as the link sends them).
//!
//! cargo bench -p duet-config --bench sync -- [--entries N]

use std::time::Instant;

use duet_config::digest::Bucket;
use duet_config::{Change, Class, Object, Op, Tree, TreePath};

#[path = "../tests/support/mod.rs"]
mod support;
use support::resync_with;

fn change(seq: u64, path: String, object: Object) -> Change {
    Change {
        epoch: 2,
        seq,
        at_unix_ms: seq,
        who: "bench".into(),
        client: format!("bench-{seq}"),
        op: Op::Put {
            path: TreePath::parse(&path).unwrap(),
            object,
        },
        healed_from: None,
    }
}

/// Resyncs a copy of `backup` from `active`, uncompressed then compressed,
/// and prints a row for each; returns the synchronised copy.
fn measure(case: &str, active: &Tree, backup: &Tree, unit: (&str, f64)) -> Tree {
    let sample = TreePath::parse("/config/Users/object0").unwrap();
    [false, true]
        .into_iter()
        .map(|compress| {
            let mut synced = backup.clone();
            let started = Instant::now();
            let (requests, bytes) = resync_with(active, &mut synced, compress);
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            println!(
                "| {case} | {} | {elapsed_ms:.1} ms | {requests} | {:.1} {} |",
                if compress { "zstd" } else { "none" },
                bytes as f64 / unit.1,
                unit.0,
            );
            assert_eq!(
                synced.digests().get(Bucket::ROOT),
                active.digests().get(Bucket::ROOT)
            );
            assert_eq!(synced.history(&sample), active.history(&sample));
            synced
        })
        .collect::<Vec<Tree>>()
        .pop()
        .expect("two runs")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let entries: u64 = args
        .iter()
        .position(|a| a == "--entries")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let mut active = Tree::default();
    for i in 0..entries {
        let group = ["Users", "Workgroups", "Roles", "Stations"][(i % 4) as usize];
        let object = Object::new(Class::User)
            .with("Extension", &i.to_string())
            .with("Name", &format!("Object number {i}"));
        active
            .apply(&change(i + 1, format!("/config/{group}/object{i}"), object))
            .unwrap();
    }
    println!(
        "built an active tree of {entries} entries and history records in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("| case | compression | time | requests | bytes |");
    println!("|---|---|---|---|---|");
    let backup = measure(
        "full initial sync",
        &active,
        &Tree::default(),
        ("MiB", 1024.0 * 1024.0),
    );
    for i in 0..10u64 {
        let path = format!("/config/Users/object{}", i * 99_991 % entries);
        let object = Object::new(Class::User).with("Extension", "changed");
        active
            .apply(&change(entries + 1 + i, path, object))
            .unwrap();
    }
    measure("resync after 10 changes", &active, &backup, ("KiB", 1024.0));
}

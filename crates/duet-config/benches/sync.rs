//! Resynchronisation cost for a large configuration tree, in process (no
//! network): a full initial sync of an empty backup, and a resync after 10
//! changes made while the backup was away. Prints time, requests and bytes
//! (postcard, as the link sends them).
//!
//! cargo bench -p duet-config --bench sync -- [--entries N]

use std::time::Instant;

use duet_config::digest::Bucket;
use duet_config::{Change, Class, Object, Op, Tree, TreePath};

#[path = "../tests/support/mod.rs"]
mod support;
use support::resync;

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
        active.install(
            &TreePath::parse(&format!("/config/{group}/object{i}")).unwrap(),
            Some(
                Object::new(Class::User)
                    .with("Extension", &i.to_string())
                    .with("Name", &format!("Object number {i}")),
            ),
        );
    }
    println!(
        "built an active tree of {entries} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut backup = Tree::default();
    let started = Instant::now();
    let (requests, bytes) = resync(&active, &mut backup);
    println!(
        "| full initial sync | {entries} entries | {:.2} s | {requests} requests | {:.1} MiB |",
        started.elapsed().as_secs_f64(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    assert_eq!(backup.len(), active.len());

    for i in 0..10u64 {
        let op = Op::Put {
            path: TreePath::parse(&format!("/config/Users/object{}", i * 99_991 % entries))
                .unwrap(),
            object: Object::new(Class::User).with("Extension", "changed"),
        };
        active
            .apply(&Change {
                epoch: 2,
                seq: i + 1,
                at_unix_ms: 0,
                who: "bench".into(),
                client: String::new(),
                op,
            })
            .unwrap();
    }
    let started = Instant::now();
    let (requests, bytes) = resync(&active, &mut backup);
    println!(
        "| resync after 10 changes | {entries} entries | {:.2} ms | {requests} requests | {:.1} KiB |",
        started.elapsed().as_secs_f64() * 1000.0,
        bytes as f64 / 1024.0
    );
    assert_eq!(
        backup.digests().get(Bucket::ROOT),
        active.digests().get(Bucket::ROOT)
    );
}

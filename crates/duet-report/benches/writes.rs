//! A reporting writer's writes, in process: `--chats` chats (created,
//! offered, accepted, ended by the customer, wrapped up: five changes
//! each) through `Ingest` into a fresh SQLite file and a fresh database
//! of a throwaway PostgreSQL cluster on loopback (Debian's `postgresql`;
//! without it, SQLite only), `--batch` changes a transaction with their
//! rows and the cursor (the writer writes together what came together,
//! up to 1,000; 1: each change alone, as a writer that keeps up does).
//! Prints changes and rows written per second for each. The cluster runs with `fsync=off` (a
//! throwaway's setting): PostgreSQL's figure is its statements', not its
//! disk's, where SQLite's includes its syncs.
//!
//! cargo bench -p duet-report --features test-support --bench writes -- [--chats N] [--batch N]

use std::time::Instant;

use duet_interactions::change::{Actor, Change, Command};
use duet_interactions::model::MediaType;
use duet_report::frame::Frame;
use duet_report::ingest::Ingest;
use duet_report::testing::{Cluster, accept, agent, create, disconnect, offer};
use duet_report::{Database, Fold, Position};

/// The changes of `chats` chats, one after the other, a second apart.
fn frames(chats: usize) -> Vec<Frame> {
    let steps = (0..chats).flat_map(|i| {
        let id = format!("chat-{i:06}");
        let wrap_up = Change::WrapUp {
            id: id.clone(),
            code: "sale".into(),
            notes: "a note".into(),
        };
        [
            (Actor::System, create(&id, MediaType::Chat)),
            (Actor::Router, offer(&id, "ann")),
            (agent("ann"), accept(&id, "ann")),
            (Actor::Customer, disconnect(&id)),
            (agent("ann"), wrap_up),
        ]
    });
    steps
        .enumerate()
        .map(|(i, (actor, change))| Frame::Change {
            at: Position::new(1, i as u64 + 1),
            command: Box::new(Command::new("", 1_000 * i as u64, actor, change)),
        })
        .collect()
}

/// The rows the changes make (what each database is written).
fn rows(frames: &[Frame]) -> usize {
    let mut fold = Fold::default();
    frames
        .iter()
        .map(|f| match f {
            Frame::Change { at, command } => fold.apply(*at, command).len(),
            _ => 0,
        })
        .sum()
}

fn measure(name: &str, database: &Database, frames: &[Frame], rows: usize, batch: usize) {
    let mut ingest = Ingest::new(database.open().expect("the database")).expect("a writer");
    ingest.connected("bench", 0).expect("a session");
    let gap = Frame::Gap {
        position: Position::new(1, 0),
        at_ms: 0,
    };
    ingest.frame(gap, 0).expect("the first frame");
    let started = Instant::now();
    for run in frames.chunks(batch) {
        ingest
            .frames(run.iter().cloned(), 0)
            .expect("changes written");
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "{name}, {batch} a transaction: {} changes, {rows} rows in {s:.2} s: {:.0} changes/s, {:.0} rows/s",
        frames.len(),
        frames.len() as f64 / s,
        rows as f64 / s
    );
}

/// The number after `--name`, or `default`.
fn argument(name: &str, default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let chats = argument("--chats", 2_000);
    let batch = argument("--batch", 1_000).max(1);
    let frames = frames(chats);
    let rows = rows(&frames);
    let dir = tempfile::tempdir().expect("a temporary directory");
    measure(
        "SQLite (WAL, synchronous=FULL)",
        &Database::Sqlite(dir.path().join("bench.db")),
        &frames,
        rows,
        batch,
    );
    match Cluster::start() {
        Ok(cluster) => measure(
            "PostgreSQL (loopback, fsync off)",
            &cluster.database(),
            &frames,
            rows,
            batch,
        ),
        Err(why) => println!("PostgreSQL: not measured: {why}"),
    }
}

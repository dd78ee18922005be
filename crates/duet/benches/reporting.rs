//! Reporting at the size of a month (in process, then the CLI):
//!
//! a. A month of traffic (`--days 30`) for `--agents 1000` agents in
//!    `--queues 100` queues, `--per-queue-day 20` chats a queue a day,
//!    each created, offered, answered, ended and wrapped up, and every
//!    agent logging in, taking a break and logging out each day, goes
//!    through a writer's ingest into SQLite as the stream would bring it.
//!    `--batch 1000` changes are written in one transaction, as a writer
//!    behind the stream does (1: each change alone). Prints changes and
//!    rows written per second, and the time per write (p50/p99): what a
//!    writer can follow.
//! b. `duet report queues` and `duet report agents` over the whole month
//!    in 30-minute intervals: their wall time and the lines printed.
//!
//! cargo bench -p duet --bench reporting -- [--agents N] [--queues N] [--days N] [--per-queue-day N] [--batch N]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use duet_interactions::change::{Actor, Change, Command, NewInteraction};
use duet_interactions::model::{ChosenStatus, Content, MediaType, Party};
use duet_report::Position;
use duet_report::frame::Frame;
use duet_report::ingest::Ingest;
use duet_report::sqlite::Sqlite;
use harness::{DUET, bench_number as number, percentile};

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// 2026-11-02T00:00:00Z: the month reported.
const MONTH_START_MS: u64 = 1_793_577_600_000;

struct Size {
    agents: usize,
    queues: usize,
    days: u64,
    per_queue_day: u64,
}

/// The month's changes, in time order.
fn month(size: &Size) -> Vec<Command> {
    let mut changes: Vec<(u64, Actor, Change)> = Vec::new();
    let agent = |i: usize| format!("agent-{i:04}");
    for day in 0..size.days {
        let start = MONTH_START_MS + day * DAY_MS;
        for i in 0..size.agents {
            let a = agent(i);
            let by = || Actor::Agent(a.clone());
            changes.push((
                start + 8 * HOUR_MS + i as u64,
                by(),
                Change::AgentLogin {
                    agent: a.clone(),
                    media: vec![MediaType::Chat],
                },
            ));
            let status = |status| Change::AgentStatus {
                agent: a.clone(),
                status,
            };
            let not_ready = ChosenStatus::NotReady {
                reason: "break".into(),
            };
            changes.push((start + 12 * HOUR_MS + i as u64, by(), status(not_ready)));
            changes.push((
                start + 12 * HOUR_MS + HOUR_MS / 2 + i as u64,
                by(),
                status(ChosenStatus::Available),
            ));
            changes.push((
                start + 17 * HOUR_MS + i as u64,
                by(),
                Change::AgentLogout {
                    agent: a.clone(),
                    media: Vec::new(),
                    reason_code: 0,
                },
            ));
        }
        let members = size.agents.div_ceil(size.queues).max(1);
        for q in 0..size.queues {
            for n in 0..size.per_queue_day {
                let id = format!("chat-{day}-{q}-{n}");
                let a = agent((q * members + n as usize % members) % size.agents);
                let created = start
                    + 8 * HOUR_MS
                    + HOUR_MS / 2
                    + n * (8 * HOUR_MS) / size.per_queue_day
                    + q as u64;
                let wait = 5_000 + (n * 7_919 % 35_000);
                let talk = 60_000 + (n * 104_729 % 540_000);
                let by = Actor::Agent(a.clone());
                let new = NewInteraction {
                    id: id.clone(),
                    media: MediaType::Chat,
                    queue: format!("queue-{q:03}"),
                    priority: 0,
                    skills: Default::default(),
                    attributes: Default::default(),
                    customer: Party::default(),
                    content: Content::Transcript(Default::default()),
                };
                changes.push((created, Actor::System, Change::Create(Box::new(new))));
                changes.push((
                    created + wait / 2,
                    Actor::Router,
                    Change::Offer {
                        id: id.clone(),
                        agent: a.clone(),
                        deadline_ms: created + wait + 15_000,
                    },
                ));
                changes.push((
                    created + wait,
                    by.clone(),
                    Change::Accept {
                        id: id.clone(),
                        agent: a.clone(),
                    },
                ));
                changes.push((
                    created + wait + talk,
                    Actor::Customer,
                    Change::Disconnect { id: id.clone() },
                ));
                changes.push((
                    created + wait + talk + 30_000,
                    by,
                    Change::WrapUp {
                        id,
                        code: "sale".into(),
                        notes: String::new(),
                    },
                ));
            }
        }
    }
    changes.sort_by_key(|(at, _, _)| *at);
    changes
        .into_iter()
        .map(|(at_ms, actor, change)| Command::new("", at_ms, actor, change))
        .collect()
}

fn run_report(which: &str, database: &std::path::Path, to_ms: u64) -> (Duration, usize) {
    let started = Instant::now();
    let out = std::process::Command::new(DUET)
        .args(["report", which, "--format", "csv", "--interval-s", "1800"])
        .args([
            "--from",
            &MONTH_START_MS.to_string(),
            "--to",
            &to_ms.to_string(),
        ])
        .arg("--database")
        .arg(database)
        .output()
        .expect("duet report");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        took,
        out.stdout.split(|b| *b == b'\n').count().saturating_sub(2),
    )
}

fn main() {
    let size = Size {
        agents: number("--agents", 1_000),
        queues: number("--queues", 100),
        days: number("--days", 30),
        per_queue_day: number("--per-queue-day", 20),
    };
    let commands = month(&size);
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("month.db");

    let mut ingest = Ingest::new(Sqlite::open(&database).unwrap()).unwrap();
    ingest.connected("bench", 0).unwrap();
    let first = Frame::Gap {
        position: Position::new(1, 0),
        at_ms: MONTH_START_MS,
    };
    ingest.frame(first, 0).unwrap();
    // As a writer behind reads them: `--batch` frames handed over (and
    // written) together; 1 writes each change in its own transaction.
    let batch = number("--batch", 1_000usize).max(1);
    let changes = commands.len();
    let mut took_us = Vec::with_capacity(changes / batch + 1);
    let started = Instant::now();
    let last_ms = commands.last().map_or(MONTH_START_MS, |c| c.at_ms);
    let frames: Vec<Frame> = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| Frame::Change {
            at: Position::new(1, i as u64 + 1),
            command: Box::new(command),
        })
        .collect();
    for run in frames.chunks(batch) {
        let one = Instant::now();
        ingest.frames(run.iter().cloned(), 0).unwrap();
        took_us.push(one.elapsed().as_secs_f64() * 1e6);
    }
    let caught_up = Frame::Heartbeat {
        position: Position::new(1, changes as u64),
        at_ms: MONTH_START_MS + size.days * DAY_MS,
    };
    ingest.frame(caught_up, 0).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let rows: i64 = [
        "interactions",
        "segments",
        "wrap_ups",
        "agent_activity",
        "queue_events",
    ]
    .iter()
    .map(|t| ingest.store().count(t).unwrap())
    .sum();
    drop(ingest);
    took_us.sort_by(f64::total_cmp);
    println!(
        "a. {} agents, {} queues, {} days, {} chats a queue a day: {changes} changes (last at {}), {rows} rows",
        size.agents,
        size.queues,
        size.days,
        size.per_queue_day,
        humantime::format_rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(last_ms))
    );
    println!(
        "   written {batch} at a time in {elapsed:.1} s: {:.0} changes/s, {:.0} rows/s; per write p50 {:.0} µs, p99 {:.0} µs; database {:.0} MiB",
        changes as f64 / elapsed,
        rows as f64 / elapsed,
        percentile(&took_us, 50.0),
        percentile(&took_us, 99.0),
        std::fs::metadata(&database).map_or(0, |m| m.len()) as f64 / (1 << 20) as f64
    );
    let to_ms = MONTH_START_MS + size.days * DAY_MS;
    for which in ["queues", "agents"] {
        let (took, lines) = run_report(which, &database, to_ms);
        println!(
            "b. duet report {which}, {} days in 30-minute intervals: {:.2} s, {lines} lines",
            size.days,
            took.as_secs_f64()
        );
    }
}

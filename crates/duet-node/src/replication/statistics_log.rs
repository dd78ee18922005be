//! The backup's statistics log data (seed 004, "Location of log data"):
//! "the backup server sends its log data to a CSV file. When a switchover
//! occurs, Server B becomes the primary server, it flushes log data
//! collected before switchover to CSV file, then sends new log data to
//! the database." Both nodes hold the same interval records (they apply
//! the same changes); a node that is not serving appends each new one to
//! the CSV file of its day in `<data_dir>/statistics-log/`, unless
//! `StatServer_DisableQPSLoggingOnBackup` is set (taken at once, no
//! restart), and a record a takeover ended (the log data collected
//! before the switchover) is written whatever the setting and the role.
//! The seed overwrites its file every week; here each day has its file
//! and files older than [`KEEP_DAYS`] days go.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use duet_interactions::state::{IntervalEnd, IntervalRecord};
use duet_switchover::Level;

use crate::replication::Handles;

/// Days of CSV files kept.
pub const KEEP_DAYS: u64 = 35;
/// Batches of records waiting for the writing thread; past it a batch is
/// dropped and said (the records stay in the live state and the API).
const QUEUED_MAX: usize = 64;
const DAY_MS: u64 = 86_400_000;

/// The folder under the data directory.
pub fn folder(data_dir: &Path) -> PathBuf {
    data_dir.join("statistics-log")
}

/// Whether this node writes `record` to its CSV log: a takeover's record
/// always, a boundary's while it does not serve and logging on the
/// backup is on.
pub fn logs(record: &IntervalRecord, serving: bool, on_backup: bool) -> bool {
    record.ended_by == IntervalEnd::Takeover || (!serving && on_backup)
}

/// Hands new interval records to a thread that appends them.
pub struct StatisticsLog {
    sender: SyncSender<Vec<IntervalRecord>>,
    /// Records ending at or before this were seen (logged or not).
    seen_until_ms: u64,
}

impl StatisticsLog {
    /// Starts the writing thread; records ending at or before
    /// `seen_until_ms` (those the state holds as it starts) are not new.
    pub fn start(node: Handles, seen_until_ms: u64) -> std::io::Result<StatisticsLog> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUED_MAX);
        std::thread::Builder::new()
            .name("statistics-log".into())
            .spawn(move || write_batches(&node, receiver))?;
        Ok(StatisticsLog {
            sender,
            seen_until_ms,
        })
    }

    /// `records` newest first (the state's, reversed): the new ones this
    /// node logs are queued for the thread.
    pub fn note<'a>(
        &mut self,
        node: &Handles,
        records: impl Iterator<Item = &'a IntervalRecord>,
        serving: bool,
        on_backup: bool,
    ) {
        let batch = self.take_new(records, serving, on_backup);
        if batch.is_empty() {
            return;
        }
        let count = batch.len();
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.sender.try_send(batch)
        {
            node.events.log_event(
                Level::Error,
                format!(
                    "{count} statistics interval records were not written to the CSV log: its writer is behind or gone (they stay in GET /api/statistics/intervals)"
                ),
            );
        }
    }

    /// The records of `records` (newest first) not seen before that this
    /// node logs, oldest first; all of them are seen after.
    fn take_new<'a>(
        &mut self,
        records: impl Iterator<Item = &'a IntervalRecord>,
        serving: bool,
        on_backup: bool,
    ) -> Vec<IntervalRecord> {
        let fresh: Vec<&IntervalRecord> = records
            .take_while(|r| r.end_ms > self.seen_until_ms)
            .collect();
        if let Some(newest) = fresh.first() {
            self.seen_until_ms = newest.end_ms;
        }
        fresh
            .into_iter()
            .rev()
            .filter(|r| logs(r, serving, on_backup))
            .cloned()
            .collect()
    }
}

/// One line of the CSV log.
#[derive(serde::Serialize)]
struct Line<'a> {
    queue: &'a str,
    start: String,
    end: String,
    start_ms: u64,
    end_ms: u64,
    ended_by: &'static str,
    takeovers: u64,
    entered: u64,
    answered: u64,
    answered_within_sl: u64,
    answer_wait_ms_total: u64,
    handled: u64,
    handle_ms_total: u64,
    abandoned: u64,
    lost_at_switchover: u64,
    logged_by: &'a str,
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

/// The file a record ending at `end_ms` goes to.
fn file_of(dir: &Path, end_ms: u64) -> PathBuf {
    let day = &rfc3339(end_ms)[..10];
    dir.join(format!("intervals-{day}.csv"))
}

fn append(dir: &Path, node: &str, records: &[IntervalRecord]) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for record in records {
        let path = file_of(dir, record.end_ms);
        let new = !path.exists();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut out = csv::WriterBuilder::new().has_headers(new).from_writer(file);
        let t = &record.totals;
        out.serialize(Line {
            queue: &record.queue,
            start: rfc3339(record.start_ms),
            end: rfc3339(record.end_ms),
            start_ms: record.start_ms,
            end_ms: record.end_ms,
            ended_by: match record.ended_by {
                IntervalEnd::Boundary => "boundary",
                IntervalEnd::Takeover => "takeover",
            },
            takeovers: record.takeovers,
            entered: t.entered,
            answered: t.answered,
            answered_within_sl: t.answered_within_sl,
            answer_wait_ms_total: t.answer_wait_ms_total,
            handled: t.handled,
            handle_ms_total: t.handle_ms_total,
            abandoned: t.abandoned,
            lost_at_switchover: t.lost_at_switchover,
            logged_by: node,
        })
        .with_context(|| format!("writing {}", path.display()))?;
        let file = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", path.display()))?;
        file.sync_data()
            .with_context(|| format!("syncing {}", path.display()))?;
    }
    Ok(())
}

/// Removes the files of days before `now_ms` less [`KEEP_DAYS`].
fn prune(dir: &Path, now_ms: u64) -> anyhow::Result<()> {
    let oldest_kept = file_of(dir, now_ms.saturating_sub(KEEP_DAYS * DAY_MS));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("intervals-") && n.ends_with(".csv"));
        // Day names sort as the days do.
        if is_log && path < oldest_kept {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn write_batches(node: &Handles, batches: Receiver<Vec<IntervalRecord>>) {
    let dir = folder(&node.boot.data_dir);
    while let Ok(batch) = batches.recv() {
        let done = append(&dir, &node.boot.this, &batch)
            .and_then(|()| prune(&dir, crate::events::unix_ms()));
        if let Err(e) = done {
            node.events.log_event(
                Level::Error,
                format!(
                    "The statistics CSV log in {} could not be written ({e:#}); {} interval records are only in the live state and GET /api/statistics/intervals",
                    dir.display(),
                    batch.len()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(queue: &str, end_ms: u64, ended_by: IntervalEnd) -> IntervalRecord {
        IntervalRecord {
            queue: queue.into(),
            start_ms: end_ms - 1_800_000,
            end_ms,
            ended_by,
            takeovers: 1,
            totals: Default::default(),
        }
    }

    #[test]
    fn the_backup_logs_boundaries_unless_told_not_to_and_takeovers_always() {
        let boundary = record("sales", 1_800_000, IntervalEnd::Boundary);
        let takeover = record("sales", 1_800_000, IntervalEnd::Takeover);
        // "The backup server (Server B) sends its log data to a CSV file."
        assert!(logs(&boundary, false, true));
        // StatServer_DisableQPSLoggingOnBackup = Yes.
        assert!(!logs(&boundary, false, false));
        // "The primary server (Server A) sends its log data to the database."
        assert!(!logs(&boundary, true, true));
        // "When a switchover occurs, the log data from Server B is
        // automatically sent to the CSV log file, regardless of the
        // setting."
        assert!(logs(&takeover, true, false));
        assert!(logs(&takeover, false, false));
    }

    #[test]
    fn records_go_to_their_days_file_with_one_header_and_old_days_go() {
        let dir = tempfile::tempdir().unwrap();
        let day = DAY_MS;
        append(
            dir.path(),
            "a",
            &[
                record("sales", 40 * day + 1_800_000, IntervalEnd::Boundary),
                record("support", 40 * day + 1_800_000, IntervalEnd::Boundary),
            ],
        )
        .unwrap();
        append(
            dir.path(),
            "a",
            &[record("sales", 40 * day + 2_700_000, IntervalEnd::Takeover)],
        )
        .unwrap();
        append(
            dir.path(),
            "a",
            &[record("sales", 2 * day + 1_800_000, IntervalEnd::Boundary)],
        )
        .unwrap();
        let today = std::fs::read_to_string(file_of(dir.path(), 40 * day)).unwrap();
        let lines: Vec<&str> = today.lines().collect();
        assert_eq!(lines.len(), 4, "{today}");
        assert!(lines[0].starts_with("queue,start,end,start_ms,end_ms,ended_by"));
        assert!(lines[1].starts_with("sales,1970-02-10T00:00:00.000Z,1970-02-10T00:30:00.000Z"));
        assert!(lines[3].contains(",takeover,"), "{}", lines[3]);
        assert!(lines[3].ends_with(",a"), "{}", lines[3]);
        prune(dir.path(), 40 * day).unwrap();
        assert!(file_of(dir.path(), 40 * day).exists());
        assert!(!file_of(dir.path(), 2 * day).exists());
    }

    #[test]
    fn only_records_newer_than_those_seen_are_new_and_each_is_taken_once() {
        let (sender, _receiver) = std::sync::mpsc::sync_channel(4);
        let mut log = StatisticsLog {
            sender,
            seen_until_ms: 3_600_000,
        };
        let mut records = vec![
            record("sales", 3_600_000, IntervalEnd::Boundary),
            record("sales", 5_400_000, IntervalEnd::Boundary),
            record("support", 5_400_000, IntervalEnd::Boundary),
        ];
        let taken = log.take_new(records.iter().rev(), false, true);
        let queues: Vec<&str> = taken.iter().map(|r| r.queue.as_str()).collect();
        assert_eq!(queues, ["sales", "support"]);
        assert!(log.take_new(records.iter().rev(), false, true).is_empty());
        // Serving: a boundary's record is seen but not logged; a takeover's is.
        records.push(record("sales", 6_000_000, IntervalEnd::Takeover));
        records.push(record("sales", 7_200_000, IntervalEnd::Boundary));
        let taken = log.take_new(records.iter().rev(), true, true);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].ended_by, IntervalEnd::Takeover);
        assert!(log.take_new(records.iter().rev(), false, true).is_empty());
    }
}

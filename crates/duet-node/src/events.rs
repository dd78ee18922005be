//! The node's event log: every engine record and runtime decision, appended
//! to `events.jsonl` in the data directory (synced by a thread of its own
//! right after, so the reason for a switch survives a crash while the
//! driver never waits on the disk), rotated by size, kept in memory for the
//! API (bounded), and broadcast to live viewers. Entries from the peer are written here too when
//! the nodes can reach each other, marked with the peer's name.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use duet_switchover::{Level, Record, Topic};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// How many entries the API can page through; older ones stay on disk.
pub const RECENT_EVENTS_MAX: usize = 10_000;
/// The longest message kept (entries copied from the peer included).
pub const MESSAGE_MAX_CHARS: usize = 2_000;
/// `events.jsonl` is rotated past this size (to `events.jsonl.1`, the
/// older ones shifting up to [`ROTATED_FILES_MAX`]), so a start reads at
/// most this much.
pub const FILE_MAX_BYTES: u64 = 32 * 1024 * 1024;
pub const ROTATED_FILES_MAX: usize = 4;

/// The event log as the node's tasks hold it: this node's name with the
/// log, so a task records an entry of its own in one call; the log's own
/// methods (`append` for the peer's copies, `since`, `subscribe`) through
/// `Deref`.
#[derive(Clone)]
pub struct Journal {
    this: Arc<str>,
    log: Arc<EventLog>,
}

impl Journal {
    pub fn new(this: &str, log: EventLog) -> Journal {
        Journal {
            this: this.into(),
            log: Arc::new(log),
        }
    }

    /// Writes an entry to this node's event log (and the process log).
    pub fn log_event(&self, level: Level, message: impl Into<String>) {
        let message = message.into();
        tracing::info!("{message}");
        self.log.append(
            &self.this,
            unix_ms(),
            &Record {
                topic: Topic::Switchover,
                level,
                message,
            },
        );
    }
}

impl std::ops::Deref for Journal {
    type Target = EventLog;

    fn deref(&self) -> &EventLog {
        &self.log
    }
}

/// An event log entry, as `events.jsonl` holds it and `GET /api/events`
/// answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoggedEvent {
    pub seq: u64,
    pub at_unix_ms: u64,
    /// The node the entry is about (this node or its peer).
    pub node: String,
    /// What it is about: SwitchoverStates, PrimaryMonitor, ModuleMonitor
    /// or Switchover.
    pub topic: Topic,
    /// Info, Warning, Error.
    pub level: Level,
    pub message: String,
}

struct Inner {
    file: Arc<std::fs::File>,
    bytes: u64,
    recent: VecDeque<LoggedEvent>,
    next_seq: u64,
}

pub struct EventLog {
    path: PathBuf,
    file_max_bytes: u64,
    inner: Mutex<Inner>,
    live: broadcast::Sender<LoggedEvent>,
    /// Asks the syncing thread to sync the file (one request pending at
    /// most: requests made while one waits are covered by it).
    sync: SyncSender<Arc<std::fs::File>>,
}

/// Syncs the event log after appends, off the appending task.
fn sync_files(requests: std::sync::mpsc::Receiver<Arc<std::fs::File>>) {
    while let Ok(file) = requests.recv() {
        if let Err(e) = file.sync_data() {
            tracing::error!("cannot sync the event log: {e}");
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<(std::fs::File, u64)> {
    let file = crate::private::options()
        .create(true)
        .append(true)
        .open(path)?;
    crate::private::file(path)?;
    let bytes = file.metadata()?.len();
    Ok((file, bytes))
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EventLog {
    pub fn open(data_dir: &Path) -> std::io::Result<EventLog> {
        EventLog::open_rotating_at(data_dir, FILE_MAX_BYTES)
    }

    /// Opens the log, rotating the file past `file_max_bytes`. A start
    /// reads the newest rotated file and the current one, no more.
    pub fn open_rotating_at(data_dir: &Path, file_max_bytes: u64) -> std::io::Result<EventLog> {
        crate::private::dir(data_dir)?;
        let path = data_dir.join("events.jsonl");
        let mut recent = VecDeque::new();
        for source in [PathBuf::from(format!("{}.1", path.display())), path.clone()] {
            let Ok(file) = std::fs::File::open(&source) else {
                continue;
            };
            for line in std::io::BufReader::new(file).split(b'\n') {
                // A torn or damaged line (after a crash) is skipped.
                if let Ok(event) = serde_json::from_slice::<LoggedEvent>(&line?) {
                    if recent.len() == RECENT_EVENTS_MAX {
                        recent.pop_front();
                    }
                    recent.push_back(event);
                }
            }
        }
        let next_seq = recent
            .back()
            .map_or(1, |e: &LoggedEvent| e.seq.saturating_add(1));
        let (file, bytes) = open_append(&path)?;
        let (sync, requests) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("event-log-sync".into())
            .spawn(move || sync_files(requests))?;
        Ok(EventLog {
            path,
            file_max_bytes,
            inner: Mutex::new(Inner {
                file: Arc::new(file),
                bytes,
                recent,
                next_seq,
            }),
            live: broadcast::channel(1024).0,
            sync,
        })
    }

    /// Moves the full file aside (`.1`, older ones up to `.4`, the oldest
    /// dropped) and starts a new one.
    fn rotate(&self, inner: &mut Inner) -> std::io::Result<()> {
        inner.file.sync_data()?;
        let rotated = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..ROTATED_FILES_MAX).rev() {
            if rotated(n).exists() {
                std::fs::rename(rotated(n), rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, rotated(1))?;
        let (file, bytes) = open_append(&self.path)?;
        inner.file = Arc::new(file);
        inner.bytes = bytes;
        Ok(())
    }

    /// Appends an entry (a message longer than [`MESSAGE_MAX_CHARS`] is cut);
    /// returns it with its sequence number.
    pub fn append(&self, node: &str, at_unix_ms: u64, record: &Record) -> LoggedEvent {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let event = LoggedEvent {
            seq: inner.next_seq,
            at_unix_ms,
            node: node.chars().take(64).collect(),
            topic: record.topic,
            level: record.level,
            message: record.message.chars().take(MESSAGE_MAX_CHARS).collect(),
        };
        inner.next_seq = inner.next_seq.saturating_add(1);
        if let Ok(line) = serde_json::to_string(&event) {
            match writeln!(&*inner.file, "{line}") {
                Ok(()) => {
                    inner.bytes += line.len() as u64 + 1;
                    // A request already waiting covers this entry too;
                    // a syncer gone is the log's to say.
                    if let Err(std::sync::mpsc::TrySendError::Disconnected(_)) =
                        self.sync.try_send(inner.file.clone())
                    {
                        tracing::error!(
                            "the event log's syncer has stopped: entries are written but not synced"
                        );
                    }
                }
                Err(e) => tracing::error!("cannot write the event log: {e}"),
            }
            if inner.bytes > self.file_max_bytes
                && let Err(e) = self.rotate(&mut inner)
            {
                tracing::error!("cannot rotate the event log: {e}");
            }
        }
        if inner.recent.len() == RECENT_EVENTS_MAX {
            inner.recent.pop_front();
        }
        inner.recent.push_back(event.clone());
        // No live follower is no failure: the entry is in `recent` and
        // the file for whoever comes.
        if self.live.send(event.clone()).is_err() {
            tracing::trace!("no live follower of the event log");
        }
        event
    }

    /// Entries after `seq`, oldest first, at most `limit`.
    pub fn since(&self, seq: u64, limit: usize) -> Vec<LoggedEvent> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .recent
            .iter()
            .filter(|e| e.seq > seq)
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LoggedEvent> {
        self.live.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(message: &str) -> Record {
        Record {
            topic: Topic::Switchover,
            level: Level::Error,
            message: message.into(),
        }
    }

    #[test]
    fn entries_survive_a_restart_and_keep_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        log.append("b", 1, &record("Loss of Connection to Notifier"));
        log.append("b", 2, &record("Switchover Service: Switch Initiated"));
        drop(log);
        let log = EventLog::open(dir.path()).unwrap();
        let all = log.since(0, 100);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].message, "Switchover Service: Switch Initiated");
        assert_eq!(log.append("a", 3, &record("x")).seq, 3);
        assert_eq!(log.since(2, 100).len(), 1);
    }

    #[test]
    fn the_file_rotates_by_size_and_numbers_carry_on() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open_rotating_at(dir.path(), 2_000).unwrap();
        for i in 0..200 {
            log.append("a", i, &record(&format!("entry {i}")));
        }
        drop(log);
        let file = |name: &str| dir.path().join(name);
        assert!(std::fs::metadata(file("events.jsonl")).unwrap().len() <= 2_200);
        for n in 1..=ROTATED_FILES_MAX {
            assert!(file(&format!("events.jsonl.{n}")).exists(), "{n}");
        }
        assert!(!file(&format!("events.jsonl.{}", ROTATED_FILES_MAX + 1)).exists());
        // A restart reads two files at most, and numbering goes on.
        let log = EventLog::open_rotating_at(dir.path(), 2_000).unwrap();
        assert!(log.since(0, 1_000).len() < 100);
        assert_eq!(log.append("a", 300, &record("after")).seq, 201);
    }
}

//! The node's event log: every engine record and runtime decision, appended
//! to `events.jsonl` in the data directory (synced, so the reason for a
//! switch survives a crash), kept in memory for the API (bounded), and
//! broadcast to live viewers. Entries from the peer are written here too when
//! the nodes can reach each other, marked with the peer's name.

use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Mutex;

use duet_switchover::{Level, Record, Topic};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// How many entries the API can page through; older ones stay on disk.
pub const RECENT_EVENTS_MAX: usize = 10_000;
/// The longest message kept (entries copied from the peer included).
pub const MESSAGE_MAX_CHARS: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedEvent {
    pub seq: u64,
    pub at_unix_ms: u64,
    /// The node the entry is about (this node or its peer).
    pub node: String,
    pub topic: Topic,
    pub level: Level,
    pub message: String,
}

struct Inner {
    file: std::fs::File,
    recent: VecDeque<LoggedEvent>,
    next_seq: u64,
}

pub struct EventLog {
    inner: Mutex<Inner>,
    live: broadcast::Sender<LoggedEvent>,
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EventLog {
    pub fn open(data_dir: &Path) -> std::io::Result<EventLog> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join("events.jsonl");
        let mut recent = VecDeque::new();
        if let Ok(file) = std::fs::File::open(&path) {
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
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok(EventLog {
            inner: Mutex::new(Inner {
                file,
                recent,
                next_seq,
            }),
            live: broadcast::channel(1024).0,
        })
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
            let written = writeln!(inner.file, "{line}").and_then(|_| inner.file.sync_data());
            if let Err(e) = written {
                tracing::error!("cannot write the event log: {e}");
            }
        }
        if inner.recent.len() == RECENT_EVENTS_MAX {
            inner.recent.pop_front();
        }
        inner.recent.push_back(event.clone());
        let _ = self.live.send(event.clone());
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
}

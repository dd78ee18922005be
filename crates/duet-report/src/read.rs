//! What every report reads, for the CLI and the node alike: a time as
//! given, and each database's coverage and rows for a window.

use crate::config::ConfigKind;
use crate::database::Database;
use crate::queues::{Window, WindowError};
use crate::source::Source;
use crate::store::{ReportStore, StoreError};

/// Databases one report may read.
pub const DATABASES_MAX: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0:?} is neither RFC 3339 (2026-12-02T09:00:00Z) nor unix milliseconds")]
    Time(String),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error("at most {DATABASES_MAX} databases in one report, not {0}")]
    TooManyDatabases(usize),
    #[error("cannot read the reporting database {database}: {error}")]
    Database {
        database: Database,
        error: StoreError,
    },
}

/// A time as RFC 3339 or unix milliseconds.
pub fn unix_ms(text: &str) -> Result<u64, ReadError> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
        .ok_or_else(|| ReadError::Time(text.to_string()))
}

/// Which rows a report reads: queue events and queue versions, and for
/// agents their activity, the stretches of interactions and user
/// versions too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    Queues,
    Agents,
}

/// Each database's coverage and the rows of the window's intervals.
pub fn sources(
    databases: &[Database],
    window: &Window,
    reads: Reads,
) -> Result<Vec<Source>, ReadError> {
    if databases.len() > DATABASES_MAX {
        return Err(ReadError::TooManyDatabases(databases.len()));
    }
    // Rows of intervals that start in the window, to their ends.
    let intervals = window.intervals()?;
    let (from_ms, to_ms) = match (intervals.first(), intervals.last()) {
        (Some(first), Some(last)) => (first.0, last.1),
        _ => (window.from_ms, window.from_ms),
    };
    databases
        .iter()
        .map(|database| {
            let read = || -> Result<Source, StoreError> {
                let db = database.open_read_only()?;
                let mut source = Source {
                    name: database.to_string(),
                    coverage: db.coverage()?,
                    events: db.queue_events(from_ms, to_ms)?,
                    config: db.config_versions(ConfigKind::Queue)?,
                    uncertain: db.uncertain(from_ms, to_ms)?,
                    ..Source::default()
                };
                if reads == Reads::Agents {
                    source.activity = db.agent_activity(from_ms, to_ms)?;
                    source.segments = db.segments(from_ms, to_ms)?;
                    source.config.extend(db.config_versions(ConfigKind::User)?);
                }
                Ok(source)
            };
            read().map_err(|error| ReadError::Database {
                database: database.clone(),
                error,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_rfc_3339_or_milliseconds() {
        assert_eq!(unix_ms("1000").unwrap(), 1000);
        assert_eq!(unix_ms("1970-01-01T00:00:02Z").unwrap(), 2000);
        assert!(matches!(unix_ms("yesterday"), Err(ReadError::Time(_))));
    }
}

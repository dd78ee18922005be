//! [`ReportStore`] on SQLite (bundled: nothing to install), with
//! versioned migrations: `migrations/NNNN_*.sql`, applied in order, each
//! once, its number kept in `PRAGMA user_version`.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::archive::view::Kept;
use crate::archive::{Hit, Search};
use crate::config::{ConfigKind, ConfigVersion};
use crate::position::Position;
use crate::rows::{ActivityRow, QueueEventRow, Row, SegmentRow, Summary};
use crate::store::{ReportStore, Result, SessionEnd, Span, StoreError};

mod archive;
mod config;
mod read;
mod write;

use write::write_row;

/// The migrations, oldest first; version N is the N-th.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_schema.sql"),
    include_str!("../../migrations/0002_queue_event_agent.sql"),
    include_str!("../../migrations/0003_config_versions.sql"),
    include_str!("../../migrations/0004_uncertain.sql"),
    include_str!("../../migrations/0005_archive.sql"),
];

/// How long a write waits for another connection's lock (a report being
/// read while the writer writes).
const BUSY_WAIT_MS: u64 = 5_000;

/// A data-source session as the `sessions` table keeps it (in part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub node: String,
    /// `resume` or `gap`: the node's first frame.
    pub hello: Option<String>,
    pub end_reason: Option<String>,
}

pub struct Sqlite {
    db: Connection,
    /// The session this writer has open, its rows to keep up to date.
    session: Option<i64>,
}

impl Sqlite {
    /// Opens (creating it if need be) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Sqlite> {
        let db = Connection::open(path)?;
        db.busy_timeout(std::time::Duration::from_millis(BUSY_WAIT_MS))?;
        // WAL: reports read while the writer writes.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        let mut store = Sqlite { db, session: None };
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database to read reports from, as it is.
    pub fn open_read_only(path: &Path) -> Result<Sqlite> {
        let db = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        db.busy_timeout(std::time::Duration::from_millis(BUSY_WAIT_MS))?;
        let version: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::TooNew {
                found: version,
                known: MIGRATIONS.len() as i64,
            });
        }
        Ok(Sqlite { db, session: None })
    }

    fn migrate(&mut self) -> Result<()> {
        let known = MIGRATIONS.len() as i64;
        let version: i64 = self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = write_transaction(&mut self.db)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", n as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Rows of `table` (for tests and checks).
    pub fn count(&self, table: &str) -> Result<i64> {
        // Table names come from this crate's callers, never from outside.
        Ok(self
            .db
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
    }

    /// The gaps recorded, as `(after, resumed)`.
    pub fn gaps(&self) -> Result<Vec<(Position, Position)>> {
        let mut q = self.db.prepare(
            "SELECT after_epoch, after_seq, resumed_epoch, resumed_seq FROM gaps ORDER BY id",
        )?;
        let rows = q.query_map([], |r| {
            Ok((
                Position::new(r.get(0)?, r.get(1)?),
                Position::new(r.get(2)?, r.get(3)?),
            ))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Closed interactions by disposition name.
    pub fn dispositions(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let mut q = self.db.prepare(
            "SELECT disposition, count(*) FROM interactions
             WHERE open = 0 AND disposition IS NOT NULL GROUP BY disposition",
        )?;
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The data-source sessions, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        let mut q = self
            .db
            .prepare("SELECT node, hello, end_reason FROM sessions ORDER BY id")?;
        let rows = q.query_map([], |r| {
            Ok(SessionRow {
                node: r.get(0)?,
                hello: r.get(1)?,
                end_reason: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}

/// A transaction that takes the write lock at its start: two connections
/// (the writer's and its configuration reader's) write one database, and
/// a transaction that read first and then found the other had written
/// would fail at once rather than wait (WAL's stale snapshot).
fn write_transaction(db: &mut Connection) -> Result<Transaction<'_>> {
    Ok(db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
}

fn cursor_in(db: &Connection) -> Result<Option<Position>> {
    Ok(db
        .query_row(
            "SELECT epoch, seq FROM writer_cursor WHERE id = 1",
            [],
            |r| Ok(Position::new(r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Extends the newest coverage span to `at` at `at_ms`.
fn extend_coverage(tx: &Transaction<'_>, at: Position, at_ms: u64) -> Result<()> {
    tx.execute(
        "UPDATE coverage SET end_ms = max(end_ms, ?1), end_epoch = ?2, end_seq = ?3
         WHERE id = (SELECT max(id) FROM coverage)",
        params![at_ms, at.epoch, at.seq],
    )?;
    Ok(())
}

impl ReportStore for Sqlite {
    fn cursor(&self) -> Result<Option<Position>> {
        cursor_in(&self.db)
    }

    fn open_interactions(&self) -> Result<Vec<Summary>> {
        let mut q = self
            .db
            .prepare("SELECT state FROM interactions WHERE open = 1")?;
        let states = q.query_map([], |r| r.get::<_, String>(0))?;
        states
            .map(|s| serde_json::from_str(&s?).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    fn closed_among(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut q = self
            .db
            .prepare_cached("SELECT 1 FROM interactions WHERE id = ?1 AND open = 0")?;
        let mut closed = Vec::new();
        for id in ids {
            if q.exists([id])? {
                closed.push(id.clone());
            }
        }
        Ok(closed)
    }

    fn write_change(&mut self, at: Position, at_ms: u64, rows: &[Row]) -> Result<bool> {
        let tx = write_transaction(&mut self.db)?;
        if cursor_in(&tx)?.is_some_and(|c| at.seq <= c.seq) {
            return Ok(false);
        }
        for row in rows {
            write_row(&tx, row)?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO writer_cursor (id, epoch, seq) VALUES (1, ?1, ?2)",
            params![at.epoch, at.seq],
        )?;
        extend_coverage(&tx, at, at_ms)?;
        if let Some(session) = self.session {
            tx.execute(
                "UPDATE sessions SET first_change_ms = coalesce(first_change_ms, ?2),
                 first_epoch = coalesce(first_epoch, ?3), first_seq = coalesce(first_seq, ?4),
                 last_change_ms = ?2, last_epoch = ?3, last_seq = ?4 WHERE id = ?1",
                params![session, at_ms, at.epoch, at.seq],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn heartbeat(&mut self, at: Position, at_ms: u64) -> Result<()> {
        let tx = write_transaction(&mut self.db)?;
        // Caught up only when the heartbeat's position is what was
        // written: a beat from before a change still to come says nothing.
        if cursor_in(&tx)?.is_some_and(|c| c.seq == at.seq) {
            extend_coverage(&tx, at, at_ms)?;
        }
        tx.commit()?;
        Ok(())
    }

    fn session_start(&mut self, node: &str, now_ms: u64) -> Result<i64> {
        let tx = write_transaction(&mut self.db)?;
        tx.execute(
            "UPDATE sessions SET ended_ms = coalesce(last_change_ms, connected_ms),
             end_reason = ?1 WHERE ended_ms IS NULL",
            params![SessionEnd::WriterLost.name()],
        )?;
        tx.execute(
            "INSERT INTO sessions (node, connected_ms) VALUES (?1, ?2)",
            params![node, now_ms],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        self.session = Some(id);
        Ok(id)
    }

    fn session_hello(
        &mut self,
        session: i64,
        gap: bool,
        position: Position,
        at_ms: u64,
        crossed: &[Summary],
    ) -> Result<()> {
        let tx = write_transaction(&mut self.db)?;
        tx.execute(
            "UPDATE sessions SET hello = ?2, start_epoch = ?3, start_seq = ?4 WHERE id = ?1",
            params![
                session,
                if gap { "gap" } else { "resume" },
                position.epoch,
                position.seq
            ],
        )?;
        for s in crossed {
            write_row(&tx, &Row::Summary(Box::new(s.clone())))?;
        }
        let spans: i64 = tx.query_row("SELECT count(*) FROM coverage", [], |r| r.get(0))?;
        if gap || spans == 0 {
            if let Some(after) = cursor_in(&tx)? {
                tx.execute(
                    "INSERT INTO gaps (session, after_epoch, after_seq, resumed_epoch,
                     resumed_seq, noticed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        session,
                        after.epoch,
                        after.seq,
                        position.epoch,
                        position.seq,
                        at_ms
                    ],
                )?;
            }
            tx.execute(
                "INSERT INTO coverage (start_ms, end_ms, start_epoch, start_seq, end_epoch,
                 end_seq) VALUES (?1, ?1, ?2, ?3, ?2, ?3)",
                params![at_ms, position.epoch, position.seq],
            )?;
            // Changes from `position` on come after the gap: the cursor
            // moves there so none before it is taken for one after.
            tx.execute(
                "INSERT OR REPLACE INTO writer_cursor (id, epoch, seq) VALUES (1, ?1, ?2)",
                params![position.epoch, position.seq],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn session_end(&mut self, session: i64, end: SessionEnd, now_ms: u64) -> Result<()> {
        self.db.execute(
            "UPDATE sessions SET ended_ms = ?2, end_reason = ?3 WHERE id = ?1 AND ended_ms IS NULL",
            params![session, now_ms, end.name()],
        )?;
        if self.session == Some(session) {
            self.session = None;
        }
        Ok(())
    }

    fn coverage(&self) -> Result<Vec<Span>> {
        let mut q = self
            .db
            .prepare("SELECT start_ms, end_ms FROM coverage ORDER BY start_ms")?;
        let spans = q.query_map([], |r| {
            Ok(Span {
                start_ms: r.get(0)?,
                end_ms: r.get(1)?,
            })
        })?;
        Ok(spans.collect::<std::result::Result<_, _>>()?)
    }

    fn queue_events(&self, from_ms: u64, to_ms: u64) -> Result<Vec<QueueEventRow>> {
        read::queue_events(&self.db, from_ms, to_ms)
    }

    fn agent_activity(&self, from_ms: u64, to_ms: u64) -> Result<Vec<ActivityRow>> {
        read::agent_activity(&self.db, from_ms, to_ms)
    }

    fn segments(&self, from_ms: u64, to_ms: u64) -> Result<Vec<SegmentRow>> {
        read::segments(&self.db, from_ms, to_ms)
    }

    fn uncertain(&self, from_ms: u64, to_ms: u64) -> Result<Vec<u64>> {
        let mut q = self.db.prepare_cached(
            "SELECT at_ms FROM uncertain WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms",
        )?;
        let times = q.query_map(params![from_ms, to_ms], |r| r.get(0))?;
        Ok(times.collect::<rusqlite::Result<Vec<u64>>>()?)
    }

    fn write_config(&mut self, versions: &[ConfigVersion]) -> Result<()> {
        config::write(&mut self.db, versions)
    }

    fn standing_config_paths(&self) -> Result<Vec<String>> {
        config::standing_paths(&self.db)
    }

    fn config_versions(&self, kind: ConfigKind) -> Result<Vec<ConfigVersion>> {
        config::versions(&self.db, kind)
    }

    fn search_archive(&self, search: &Search) -> Result<Vec<Hit>> {
        archive::search(&self.db, search)
    }

    fn archived(&self, id: &str) -> Result<Kept> {
        archive::kept(&self.db, id)
    }
}

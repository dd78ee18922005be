//! [`ReportStore`] written once for every SQL database: the statements
//! are portable SQL (`?N` parameters, upserts as `ON CONFLICT ... DO
//! UPDATE`, no engine's own functions), and a database only runs them: a
//! [`Backend`] opens transactions, a [`Tx`] runs statements. SQLite
//! (`crate::sqlite`) and PostgreSQL (`crate::postgres`) differ only in
//! how they connect, migrate and bind values.

use crate::Position;
use crate::archive::view::Kept;
use crate::archive::{Hit, Search};
use crate::config::{ConfigKind, ConfigVersion};
use crate::rows::{ActivityRow, QueueEventRow, Row, SegmentRow, Summary};
use crate::store::{ReportStore, Result, SessionEnd, SessionRow, Span, StoreError, Written};

mod archive;
mod config;
mod read;
mod write;

/// A value bound to a statement or read from a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    /// Bound as a 64-bit integer; refused (an error, not a wrap) when it
    /// does not fit.
    UInt(u64),
    Text(String),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::UInt(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(v.into())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v.into())
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// The values of a statement's parameters, `?1` first.
macro_rules! values {
    ($($v:expr),* $(,)?) => {
        &[$($crate::sql::Value::from($v)),*]
    };
}
pub(crate) use values;

/// One row read: its columns in the order the statement names them.
#[derive(Debug)]
pub struct Cells(pub Vec<Value>);

impl Cells {
    fn at(&self, i: usize) -> Result<&Value> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("a row without column {i}")))
    }

    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>> {
        match self.at(i)? {
            Value::Int(v) => Ok(Some(*v)),
            Value::UInt(v) => i64::try_from(*v)
                .map(Some)
                .map_err(|_| StoreError::Corrupt(format!("{v} in column {i}"))),
            Value::Null => Ok(None),
            Value::Text(t) => Err(StoreError::Corrupt(format!(
                "text {t:?} in column {i}, a number expected"
            ))),
        }
    }

    pub fn i64(&self, i: usize) -> Result<i64> {
        self.opt_i64(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("NULL in column {i}")))
    }

    pub fn opt_u64(&self, i: usize) -> Result<Option<u64>> {
        self.opt_i64(i)?
            .map(|v| {
                u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} in column {i}")))
            })
            .transpose()
    }

    pub fn u64(&self, i: usize) -> Result<u64> {
        let v = self.i64(i)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} in column {i}")))
    }

    pub fn u32(&self, i: usize) -> Result<u32> {
        let v = self.i64(i)?;
        u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} in column {i}")))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.at(i)? {
            Value::Text(t) => Ok(Some(t.clone())),
            Value::Null => Ok(None),
            other => Err(StoreError::Corrupt(format!(
                "{other:?} in column {i}, text expected"
            ))),
        }
    }

    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::Corrupt(format!("NULL in column {i}")))
    }

    fn position(&self, epoch: usize) -> Result<Position> {
        Ok(Position::new(self.u64(epoch)?, self.u64(epoch + 1)?))
    }
}

/// Statements inside one transaction.
pub trait Tx {
    /// Runs a statement; the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a statement whose count nobody reads. PostgreSQL sends such
    /// statements together (pipelined) before the next query, statement
    /// or commit, so a run of rows costs one round trip, not one each; an
    /// error in any fails the transaction all the same.
    fn write(&mut self, sql: &str, params: Vec<Value>) -> Result<()>;
    /// Runs a query; its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Cells>>;
    /// Runs statements separated by `;` with no parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<()>;
}

/// A database's connection(s).
pub trait Backend {
    /// Runs `f` in one transaction (on SQLite, one that holds the write
    /// lock from its start); commits when `f` succeeds, rolls back when
    /// it fails.
    fn write<R>(&mut self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R>;
    /// Runs `f`'s reads.
    fn read<R>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R>;
    /// The migrations applied.
    fn schema_version(&self) -> Result<i64>;
}

/// A reporting database on any [`Backend`].
pub struct Store<B> {
    db: B,
    /// The session this writer has open, its rows to keep up to date.
    session: Option<i64>,
}

impl<B: Backend> Store<B> {
    pub(crate) fn new(db: B) -> Store<B> {
        Store { db, session: None }
    }

    pub fn schema_version(&self) -> Result<i64> {
        self.db.schema_version()
    }

    /// Rows of `table` (for tests and checks).
    pub fn count(&self, table: &str) -> Result<i64> {
        // Table names come from this crate's callers, never from outside.
        self.db
            .read(|tx| one(tx, &format!("SELECT count(*) FROM {table}"), &[])?.i64(0))
    }

    /// The gaps recorded, as `(after, resumed)`.
    pub fn gaps(&self) -> Result<Vec<(Position, Position)>> {
        self.db.read(|tx| {
            tx.query(
                "SELECT after_epoch, after_seq, resumed_epoch, resumed_seq FROM gaps ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.position(0)?, r.position(2)?)))
            .collect()
        })
    }

    /// Closed interactions by disposition name.
    pub fn dispositions(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        self.db.read(|tx| {
            tx.query(
                "SELECT disposition, count(*) FROM interactions
                 WHERE open = 0 AND disposition IS NOT NULL GROUP BY disposition",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.u64(1)?)))
            .collect()
        })
    }

    /// The data-source sessions, oldest first.
    pub fn sessions(&self) -> Result<Vec<SessionRow>> {
        self.db.read(|tx| {
            tx.query(
                "SELECT node, hello, end_reason FROM sessions ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(SessionRow {
                    node: r.text(0)?,
                    hello: r.opt_text(1)?,
                    end_reason: r.opt_text(2)?,
                })
            })
            .collect()
        })
    }
}

/// A database migrated by a newer duet (past the `known` migrations) is
/// not touched.
pub(crate) fn refuse_newer_than(found: i64, known: usize) -> Result<()> {
    let known = known as i64;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    Ok(())
}

/// The single row a query returns.
fn one(tx: &mut dyn Tx, sql: &str, params: &[Value]) -> Result<Cells> {
    tx.query(sql, params)?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt(format!("no row from {sql}")))
}

fn cursor_in(tx: &mut dyn Tx) -> Result<Option<Position>> {
    tx.query("SELECT epoch, seq FROM writer_cursor WHERE id = 1", &[])?
        .first()
        .map(|r| r.position(0))
        .transpose()
}

fn set_cursor(tx: &mut dyn Tx, at: Position) -> Result<()> {
    tx.execute(
        "INSERT INTO writer_cursor (id, epoch, seq) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq",
        values![at.epoch, at.seq],
    )?;
    Ok(())
}

/// Extends the newest coverage span to `at` at `at_ms`.
fn extend_coverage(tx: &mut dyn Tx, at: Position, at_ms: u64) -> Result<()> {
    tx.execute(
        "UPDATE coverage SET end_ms = CASE WHEN end_ms > ?1 THEN end_ms ELSE ?1 END,
         end_epoch = ?2, end_seq = ?3 WHERE id = (SELECT max(id) FROM coverage)",
        values![at_ms, at.epoch, at.seq],
    )?;
    Ok(())
}

impl<B: Backend> ReportStore for Store<B> {
    fn cursor(&self) -> Result<Option<Position>> {
        self.db.read(cursor_in)
    }

    fn open_interactions(&self) -> Result<Vec<Summary>> {
        self.db.read(|tx| {
            tx.query("SELECT state FROM interactions WHERE open = 1", &[])?
                .iter()
                .map(|r| {
                    serde_json::from_str(&r.text(0)?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))
                })
                .collect()
        })
    }

    fn closed_among(&self, ids: &[String]) -> Result<Vec<String>> {
        self.db.read(|tx| {
            let mut closed = Vec::new();
            for id in ids {
                if !tx
                    .query(
                        "SELECT id FROM interactions WHERE id = ?1 AND open = 0",
                        values![id.as_str()],
                    )?
                    .is_empty()
                {
                    closed.push(id.clone());
                }
            }
            Ok(closed)
        })
    }

    fn write_changes(&mut self, changes: &[Written]) -> Result<()> {
        let session = self.session;
        self.db.write(|tx| {
            let cursor = cursor_in(tx)?;
            let new: Vec<&Written> = changes
                .iter()
                .filter(|c| cursor.is_none_or(|cursor| c.at.seq > cursor.seq))
                .collect();
            let (Some(first), Some(last)) = (new.first(), new.last()) else {
                return Ok(());
            };
            for change in &new {
                for row in &change.rows {
                    write::row(tx, row)?;
                }
            }
            set_cursor(tx, last.at)?;
            extend_coverage(tx, last.at, last.at_ms)?;
            if let Some(session) = session {
                tx.execute(
                    "UPDATE sessions SET first_change_ms = coalesce(first_change_ms, ?2),
                     first_epoch = coalesce(first_epoch, ?3), first_seq = coalesce(first_seq, ?4),
                     last_change_ms = ?5, last_epoch = ?6, last_seq = ?7 WHERE id = ?1",
                    values![
                        session,
                        first.at_ms,
                        first.at.epoch,
                        first.at.seq,
                        last.at_ms,
                        last.at.epoch,
                        last.at.seq
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn heartbeat(&mut self, at: Position, at_ms: u64) -> Result<()> {
        self.db.write(|tx| {
            // Caught up only when the heartbeat's position is what was
            // written: a beat from before a change still to come says nothing.
            if cursor_in(tx)?.is_some_and(|c| c.seq == at.seq) {
                extend_coverage(tx, at, at_ms)?;
            }
            Ok(())
        })
    }

    fn session_start(&mut self, node: &str, now_ms: u64) -> Result<i64> {
        let id = self.db.write(|tx| {
            tx.execute(
                "UPDATE sessions SET ended_ms = coalesce(last_change_ms, connected_ms),
                 end_reason = ?1 WHERE ended_ms IS NULL",
                values![SessionEnd::WriterLost.name()],
            )?;
            one(
                tx,
                "INSERT INTO sessions (node, connected_ms) VALUES (?1, ?2) RETURNING id",
                values![node, now_ms],
            )?
            .i64(0)
        })?;
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
        self.db.write(|tx| {
            tx.execute(
                "UPDATE sessions SET hello = ?2, start_epoch = ?3, start_seq = ?4 WHERE id = ?1",
                values![
                    session,
                    if gap { "gap" } else { "resume" },
                    position.epoch,
                    position.seq
                ],
            )?;
            for s in crossed {
                write::row(tx, &Row::Summary(Box::new(s.clone())))?;
            }
            let spans = one(tx, "SELECT count(*) FROM coverage", &[])?.i64(0)?;
            if !gap && spans == 0 {
                // A first session resumed from the pair's first change:
                // every change follows, so no time before it lacks one.
                tx.execute(
                    "INSERT INTO coverage (start_ms, end_ms, start_epoch, start_seq, end_epoch,
                     end_seq) VALUES (0, 0, 0, 0, 0, 0)",
                    &[],
                )?;
            } else if gap {
                if let Some(after) = cursor_in(tx)? {
                    tx.execute(
                        "INSERT INTO gaps (session, after_epoch, after_seq, resumed_epoch,
                         resumed_seq, noticed_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        values![
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
                    values![at_ms, position.epoch, position.seq],
                )?;
                // Changes from `position` on come after the gap: the cursor
                // moves there so none before it is taken for one after.
                set_cursor(tx, position)?;
            }
            Ok(())
        })
    }

    fn session_end(&mut self, session: i64, end: SessionEnd, now_ms: u64) -> Result<()> {
        self.db.write(|tx| {
            tx.execute(
                "UPDATE sessions SET ended_ms = ?2, end_reason = ?3
                 WHERE id = ?1 AND ended_ms IS NULL",
                values![session, now_ms, end.name()],
            )
        })?;
        if self.session == Some(session) {
            self.session = None;
        }
        Ok(())
    }

    fn coverage(&self) -> Result<Vec<Span>> {
        self.db.read(|tx| {
            tx.query(
                "SELECT start_ms, end_ms FROM coverage ORDER BY start_ms, id",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(Span {
                    start_ms: r.u64(0)?,
                    end_ms: r.u64(1)?,
                })
            })
            .collect()
        })
    }

    fn queue_events(&self, from_ms: u64, to_ms: u64) -> Result<Vec<QueueEventRow>> {
        self.db.read(|tx| read::queue_events(tx, from_ms, to_ms))
    }

    fn agent_activity(&self, from_ms: u64, to_ms: u64) -> Result<Vec<ActivityRow>> {
        self.db.read(|tx| read::agent_activity(tx, from_ms, to_ms))
    }

    fn segments(&self, from_ms: u64, to_ms: u64) -> Result<Vec<SegmentRow>> {
        self.db.read(|tx| read::segments(tx, from_ms, to_ms))
    }

    fn uncertain(&self, from_ms: u64, to_ms: u64) -> Result<Vec<u64>> {
        self.db.read(|tx| read::uncertain(tx, from_ms, to_ms))
    }

    fn write_config(&mut self, versions: &[ConfigVersion]) -> Result<()> {
        self.db.write(|tx| config::write(tx, versions))
    }

    fn standing_config_paths(&self) -> Result<Vec<String>> {
        self.db.read(config::standing_paths)
    }

    fn config_versions(&self, kind: ConfigKind) -> Result<Vec<ConfigVersion>> {
        self.db.read(|tx| config::versions(tx, kind))
    }

    fn search_archive(&self, search: &Search) -> Result<Vec<Hit>> {
        self.db.read(|tx| archive::search(tx, search))
    }

    fn archived(&self, id: &str) -> Result<Kept> {
        self.db.read(|tx| archive::kept(tx, id))
    }
}

#[cfg(test)]
pub(crate) mod tests;

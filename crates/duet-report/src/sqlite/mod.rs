//! [`ReportStore`] on SQLite (bundled: nothing to install), with
//! versioned migrations: `migrations/NNNN_*.sql`, applied in order, each
//! once, its number kept in `PRAGMA user_version`. The statements are
//! `crate::sql`'s, as for PostgreSQL.

use std::path::Path;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, Transaction, params_from_iter};

use crate::sql::{Backend, Cells, Store, Tx, Value, refuse_newer_than};
use crate::store::{Result, StoreError};

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

/// A reporting database in an SQLite file.
pub type Sqlite = Store<SqliteDb>;

/// The connection to one SQLite file.
pub struct SqliteDb {
    db: Connection,
}

impl Store<SqliteDb> {
    /// Opens (creating it if need be) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Sqlite> {
        Ok(Store::new(SqliteDb::open(path)?))
    }

    /// Opens an existing database to read reports from, as it is.
    pub fn open_read_only(path: &Path) -> Result<Sqlite> {
        Ok(Store::new(SqliteDb::open_read_only(path)?))
    }
}

/// What every connection needs: a wait for the other connections' locks,
/// and `LIKE` that tells letter case apart, as PostgreSQL's does (an
/// agent's name matches only itself: it decides who sees what).
fn set_up(db: Connection) -> Result<Connection> {
    db.busy_timeout(std::time::Duration::from_millis(BUSY_WAIT_MS))?;
    db.pragma_update(None, "case_sensitive_like", true)?;
    Ok(db)
}

impl SqliteDb {
    pub(crate) fn open(path: &Path) -> Result<SqliteDb> {
        let db = set_up(Connection::open(path)?)?;
        // WAL: reports read while the writer writes.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        let mut store = SqliteDb { db };
        store.migrate()?;
        Ok(store)
    }

    pub(crate) fn open_read_only(path: &Path) -> Result<SqliteDb> {
        let db = set_up(Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?)?;
        let store = SqliteDb { db };
        refuse_newer(store.schema_version()?)?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let version = self.schema_version()?;
        refuse_newer(version)?;
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            self.write(|tx| {
                tx.batch(sql)?;
                tx.batch(&format!("PRAGMA user_version = {}", n + 1))
            })?;
        }
        Ok(())
    }
}

fn refuse_newer(found: i64) -> Result<()> {
    refuse_newer_than(found, MIGRATIONS.len())
}

/// A transaction that takes the write lock at its start: two connections
/// (the writer's and its configuration reader's) write one database, and
/// a transaction that read first and then found the other had written
/// would fail at once rather than wait (WAL's stale snapshot).
fn write_transaction(db: &mut Connection) -> Result<Transaction<'_>> {
    Ok(db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Value::Int(v) => v.to_sql(),
            Value::UInt(v) => v.to_sql(),
            Value::Text(v) => v.to_sql(),
            Value::Null => Ok(ToSqlOutput::Borrowed(ValueRef::Null)),
        }
    }
}

fn cell(value: ValueRef<'_>) -> Result<Value> {
    match value {
        ValueRef::Null => Ok(Value::Null),
        ValueRef::Integer(v) => Ok(Value::Int(v)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(|t| Value::Text(t.to_string()))
            .map_err(|e| StoreError::Corrupt(format!("text that is not UTF-8: {e}"))),
        other => Err(StoreError::Corrupt(format!(
            "a {:?} value where none is written",
            other.data_type()
        ))),
    }
}

/// Statements on a connection (or a transaction, which is one).
struct On<'a>(&'a Connection);

impl Tx for On<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut q = self.0.prepare_cached(sql)?;
        Ok(q.execute(params_from_iter(params))? as u64)
    }

    /// In process, nothing to gain by waiting: at once.
    fn write(&mut self, sql: &str, params: Vec<Value>) -> Result<()> {
        self.execute(sql, &params).map(drop)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Cells>> {
        let mut q = self.0.prepare_cached(sql)?;
        let width = q.column_count();
        let mut rows = q.query(params_from_iter(params))?;
        let mut all = Vec::new();
        while let Some(row) = rows.next()? {
            all.push(Cells(
                (0..width)
                    .map(|i| cell(row.get_ref(i)?))
                    .collect::<Result<_>>()?,
            ));
        }
        Ok(all)
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        Ok(self.0.execute_batch(sql)?)
    }
}

impl Backend for SqliteDb {
    fn write<R>(&mut self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R> {
        let tx = write_transaction(&mut self.db)?;
        let done = f(&mut On(&tx))?;
        tx.commit()?;
        Ok(done)
    }

    fn read<R>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R> {
        f(&mut On(&self.db))
    }

    fn schema_version(&self) -> Result<i64> {
        Ok(self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

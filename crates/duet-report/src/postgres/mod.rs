//! [`ReportStore`] on a PostgreSQL server (`tokio-postgres` with a
//! `deadpool-postgres` pool), with the same schema as SQLite:
//! `migrations/postgres/NNNN_*.sql`, numbered as SQLite's, applied in
//! order, each once, under an advisory lock (two writers starting at once
//! migrate one after the other), the number kept in the one-row table
//! `schema_version`. The statements are `crate::sql`'s, as for SQLite.
//!
//! [`ReportStore`] is synchronous (a writer is a plain thread; the node
//! reads reports on a blocking thread) and tokio-postgres is not: the
//! store owns a small current-thread runtime and blocks on it for each
//! statement, so no caller needs a runtime of its own and none is
//! blocked from inside one. The connection's task runs while the store
//! blocks, which is whenever it has work.

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio::runtime::Runtime;
use tokio_postgres::NoTls;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::sql::{Backend, Cells, Store, Tx, Value, refuse_newer_than, values};
use crate::store::{Result, StoreError};

/// The migrations, oldest first; version N is the N-th (SQLite's N-th
/// in PostgreSQL's words).
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_schema.sql"),
    include_str!("../../migrations/postgres/0002_queue_event_agent.sql"),
    include_str!("../../migrations/postgres/0003_config_versions.sql"),
    include_str!("../../migrations/postgres/0004_uncertain.sql"),
    include_str!("../../migrations/postgres/0005_archive.sql"),
];

/// Where the migrations' number is kept.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING";

/// The advisory lock migrations hold ("duet" in ASCII).
const MIGRATION_LOCK: i64 = 0x6475_6574;

/// Connecting, and any one answer, taking longer: the server is taken
/// for gone (the statement fails; the writer waits for the server).
const CONNECT_WAIT: Duration = Duration::from_secs(5);
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// A reporting database on a PostgreSQL server.
pub type Postgres = Store<PostgresDb>;

/// A pool of connections to one PostgreSQL database, and the runtime
/// they run on.
pub struct PostgresDb {
    // The pool first: its connections go before their runtime.
    pool: Pool,
    runtime: Runtime,
}

impl Store<PostgresDb> {
    /// Connects to the database `config` names and migrates it.
    pub fn connect(config: &tokio_postgres::Config) -> Result<Postgres> {
        Ok(Store::new(PostgresDb::connect(config)?))
    }
}

/// A connection the pool could not give: connecting failed (the server
/// refused it, with its reason, or was not reached), or none came in time.
impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> StoreError {
        match e {
            PoolError::Backend(e) if e.as_db_error().is_some() => StoreError::Postgres(e),
            PoolError::Backend(e) => StoreError::Unreachable(e),
            other => StoreError::Pool(other),
        }
    }
}

/// Runs `work` on `runtime`, bounded by [`ANSWER_WAIT`].
fn wait<T, E: Into<StoreError>>(
    runtime: &Runtime,
    work: impl Future<Output = std::result::Result<T, E>>,
) -> Result<T> {
    runtime
        .block_on(async { tokio::time::timeout(ANSWER_WAIT, work).await })
        .map_err(|_| StoreError::TimedOut {
            seconds: ANSWER_WAIT.as_secs(),
        })?
        .map_err(Into::into)
}

impl PostgresDb {
    /// A pool for `config`, connected once (so a wrong URL or a server
    /// down is said at once).
    fn pool(config: &tokio_postgres::Config) -> Result<PostgresDb> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StoreError::Runtime)?;
        let mut config = config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_WAIT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // One connection: a store is used by one thread at a time.
        let pool = Pool::builder(manager)
            .max_size(1)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(ANSWER_WAIT))
            .create_timeout(Some(CONNECT_WAIT))
            .recycle_timeout(Some(CONNECT_WAIT))
            .build()?;
        let db = PostgresDb { pool, runtime };
        drop(wait(&db.runtime, db.pool.get())?);
        Ok(db)
    }

    pub(crate) fn connect(config: &tokio_postgres::Config) -> Result<PostgresDb> {
        let mut db = PostgresDb::pool(config)?;
        db.migrate()?;
        Ok(db)
    }

    /// Connects to read reports from the database as it is.
    pub(crate) fn connect_read_only(config: &tokio_postgres::Config) -> Result<PostgresDb> {
        let db = PostgresDb::pool(config)?;
        refuse_newer_than(db.schema_version()?, MIGRATIONS.len())?;
        Ok(db)
    }

    fn migrate(&mut self) -> Result<()> {
        self.write(|tx| {
            tx.batch(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))?;
            tx.batch(VERSION_TABLE)?;
            let version = version_in(tx)?;
            refuse_newer_than(version, MIGRATIONS.len())?;
            for (n, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                tx.batch(sql)?;
                tx.execute(
                    "UPDATE schema_version SET version = ?1 WHERE id = 1",
                    values![n as i64 + 1],
                )?;
            }
            Ok(())
        })
    }
}

/// The migrations applied (none before the version table exists).
fn version_in(tx: &mut dyn Tx) -> Result<i64> {
    let tables = tx.query(
        "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_version'
         AND schemaname = current_schema()",
        &[],
    )?;
    if tables.first().map(|r| r.i64(0)).transpose()? != Some(1) {
        return Ok(0);
    }
    tx.query("SELECT version FROM schema_version WHERE id = 1", &[])?
        .first()
        .map_or(Ok(0), |r| r.i64(0))
}

/// A number for an integer parameter (`INT8`, or `INT4` where one fits).
fn integer(v: i64, ty: &Type, out: &mut BytesMut) -> BoxedResult<IsNull> {
    if *ty == Type::INT4 {
        i32::try_from(v)?.to_sql(ty, out)
    } else {
        v.to_sql(ty, out)
    }
}

type BoxedResult<T> = std::result::Result<T, Box<dyn std::error::Error + Sync + Send>>;

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> BoxedResult<IsNull> {
        let text = <String as ToSql>::accepts(ty);
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Text(t) if text => t.to_sql(ty, out),
            Value::Int(v) if !text => integer(*v, ty, out),
            Value::UInt(v) if !text => integer(i64::try_from(*v)?, ty, out),
            other => Err(format!("{other:?} for a parameter of type {ty}").into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <String as ToSql>::accepts(ty) || [Type::INT8, Type::INT4].contains(ty)
    }

    to_sql_checked!();
}

fn cells(row: &tokio_postgres::Row) -> Result<Cells> {
    let cell = |i: usize, ty: &Type| -> Result<Value> {
        Ok(if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.into()
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?.map(i64::from).into()
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
            row.try_get::<_, Option<String>>(i)?.into()
        } else {
            return Err(StoreError::Corrupt(format!(
                "a column of type {ty} where none is written"
            )));
        })
    };
    Ok(Cells(
        row.columns()
            .iter()
            .enumerate()
            .map(|(i, c)| cell(i, c.type_()))
            .collect::<Result<_>>()?,
    ))
}

/// Statements in one transaction.
struct On<'a> {
    runtime: &'a Runtime,
    tx: deadpool_postgres::Transaction<'a>,
    /// Written, not yet sent: sent together before anything else.
    queued: Vec<(tokio_postgres::Statement, Vec<Value>)>,
}

impl On<'_> {
    /// The statement, prepared once per connection; `?N` is `$N` here.
    fn prepare(&self, sql: &str) -> Result<tokio_postgres::Statement> {
        wait(self.runtime, self.tx.prepare_cached(&sql.replace('?', "$")))
    }

    /// Sends the queued statements at once: tokio-postgres pipelines
    /// requests polled together on one connection.
    fn flush(&mut self) -> Result<()> {
        let queued = std::mem::take(&mut self.queued);
        if queued.is_empty() {
            return Ok(());
        }
        let params: Vec<_> = queued.iter().map(|(_, p)| bound(p)).collect();
        let all = queued
            .iter()
            .zip(&params)
            .map(|((statement, _), params)| self.tx.execute(statement, params));
        wait(self.runtime, futures::future::try_join_all(all)).map(drop)
    }
}

fn bound(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Tx for On<'_> {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        self.flush()?;
        let statement = self.prepare(sql)?;
        wait(self.runtime, self.tx.execute(&statement, &bound(params)))
    }

    fn write(&mut self, sql: &str, params: Vec<Value>) -> Result<()> {
        let statement = self.prepare(sql)?;
        self.queued.push((statement, params));
        Ok(())
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Cells>> {
        self.flush()?;
        let statement = self.prepare(sql)?;
        wait(self.runtime, self.tx.query(&statement, &bound(params)))?
            .iter()
            .map(cells)
            .collect()
    }

    fn batch(&mut self, sql: &str) -> Result<()> {
        self.flush()?;
        wait(self.runtime, self.tx.batch_execute(sql))
    }
}

impl PostgresDb {
    /// Runs `f` in a transaction on a connection of the pool.
    fn transaction<R>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R> {
        let mut client = wait(&self.runtime, self.pool.get())?;
        let tx = wait(&self.runtime, client.transaction())?;
        let mut on = On {
            runtime: &self.runtime,
            tx,
            queued: Vec::new(),
        };
        let done = f(&mut on)?;
        on.flush()?;
        wait(&self.runtime, on.tx.commit())?;
        Ok(done)
    }
}

impl Backend for PostgresDb {
    fn write<R>(&mut self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R> {
        self.transaction(f)
    }

    fn read<R>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R> {
        self.transaction(f)
    }

    fn schema_version(&self) -> Result<i64> {
        self.transaction(version_in)
    }
}

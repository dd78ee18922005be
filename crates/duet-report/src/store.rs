//! Where a writer keeps its rows: one trait, so SQLite and PostgreSQL
//! write the same schema the same way.

use crate::Position;
use crate::archive::view::Kept;
use crate::archive::{Hit, Search};
use crate::config::{ConfigKind, ConfigVersion};
use crate::rows::{ActivityRow, QueueEventRow, Row, SegmentRow, Summary};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the reporting database: {0}")]
    Database(#[from] rusqlite::Error),
    /// A statement or a transaction failed (the server said why, or the
    /// connection closed under it).
    #[error("the PostgreSQL reporting database: {}", chain(.0))]
    Postgres(tokio_postgres::Error),
    /// No connection could be made (no answer, refused, no such host).
    #[error(
        "cannot reach the PostgreSQL reporting database ({}): is the server running, and does its URL name the right host and port?",
        chain(.0)
    )]
    Unreachable(tokio_postgres::Error),
    #[error("no connection to the PostgreSQL reporting database: {0}")]
    Pool(deadpool_postgres::PoolError),
    #[error("cannot set up the PostgreSQL connection pool: {0}")]
    PoolSetUp(#[from] deadpool_postgres::BuildError),
    #[error(
        "the PostgreSQL reporting database did not answer within {seconds} s: is the server overloaded or out of reach?"
    )]
    TimedOut { seconds: u64 },
    #[error("cannot start the PostgreSQL client (its runtime): {0}")]
    Runtime(std::io::Error),
    #[error("the reporting database holds a row it cannot read: {0}")]
    Corrupt(String),
    #[error(
        "the reporting database is at schema version {found}, newer than this duet knows ({known}): use a newer duet"
    )]
    TooNew { found: i64, known: i64 },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A PostgreSQL error with its causes (its own text leaves them out:
/// "error connecting to server" says nothing of why).
pub(crate) fn chain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        StoreError::Postgres(e)
    }
}

/// Why a data-source session ended (the seed's session-control words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The node closed the socket or could no longer be reached.
    Disconnected,
    /// Nothing came, not even a heartbeat, for too long.
    NoActivity,
    /// The writer was stopped.
    Shutdown,
    /// The socket fell behind the node's feed.
    Resync,
    /// The writer stopped without a word (killed); found at its next start.
    WriterLost,
    /// A write to the database failed (a PostgreSQL server stopped or out
    /// of reach, a disk full): the writer waited for the database and
    /// resumed from its cursor in a new session.
    DatabaseLost,
}

impl SessionEnd {
    pub fn name(self) -> &'static str {
        match self {
            SessionEnd::Disconnected => "disconnected",
            SessionEnd::NoActivity => "no_activity",
            SessionEnd::Shutdown => "shutdown",
            SessionEnd::Resync => "resync",
            SessionEnd::WriterLost => "writer_lost",
            SessionEnd::DatabaseLost => "database_lost",
        }
    }
}

/// A data-source session as the `sessions` table keeps it (in part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub node: String,
    /// `resume` or `gap`: the node's first frame.
    pub hello: Option<String>,
    pub end_reason: Option<String>,
}

/// A stretch of stream time a database holds every change of:
/// `[start_ms, end_ms]` by the node's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A change's rows, to write with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub at: Position,
    /// When the change was made (the node's clock).
    pub at_ms: u64,
    pub rows: Vec<Row>,
}

/// A reporting writer's database.
pub trait ReportStore {
    /// The last change written, if any.
    fn cursor(&self) -> Result<Option<Position>>;
    /// The interactions still open, to carry on from.
    fn open_interactions(&self) -> Result<Vec<Summary>>;
    /// Of `ids`, those this database holds closed.
    fn closed_among(&self, ids: &[String]) -> Result<Vec<String>>;
    /// Writes changes' rows and moves the cursor to the last, in one
    /// transaction (all or nothing); a change at or before the cursor
    /// writes nothing.
    fn write_changes(&mut self, changes: &[Written]) -> Result<()>;
    /// The stream is caught up to `at` at `at_ms`: the coverage grows.
    fn heartbeat(&mut self, at: Position, at_ms: u64) -> Result<()>;
    /// A connection to `node` began at `now_ms` (the writer's clock);
    /// sessions left open (a writer killed) end as [`SessionEnd::WriterLost`].
    fn session_start(&mut self, node: &str, now_ms: u64) -> Result<i64>;
    /// The node said it continues after the cursor (no gap), or cannot
    /// (a gap from the cursor to `position`: a new coverage span starts,
    /// and `crossed`, the interactions open then, are written as they
    /// now stand, marked).
    fn session_hello(
        &mut self,
        session: i64,
        gap: bool,
        position: Position,
        at_ms: u64,
        crossed: &[Summary],
    ) -> Result<()>;
    fn session_end(&mut self, session: i64, end: SessionEnd, now_ms: u64) -> Result<()>;
    /// The spans of stream time this database covers with no gap.
    fn coverage(&self) -> Result<Vec<Span>>;
    /// Queue events in `[from_ms, to_ms)`.
    fn queue_events(&self, from_ms: u64, to_ms: u64) -> Result<Vec<QueueEventRow>>;
    /// Each agent's activity before `to_ms`, from its last log-out of
    /// every media before `from_ms` on: its state through the window.
    fn agent_activity(&self, from_ms: u64, to_ms: u64) -> Result<Vec<ActivityRow>>;
    /// The stretches of interactions that overlap `[from_ms, to_ms)`.
    fn segments(&self, from_ms: u64, to_ms: u64) -> Result<Vec<SegmentRow>>;
    /// When, in `[from_ms, to_ms)`, changes this database cannot count
    /// for sure were made.
    fn uncertain(&self, from_ms: u64, to_ms: u64) -> Result<Vec<u64>>;
    /// Records versions of the configuration (written again: the same
    /// rows); each version of a path ends where the next begins.
    fn write_config(&mut self, versions: &[ConfigVersion]) -> Result<()>;
    /// The configuration paths whose latest version still stands: read
    /// them again to learn of their removal.
    fn standing_config_paths(&self) -> Result<Vec<String>>;
    fn config_versions(&self, kind: ConfigKind) -> Result<Vec<ConfigVersion>>;
    /// The interactions `search` finds: its first `limit + 1` after its
    /// cursor, newest first (by creation, then id, descending).
    fn search_archive(&self, search: &Search) -> Result<Vec<Hit>>;
    /// What the database keeps of interaction `id` (nothing: empty).
    fn archived(&self, id: &str) -> Result<Kept>;
}

//! duet's reporting: what a reporting writer makes of the committed
//! change stream, where it keeps it, and the reports read back from it.
//!
//! - [`fold`]: the sans-IO core. [`Fold::apply`] turns one committed
//!   change at its position into rows (interaction summary, segments,
//!   wrap-ups, agent activity, queue events); a pure function of the
//!   open interactions it keeps, the change and the position.
//! - [`frame`]: the frames of `GET /api/stream/ws`.
//! - [`config`]: the configuration in effect, versions with the time
//!   each held, from the tree's history as the node serves it.
//! - [`store`]: the writer trait ([`ReportStore`]), implemented once in
//!   [`sql`] for [`sqlite`] (bundled, the default) and [`postgres`] (a
//!   server), each with its versioned migrations of one schema;
//!   [`database`]: a database named by a path or a `postgres://` URL.
//! - [`ingest`]: frames into the store: data-source sessions, gaps,
//!   coverage, and rows, each change in one transaction with its position.
//! - [`source`]: a database as a report reads it, and which one each
//!   interval is taken from (the first whose coverage has no gap there).
//! - [`chart`]: reports as SVG charts.
//! - [`staffing`]: an Erlang C staffing estimate from queue figures.
//! - [`queues`], [`agents`]: the queue and agent reports; [`read`]:
//!   what they read from the databases, for the CLI and the node.
//! - [`stuck`]: interactions open with no change for longer than their
//!   media allows.
//! - [`archive`]: interactions kept whole (a header and appended
//!   entries), searched and fetched across databases.
//!
//! Invariants: every row carries the position of the change that made
//! it; a change at or before the stored position is never applied again
//! (rows are upserts keyed by position, written with the cursor in one
//! transaction), so a writer that restarts resumes with no duplicate; a
//! position the node cannot vouch for is recorded as a gap, never passed
//! over.

pub mod agents;
pub mod archive;
pub mod chart;
pub mod config;
pub mod database;
pub mod disposition;
pub mod fold;
pub mod format;
pub mod frame;
pub mod ingest;
pub mod postgres;
pub mod queues;
pub mod read;
pub mod rows;
pub mod source;
pub mod sql;
pub mod sqlite;
pub mod staffing;
pub mod store;
pub mod stuck;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use database::Database;
pub use disposition::Disposition;
pub use duet_rsm::Position;
pub use fold::Fold;
pub use store::{ReportStore, StoreError};

#[cfg(test)]
mod oracle_tests;

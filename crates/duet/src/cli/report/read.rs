//! What every report reads: its databases, its window and its format.

use duet_report::Database;
use duet_report::format::Format;
use duet_report::queues::{DEFAULT_INTERVAL_MS, Window};
use duet_report::read::{Reads, unix_ms};
use duet_report::source::Source;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Shape {
    Table,
    Csv,
    Json,
    /// A chart (SVG): write it to a file and open it in a browser.
    Svg,
}

impl Shape {
    pub fn format(self) -> Format {
        match self {
            Shape::Table => Format::Table,
            Shape::Csv => Format::Csv,
            Shape::Json => Format::Json,
            Shape::Svg => Format::Svg,
        }
    }
}

#[derive(clap::Args)]
pub struct WindowArgs {
    /// A reporting database: an SQLite file's path or a PostgreSQL URL
    /// (postgres://user:password@host:port/database); give each
    /// writer's (the first that covers an interval is used for it).
    /// Read as text and named here: clap would repeat a URL it refused,
    /// password and all.
    #[arg(long = "database", required = true)]
    pub databases: Vec<String>,
    /// Start of the window: RFC 3339 (2026-12-02T09:00:00Z) or unix ms.
    #[arg(long)]
    pub from: String,
    /// End of the window (exclusive), as --from.
    #[arg(long)]
    pub to: String,
    /// The interval length in seconds (1800 by default; 900 allowed, or
    /// any whole number of minutes that divides a day).
    #[arg(long, default_value_t = DEFAULT_INTERVAL_MS / 1000)]
    pub interval_s: u64,
}

#[derive(clap::Args)]
pub struct ServiceLevelArg {
    /// The answer time service levels count against, in seconds, for
    /// every queue; without it, each queue's `service_level_s` in effect
    /// at the interval's start (20 s when none is recorded).
    #[arg(long)]
    service_level_s: Option<u64>,
}

impl ServiceLevelArg {
    pub fn ms(&self) -> Option<u64> {
        self.service_level_s.map(|s| s.saturating_mul(1000))
    }
}

impl WindowArgs {
    pub fn window(&self, service_level_ms: Option<u64>) -> anyhow::Result<Window> {
        Ok(Window {
            from_ms: unix_ms(&self.from)?,
            to_ms: unix_ms(&self.to)?,
            interval_ms: self.interval_s.saturating_mul(1000),
            service_level_ms,
        })
    }

    /// Each database's coverage and the rows of the window's intervals.
    pub fn sources(&self, window: &Window, reads: Reads) -> anyhow::Result<Vec<Source>> {
        let databases = parse_databases(&self.databases)?;
        Ok(duet_report::read::sources(&databases, window, reads)?)
    }
}

/// The databases `--database` named, each an SQLite file's path or a
/// PostgreSQL URL (an error never shows a password).
pub fn parse_databases(texts: &[String]) -> anyhow::Result<Vec<Database>> {
    Ok(texts
        .iter()
        .map(|d| d.parse())
        .collect::<Result<Vec<Database>, _>>()?)
}

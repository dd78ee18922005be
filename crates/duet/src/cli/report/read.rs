//! What every report reads: its databases, its window and its format.

use std::path::PathBuf;

use anyhow::{Context, bail};
use duet_report::ReportStore;
use duet_report::config::ConfigKind;
use duet_report::format::Format;
use duet_report::queues::{DEFAULT_INTERVAL_MS, Window};
use duet_report::source::Source;
use duet_report::sqlite::Sqlite;

/// Databases one report may read.
const DATABASES_MAX: usize = 8;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Shape {
    Table,
    Csv,
    Json,
}

impl Shape {
    pub fn format(self) -> Format {
        match self {
            Shape::Table => Format::Table,
            Shape::Csv => Format::Csv,
            Shape::Json => Format::Json,
        }
    }
}

#[derive(clap::Args)]
pub struct WindowArgs {
    /// A reporting database; give each writer's (the first that covers
    /// an interval is used for it).
    #[arg(long = "database", required = true)]
    pub databases: Vec<PathBuf>,
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

/// A time as RFC 3339 or unix milliseconds.
fn unix_ms(text: &str) -> anyhow::Result<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let at = humantime::parse_rfc3339_weak(text).with_context(|| {
        format!("{text:?} is neither RFC 3339 (2026-12-02T09:00:00Z) nor unix milliseconds")
    })?;
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .context("a time before 1970")?
        .as_millis() as u64)
}

/// Which rows a report reads: queue events, and for agents their
/// activity and the stretches of interactions too.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    Queues,
    Agents,
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
        if self.databases.len() > DATABASES_MAX {
            bail!("at most {DATABASES_MAX} databases in one report");
        }
        // Rows of intervals that start in the window, to their ends.
        let intervals = window.intervals()?;
        let (from_ms, to_ms) = match (intervals.first(), intervals.last()) {
            (Some(first), Some(last)) => (first.0, last.1),
            _ => (window.from_ms, window.from_ms),
        };
        let mut sources = Vec::new();
        for path in &self.databases {
            let db = Sqlite::open_read_only(path).with_context(|| {
                format!("cannot open the reporting database {}", path.display())
            })?;
            let mut source = Source {
                name: path.display().to_string(),
                coverage: db.coverage()?,
                ..Source::default()
            };
            source.events = db.queue_events(from_ms, to_ms)?;
            source.config = db.config_versions(ConfigKind::Queue)?;
            if reads == Reads::Agents {
                source.activity = db.agent_activity(from_ms, to_ms)?;
                source.segments = db.segments(from_ms, to_ms)?;
                source.config.extend(db.config_versions(ConfigKind::User)?);
            }
            sources.push(source);
        }
        Ok(sources)
    }
}

//! `duet report queues`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use duet_report::ReportStore;
use duet_report::format::{Format, render};
use duet_report::queues::{DEFAULT_INTERVAL_MS, DEFAULT_SERVICE_LEVEL_MS, Source, Window, report};
use duet_report::sqlite::Sqlite;

/// Databases one report may read.
const DATABASES_MAX: usize = 8;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Shape {
    Table,
    Csv,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// A reporting database; give each writer's (the first that covers
    /// an interval is used for it).
    #[arg(long = "database", required = true)]
    databases: Vec<PathBuf>,
    /// Start of the window: RFC 3339 (2026-12-02T09:00:00Z) or unix ms.
    #[arg(long)]
    from: String,
    /// End of the window (exclusive), as --from.
    #[arg(long)]
    to: String,
    /// The interval length in seconds (1800 by default; 900 allowed, or
    /// any whole number of minutes that divides a day).
    #[arg(long, default_value_t = DEFAULT_INTERVAL_MS / 1000)]
    interval_s: u64,
    /// The answer time service levels count against, in seconds.
    #[arg(long, default_value_t = DEFAULT_SERVICE_LEVEL_MS / 1000)]
    service_level_s: u64,
    #[arg(long, value_enum, default_value = "table")]
    format: Shape,
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

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.databases.len() > DATABASES_MAX {
        bail!("at most {DATABASES_MAX} databases in one report");
    }
    let window = Window {
        from_ms: unix_ms(&args.from)?,
        to_ms: unix_ms(&args.to)?,
        interval_ms: args.interval_s.saturating_mul(1000),
        service_level_ms: args.service_level_s.saturating_mul(1000),
    };
    // Events of intervals that start in the window, to their ends.
    let intervals = window.intervals()?;
    let (from_ms, to_ms) = match (intervals.first(), intervals.last()) {
        (Some(first), Some(last)) => (first.0, last.1),
        _ => (window.from_ms, window.from_ms),
    };
    let mut sources = Vec::new();
    for path in &args.databases {
        let db = Sqlite::open_read_only(path)
            .with_context(|| format!("cannot open the reporting database {}", path.display()))?;
        sources.push(Source {
            name: path.display().to_string(),
            coverage: db.coverage()?,
            events: db.queue_events(from_ms, to_ms)?,
        });
    }
    let lines = report(&window, &sources)?;
    let format = match args.format {
        Shape::Table => Format::Table,
        Shape::Csv => Format::Csv,
        Shape::Json => Format::Json,
    };
    print!("{}", render(&lines, format));
    Ok(())
}

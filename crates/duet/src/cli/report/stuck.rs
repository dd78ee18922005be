//! `duet report stuck`: interactions open in the reporting databases with
//! no change for longer than their media allows (docs/reporting.md).

use anyhow::{Context, bail};
use duet_report::ReportStore;
use duet_report::format::render;
use duet_report::read::{DATABASES_MAX, unix_ms};
use duet_report::stuck::{Limits, find};

use super::read::{Shape, parse_databases};

#[derive(clap::Args)]
pub struct Args {
    /// A reporting database: an SQLite file's path or a PostgreSQL URL
    /// (postgres://user:password@host:port/database); give each
    /// writer's (an interaction one of them holds closed is not stuck).
    /// Read as text and named here: clap would repeat a URL it refused,
    /// password and all.
    #[arg(long = "database", required = true)]
    databases: Vec<String>,
    /// How long a media may stand still, as MEDIA=DURATION (chat=30m,
    /// email=7days); the defaults: call and chat 2h, sms and social 3
    /// days, callback 7 days, email 14 days.
    #[arg(long = "limit", value_name = "MEDIA=DURATION")]
    limits: Vec<String>,
    /// The time to measure from: RFC 3339 or unix ms (now by default).
    #[arg(long)]
    now: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: Shape,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.databases.len() > DATABASES_MAX {
        bail!(
            "at most {DATABASES_MAX} databases, not {}",
            args.databases.len()
        );
    }
    let mut limits = Limits::default();
    for entry in &args.limits {
        limits.set_from(entry)?;
    }
    let now_ms = match &args.now {
        Some(text) => unix_ms(text)?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    };
    let databases = parse_databases(&args.databases)?;
    let stores = databases
        .iter()
        .map(|database| {
            database
                .open_read_only()
                .with_context(|| format!("cannot read the reporting database {database}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut open = Vec::new();
    for (database, store) in databases.iter().zip(&stores) {
        open.push((database.to_string(), store.open_interactions()?));
    }
    // Closed in any database: its end is known.
    let mut closed = std::collections::BTreeSet::new();
    let candidates: Vec<String> = find(&open, &closed, now_ms, &limits)
        .into_iter()
        .map(|s| s.id)
        .collect();
    for store in &stores {
        closed.extend(store.closed_among(&candidates)?);
    }
    let stuck = find(&open, &closed, now_ms, &limits);
    print!("{}", render(&stuck, args.format.format())?);
    if matches!(args.format, Shape::Table) && !stuck.is_empty() {
        println!(
            "\nEnd one the pair still holds with `duet ctl end-interaction ID`; one the pair no longer holds ended in a gap of these databases."
        );
    }
    Ok(())
}

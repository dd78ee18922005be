//! `duet report archive`: the archive of reporting databases searched
//! (a page as JSON) or one interaction shown whole (JSON), as
//! `GET /api/interactions` answers them, less the live state and with
//! no narrowing: whoever reads the databases reads everything in them.

use anyhow::Context;
use duet_report::archive::read::{fetch, page};
use duet_report::archive::{Asked, Scope, Search};

use super::read::parse_databases;

#[derive(clap::Args)]
pub struct Args {
    /// A reporting database: an SQLite file's path or a PostgreSQL URL
    /// (postgres://user:password@host:port/database); give each
    /// writer's (one result per interaction: the closed copy, else the
    /// later written). Read as text and named here: clap would repeat a
    /// URL it refused, password and all.
    #[arg(long = "database", required = true)]
    databases: Vec<String>,
    /// Show this interaction whole rather than search.
    #[arg(long)]
    id: Option<String>,
    /// A filter as `GET /api/interactions` takes it, `name=value`: from,
    /// to, queue, agent, media, customer, message_id, disposition,
    /// limit, next (docs/reporting.md, "The archive"); each given must
    /// hold.
    #[arg(long = "where", value_name = "NAME=VALUE")]
    filters: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let databases = parse_databases(&args.databases)?;
    let answer = match &args.id {
        Some(id) => serde_json::to_value(
            fetch(&databases, id)?
                .with_context(|| format!("no interaction {id} in these databases"))?,
        )?,
        None => {
            let mut fields = serde_json::Map::new();
            for filter in &args.filters {
                let (name, value) = filter
                    .split_once('=')
                    .with_context(|| format!("--where {filter:?}: write it as name=value"))?;
                fields.insert(name.to_string(), value.into());
            }
            let asked: Asked = serde_json::from_value(fields.into())?;
            let every = Scope {
                every_queue: true,
                ..Scope::default()
            };
            serde_json::to_value(page(&databases, &Search::new(&asked, every)?)?)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

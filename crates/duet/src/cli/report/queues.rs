//! `duet report queues`.

use duet_report::format::render;
use duet_report::queues::{DEFAULT_SERVICE_LEVEL_MS, report};

use super::read::{Reads, Shape, WindowArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    window: WindowArgs,
    /// The answer time service levels count against, in seconds.
    #[arg(long, default_value_t = DEFAULT_SERVICE_LEVEL_MS / 1000)]
    service_level_s: u64,
    #[arg(long, value_enum, default_value = "table")]
    format: Shape,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let window = args
        .window
        .window(Some(args.service_level_s.saturating_mul(1000)))?;
    let lines = report(&window, &args.window.sources(&window, Reads::Queues)?)?;
    print!("{}", render(&lines, args.format.format()));
    Ok(())
}

//! `duet report queues`.

use duet_report::format::render;
use duet_report::queues::report;

use duet_report::read::Reads;

use super::read::{Shape, WindowArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    window: WindowArgs,
    /// The answer time service levels count against, in seconds, for
    /// every queue; without it, each queue's `service_level_s` in effect
    /// at the interval's start (20 s when none is recorded).
    #[arg(long)]
    service_level_s: Option<u64>,
    #[arg(long, value_enum, default_value = "table")]
    format: Shape,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let window = args
        .window
        .window(args.service_level_s.map(|s| s.saturating_mul(1000)))?;
    let lines = report(&window, &args.window.sources(&window, Reads::Queues)?)?;
    print!("{}", render(&lines, args.format.format())?);
    Ok(())
}

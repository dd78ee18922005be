//! `duet report queues`.

use duet_report::format::render;
use duet_report::queues::report;
use duet_report::read::Reads;

use super::read::{ServiceLevelArg, Shape, WindowArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    service_level: ServiceLevelArg,
    #[arg(long, value_enum, default_value = "table")]
    format: Shape,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let window = args.window.window(args.service_level.ms())?;
    let lines = report(&window, &args.window.sources(&window, Reads::Queues)?)?;
    print!("{}", render(&lines, args.format.format())?);
    Ok(())
}

//! `duet report staffing`.

use anyhow::bail;
use duet_report::format::render;
use duet_report::queues::report;
use duet_report::read::Reads;
use duet_report::staffing::{DEFAULT_GOAL, estimate};

use super::read::{ServiceLevelArg, Shape, WindowArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    service_level: ServiceLevelArg,
    /// The share to answer within the service level time (0 to 1).
    #[arg(long, default_value_t = DEFAULT_GOAL)]
    goal: f64,
    /// The AHT to plan with, in seconds; without it, each interval's own.
    #[arg(long)]
    aht_s: Option<f64>,
    #[arg(long, value_enum, default_value = "table")]
    format: Shape,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !(args.goal > 0.0 && args.goal < 1.0) {
        bail!(
            "--goal is a share between 0 and 1 (0.8 for 80 %), not {}",
            args.goal
        );
    }
    if args.aht_s.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
        bail!("--aht-s is a positive number of seconds");
    }
    let window = args.window.window(args.service_level.ms())?;
    let queues = report(&window, &args.window.sources(&window, Reads::Queues)?)?;
    let lines = estimate(&queues, args.goal, args.aht_s);
    print!("{}", render(&lines, args.format.format())?);
    Ok(())
}

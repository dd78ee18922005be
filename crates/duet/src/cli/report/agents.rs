//! `duet report agents`.

use duet_report::agents::report;
use duet_report::format::render;

use duet_report::read::Reads;

use super::read::{Shape, WindowArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    window: WindowArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: Shape,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let window = args.window.window(None)?;
    let lines = report(&window, &args.window.sources(&window, Reads::Agents)?)?;
    print!("{}", render(&lines, args.format.format())?);
    Ok(())
}

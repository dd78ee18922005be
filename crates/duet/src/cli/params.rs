//! `duet params`: the parameter reference and parameter file checks.

use std::path::PathBuf;

use anyhow::anyhow;

#[derive(clap::Args)]
pub struct Args {
    /// Check this parameter file instead of printing the reference: every
    /// problem is listed with the parameter, the value and the allowed range.
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Some(path) = args.check else {
        print!("{}", duet_params::reference());
        return Ok(());
    };
    let entries = super::read_param_file(&path)?;
    let loaded = duet_params::load(entries.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(|e| anyhow!("{}:\n{e}", path.display()))?;
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    println!(
        "{}: {} parameter(s), all valid",
        path.display(),
        entries.len()
    );
    Ok(())
}

//! One module per subcommand.

pub mod certs;
pub mod config;
pub mod ctl;
pub mod demo;
pub mod load;
pub mod params;
pub mod passwd;
pub mod serve;
pub mod simulate;

use anyhow::Context;

/// Reads a parameter file into `(name, value)` entries.
pub fn read_param_file(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the parameter file {}", path.display()))?;
    duet_params::toml_entries(&text).map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))
}

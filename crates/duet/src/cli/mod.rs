//! One module per subcommand.

pub mod certs;
pub mod config;
pub mod ctl;
pub mod demo;
pub mod load;
pub mod params;
pub mod passwd;
pub mod report;
pub mod serve;
pub mod simulate;

use anyhow::Context;

/// Reads a parameter file into `(name, value)` entries.
pub fn read_param_file(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the parameter file {}", path.display()))?;
    duet_params::toml_entries(&text).map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))
}

/// Logs to standard error at `RUST_LOG`'s level (info by default).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
}

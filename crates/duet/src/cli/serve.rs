//! `duet serve`: run one node of the pair.

use std::path::PathBuf;

use anyhow::anyhow;
use duet_node::bootstrap::Bootstrap;
use duet_params::StartupModes;

#[derive(clap::Args)]
pub struct Args {
    /// The node's bootstrap file (see `duet config check`).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The seed's command-line modes: /ForceBackup, /ManualSwitchOnly (also
    /// accepted as --force-backup, --manual-switch-only).
    #[arg(value_name = "MODE", allow_hyphen_values = true)]
    modes: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut boot = Bootstrap::load(&args.config)?;
    let modes = StartupModes::parse(args.modes.iter().map(String::as_str))?;
    boot.force_backup |= modes.force_backup;
    boot.manual_switch_only |= modes.manual_switch_only;
    super::init_logging();
    // Before the runtime: every thread it starts takes the main thread's
    // nice value (on Linux each thread has its own).
    if let Err(e) = rustix::process::setpriority_process(None, boot.nice) {
        tracing::warn!(
            "cannot set this node's nice value to {} ({e}): its threads compete with other work on this machine as equals; run as root or with CAP_SYS_NICE, or set `nice = 0` in {}",
            boot.nice,
            args.config.display()
        );
    }
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| anyhow!("cannot start the runtime: {e}"))?;
    runtime.block_on(duet_node::node::run(boot, duet_http::serve, stop_signal()))
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stopping");
}

//! `duet config check`: validate a bootstrap file.

use std::path::PathBuf;

use duet_node::bootstrap::Bootstrap;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check a node's bootstrap file and say what to fix.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn run(command: Command) -> anyhow::Result<()> {
    let Command::Check { file } = command;
    let boot = Bootstrap::load(&file)?;
    let me = boot.me();
    println!(
        "{}: valid. This is {} (SwitchoverServer {:?}) at {}; its peer is {} at {}.",
        file.display(),
        boot.this,
        boot.server_id(),
        me.address,
        boot.peer().name,
        boot.peer().address
    );
    if boot.users.is_empty() {
        println!("note: no users are configured, so nobody can ask for a switch through the API");
    }
    if boot.fault_injection.enabled {
        println!("warning: fault injection is on; use this only on test systems");
    }
    for warning in boot.warnings() {
        println!("warning: {warning}");
    }
    Ok(())
}

//! `duet`: the command-line entry point.

mod cli;

use clap::{Parser, Subcommand};

/// duet: a contact-center interaction server that runs as an active/backup
/// pair and switches over by itself when the active server, a link or a
/// component fails.
#[derive(Parser)]
#[command(name = "duet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the switchover engine against a simulated active node and print
    /// what the backup would do: the timeline in the seed's log style and
    /// the outcome. Try a parameter change here before making it.
    Simulate(cli::simulate::Args),
    /// Print the server parameter reference, or check a parameter file.
    Params(cli::params::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => cli::simulate::run(args),
        Command::Params(args) => cli::params::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

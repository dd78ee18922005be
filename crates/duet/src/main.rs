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
    /// Run a local pair on loopback with certificates made on the fly, show
    /// both nodes' roles and events live, and kill the active node or ask for
    /// a switch to watch the backup take over: the first thing to try.
    Demo(cli::demo::Args),
    /// Run the switchover engine against a simulated active node and print
    /// what the backup would do: the timeline in the seed's log style and
    /// the outcome. Try a parameter change here before making it.
    Simulate(cli::simulate::Args),
    /// Print the server parameter reference, or check a parameter file.
    Params(cli::params::Args),
    /// Run one node of the pair from its bootstrap file.
    Serve(cli::serve::Args),
    /// Create the pair's certificate authority and node certificates.
    #[command(subcommand)]
    Certs(cli::certs::Command),
    /// Check a node's bootstrap file.
    #[command(subcommand)]
    Config(cli::config::Command),
    /// Print the argon2 hash of a password read from standard input, for a
    /// bootstrap file's users.
    Passwd(cli::passwd::Args),
    /// Control the pair: status, switch, events.
    Ctl(cli::ctl::Args),
    /// Drive a running pair with generated customers and agents over
    /// REST, WebSocket and SMTP, following switchovers, and report what
    /// was sent, acknowledged, delivered, lost or doubled.
    Load(cli::load::Args),
    /// Reporting: write the pair's committed changes into a database
    /// (`writer`), and read reports from such databases (`queues`).
    #[command(subcommand)]
    Report(cli::report::Command),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cli::demo::run(args),
        Command::Simulate(args) => cli::simulate::run(args),
        Command::Params(args) => cli::params::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Certs(command) => cli::certs::run(command),
        Command::Config(command) => cli::config::run(command),
        Command::Passwd(args) => cli::passwd::run(args),
        Command::Ctl(args) => cli::ctl::run(args),
        Command::Load(args) => cli::load::run(args),
        Command::Report(command) => cli::report::run(command),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

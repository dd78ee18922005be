//! `duet report`: the reporting writer and the reports read from its
//! databases (docs/reporting.md).

mod agents;
mod archive;
mod config;
mod queues;
mod read;
mod staffing;
mod stuck;
mod writer;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Follow the pair's committed change stream (whichever node answers)
    /// and write it into a reporting database, resuming where it stopped.
    Writer(writer::Args),
    /// Queue figures per interval, each interval from a database that
    /// covers it with no gap (marked when none does).
    Queues(queues::Args),
    /// Agent figures per interval (logged-in, ready and not-ready time,
    /// handled, talk, hold, wrap-up, AHT, occupancy, transfers), each
    /// interval from a database that covers it with no gap.
    Agents(agents::Args),
    /// Agents each queue needed per interval to reach a service level
    /// goal, by Erlang C from what was offered and the interval's AHT.
    Staffing(staffing::Args),
    /// Interactions open with no change for longer than their media
    /// allows (to end with `duet ctl end-interaction`).
    Stuck(stuck::Args),
    /// Search the archive of closed interactions (a page as JSON), or
    /// show one whole (`--id`).
    Archive(archive::Args),
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Writer(args) => writer::run(args),
        Command::Queues(args) => queues::run(args),
        Command::Agents(args) => agents::run(args),
        Command::Staffing(args) => staffing::run(args),
        Command::Stuck(args) => stuck::run(args),
        Command::Archive(args) => archive::run(args),
    }
}

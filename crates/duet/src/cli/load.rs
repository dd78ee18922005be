//! `duet load`: drives a running pair with generated customers and agents
//! over the real protocols and reports what was sent, acknowledged,
//! delivered, lost or doubled. Exits non-zero when anything was lost or
//! doubled.

use std::time::{Duration, Instant};

use anyhow::Context;
use duet_client::load::{Load, LoadSpec, Report};

#[derive(clap::Args)]
pub struct Args {
    /// A node's base URL (http://host:port); give both nodes.
    #[arg(long = "node", value_name = "URL", num_args = 1, required = true)]
    nodes: Vec<String>,
    /// A node's SMTP address (host:port), repeatable; without it no email is sent.
    #[arg(long, value_name = "HOST:PORT")]
    smtp: Vec<String>,
    #[arg(long, default_value_t = 10)]
    customers: usize,
    #[arg(long, default_value_t = 4)]
    agents: usize,
    /// How long to send before draining.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Messages per second per customer, at most (a customer also waits
    /// for the agent when three of its messages are unanswered).
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    #[arg(long, default_value_t = 6)]
    messages_per_chat: u32,
    /// Customers and agents (in percent) that make their changes on the
    /// second node first: when the nodes are apart and both serve, they
    /// act there while the others act on the first.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    split_percent: u32,
    /// The workgroup queue the load works in.
    #[arg(long, default_value = "Load")]
    queue: String,
    /// A master administrator of the bootstrap files, to make the agents
    /// and the queue when absent.
    #[arg(long, env = "DUET_USER")]
    user: Option<String>,
    #[arg(long, env = "DUET_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// The agents' password (agents are load-agent-1, load-agent-2, ...).
    #[arg(long, default_value = "load-agent-password")]
    agent_password: String,
    /// How long to wait after sending for what is in flight.
    #[arg(long, default_value_t = 30)]
    drain_seconds: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let [a, b]: [String; 2] = args
        .nodes
        .clone()
        .try_into()
        .map_err(|_| anyhow::anyhow!("give both nodes: --node URL --node URL"))?;
    let mut spec = LoadSpec::new([a, b]);
    spec.smtp = args.smtp;
    spec.customers = args.customers;
    spec.agents = args.agents.max(1);
    spec.rate_per_customer = args.rate;
    spec.messages_per_chat = args.messages_per_chat.max(1);
    spec.queue = args.queue;
    spec.split_percent = args.split_percent;
    spec.agent_password = args.agent_password;
    spec.admin = args.user.zip(args.password);
    let handle = Load::start(spec).context("cannot start the load")?;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        std::thread::sleep(Duration::from_secs(1));
        if !args.json {
            let t = handle.tally();
            eprintln!(
                "[{:4.0} s] waiting {} talking {} messages sent {} delivered {} lost {} doubled {}",
                started.elapsed().as_secs_f64(),
                t.waiting,
                t.talking,
                t.messages_sent,
                t.messages_delivered,
                t.messages_lost,
                t.messages_doubled
            );
        }
    }
    let report = handle.stop_and_drain(Duration::from_secs(args.drain_seconds));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    anyhow::ensure!(report.clean(), "something was lost or doubled");
    Ok(())
}

/// The report as a table for people.
pub fn table(r: &Report) -> String {
    let t = &r.tally;
    let rows = [
        (
            "customers / agents",
            format!("{} / {}", r.customers, r.agents),
        ),
        (
            "sending / draining",
            format!(
                "{:.1} s / {:.1} s{}",
                r.seconds,
                r.drain_seconds,
                if r.settled { "" } else { " (not settled)" }
            ),
        ),
        (
            "chats started / ended",
            format!("{} / {}", t.chats_started, t.chats_ended),
        ),
        ("messages sent", t.messages_sent.to_string()),
        ("  acknowledged", t.messages_acknowledged.to_string()),
        ("  delivered", t.messages_delivered.to_string()),
        ("  undelivered", t.messages_undelivered.to_string()),
        ("  lost", t.messages_lost.to_string()),
        ("  doubled", t.messages_doubled.to_string()),
        ("  out of order", t.messages_out_of_order.to_string()),
        (
            "  sent again after a heal (shown once)",
            t.messages_resent.to_string(),
        ),
        (
            "emails sent / accepted / present / doubled",
            format!(
                "{} / {} / {} / {}",
                t.emails_sent, t.emails_accepted, t.emails_present, t.emails_doubled
            ),
        ),
        (
            "callbacks requested / acknowledged / present",
            format!(
                "{} / {} / {}",
                t.callbacks_requested, t.callbacks_acknowledged, t.callbacks_present
            ),
        ),
        (
            "wrap-ups / transfers",
            format!("{} / {}", t.wrap_ups, t.transfers),
        ),
        (
            "latency p50 / p99 / max",
            format!(
                "{} / {} / {} ms",
                t.latency_p50_ms, t.latency_p99_ms, t.latency_max_ms
            ),
        ),
        (
            "longest gap a customer saw",
            format!("{} ms", t.longest_gap_ms),
        ),
        ("client errors", t.errors.to_string()),
    ];
    let mut out = String::new();
    for (name, value) in rows {
        out.push_str(&format!("{name:<46} {value}\n"));
    }
    for d in &r.doubles {
        out.push_str(&format!("  doubled: {d}\n"));
    }
    for e in &r.errors {
        out.push_str(&format!("  error: {e}\n"));
    }
    out
}

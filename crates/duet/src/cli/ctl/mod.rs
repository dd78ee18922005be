//! `duet ctl`: the control panel on the command line (the seed's Switchover
//! Control Panel and SwitchoverCtrlU): status of both nodes, a manual
//! switch, the event logs, the configuration, and the contact center
//! (queues, agents, an interaction's history).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use duet_link::protocol::Role;
use duet_node::bootstrap::Bootstrap;
use duet_node::events::LoggedEvent;
use duet_node::status::NodeStatus;

#[derive(clap::Args)]
pub struct Args {
    /// A node's HTTP address, e.g. http://127.0.0.1:8080; give both nodes.
    #[arg(long = "node", value_name = "URL", global = true)]
    nodes: Vec<String>,
    /// Take both nodes' addresses from a bootstrap file instead.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// A user with the Remote Control right (for switch).
    #[arg(long, env = "DUET_USER", global = true)]
    user: Option<String>,
    #[arg(long, env = "DUET_PASSWORD", hide_env_values = true, global = true)]
    password: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Both nodes: names, roles, switchover state, mode, releases, epoch,
    /// link and replication health, last switch reason.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Ask the backup to become active, after confirmation.
    Switch {
        /// Do not ask for confirmation.
        #[arg(long, short)]
        yes: bool,
        /// Switch even if file replication is reported stopped.
        #[arg(long)]
        force: bool,
        /// The seed's /Immediate: switch at once, no questions (a master
        /// administrator needs no Remote Control right for it).
        #[arg(long)]
        immediate: bool,
    },
    /// Read and change the configuration tree (changes go to the active node).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The contact center's queues now: waiting, longest wait, agents by
    /// status, service level, ASA, AHT, abandoned.
    Queues {
        #[arg(long)]
        json: bool,
    },
    /// The agents: status, media logged in, interactions held.
    Agents {
        #[arg(long)]
        json: bool,
    },
    /// One interaction: its state, parties, segments (its history) and
    /// content; `conflicts` instead of an id lists the interaction
    /// conflict records heals left.
    Interaction { id: String },
    /// End a stuck interaction (see `duet report stuck`) on the active
    /// node, as a supervisor of its queue or an administrator: closed
    /// when waiting, disconnected and its wrap-up ended when connected.
    EndInteraction { id: String },
    /// The event logs of both nodes, merged in time order.
    Events {
        /// How many of the latest entries to show.
        #[arg(long, default_value_t = 50)]
        last: usize,
    },
}

#[derive(clap::Subcommand)]
pub(super) enum ConfigCommand {
    /// Show the object at a path (e.g. /config/Users/alice or ${CONFIG}\Users\alice).
    Get { path: String },
    /// List what is under a path.
    Ls { path: String },
    /// Put an object at a path: its class and NAME=VALUE attributes.
    Set {
        path: String,
        class: String,
        #[arg(value_name = "NAME=VALUE")]
        attributes: Vec<String>,
        /// Your own id for this change, so a retry is applied once.
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Remove the object at a path.
    Rm { path: String },
    /// Make the changes in a JSON file (`-`: standard input) on the active
    /// node, 500 to a request: `{"changes": [{"put": {"path", "class",
    /// "attributes"}}, {"remove": {"path"}}, ...]}`, as `POST
    /// /api/config/batch` takes them. A change without a `client_id` gets
    /// one from the file's digest and its place, so applying the same file
    /// again is answered, not made again.
    Apply { file: String },
    /// The changes of a path: who, when, old and new.
    History { path: String },
    /// Changes that lost when the pair healed after both nodes served: each
    /// with the change it lost to (that value stands).
    Conflicts,
}

mod config;
mod contact;
mod end;

struct Node {
    url: String,
}

const HTTP_TIMEOUT: Duration = Duration::from_secs(3);

fn agent() -> ureq::Agent {
    agent_waiting(HTTP_TIMEOUT)
}

/// An agent for requests that may take up to `timeout` to answer.
fn agent_waiting(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

fn nodes(args: &Args) -> anyhow::Result<Vec<Node>> {
    let mut urls = args.nodes.clone();
    if let Some(path) = &args.config {
        let boot = Bootstrap::load(path)?;
        for n in [&boot.server_a, &boot.server_b] {
            // This node's API listens where http_listen says, if that is a
            // specific address; otherwise on the node's address.
            let address = match boot.http_listen {
                Some(ip) if n.name == boot.this && !ip.is_unspecified() => ip,
                _ => n.address,
            };
            urls.push(format!(
                "http://{}",
                std::net::SocketAddr::new(address, n.http_port)
            ));
        }
    }
    if urls.is_empty() {
        bail!("say which nodes to talk to: --node URL (twice) or --config BOOTSTRAP_FILE");
    }
    Ok(urls
        .into_iter()
        .map(|u| Node {
            url: u.trim_end_matches('/').to_string(),
        })
        .collect())
}

fn status_of(node: &Node) -> anyhow::Result<NodeStatus> {
    let mut response = agent()
        .get(&format!("{}/api/status", node.url))
        .call()
        .map_err(|e| anyhow!("{}: {e}", node.url))?;
    response
        .body_mut()
        .read_json()
        .map_err(|e| anyhow!("{}: unexpected answer: {e}", node.url))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let nodes = nodes(&args)?;
    match args.command {
        Command::Status { json } => status(&nodes, json),
        Command::Switch {
            yes,
            force,
            immediate,
        } => switch(&nodes, args.user, args.password, yes, force, immediate),
        Command::Events { last } => events(&nodes, last),
        Command::Config(command) => config::run(&nodes, args.user, args.password, command),
        Command::Queues { json } => contact::queues(&nodes, args.user, args.password, json),
        Command::Agents { json } => contact::agents(&nodes, args.user, args.password, json),
        Command::Interaction { id } if id == "conflicts" => {
            contact::conflicts(&nodes, args.user, args.password)
        }
        Command::Interaction { id } => contact::interaction(&nodes, args.user, args.password, &id),
        Command::EndInteraction { id } => end::end(&nodes, args.user, args.password, &id),
    }
}

/// The active node among `nodes`.
fn active(nodes: &[Node]) -> anyhow::Result<&Node> {
    nodes
        .iter()
        .find(|n| status_of(n).is_ok_and(|s| s.serving))
        .ok_or_else(|| {
            anyhow!("no node answers as active; configuration changes are made on the active node")
        })
}

fn credentials(user: Option<String>, password: Option<String>) -> anyhow::Result<String> {
    let user =
        user.ok_or_else(|| anyhow!("give a master administrator: --user NAME (or DUET_USER)"))?;
    let password =
        password.ok_or_else(|| anyhow!("give the user's password: --password or DUET_PASSWORD"))?;
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    ))
}

/// A node's answer as the API documents it, or its refusal in words.
fn answer<T: serde::de::DeserializeOwned>(
    mut response: ureq::http::Response<ureq::Body>,
) -> anyhow::Result<T> {
    let code = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .context("reading the answer")?;
    if !(200..300).contains(&code) {
        let why = serde_json::from_str::<duet_api::ErrorBody>(&text)
            .map_or_else(|_| "refused".to_string(), |body| body.error);
        bail!("{why} ({code})");
    }
    serde_json::from_str(&text).with_context(|| format!("an unexpected answer: {text}"))
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Starting => "starting",
        Role::Active => "active",
        Role::Backup => "backup",
        Role::Inactive => "inactive",
    }
}

/// Where safety stands on one node: its lease, a takeover waiting, writes
/// held, conflicts.
fn right_to_serve_lines(s: &NodeStatus, warnings: &mut Vec<String>) {
    let right = &s.right_to_serve;
    if s.role == Role::Active {
        let lease = if right.lease_held {
            format!("held, {} ms left", right.lease_remaining_ms)
        } else {
            "NOT HELD: not serving, writes wait".to_string()
        };
        println!(
            "{:<10} right to serve: lease {lease}; {}",
            "",
            right.lease_detail.as_deref().unwrap_or("-")
        );
        if right.confirmed_by == Some(duet_role::Confirmation::Unconfirmed) {
            warnings.push(format!(
                "{}: serving without proof that its peer is not (no gateway or NetTest check is configured); a partition now could make both serve until the heal",
                s.node
            ));
        }
        if !right.lease_held {
            warnings.push(format!(
                "{}: holds the active role but cannot confirm its peer is not serving: {}",
                s.node,
                right
                    .lease_detail
                    .as_deref()
                    .unwrap_or("no confirmation yet")
            ));
        }
    } else if right.promise_remaining_ms > 0 {
        println!(
            "{:<10} right to serve: promised its peer not to serve for {} ms more",
            "", right.promise_remaining_ms
        );
    }
    if let Some(waiting) = &right.takeover_waiting {
        println!("{:<10} takeover: {waiting}", "");
    }
    if let Some(witness) = &right.witness {
        println!("{:<10} witness: {}", "", witness.detail);
        if witness.state == duet_node::status::WitnessState::Down {
            warnings.push(format!(
                "{}: the etcd witness cannot be reached; the peer's promise alone confirms the lease",
                s.node
            ));
        }
    }
    if right.interaction_conflicts > 0 {
        warnings.push(format!(
            "{}: {} interaction conflict record(s) from a heal: duet ctl interaction conflicts",
            s.node, right.interaction_conflicts
        ));
    }
    if right.conflicts > 0 {
        warnings.push(format!(
            "{}: {} conflict record(s) from a heal wait for review: duet ctl config conflicts",
            s.node, right.conflicts
        ));
    }
    if right.writes_held > 0 {
        warnings.push(format!(
            "{}: {} configuration change(s) persisted but held until the lease is confirmed again (refused with 503 if it is not)",
            s.node, right.writes_held
        ));
    }
}

fn status(nodes: &[Node], json: bool) -> anyhow::Result<()> {
    let answers: Vec<(&Node, anyhow::Result<NodeStatus>)> =
        nodes.iter().map(|n| (n, status_of(n))).collect();
    if json {
        let list: Vec<serde_json::Value> = answers
            .iter()
            .map(|(n, s)| match s {
                Ok(s) => serde_json::to_value(s).unwrap_or_default(),
                Err(e) => serde_json::json!({"url": n.url, "error": e.to_string()}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<10} {:<6} {:<9} {:<19} {:<7} {:<10} {:>5}  {:<9} LAST SWITCH",
        "NODE", "SERVER", "ROLE", "STATE", "MODE", "RELEASE", "EPOCH", "MAIN/AUX"
    );
    let mut warnings = Vec::new();
    for (node, answer) in &answers {
        match answer {
            Ok(s) => {
                let links = s.links().unwrap_or_else(|| "-".into());
                println!(
                    "{:<10} {:<6} {:<9} {:<19} {:<7} {:<10} {:>5}  {:<9} {}",
                    s.node,
                    s.server,
                    role_name(s.role),
                    s.state.seed_name(),
                    if s.automatic { "auto" } else { "manual" },
                    s.release,
                    s.epoch,
                    links,
                    s.last_switch_reason.as_deref().unwrap_or("-")
                );
                if s.role == Role::Backup && !s.file_replication_running {
                    warnings.push(format!(
                        "{}: the backup server has detected that file replication from the primary has stopped",
                        s.node
                    ));
                }
                if !s.automatic && s.role == Role::Backup {
                    warnings.push(format!("{}: running in Manual Switch Only mode", s.node));
                }
                right_to_serve_lines(s, &mut warnings);
                if s.serving {
                    let state = match s.replication {
                        duet_stream::Replication::InSync => "in sync",
                        duet_stream::Replication::CatchingUp => "the backup is catching up",
                        duet_stream::Replication::Alone => "no backup in sync",
                    };
                    println!(
                        "{:<10} configuration replication: {state}; last change {} (epoch {}); longest stall {} ms",
                        "", s.config_applied.seq, s.config_applied.epoch, s.longest_stall_ms
                    );
                    if s.replication == duet_stream::Replication::Alone {
                        warnings.push(format!(
                            "{}: configuration changes are acknowledged without a backup; a failure now could lose them",
                            s.node
                        ));
                    }
                } else if s.role == Role::Backup {
                    println!(
                        "{:<10} configuration applied up to change {} (epoch {})",
                        "", s.config_applied.seq, s.config_applied.epoch
                    );
                }
            }
            Err(e) => println!("{:<10} unreachable: {e}", node.url),
        }
    }
    let actives: Vec<&NodeStatus> = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok())
        .filter(|s| s.serving)
        .collect();
    if actives.is_empty() {
        warnings.push("no node is serving as active".into());
    }
    for w in warnings {
        println!("warning: {w}");
    }
    Ok(())
}

fn ask(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question}\nconfirmation is needed: run with --yes to confirm without a terminal");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn switch(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    yes: bool,
    mut force: bool,
    immediate: bool,
) -> anyhow::Result<()> {
    let backup = nodes
        .iter()
        .filter_map(|n| status_of(n).ok().map(|s| (n, s)))
        .find(|(_, s)| s.role == Role::Backup)
        .ok_or_else(|| {
            anyhow!("no node is watching as backup, so there is nothing to switch to")
        })?;
    let (node, status) = backup;
    if !immediate
        && !yes
        && !ask(&format!(
            "Are you sure you wish to initiate Switchover to backup {}?",
            status.node
        ))?
    {
        bail!("switch cancelled");
    }
    if !status.file_replication_running && !force && !immediate {
        println!(
            "warning: file replication from the primary may not be running; files changed recently may be missing on {}",
            status.node
        );
        if !yes && !ask("Switch anyway?")? {
            bail!("switch cancelled");
        }
        force = true;
    }
    let user = user.ok_or_else(|| {
        anyhow!("give a user with the Remote Control right: --user NAME (or DUET_USER)")
    })?;
    let password =
        password.ok_or_else(|| anyhow!("give the user's password: --password or DUET_PASSWORD"))?;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let response = agent()
        .post(&format!("{}/api/switch", node.url))
        .header("authorization", &format!("Basic {credentials}"))
        .send_json(duet_api::SwitchRequest { force, immediate })
        .map_err(|e| anyhow!("{}: {e}", node.url))?;
    let _: duet_api::Switching =
        answer(response).with_context(|| format!("{} refused the switch", status.node))?;
    println!("Switch requested on {}.", status.node);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if let Ok(s) = status_of(node).context("status")
            && s.serving
        {
            println!("{} is now the active node in epoch {}.", s.node, s.epoch);
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{} accepted the request but is not active after 15 s; see `duet ctl events`",
        status.node
    )
}

fn events(nodes: &[Node], last: usize) -> anyhow::Result<()> {
    let mut all: Vec<(String, LoggedEvent)> = Vec::new();
    for node in nodes {
        let answer = agent()
            .get(&format!("{}/api/events?after=0&limit=5000", node.url))
            .call()
            .and_then(|mut r| r.body_mut().read_json::<Vec<LoggedEvent>>());
        match answer {
            Ok(list) => all.extend(list.into_iter().map(|e| (node.url.clone(), e))),
            Err(e) => eprintln!("{}: {e}", node.url),
        }
    }
    all.sort_by_key(|(_, e)| e.at_unix_ms);
    let skip = all.len().saturating_sub(last);
    for (url, e) in all.into_iter().skip(skip) {
        let at = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(e.at_unix_ms));
        println!(
            "{at}  {:<8} {:<16} {}  (from {url})",
            e.node,
            format!("{:?}", e.topic),
            e.message
        );
    }
    Ok(())
}

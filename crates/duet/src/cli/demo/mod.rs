//! `duet demo`: a local pair on loopback with certificates made on the fly,
//! its roles and event logs shown live, and commands to kill the active node,
//! ask for a switch, hang a module, or restart a stopped node. Generated
//! customers and agents (the load engine) work through it all, with a live
//! tally of what was delivered, lost (0) and doubled (0), while a person
//! works beside them in the web pages (`people.rs`), and two reporting
//! writers keep what happens (`reporting.rs`). It reads its commands
//! bounded and stops its nodes on any signal (`input.rs`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use duet_link::protocol::Role;
use duet_node::bootstrap::User;
use duet_node::events::LoggedEvent;
use duet_node::local_pair::{NodeSpec, PairSpec, free_ports, write};
use duet_node::status::NodeStatus;

mod input;
mod people;
mod reporting;

#[derive(clap::Args)]
pub struct Args {
    /// Server parameters for the pair (TOML); the fast profile by default.
    #[arg(long, value_name = "FILE")]
    params: Option<PathBuf>,
    /// Stop by itself after this many seconds instead of waiting for q or Ctrl-C.
    #[arg(long, value_name = "SECONDS")]
    seconds: Option<u64>,
    /// Generated customers chatting, emailing and asking for callbacks (0: none).
    #[arg(long, default_value_t = 4)]
    customers: usize,
    /// Generated agents working what the customers start.
    #[arg(long, default_value_t = 2)]
    agents: usize,
    /// Ask the backup to switch every this many seconds.
    #[arg(long, value_name = "SECONDS")]
    switch_every: Option<u64>,
}

const USER: &str = "demo";
const PASSWORD: &str = "demo-password";
/// The generated customers' queue, where the person's agent works too.
const LOAD_QUEUE: &str = "Load";

struct DemoNode {
    name: String,
    config: PathBuf,
    url: String,
    log: PathBuf,
    child: Option<Child>,
    last_seq: u64,
}

impl DemoNode {
    fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start a node")?;
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn status(&self, agent: &ureq::Agent) -> Option<NodeStatus> {
        agent
            .get(&format!("{}/api/status", self.url))
            .call()
            .ok()?
            .body_mut()
            .read_json()
            .ok()
    }

    fn new_events(&mut self, agent: &ureq::Agent) -> Vec<LoggedEvent> {
        let url = format!("{}/api/events?after={}", self.url, self.last_seq);
        let events: Vec<LoggedEvent> = agent
            .get(&url)
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json().ok())
            .unwrap_or_default();
        if let Some(last) = events.last() {
            self.last_seq = last.seq;
        }
        // Each node's own entries; copies from the peer show in its log.
        events.into_iter().filter(|e| e.node == self.name).collect()
    }
}

impl Drop for DemoNode {
    fn drop(&mut self) {
        self.kill();
    }
}

fn describe(name: &str, status: &Option<NodeStatus>) -> String {
    match status {
        None => format!("{name}: down"),
        Some(s) => {
            let right = &s.right_to_serve;
            let role = match s.role {
                Role::Active if right.lease_held => format!(
                    "ACTIVE [lease: {}]",
                    right.confirmed_by.map_or("held", |c| c.short())
                ),
                Role::Active => "ACTIVE [NOT SERVING: lease not confirmed]".to_string(),
                Role::Backup => "backup".to_string(),
                Role::Starting => "starting".to_string(),
                Role::Inactive => "inactive".to_string(),
            };
            let links = s
                .links()
                .map(|l| format!(", links {l}"))
                .unwrap_or_default();
            format!(
                "{name}: {role} ({}, epoch {}{links})",
                s.state.seed_name(),
                s.epoch
            )
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let params_toml = match &args.params {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => duet_params::FAST_PROFILE_TOML.to_string(),
    };
    duet_params::load_toml(&params_toml).map_err(|e| anyhow::anyhow!("parameters:\n{e}"))?;
    let dir = tempfile::Builder::new().prefix("duet-demo-").tempdir()?;
    let loopback: IpAddr = [127, 0, 0, 1].into();
    let ports: [u16; 8] = free_ports(loopback)?;
    let spec_node = |name: &str, p: &[u16]| NodeSpec {
        name: name.into(),
        address: loopback,
        arbiter_port: p[0],
        link_port: p[1],
        http_port: p[2],
        smtp_port: p[3],
        http_listen: None,
        release: None,
    };
    let spec = PairSpec {
        nodes: [spec_node("a", &ports[..4]), spec_node("b", &ports[4..])],
        params_toml,
        users: vec![User {
            name: USER.into(),
            password: PASSWORD.into(),
            remote_control: true,
            master: true,
        }],
        fault_injection: true,
        hooks: Default::default(),
        witness: None,
        // The demo's load starts every chat, and opens every socket, from
        // one address.
        limits: duet_node::limits::Limits {
            creations_burst: 1_000_000,
            creation_interval_ms: 1,
            websockets_per_source_max: 100_000,
            ..Default::default()
        },
        reporting_databases: reporting::for_nodes(dir.path()),
    };
    let configs = write(dir.path(), &spec)?;
    let mut nodes: Vec<DemoNode> = spec
        .nodes
        .iter()
        .zip(configs)
        .map(|(n, config)| DemoNode {
            name: n.name.clone(),
            config,
            url: format!("http://{}:{}", n.address, n.http_port),
            log: dir.path().join(format!("{}.log", n.name)),
            child: None,
            last_seq: 0,
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    input::stop_on_signals(stop.clone())?;
    for node in &mut nodes {
        node.start()?;
    }
    println!(
        "duet demo: a pair of nodes, a and b, on 127.0.0.1 (files in {}).",
        dir.path().display()
    );
    for n in &nodes {
        println!("  {} API: {}/api/status", n.name, n.url);
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(500)))
        .http_status_as_error(false)
        .build()
        .into();
    wait_for_serving(&nodes, &agent, &stop)?;
    let urls = [nodes[0].url.clone(), nodes[1].url.clone()];
    // Before the customers, so the databases hold their first change.
    let writers = reporting::Writers::start(dir.path(), &urls, USER, PASSWORD)?;
    // Told to stop while the nodes started: no customers to start.
    let load = if stop.load(Ordering::SeqCst) {
        None
    } else {
        start_load(&args, &nodes, &spec)?
    };
    if load.is_some() {
        people::add_person(&urls, LOAD_QUEUE, USER, PASSWORD)
            .context("cannot add your agent to the queue")?;
    }
    people::print_pages(&urls, USER, PASSWORD);
    reporting::print_commands(dir.path(), &urls);
    let commands = input::commands();
    println!("Commands (then Enter): k = kill -9 the active node, s = ask the backup to switch,");
    println!(
        "  h = hang the active node's monitored module, r = restart stopped nodes, q = quit.\n"
    );

    let started = Instant::now();
    let mut shown = String::new();
    let mut shown_tally = String::new();
    let mut last_switch = Instant::now();
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    while !stop.load(Ordering::SeqCst)
        && args
            .seconds
            .is_none_or(|s| started.elapsed() < Duration::from_secs(s))
    {
        let at = started.elapsed().as_secs_f64();
        let statuses: Vec<Option<NodeStatus>> = nodes.iter().map(|n| n.status(&agent)).collect();
        let line = format!(
            "{} | {}",
            describe("a", &statuses[0]),
            describe("b", &statuses[1])
        );
        if line != shown {
            println!("[{at:7.3} s] {line}");
            shown = line;
        }
        for node in &mut nodes {
            for e in node.new_events(&agent) {
                println!("[{at:7.3} s]     {}: {}", e.node, e.message);
            }
        }
        if let Some(load) = &load {
            let t = load.tally();
            let line = format!(
                "load: waiting {}, talking {}, messages delivered {}, lost: {}, doubled: {}",
                t.waiting, t.talking, t.messages_delivered, t.messages_lost, t.messages_doubled
            );
            if line != shown_tally && at - at.floor() < 0.2 {
                println!("[{at:7.3} s] {line}");
                shown_tally = line;
            }
        }
        let mut commands_now: Vec<String> = commands
            .try_iter()
            .take(input::COMMANDS_PER_ROUND)
            .collect();
        if args
            .switch_every
            .is_some_and(|every| last_switch.elapsed() >= Duration::from_secs(every.max(1)))
        {
            last_switch = Instant::now();
            commands_now.push("s".into());
        }
        for command in commands_now {
            let active = statuses
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.serving));
            let backup = statuses
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.role == Role::Backup));
            match (command.as_str(), active, backup) {
                ("q", _, _) => stop.store(true, Ordering::SeqCst),
                ("k", Some(i), _) => {
                    println!("[{at:7.3} s] >>> kill -9 {}", nodes[i].name);
                    nodes[i].kill();
                }
                ("h", Some(i), _) => {
                    println!(
                        "[{at:7.3} s] >>> hang the interactions module on {}",
                        nodes[i].name
                    );
                    let _ = agent
                        .post(&format!("{}/api/fault", nodes[i].url))
                        .header("authorization", &format!("Basic {credentials}"))
                        .send_json(duet_api::FaultRequest {
                            module: "interactions".into(),
                            fault: duet_api::ModuleFault::Hang,
                        });
                }
                ("s", _, Some(i)) => {
                    println!("[{at:7.3} s] >>> ask {} to switch", nodes[i].name);
                    let answer = agent
                        .post(&format!("{}/api/switch", nodes[i].url))
                        .header("authorization", &format!("Basic {credentials}"))
                        .send_json(duet_api::SwitchRequest::default());
                    if let Ok(mut r) = answer
                        && r.status().as_u16() != 202
                    {
                        println!(
                            "    refused: {}",
                            r.body_mut().read_to_string().unwrap_or_default()
                        );
                    }
                }
                ("r", _, _) => {
                    for node in nodes.iter_mut().filter(|n| n.child.is_none()) {
                        println!("[{at:7.3} s] >>> restart {}", node.name);
                        node.start()?;
                    }
                }
                ("k" | "h", None, _) => println!("    no node is active"),
                ("s", _, None) => println!("    no node is backup"),
                (other, _, _) => println!("    unknown command {other:?}: k, s, h, r or q"),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if let Some(load) = load {
        println!("Stopping the customers and draining what is in flight...");
        let report = load.stop_and_drain(Duration::from_secs(15));
        print!("{}", super::load::table(&report));
    }
    // The writers end their sessions while the nodes still answer.
    drop(writers);
    for node in &mut nodes {
        node.kill();
    }
    println!("Stopped both nodes and removed {}.", dir.path().display());
    Ok(())
}

/// How long the demo waits for one of its nodes to serve (a slow machine
/// may take a while to start two).
const SERVING_WAIT: Duration = Duration::from_secs(60);

/// Waits until a node serves, so the customers and agents start on a
/// pair that answers; a signal meanwhile stops the wait.
fn wait_for_serving(
    nodes: &[DemoNode],
    agent: &ureq::Agent,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while !nodes
        .iter()
        .any(|n| n.status(agent).is_some_and(|s| s.serving))
    {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        if started.elapsed() > SERVING_WAIT {
            anyhow::bail!(
                "no node of the pair served within {SERVING_WAIT:?}: the machine may be too \
                 busy, or a node failed to start (`duet serve --config FILE` shows why)"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Starts the generated customers and agents (the load makes its agents
/// and queue as the demo's administrator).
fn start_load(
    args: &Args,
    nodes: &[DemoNode],
    spec: &PairSpec,
) -> anyhow::Result<Option<duet_client::load::LoadHandle>> {
    if args.customers == 0 {
        return Ok(None);
    }
    let mut load = duet_client::load::LoadSpec::new([nodes[0].url.clone(), nodes[1].url.clone()]);
    load.smtp = spec
        .nodes
        .iter()
        .map(|n| format!("{}:{}", n.address, n.smtp_port))
        .collect();
    load.customers = args.customers;
    load.agents = args.agents.max(1);
    load.rate_per_customer = 1.0;
    load.admin = Some((USER.into(), PASSWORD.into()));
    load.queue = LOAD_QUEUE.into();
    let handle = duet_client::load::Load::start(load).context("cannot start the customers")?;
    println!(
        "{} customers and {} agents are at work (load-agent-1, ... in the queue {LOAD_QUEUE}).",
        args.customers,
        args.agents.max(1)
    );
    Ok(Some(handle))
}

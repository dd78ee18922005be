//! A whole pair simulated from a seed: two replica cores
//! ([`duet_replica::Replica`]) with their stores (in memory; a crash
//! loses what was not yet durable), the link between them (delays, cuts,
//! heals; in order within a connection), crashes and restarts, an active
//! node cut off that loses its lease while the other takes over, and
//! clients that retry with their client ids. Everything runs on one
//! virtual clock; the same seed replays the same run.
//!
//! What is checked, after every step: never two nodes acknowledging in
//! one epoch, never an acknowledgement from a node that is not active, a
//! feed shows each change once, in order. After the faults, once the pair
//! is healed and quiet: every acknowledged change is on both nodes once
//! (configuration values, chats, every customer message once in its
//! transcript); both states have one digest at one position; every
//! change a feed showed is in the pair's history at that very position.

mod checks;
mod clients;
mod followers;
mod node;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use duet_link::protocol::Stream;
use duet_replica::{Context, FromBackup, Input, NodeFacts, Output, Settings};

use clients::{Clients, Op};
use followers::Follower;
use node::{Conn, Node, OpId, Role};

pub use duet_replica::Mutation;

/// Why a run could not go on (not a broken rule: a broken tool).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the simulated store failed: {0}")]
    Store(String),
}

/// What a run is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Steps of faults and traffic before the pair is healed.
    pub steps: usize,
    /// A defect put into the replica on purpose (the checks must find it).
    pub mutation: Option<Mutation>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            steps: 400,
            mutation: None,
        }
    }
}

/// A run that kept every rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub seed: u64,
    pub steps: usize,
    /// Operations acknowledged, and those given up (never acknowledged).
    pub acknowledged: usize,
    pub refused: usize,
    pub crashes: usize,
    pub takeovers: usize,
    pub cuts: usize,
    /// Changes the feeds showed.
    pub shown: usize,
    /// Where the healed pair stands.
    pub position: duet_rsm::Position,
}

/// A run that broke a rule: which, at which step, and the last events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub seed: u64,
    pub step: usize,
    pub broken: String,
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {} broke a rule at step {}: {}",
            self.seed, self.step, self.broken
        )?;
        writeln!(f, "replay: duet simulate --pair --seed {}", self.seed)?;
        writeln!(f, "the run:")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// The lease of the simulated pair, ms.
const LEASE_MS: u64 = 1_000;
/// A client sends an unanswered operation again after this long.
const RETRY_MS: u64 = 1_500;
/// The pair's events (starts, crashes, takeovers, links, the nodes' log
/// records) a failure's trace keeps, and every event (messages, client
/// operations) among the last ones.
const EVENTS_MAX: usize = 500;
const LAST_MAX: usize = 40;
/// Clients following the live feeds.
const FOLLOWERS: usize = 3;
/// Steps the healed pair gets to become quiet.
const SETTLE_STEPS: usize = 20_000;

/// The link's state: connection number, messages in flight each way.
#[derive(Default)]
struct Link {
    /// Cut by a fault (it stays down until healed).
    cut: bool,
    /// The connection now, when it is up.
    conn: Option<u64>,
    last_conn: u64,
    to_active: std::collections::VecDeque<Stream>,
    to_backup: std::collections::VecDeque<Stream>,
}

struct World {
    rng: ChaCha8Rng,
    now_ms: u64,
    nodes: [Node; 2],
    link: Link,
    clients: Clients,
    followers: Vec<Follower>,
    settings: Settings,
    mutation: Option<Mutation>,
    /// The highest epoch either node has served in.
    epoch: u64,
    step: usize,
    events: std::collections::VecDeque<String>,
    last: std::collections::VecDeque<String>,
    report: Report,
}

/// Runs seed `seed`.
pub fn run(seed: u64, options: Options) -> Result<Report, Failure> {
    let mut world = World::new(seed, options).map_err(|e| Failure {
        seed,
        step: 0,
        broken: e.to_string(),
        trace: Vec::new(),
    })?;
    let outcome = world.play(options.steps);
    outcome.map_err(|broken| Failure {
        seed,
        step: world.step,
        broken,
        trace: world.trace(),
    })?;
    Ok(world.report)
}

/// Runs `count` seeds from `first`; the first failure ends the sweep.
pub fn run_seeds(first: u64, count: u64, options: Options) -> Result<Vec<Report>, Failure> {
    (first..first + count)
        .map(|seed| run(seed, options))
        .collect()
}

impl World {
    fn new(seed: u64, options: Options) -> Result<World, SimError> {
        let settings = Settings {
            scope: duet_config::scope::Scope::Full,
            ds_request_timeout_ms: 5_000,
            compress: false,
            history_retention: 100_000,
            catch_up_changes: 50,
            recovery: Default::default(),
        };
        Ok(World {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now_ms: 1_000,
            nodes: [Node::new("a", 0)?, Node::new("b", 1)?],
            link: Link::default(),
            clients: Clients::default(),
            followers: vec![Follower::default(); FOLLOWERS],
            settings,
            mutation: options.mutation,
            epoch: 0,
            step: 0,
            events: Default::default(),
            last: Default::default(),
            report: Report {
                seed,
                ..Report::default()
            },
        })
    }

    /// One of the pair's events.
    fn note(&mut self, what: String) {
        let line = format!("[{} t={}ms] {what}", self.step, self.now_ms);
        if self.events.len() == EVENTS_MAX {
            self.events.pop_front();
        }
        self.events.push_back(line.clone());
        self.detail_line(line);
    }

    /// A message or a client's operation: kept among the last events only.
    fn detail(&mut self, what: String) {
        let line = format!("[{} t={}ms] {what}", self.step, self.now_ms);
        self.detail_line(line);
    }

    fn detail_line(&mut self, line: String) {
        if self.last.len() == LAST_MAX {
            self.last.pop_front();
        }
        self.last.push_back(line);
    }

    /// What a failure shows of the run.
    fn trace(&self) -> Vec<String> {
        let mut trace: Vec<String> = self.events.iter().cloned().collect();
        trace.push(format!("... the last {LAST_MAX} events of every kind:"));
        trace.extend(self.last.iter().cloned());
        trace
    }

    fn ctx(&self, n: usize) -> Context {
        Context {
            mono_ms: self.now_ms,
            unix_ms: 1_800_000_000_000 + self.now_ms,
            serving: self.nodes[n].serving(),
            active_elsewhere: self.nodes[1 - n]
                .epoch()
                .map(|_| self.nodes[1 - n].name.to_string()),
        }
    }

    fn facts(&self, n: usize) -> NodeFacts {
        NodeFacts {
            this: self.nodes[n].name.into(),
            peer: self.nodes[1 - n].name.into(),
            lease_ms: LEASE_MS,
        }
    }

    /// The whole run: a start, the faults and traffic, the heal, the checks.
    fn play(&mut self, steps: usize) -> Result<(), String> {
        for n in 0..2 {
            self.start(n)?;
        }
        self.take_over(0)?;
        self.connect()?;
        self.configure()?;
        while self.step < steps {
            self.step += 1;
            self.random_step()?;
        }
        self.heal()?;
        checks::after_heal(self)
    }

    /// Starts node `n` from its store, as a backup.
    fn start(&mut self, n: usize) -> Result<(), String> {
        let facts = self.facts(n);
        let outputs = self.nodes[n]
            .start(facts, &self.settings)
            .map_err(|e| e.to_string())?;
        if let Some(mutation) = self.mutation
            && let Some(up) = self.nodes[n].up.as_mut()
        {
            up.replica.mutate(mutation);
        }
        self.note(format!("{} starts", self.nodes[n].name));
        self.carry_out(n, outputs)
    }

    /// Node `n` takes over in a new epoch of its parity.
    fn take_over(&mut self, n: usize) -> Result<(), String> {
        let parity = self.nodes[n].parity;
        let mut epoch = self.epoch + 1;
        if epoch % 2 != parity {
            epoch += 1;
        }
        self.epoch = epoch;
        let Some(up) = self.nodes[n].up.as_mut() else {
            return Err("a node that is down cannot take over".into());
        };
        up.role = Role::Active { epoch };
        up.lease = true;
        self.report.takeovers += 1;
        self.note(format!(
            "{} takes over in epoch {epoch}",
            self.nodes[n].name
        ));
        self.clients.target = n;
        self.input(
            n,
            Input::BecomeActive {
                epoch,
                desktops_here: Vec::new(),
            },
        )
    }

    /// The active node, if one runs.
    fn active(&self) -> Option<usize> {
        (0..2).find(|&n| self.nodes[n].epoch().is_some())
    }

    /// Brings the link up when both run, one leads and one follows, and no
    /// fault holds it down.
    fn connect(&mut self) -> Result<(), String> {
        if self.link.conn.is_some() || self.link.cut {
            return Ok(());
        }
        let Some(active) = self.active() else {
            return Ok(());
        };
        let backup = 1 - active;
        if !self.nodes[backup]
            .up
            .as_ref()
            .is_some_and(|up| up.role == Role::Backup)
        {
            return Ok(());
        }
        self.link.last_conn += 1;
        self.link.conn = Some(self.link.last_conn);
        self.note(format!("link {} up", self.link.last_conn));
        self.input(backup, Input::ActiveLinkUp)
    }

    /// The link goes down: what was in flight is lost.
    fn disconnect(&mut self) -> Result<(), String> {
        let Some(conn) = self.link.conn.take() else {
            return Ok(());
        };
        self.link.to_active.clear();
        self.link.to_backup.clear();
        self.note(format!("link {conn} down"));
        match self.active() {
            Some(active) => self.input(active, Input::FromBackup(FromBackup::Gone(conn))),
            None => Ok(()),
        }
    }

    /// The contact center the clients use: one queue.
    fn configure(&mut self) -> Result<(), String> {
        let queue = duet_config::TreePath::parse(&format!(
            "{}/{}",
            duet_replica::directory::WORKGROUPS,
            clients::QUEUE
        ))
        .map_err(|e| e.to_string())?;
        let object = duet_config::Object::new(duet_config::Class::Workgroup);
        let ctx = self.ctx(0);
        let outputs = self.nodes[0].handle(
            &ctx,
            Input::ConfigWrite {
                client: "sim-setup".into(),
                who: "sim".into(),
                op: duet_config::Op::Put {
                    path: queue,
                    object,
                },
                reply: usize::MAX,
            },
        );
        self.carry_out(0, outputs)
    }

    /// Hands node `n` an input and carries out what it decides.
    fn input(&mut self, n: usize, input: Input<Conn, OpId>) -> Result<(), String> {
        let ctx = self.ctx(n);
        let outputs = self.nodes[n].handle(&ctx, input);
        self.carry_out(n, outputs)
    }

    fn carry_out(&mut self, n: usize, outputs: Vec<Output<Conn, OpId>>) -> Result<(), String> {
        for output in outputs {
            match output {
                Output::Persist(write) => {
                    if let Some(up) = self.nodes[n].up.as_mut() {
                        up.queued.push(write);
                    }
                }
                Output::Send { to, message } => {
                    let active = self.active() == Some(n);
                    if active && self.link.conn == Some(to.0) {
                        self.link.to_backup.push_back(message);
                    }
                }
                Output::ToActive(message) => {
                    let backup = self.active() == Some(1 - n);
                    if backup && self.link.conn.is_some() {
                        self.link.to_active.push_back(message);
                    }
                }
                Output::Answer { to, result } => {
                    if to == usize::MAX {
                        continue;
                    }
                    let epoch = self.nodes[n].epoch();
                    let what = format!("{} answers op {to}: {result:?}", self.nodes[n].name);
                    if result.is_ok() {
                        self.detail(what);
                    } else {
                        self.note(what);
                    }
                    self.clients.answered(to, n, epoch, result)?;
                }
                Output::Log { message, .. } => {
                    let what = format!("{}: {message}", self.nodes[n].name);
                    self.note(what);
                }
                Output::Metric(_) | Output::Synchronised => {}
                Output::EncodeSnapshot { at, items } => {
                    if let Some(up) = self.nodes[n].up.as_mut() {
                        up.encoding.push((at, items));
                    }
                }
                Output::Publish(entry) => {
                    let generation = self.nodes[n].up.as_ref().map_or(0, |up| up.feed_generation);
                    let at = duet_rsm::Position::new(entry.epoch, entry.seq);
                    checks::shown(&self.nodes[n], generation, at)?;
                    for follower in &mut self.followers {
                        if follower.on == Some((n, generation)) {
                            follower.see(self.nodes[n].name, at)?;
                        }
                    }
                    // A takeover is the serving node's own: a heal does not
                    // carry it (the winner made its own).
                    let client =
                        (!entry.change.made_by_serving()).then(|| entry.change.client.clone());
                    self.nodes[n].published.push((generation, at, client));
                    self.report.shown += 1;
                }
                Output::FeedReset => {
                    self.nodes[n].generations += 1;
                    let generation = self.nodes[n].generations;
                    if let Some(up) = self.nodes[n].up.as_mut() {
                        up.feed_generation = generation;
                    }
                }
            }
        }
        Ok(())
    }

    /// One random event.
    fn random_step(&mut self) -> Result<(), String> {
        match self.rng.random_range(0..100) {
            0..27 => self.client_sends(),
            27..30 => self.follow(),
            30..55 => self.deliver(),
            55..70 => {
                let n = self.rng.random_range(0..2);
                self.flush(n)
            }
            70..85 => self.tick(),
            85..89 => self.encode(),
            89..92 => self.cut(),
            92..95 => {
                self.link.cut = false;
                self.connect()
            }
            95..97 => {
                let n = self.rng.random_range(0..2);
                self.crash(n)
            }
            97..99 => self.restart_one(),
            _ => self.isolate_active(),
        }
    }

    /// A client sends a new operation or one not answered.
    fn client_sends(&mut self) -> Result<(), String> {
        let due = self.clients.due(self.now_ms, RETRY_MS);
        let n = if !due.is_empty() && self.rng.random_bool(0.5) {
            due[self.rng.random_range(0..due.len())]
        } else {
            let op = match self.rng.random_range(0..3) {
                // A name of its own: each acknowledged value is checked.
                0 => Op::Put {
                    name: format!("k{}", self.clients.ops.len()),
                    value: self.rng.random_range(0..1_000),
                },
                1 => Op::Chat {
                    id: format!("chat-{}", self.clients.ops.len()),
                },
                _ => {
                    let chats = self.clients.chats();
                    if chats.is_empty() {
                        return Ok(());
                    }
                    let chat = chats[self.rng.random_range(0..chats.len())].clone();
                    Op::Say {
                        chat,
                        message_id: format!("m{}", self.clients.ops.len()),
                    }
                }
            };
            self.clients.add(op)
        };
        let target = self.clients.target;
        let unix_ms = self.ctx(target).unix_ms;
        let input = self.clients.send(n, self.now_ms, unix_ms);
        self.detail(format!(
            "op {n} ({:?}) to {}",
            self.clients.ops[n].op, self.nodes[target].name
        ));
        if self.nodes[target].up.is_none() {
            // No answer: the client tries the other node next time.
            self.clients.target = 1 - target;
            return Ok(());
        }
        self.input(target, input)
    }

    /// A client that follows no feed (its node reset it, or went down)
    /// follows one again, on the node the clients use.
    fn follow(&mut self) -> Result<(), String> {
        let target = self.clients.target;
        for i in 0..self.followers.len() {
            let on = self.followers[i].on;
            let following = on.is_some_and(|(n, generation)| {
                self.nodes[n]
                    .up
                    .as_ref()
                    .is_some_and(|up| up.feed_generation == generation)
            });
            if !following {
                self.followers[i].follow(target, &self.nodes[target])?;
                let at = self.followers[i].at;
                self.detail(format!(
                    "follower {i} follows {} from {at:?}",
                    self.nodes[target].name
                ));
                return Ok(());
            }
        }
        Ok(())
    }

    /// The next message in flight arrives (one way, picked at random).
    fn deliver(&mut self) -> Result<(), String> {
        let Some(conn) = self.link.conn else {
            return Ok(());
        };
        let Some(active) = self.active() else {
            return Ok(());
        };
        let to_active = if self.link.to_active.is_empty() {
            false
        } else if self.link.to_backup.is_empty() {
            true
        } else {
            self.rng.random_bool(0.5)
        };
        if to_active {
            let Some(message) = self.link.to_active.pop_front() else {
                return Ok(());
            };
            self.detail(format!(
                "to {}: {}",
                self.nodes[active].name,
                message.kind()
            ));
            match FromBackup::from_stream(message, Conn(conn), Some(conn)) {
                Ok(message) => self.input(active, Input::FromBackup(message)),
                Err(other) => Err(format!("the backup sent {}", other.kind())),
            }
        } else {
            let Some(message) = self.link.to_backup.pop_front() else {
                return Ok(());
            };
            let backup = 1 - active;
            self.detail(format!(
                "to {}: {}",
                self.nodes[backup].name,
                message.kind()
            ));
            self.input(backup, Input::FromActive(message))
        }
    }

    /// Node `n`'s store makes what is queued durable.
    fn flush(&mut self, n: usize) -> Result<(), String> {
        match self.nodes[n].flush().map_err(|e| e.to_string())? {
            Some(input) => self.input(n, input),
            None => Ok(()),
        }
    }

    /// Time passes: every running node ticks; the active one also looks at
    /// its lease and routes.
    fn tick(&mut self) -> Result<(), String> {
        self.now_ms += 100;
        for n in 0..2 {
            if self.nodes[n].up.is_none() {
                continue;
            }
            self.input(n, Input::Tick)?;
            if self.nodes[n].epoch().is_some() {
                self.input(n, Input::ReleaseHeld)?;
                self.input(n, Input::Route)?;
            }
        }
        Ok(())
    }

    /// A snapshot being encoded is done.
    fn encode(&mut self) -> Result<(), String> {
        for n in 0..2 {
            let Some(up) = self.nodes[n].up.as_mut() else {
                continue;
            };
            if up.encoding.is_empty() {
                continue;
            }
            let (at, items) = up.encoding.remove(0);
            let chunks = std::sync::Arc::new(duet_replica::snapshot::encode(items));
            return self.input(n, Input::SnapshotEncoded { at, chunks });
        }
        Ok(())
    }

    fn cut(&mut self) -> Result<(), String> {
        self.link.cut = true;
        self.report.cuts += 1;
        self.disconnect()
    }

    /// Node `n` dies; when it was active, the other takes over once the
    /// lease has run out.
    fn crash(&mut self, n: usize) -> Result<(), String> {
        if self.nodes[n].up.is_none() {
            return Ok(());
        }
        let was_active = self.nodes[n].epoch().is_some();
        self.disconnect()?;
        self.nodes[n].crash();
        self.report.crashes += 1;
        self.note(format!("{} crashes", self.nodes[n].name));
        if was_active && self.nodes[1 - n].up.is_some() {
            self.now_ms += LEASE_MS;
            self.take_over(1 - n)?;
        }
        Ok(())
    }

    /// A node that is down starts again; with no active node it takes over
    /// (it serves alone).
    fn restart_one(&mut self) -> Result<(), String> {
        let Some(n) = (0..2).find(|&n| self.nodes[n].up.is_none()) else {
            return Ok(());
        };
        self.start(n)?;
        if self.active().is_none() {
            self.take_over(n)?;
        }
        self.connect()
    }

    /// The active node is cut off: its lease runs out (it holds, then
    /// refuses, what it persists), and the other takes over. When they
    /// meet again, the old one stops serving.
    fn isolate_active(&mut self) -> Result<(), String> {
        let Some(active) = self.active() else {
            return Ok(());
        };
        if self.nodes[1 - active].up.is_none() {
            return Ok(());
        }
        self.cut()?;
        if let Some(up) = self.nodes[active].up.as_mut() {
            up.lease = false;
        }
        self.now_ms += LEASE_MS;
        self.note(format!("{} is cut off", self.nodes[active].name));
        // The old active steps down (as its driver does when its lease is
        // gone and the other node answers as active).
        self.step_down(active)?;
        self.take_over(1 - active)
    }

    /// Node `n` stops serving and follows.
    fn step_down(&mut self, n: usize) -> Result<(), String> {
        if let Some(up) = self.nodes[n].up.as_mut() {
            up.role = Role::Backup;
            up.lease = false;
        }
        self.note(format!("{} stops serving", self.nodes[n].name));
        self.input(n, Input::StopServing)
    }

    /// Every fault ends: both nodes run, the link is up, and the pair is
    /// given time to become quiet (no message in flight, nothing queued,
    /// the backup in sync, every operation answered).
    fn heal(&mut self) -> Result<(), String> {
        self.note("healing".into());
        for n in 0..2 {
            if self.nodes[n].up.is_none() {
                self.start(n)?;
            }
        }
        if self.active().is_none() {
            self.take_over(0)?;
        }
        self.link.cut = false;
        self.connect()?;
        for _ in 0..SETTLE_STEPS {
            if self.quiet() {
                return Ok(());
            }
            self.step += 1;
            match self.rng.random_range(0..5) {
                0 => self.client_retries()?,
                1 | 2 => self.deliver()?,
                3 => {
                    let n = self.rng.random_range(0..2);
                    self.flush(n)?
                }
                _ => {
                    self.tick()?;
                    self.encode()?;
                }
            }
        }
        Err(format!(
            "the healed pair did not become quiet in {SETTLE_STEPS} steps"
        ))
    }

    /// While healing: clients send what was not answered, nothing new.
    fn client_retries(&mut self) -> Result<(), String> {
        let due = self.clients.due(self.now_ms, RETRY_MS);
        let Some(&n) = due.first() else {
            return Ok(());
        };
        let target = self.active().unwrap_or(self.clients.target);
        self.clients.target = target;
        let unix_ms = self.ctx(target).unix_ms;
        let input = self.clients.send(n, self.now_ms, unix_ms);
        self.input(target, input)
    }

    fn quiet(&self) -> bool {
        let Some(active) = self.active() else {
            return false;
        };
        let running = |n: usize| self.nodes[n].up.as_ref();
        let (Some(a), Some(b)) = (running(active), running(1 - active)) else {
            return false;
        };
        self.link.conn.is_some()
            && self.link.to_active.is_empty()
            && self.link.to_backup.is_empty()
            && a.queued.is_empty()
            && b.queued.is_empty()
            && a.encoding.is_empty()
            && a.replica.replication() == duet_stream::Replication::InSync
            && a.replica.held() == 0
            && a.replica.position() == b.replica.position()
            && self.clients.due(u64::MAX, 0).is_empty()
    }
}

//! The simulated pair: its nodes, the link, the clients, the virtual
//! clock, and what carries out the nodes' outputs.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use duet_link::protocol::{MAX_FRAME_BYTES, StreamToActive, StreamToBackup};
use duet_replica::{Context, FromBackup, Input, NodeFacts, Output, Settings};

use super::clients::{self, Clients};
use super::followers::Follower;
use super::network::CutOff;
use super::node::{Conn, Node, OpId, Role};
use super::right::{Right, RightMutation};
use super::witness::Witness;
use super::{Mutation, Options, Report, SimError, checks};

/// The lease of the simulated pair, ms.
pub(super) const LEASE_MS: u64 = 1_000;
/// A client sends an unanswered operation again after this long.
pub(super) const RETRY_MS: u64 = 1_500;
/// The pair's events (starts, crashes, takeovers, links, the nodes' log
/// records) a failure's trace keeps, and every event (messages, client
/// operations) among the last ones.
pub(super) const EVENTS_MAX: usize = 500;
pub(super) const LAST_MAX: usize = 40;
/// Clients following the live feeds.
pub(super) const FOLLOWERS: usize = 3;
/// Steps the healed pair gets to become quiet.
pub(super) const SETTLE_STEPS: usize = 20_000;
/// The simulated contact center's keep of content nobody refers to
/// (`unreferenced_chunk_keep_s`; an hour by default).
const UNREFERENCED_CHUNK_KEEP_S: u64 = 2;

/// The link's state: connection number, messages in flight each way.
#[derive(Default)]
pub(super) struct Link {
    /// Cut by a fault (it stays down until healed).
    pub(super) cut: bool,
    /// The connection now, when it is up.
    pub(super) conn: Option<u64>,
    pub(super) last_conn: u64,
    pub(super) to_active: std::collections::VecDeque<StreamToActive>,
    pub(super) to_backup: std::collections::VecDeque<StreamToBackup>,
    /// The backup caught up on this connection: from then on its history
    /// is a prefix of the active node's, checked as far as this number.
    pub(super) prefix_checked: Option<u64>,
}

pub(super) struct World {
    pub(super) rng: ChaCha8Rng,
    pub(super) now_ms: u64,
    pub(super) nodes: [Node; 2],
    pub(super) link: Link,
    /// A node cut off from its peer (role queries go unanswered both
    /// ways), and from its gateway until that comes back.
    pub(super) cut_off: Option<CutOff>,
    pub(super) clients: Clients,
    pub(super) followers: Vec<Follower>,
    pub(super) settings: Settings,
    pub(super) mutation: Option<Mutation>,
    pub(super) right_mutation: Option<RightMutation>,
    pub(super) large_messages: bool,
    /// Disks are replaced.
    pub(super) replaced_disks: bool,
    /// Nodes pause and stores stall.
    pub(super) stalls: bool,
    /// The etcd witness and its key, when the pair has one.
    pub(super) witness: Option<Witness>,
    /// The active node's components fail now and then.
    pub(super) component_failures: bool,
    /// The highest epoch either node has served in.
    pub(super) epoch: u64,
    pub(super) step: usize,
    pub(super) events: std::collections::VecDeque<String>,
    pub(super) last: std::collections::VecDeque<String>,
    pub(super) report: Report,
}

impl World {
    pub(super) fn new(seed: u64, options: Options) -> Result<World, SimError> {
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
            // Each store's history id its own: the first two, then one per
            // replaced disk.
            nodes: [Node::new("a", 0, 1)?, Node::new("b", 1, 2)?],
            link: Link::default(),
            cut_off: None,
            clients: Clients::default(),
            followers: vec![Follower::default(); FOLLOWERS],
            settings,
            mutation: options.mutation,
            right_mutation: options.right_mutation,
            large_messages: options.large_messages,
            replaced_disks: options.replaced_disks,
            stalls: options.stalls,
            witness: options.witness.then(Witness::default),
            component_failures: options.component_failures,
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
    pub(super) fn note(&mut self, what: String) {
        let line = format!("[{} t={}ms] {what}", self.step, self.now_ms);
        if self.events.len() == EVENTS_MAX {
            self.events.pop_front();
        }
        self.events.push_back(line.clone());
        self.detail_line(line);
    }

    /// A message or a client's operation: kept among the last events only.
    pub(super) fn detail(&mut self, what: String) {
        let line = format!("[{} t={}ms] {what}", self.step, self.now_ms);
        self.detail_line(line);
    }

    pub(super) fn detail_line(&mut self, line: String) {
        if self.last.len() == LAST_MAX {
            self.last.pop_front();
        }
        self.last.push_back(line);
    }

    /// What a failure shows of the run.
    pub(super) fn trace(&self) -> Vec<String> {
        let mut trace: Vec<String> = self.events.iter().cloned().collect();
        trace.push(format!("... the last {LAST_MAX} events of every kind:"));
        trace.extend(self.last.iter().cloned());
        trace
    }

    pub(super) fn ctx(&self, n: usize) -> Context {
        Context {
            mono_ms: self.now_ms,
            unix_ms: 1_800_000_000_000 + self.now_ms,
            serving: self.nodes[n].serving(self.now_ms),
            active_elsewhere: self.nodes[1 - n]
                .epoch()
                .map(|_| self.nodes[1 - n].name.to_string()),
        }
    }

    pub(super) fn facts(&self, n: usize) -> NodeFacts {
        NodeFacts {
            this: self.nodes[n].name.into(),
            peer: self.nodes[1 - n].name.into(),
            lease_ms: LEASE_MS,
        }
    }

    /// The whole run: a start, the faults and traffic, the heal, the checks.
    pub(super) fn play(&mut self, steps: usize) -> Result<(), String> {
        for n in 0..2 {
            self.start(n)?;
        }
        self.take_over(0)?;
        self.connect()?;
        self.configure()?;
        while self.step < steps {
            self.step += 1;
            self.random_step()?;
            checks::backup_prefix(self)?;
        }
        self.heal()?;
        checks::after_heal(self)?;
        if self.replaced_disks {
            self.replace_a_disk(steps / 4)?;
            checks::after_heal(self)?;
        }
        Ok(())
    }

    /// Starts node `n` from its store, as a backup.
    pub(super) fn start(&mut self, n: usize) -> Result<(), String> {
        let facts = self.facts(n);
        let right = Right::new(self.now_ms, self.witness.is_some(), self.right_mutation);
        let outputs = self.nodes[n]
            .start(facts, &self.settings, right)
            .map_err(|e| e.to_string())?;
        if let Some(mutation) = self.mutation
            && let Some(up) = self.nodes[n].up.as_mut()
        {
            up.replica.mutate(mutation);
        }
        self.note(format!("{} starts", self.nodes[n].name));
        self.carry_out(n, outputs)
    }

    /// Node `n` takes over in a new epoch of its parity: the next after
    /// the highest served (with disks replaced, after the highest it knows
    /// of, as a node's driver does: a node with a new disk knows none).
    pub(super) fn take_over(&mut self, n: usize) -> Result<(), String> {
        let parity = self.nodes[n].parity;
        let seen = match (&self.nodes[n].up, self.replaced_disks) {
            (Some(up), true) => up.max_seen.max(self.nodes[n].epoch_file),
            _ => self.epoch,
        };
        let mut epoch = seen + 1;
        if epoch % 2 != parity {
            epoch += 1;
        }
        self.epoch = self.epoch.max(epoch);
        self.nodes[n].epoch_file = epoch;
        let Some(up) = self.nodes[n].up.as_mut() else {
            return Err("a node that is down cannot take over".into());
        };
        up.role = Role::Active { epoch };
        // The prefix is the new active node's from when the backup
        // catches up with it.
        self.link.prefix_checked = None;
        // Whatever led here (the gate, role discovery) is the evidence its
        // first lease may rest on; a decided takeover is done.
        up.right.activated();
        self.report.takeovers += 1;
        up.takeover = self.report.takeovers;
        self.note(format!(
            "{} takes over in epoch {epoch}",
            self.nodes[n].name
        ));
        self.saw_epoch(n, epoch);
        self.clients.target = n;
        self.input(
            n,
            Input::BecomeActive {
                epoch,
                desktops_here: Vec::new(),
            },
        )?;
        // Its lease comes from the peer's answer, or its own network.
        self.ask_peer(n);
        Ok(())
    }

    /// The active node, if one runs.
    /// (A node cut off keeps its role, without its lease, until it meets
    /// the node that took over: the one of the newer epoch is active.)
    pub(super) fn active(&self) -> Option<usize> {
        (0..2)
            .filter(|&n| self.nodes[n].epoch().is_some())
            .max_by_key(|&n| self.nodes[n].epoch())
    }

    /// Brings the link up when both run, one leads and one follows, and no
    /// fault holds it down (a paused node answers no connection).
    pub(super) fn connect(&mut self) -> Result<(), String> {
        if self.link.conn.is_some()
            || self.link.cut
            || self.cut_off.is_some()
            || self.nodes.iter().any(Node::paused)
        {
            return Ok(());
        }
        let Some(active) = self.active() else {
            return Ok(());
        };
        let backup = 1 - active;
        if self.newer_history_wins(active)? {
            return self.connect();
        }
        // A node cut off while it served meets the one that took over:
        // it stops serving (its driver's fencing) and follows.
        if self.nodes[backup].epoch().is_some() {
            self.step_down(backup)?;
        }
        let active_epoch = self.nodes[active].epoch().unwrap_or(0);
        self.saw_epoch(backup, active_epoch);
        if !self.nodes[backup]
            .up
            .as_ref()
            .is_some_and(|up| up.role == Role::Backup)
        {
            return Ok(());
        }
        if let Some(right) = self.right(backup) {
            right.joined();
        }
        self.link.last_conn += 1;
        self.link.conn = Some(self.link.last_conn);
        self.link.prefix_checked = None;
        self.note(format!("link {} up", self.link.last_conn));
        self.input(backup, Input::ActiveLinkUp)
    }

    /// `message` would not fit in a frame: its envelope adds a version,
    /// the node's name, an epoch and a release, well under
    /// `ENVELOPE_BYTES_MAX`.
    fn too_large(message: &impl serde::Serialize) -> bool {
        const ENVELOPE_BYTES_MAX: usize = 256;
        postcard::to_allocvec(message).map_or(true, |bytes| {
            bytes.len() + ENVELOPE_BYTES_MAX > MAX_FRAME_BYTES
        })
    }

    /// Node `n` built a `kind` message larger than a frame: its link's
    /// writer refuses it and closes the connection (the node runtime's
    /// rule), and it comes back up as after any other drop.
    fn oversize(&mut self, n: usize, kind: &str) -> Result<(), String> {
        self.report.oversize += 1;
        self.note(format!(
            "{} built a {kind} message larger than a frame; the link closes",
            self.nodes[n].name,
        ));
        self.disconnect()
    }

    /// The link goes down: what was in flight is lost.
    pub(super) fn disconnect(&mut self) -> Result<(), String> {
        let Some(conn) = self.link.conn.take() else {
            return Ok(());
        };
        self.link.prefix_checked = None;
        self.link.to_active.clear();
        self.link.to_backup.clear();
        self.note(format!("link {conn} down"));
        match self.active() {
            Some(active) => self.input(active, Input::FromBackup(FromBackup::Gone(conn))),
            None => Ok(()),
        }
    }

    /// The contact center the clients use: one agent, one queue she
    /// works in; content nobody refers to is let go after
    /// `UNREFERENCED_CHUNK_KEEP_S`, so a seed sees it go (a node whose
    /// disk was replaced holds the default until a heal brings this).
    pub(super) fn configure(&mut self) -> Result<(), String> {
        use duet_config::{Class, Object, Op, TreePath};
        use duet_replica::directory::{SETTINGS, USERS, WORKGROUPS};
        let path = |folder: &str, name: &str| {
            TreePath::parse(&format!("{folder}/{name}")).map_err(|e| e.to_string())
        };
        let agent = Object::new(Class::User)
            .with("roles", "agent")
            .with("capacity", "chat:3");
        let queue = Object::new(Class::Workgroup).with("members", clients::AGENT);
        let settings = Object::new(Class::Folder).with(
            "unreferenced_chunk_keep_s",
            &UNREFERENCED_CHUNK_KEEP_S.to_string(),
        );
        let puts = [
            (path(USERS, clients::AGENT)?, agent),
            (path(WORKGROUPS, clients::QUEUE)?, queue),
            (
                TreePath::parse(SETTINGS).map_err(|e| e.to_string())?,
                settings,
            ),
        ];
        for (n, (path, object)) in puts.into_iter().enumerate() {
            let ctx = self.ctx(0);
            let outputs = self.nodes[0].handle(
                &ctx,
                Input::ConfigWrite {
                    client: format!("sim-setup-{n}"),
                    who: "sim".into(),
                    op: Op::Put { path, object },
                    reply: usize::MAX,
                },
            );
            self.carry_out(0, outputs)?;
        }
        Ok(())
    }

    /// Hands node `n` an input and carries out what it decides. A paused
    /// node handles it when it resumes.
    pub(super) fn input(&mut self, n: usize, input: Input<Conn, OpId>) -> Result<(), String> {
        if let Some(pause) = self.nodes[n].up.as_mut().and_then(|up| up.pause.as_mut()) {
            pause.inbox.push(input);
            return Ok(());
        }
        let ctx = self.ctx(n);
        let outputs = self.nodes[n].handle(&ctx, input);
        self.carry_out(n, outputs)
    }

    pub(super) fn carry_out(
        &mut self,
        n: usize,
        outputs: Vec<Output<Conn, OpId>>,
    ) -> Result<(), String> {
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
                        if Self::too_large(&message) {
                            self.oversize(n, message.kind())?;
                        } else {
                            self.link.to_backup.push_back(message);
                        }
                    }
                }
                Output::ToActive(message) => {
                    let backup = self.active() == Some(1 - n);
                    if backup && self.link.conn.is_some() {
                        if Self::too_large(&message) {
                            self.oversize(n, message.kind())?;
                        } else {
                            self.link.to_active.push_back(message);
                        }
                    }
                }
                Output::Answer { to, result } => {
                    if to == usize::MAX {
                        continue;
                    }
                    let epoch = self.nodes[n].epoch();
                    if let Ok(seq) = result {
                        checks::acknowledged(&self.nodes, n, seq)
                            .map_err(|e| format!("op {to}: {e}"))?;
                    }
                    let what = format!("{} answers op {to}: {result:?}", self.nodes[n].name);
                    if result.is_ok() {
                        self.detail(what);
                    } else {
                        self.note(what);
                    }
                    self.clients.answered(to, n, epoch, result)?;
                }
                Output::Event(event) => {
                    if matches!(event, duet_replica::Event::StoreFailing { .. }) {
                        self.report.store_failures += 1;
                    }
                    let what = format!("{}: {event}", self.nodes[n].name);
                    self.note(what);
                }
                Output::Metric(_) => {}
                Output::Synchronised => {
                    self.report.caught_up += 1;
                    if self.link.conn.is_some() && self.link.prefix_checked.is_none() {
                        self.link.prefix_checked = Some(0);
                    }
                    if let Some(right) = self.right(n) {
                        right.guard.synchronised();
                    }
                }
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
                            follower.see(&self.nodes[n], at)?;
                        }
                    }
                    // A takeover is the serving node's own, and a routing
                    // decision the winner refuses is passed over (it
                    // routed the interaction itself): a heal carries
                    // neither.
                    let carried = !entry.change.made_by_serving()
                        && entry.change.actor != duet_interactions::Actor::Router;
                    let client = carried.then(|| entry.change.client.clone());
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
}

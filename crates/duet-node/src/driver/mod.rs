//! The driver: the one task that owns the switchover engine. It feeds the
//! engine events from the link, the probes, the peer watch and the API, and
//! carries out its commands. Becoming active persists a new epoch before
//! anything is served; learning of a newer epoch stops service at once.

use crate::answer::Answer as _;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use duet_link::protocol::{Role, SwitchoverToActive, ToActive};
use duet_switchover::{
    Activation, Command, Conn, Engine, Event, Record, State, SwitchReason, SwitchRefusal, Topic,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::driver_inbox::DriverMsg;
use crate::epoch::{EpochStore, next_epoch};
use crate::events::unix_ms;
use crate::hooks::{self, HookEvent};
use crate::link;
use crate::probe::EchoProber;
use crate::replication::{ReplicationMsg, Settings};
use crate::shared::Shared;
use crate::status::{NodeStatus, PeerView};

mod links;
mod safety;
mod startup;

pub use safety::{ask_peer, renew};

use safety::Safety;

pub struct Driver {
    shared: Arc<Shared>,
    inbox: mpsc::Receiver<DriverMsg>,
    engine: Engine,
    epochs: EpochStore,
    epoch: u64,
    max_seen: u64,
    /// Holds the active role: its epoch is persisted and it leads the
    /// stream. It serves while its lease is valid too.
    holding: bool,
    safety: Safety,
    links: BTreeMap<Conn, crate::wire::Outbox<ToActive>>,
    link_tasks: BTreeMap<Conn, JoinHandle<()>>,
    prober: Arc<dyn EchoProber>,
    switch_reply: Option<oneshot::Sender<Result<(), SwitchRefusal>>>,
    switchovers: u64,
    peer: PeerView,
    mismatch_reported: bool,
    /// The server parameters in the tree, as replication publishes them.
    tree_parameters: watch::Receiver<Vec<(String, String)>>,
    /// The settings last sent to replication.
    replication_settings: Option<Settings>,
    /// Server parameters from the bootstrap's file, and as the node started.
    params_file: Vec<(String, String)>,
    params_at_start: Vec<(String, String)>,
    params_warnings: Vec<String>,
    /// While starting as backup: when start-up ends without a complete
    /// initial synchronisation.
    startup_deadline: Option<Instant>,
    /// While starting as backup: when start-up fails if the mirrored
    /// directories are not all copied (the seed's maximum start-up time).
    startup_mirror_deadline: Option<Instant>,
    /// Starting as backup: the first mirror pass is part of start-up.
    startup_mirror_wanted: bool,
    /// Why start-up failed; the node then stops.
    startup_failure: Option<String>,
    /// The backup's mirror of the active node's directories, and its
    /// health checks of the active node's file monitor.
    mirror: Vec<JoinHandle<()>>,
}

/// What woke the driver's loop.
enum Woke {
    Msg(DriverMsg),
    EngineTick,
    TakeoverTick,
    LeaseTick,
    Parameters,
    Replication,
    StartupTick,
}

/// A backup that could not complete its start-up; the node stops.
#[derive(Debug, thiserror::Error)]
#[error("start-up failed: {0}")]
pub struct StartupFailed(pub String);

/// The bootstrap file's parameters with the tree's on top (same parameter,
/// whatever the spelling: the tree's value wins).
pub fn merge_parameters(
    file: &[(String, String)],
    tree: &[(String, String)],
) -> Vec<(String, String)> {
    let same = |a: &str, b: &str| match (duet_params::find(a), duet_params::find(b)) {
        (Some(x), Some(y)) => x.name == y.name,
        _ => a == b,
    };
    file.iter()
        .filter(|(name, _)| !tree.iter().any(|(t, _)| same(name, t)))
        .chain(tree)
        .cloned()
        .collect()
}

impl Driver {
    pub fn new(
        shared: Arc<Shared>,
        inbox: mpsc::Receiver<DriverMsg>,
        engine: Engine,
        epochs: EpochStore,
        epoch: u64,
        prober: Arc<dyn EchoProber>,
        tree_parameters: watch::Receiver<Vec<(String, String)>>,
    ) -> Driver {
        let peer = PeerView {
            name: shared.boot.peer().name.clone(),
            ..PeerView::default()
        };
        let gateways = crate::probe::gateways()
            .iter()
            .map(ToString::to_string)
            .collect();
        let safety = Safety::new(engine.params(), shared.boot.server_id(), gateways);
        let applied_epoch = shared.view.replication().applied.epoch;
        Driver {
            shared,
            inbox,
            engine,
            epochs,
            epoch,
            // The stored changes name the newest epoch this node has seen
            // served (a backup stores none of its own): serving again must
            // come after it, or its changes would be refused as old.
            max_seen: epoch.max(applied_epoch),
            holding: false,
            safety,
            links: BTreeMap::new(),
            link_tasks: BTreeMap::new(),
            prober,
            switch_reply: None,
            switchovers: 0,
            peer,
            mismatch_reported: false,
            tree_parameters,
            replication_settings: None,
            params_file: Vec::new(),
            params_at_start: Vec::new(),
            params_warnings: Vec::new(),
            startup_deadline: None,
            startup_mirror_deadline: None,
            startup_mirror_wanted: false,
            startup_failure: None,
            mirror: Vec::new(),
        }
    }

    /// What this node keeps of the active's configuration: less in an
    /// Upgrade state (the seed's Appendix C).
    fn replication_scope(&self) -> duet_config::scope::Scope {
        use duet_config::scope::Scope;
        match self.engine.state() {
            State::UpgradeHigher => Scope::upgrade_higher(self.engine.params()),
            State::UpgradeLower => Scope::upgrade_lower(self.engine.params()),
            _ => Scope::Full,
        }
    }

    pub fn with_parameters(
        mut self,
        file: Vec<(String, String)>,
        at_start: Vec<(String, String)>,
    ) -> Driver {
        self.params_file = file;
        self.params_at_start = at_start;
        self
    }

    /// The etcd witness task this driver tells when to hold the key; the
    /// right to serve then counts on it.
    pub fn with_witness(mut self, witness: crate::witness::WitnessHandle) -> Driver {
        self.safety.use_witness(witness, self.engine.params());
        self
    }

    /// When the tree's server parameters changed, they take effect:
    /// dynamic ones at once, the others when the node restarts.
    fn refresh_parameters(&mut self) {
        let tree = self.tree_parameters.borrow_and_update().clone();
        let current = merge_parameters(&self.params_file, &tree);
        match duet_params::effective_after_change(&self.params_at_start, &current) {
            Ok(loaded) => {
                if loaded.warnings != self.params_warnings {
                    for warning in &loaded.warnings {
                        self.note(format!("Server parameters: {warning}"));
                    }
                    self.params_warnings = loaded.warnings.clone();
                }
                if loaded.params != *self.engine.params() {
                    self.apply(Event::ParamsChanged(Box::new(loaded.params)));
                    self.refresh_mirror_setup();
                }
            }
            Err(e) => self.note(format!(
                "Server parameters in the configuration tree are invalid: {e}"
            )),
        }
    }

    /// Tells replication what it should keep and how, when that changed.
    fn send_replication_settings(&mut self) {
        let params = self.engine.params();
        let settings = Settings::from_params(params, self.replication_scope());
        if self.replication_settings.as_ref() != Some(&settings) {
            self.replication_settings = Some(settings.clone());
            self.shared
                .replication
                .offer(ReplicationMsg::Settings(settings));
        }
    }

    fn now_ms(&self) -> u64 {
        self.shared.view.right().now_ms()
    }

    /// The moment `at_ms` on the node's clock, for timers.
    fn instant_at(&self, at_ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(at_ms.saturating_sub(self.now_ms()))
    }

    /// Finds this node's role, then runs until `stop` resolves.
    pub async fn run(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), StartupFailed> {
        tokio::pin!(stop);
        let mode = tokio::select! {
            mode = self.discover_role() => mode,
            _ = &mut stop => {
                self.shutdown().await;
                return Ok(());
            }
        };
        self.apply(Event::Start(mode));
        let mut startup_ticks = tokio::time::interval(Duration::from_millis(100));
        let mut replication_view = self.shared.view.subscribe_replication();
        let mut lease_ticks =
            tokio::time::interval(Duration::from_millis(self.safety.lease.renew_every_ms()));
        lease_ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.engine.next_deadline().map(|ms| self.instant_at(ms));
            let takeover = self
                .safety
                .gate
                .deadline_ms(&self.safety.gate_promise)
                .map(|ms| self.instant_at(ms));
            let woke = tokio::select! {
                biased;
                _ = &mut stop => break,
                msg = self.inbox.recv() => match msg {
                    Some(msg) => Woke::Msg(msg),
                    None => break,
                },
                _ = sleep_until(deadline) => Woke::EngineTick,
                _ = sleep_until(takeover) => Woke::TakeoverTick,
                _ = lease_ticks.tick() => Woke::LeaseTick,
                Ok(()) = self.tree_parameters.changed() => Woke::Parameters,
                Ok(()) = replication_view.changed() => Woke::Replication,
                _ = startup_ticks.tick() => Woke::StartupTick,
            };
            // Before anything is decided on it: a long gap since the last
            // wake-up is a stall the peer may have taken for a silence.
            self.woke();
            match woke {
                Woke::Msg(msg) => {
                    self.on_msg(msg);
                    self.publish();
                }
                Woke::EngineTick => self.apply(Event::Tick),
                Woke::TakeoverTick => self.takeover_tick(),
                Woke::LeaseTick => self.lease_tick(),
                Woke::Parameters => {
                    self.refresh_parameters();
                    self.publish();
                }
                Woke::Replication => self.publish(),
                Woke::StartupTick => {
                    if self.startup_deadline.is_some_and(|d| Instant::now() >= d) {
                        self.startup_done("the initial synchronisation did not complete within Switchover DS Request Timeout; continuing");
                    }
                    if self
                        .startup_mirror_deadline
                        .is_some_and(|d| Instant::now() >= d)
                    {
                        self.startup_mirror_overdue();
                    }
                }
            }
            if self.startup_failure.is_some() {
                break;
            }
        }
        let failure = self.startup_failure.take();
        self.shutdown().await;
        match failure {
            Some(why) => Err(StartupFailed(why)),
            None => Ok(()),
        }
    }

    /// Stops, giving the Discontinue hooks a bounded time to finish.
    async fn shutdown(mut self) {
        self.apply(Event::Shutdown);
        self.safety.gate.cancel();
        if self.holding {
            let hooks = self.stop_serving("this node is shutting down");
            let _ = tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(hooks))
                .await;
        }
    }

    fn on_msg(&mut self, msg: DriverMsg) {
        match msg {
            DriverMsg::Engine(event) => {
                if let Event::NotifierReply { id } = event {
                    self.shared.metrics.pong(id, self.now_ms());
                }
                if let Event::ConnectionDown(conn) = event {
                    self.drop_link(conn);
                    if conn == Conn::Main {
                        self.startup_without_active("the main link is down");
                    }
                }
                self.apply(event);
            }
            DriverMsg::LinkUp {
                conn,
                tx,
                active_epoch,
            } => {
                self.saw_epoch(active_epoch);
                // Only the active node welcomes a link connection.
                self.peer.reachable = true;
                self.peer.role = Some(Role::Active);
                self.peer.epoch = Some(active_epoch);
                let tx_main = tx.clone();
                self.links.insert(conn, tx);
                self.apply(Event::ConnectionUp(conn));
                if self.engine.state() == State::Primary {
                    self.drop_all_links();
                } else if conn == Conn::Main {
                    self.send_replication_settings();
                    self.shared
                        .replication
                        .offer(ReplicationMsg::ActiveLinkUp(tx_main));
                    self.start_mirror();
                }
            }
            DriverMsg::EpochSeen(epoch) => self.epoch_seen(epoch),
            DriverMsg::Peer { sent_ms, answer } => self.peer_answered(sent_ms, answer),
            DriverMsg::OwnNetwork { asked_ms, ok } => {
                let commands = self.safety.lease.own_network(asked_ms, ok);
                self.lease_commands(commands);
            }
            DriverMsg::ParamsRead(reply) => {
                reply.answer(Box::new(self.engine.params().clone()));
            }
            DriverMsg::Synchronised => {
                self.safety.guard.synchronised();
                self.startup_done("the initial synchronisation is complete")
            }
            DriverMsg::MirrorFirstPass { missing } => self.mirror_first_pass(missing),
            // integrated by the right to serve
            DriverMsg::Witness(report) => self.witness_said(report),
            DriverMsg::Switch { force, reply } => {
                self.switch_reply = Some(reply);
                self.apply(Event::SwitchRequest { force });
                if let Some(reply) = self.switch_reply.take() {
                    reply.answer(Ok(()));
                }
            }
        }
    }

    /// Every rise of the newest epoch seen is a switchover somewhere in
    /// the pair; the guard counts them for damping.
    fn saw_epoch(&mut self, epoch: u64) {
        if epoch > self.max_seen {
            self.max_seen = epoch;
            let now = self.now_ms();
            self.safety.guard.switchover_seen(now);
        }
    }

    fn epoch_seen(&mut self, epoch: u64) {
        self.saw_epoch(epoch);
        if self.holding && epoch > self.epoch {
            self.apply(Event::NewerEpochSeen { epoch });
        }
    }

    fn apply(&mut self, event: Event) {
        let commands = self.engine.handle(self.now_ms(), event);
        for command in commands {
            self.carry_out(command);
        }
        // Copies from an active node that is gone cannot come; one whose
        // module failed still sends them, and the switch waits for them.
        if matches!(
            self.engine.status().pending_switch,
            Some(SwitchReason::LossOfConnectionToNotifier | SwitchReason::PrimaryUnreachable)
        ) {
            self.startup_without_active("the active node is lost");
        }
        self.publish();
    }

    fn carry_out(&mut self, command: Command) {
        match command {
            Command::Connect(conn) => {
                self.drop_link(conn);
                let dscp = (conn == Conn::Aux)
                    .then(|| self.engine.params().qos_dscp_for_ping())
                    .flatten();
                let task = tokio::spawn(link::connect(self.shared.clone(), conn, dscp));
                self.link_tasks.insert(conn, task);
            }
            Command::SendNotifierPing { conn, id } => {
                self.shared.metrics.ping_sent(id, self.now_ms());
                self.send(conn, SwitchoverToActive::NotifierPing { id })
            }
            Command::SendModulePing { conn, id, .. } => {
                self.send(conn, SwitchoverToActive::ModulePing { id })
            }
            Command::SendEcho { address, id } => {
                let timeout = Duration::from_millis(self.engine.params().net_test_timeout.ms());
                let prober = self.prober.clone();
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    let Some(ip) = tokio::time::timeout(timeout, resolve(&address))
                        .await
                        .ok()
                        .flatten()
                    else {
                        tracing::warn!("cannot resolve {address} for an echo check");
                        return;
                    };
                    if prober.echo(ip, timeout).await {
                        shared
                            .driver
                            .send(DriverMsg::Engine(Event::EchoReply { id }));
                    }
                });
            }
            Command::Synchronize => {
                // Start-up ends when the active node says this backup has
                // every change, or after the DS Request Timeout at the latest,
                // and once the mirrored directories are copied.
                self.safety.guard.starting_as_backup();
                let params = self.engine.params();
                let limit = Duration::from_millis(params.ds_request_timeout_ms);
                self.startup_deadline = Some(Instant::now() + limit);
                // The mirror's share of start-up is timed from the main
                // link's coming up (there is nothing to copy before).
                self.startup_mirror_wanted = self.engine.status().starting;
            }
            Command::BecomePrimary(activation) => self.activate_when_safe(activation),
            // A takeover abandoned before it served has nothing to stop.
            Command::StopServing if self.holding => {
                // A node that served steps down for its peer (a newer
                // epoch there: its takeover notice on the link, or a role
                // query, whose answer replaces this at once), so the peer
                // serves or is about to: a refusal from now on names it,
                // as the desktops' `moved` does.
                self.peer.role = Some(Role::Active);
                self.peer.epoch = Some(self.max_seen);
                self.stop_serving("a newer epoch is active elsewhere");
            }
            Command::StopServing => {}
            Command::RefuseSwitch(why) => {
                if let Some(reply) = self.switch_reply.take() {
                    reply.answer(Err(why));
                }
            }
            Command::Record(record) => self.record(record),
        }
    }

    fn record(&self, record: Record) {
        let at = unix_ms();
        let logged = self
            .shared
            .events
            .append(&self.shared.boot.this, at, &record);
        tracing::info!(topic = ?logged.topic, "{}", logged.message);
        // The seed: the backup also writes the event log on the active
        // server while it can reach it.
        if let Some(tx) = self.links.get(&Conn::Main) {
            tx.send(link::event_copy(&self.shared, record));
        }
    }

    fn note(&self, message: String) {
        self.record(Record {
            topic: Topic::Switchover,
            level: duet_switchover::Level::Info,
            message,
        });
    }

    fn become_active(&mut self, activation: Activation) {
        // An active node does not wait for a copy from anyone.
        self.startup_mirror_deadline = None;
        self.startup_mirror_wanted = false;
        let server = self.shared.boot.server_id();
        // With a witness, the key's create revision (etcd's, rising with
        // every new holder) fences the epoch too: a node whose epoch file
        // was lost still serves after every holder before it.
        let floor = self
            .epoch
            .max(self.max_seen)
            .max(self.safety.witness_revision);
        let Some(epoch) = next_epoch(floor, server) else {
            self.note("The epochs are exhausted: not serving; remove the epoch files of both nodes to start over".into());
            return;
        };
        if let Err(e) = self.epochs.store(epoch) {
            self.record(Record {
                topic: Topic::Switchover,
                level: duet_switchover::Level::Error,
                message: format!(
                    "Cannot persist epoch {epoch} ({e}): not serving, as a node must not serve an epoch it could forget; check the data directory"
                ),
            });
            return;
        }
        self.epoch = epoch;
        self.saw_epoch(epoch);
        self.holding = true;
        self.safety.lease.activated();
        if matches!(activation, Activation::Switchover(_)) {
            self.switchovers += 1;
        }
        self.publish();
        // Tell the former active over any link still open, then close it.
        for tx in self.links.values() {
            tx.send(self.shared.view.envelope(SwitchoverToActive::Takeover));
        }
        self.drop_all_links();
        self.shared.supervisor.start();
        self.shared
            .replication
            .offer(ReplicationMsg::BecomeActive { epoch });
        self.note(format!("Serving as the active node in epoch {epoch}"));
        hooks::fire(&self.shared.boot, HookEvent::Commence, epoch);
    }

    /// Stops serving at once; returns the Discontinue hooks under way.
    fn stop_serving(&mut self, why: &str) -> Vec<JoinHandle<()>> {
        self.holding = false;
        self.shared.view.right().promise_after_serving();
        self.publish();
        self.shared.supervisor.stop();
        self.shared.replication.offer(ReplicationMsg::StopServing);
        self.note(format!("Stopped serving: {why}"));
        hooks::fire(&self.shared.boot, HookEvent::Discontinue, self.epoch)
    }

    fn publish(&mut self) {
        self.send_replication_settings();
        let replication = self.shared.view.replication().clone();
        let engine = self.engine.status();
        let label = self.engine.params().monitored_module.ping_label();
        let role = match engine.state {
            State::Init => Role::Starting,
            State::Primary if self.holding => Role::Active,
            // About to serve: a peer starting up waits, as for a node
            // still finding its role.
            State::Primary if self.safety.gate.waiting() => Role::Starting,
            State::Primary | State::Inactive | State::Shutdown => Role::Inactive,
            _ => Role::Backup,
        };
        let boot = &self.shared.boot;
        let status = NodeStatus {
            node: boot.this.clone(),
            server: format!("{:?}", boot.server_id()),
            role,
            state: engine.state,
            serving: self.holding && self.safety.lease.valid(self.now_ms()),
            // A backup shows the epoch of the active it follows.
            epoch: if self.holding {
                self.epoch
            } else {
                self.epoch.max(self.max_seen)
            },
            release: boot.release(),
            manual_switch_only: boot.manual_switch_only,
            automatic: engine.automatic,
            main_link_up: engine.main_up,
            aux_link_up: engine.aux_up,
            file_replication_running: engine.file_replication_running,
            last_switch_reason: engine.last_switch_reason.map(|r| r.describe(label)),
            switchovers: self.switchovers,
            peer: self.peer.clone(),
            replication: replication.state,
            config_applied: replication.applied,
            config_digest: format!("{:032x}", replication.config_digest),
            longest_stall_ms: replication.longest_stall_ms,
            right_to_serve: self.right_view(&replication),
        };
        // The API reads the lease at answer time; a node that does not hold
        // the role has none. Promises resume once it neither serves nor
        // waits to take over.
        let until_ms = if self.holding {
            self.safety.lease.until_ms()
        } else {
            0
        };
        self.shared.view.right().set_lease_until(until_ms);
        if !self.holding && !self.safety.gate.waiting() {
            self.shared.view.right().resume_promising();
        }
        self.safety
            .want_witness(self.holding || self.safety.gate.waiting());
        self.shared.view.publish(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn resolve(address: &str) -> Option<IpAddr> {
    if let Ok(ip) = address.parse() {
        return Some(ip);
    }
    tokio::net::lookup_host((address, 0))
        .await
        .ok()?
        .next()
        .map(|a| a.ip())
}

//! The switchover state machine (seed: "The Switchover State Machine", "State
//! Machine Events and Handling"). Pure: `handle(now, event) -> commands`;
//! the caller asks `next_deadline()` when to send the next `Event::Tick`.

use duet_params::{ServerId, ServerParams, StartupModes};
use duet_rsm::Position;
use serde::{Deserialize, Serialize};

mod monitoring;
mod reconnect;
mod switching;

use crate::ctx::{Ctx, Links, Pending, earliest};
use crate::diagnosis::{Diagnosis, EchoProbe, EchoTargets, Origin};
use crate::io::{
    Activation, Command, Conn, Event, Level, Release, RequestId, ServiceMode, SwitchReason, Topic,
};
use crate::module_monitor::{ModuleMonitor, RestartTracker};
use crate::primary_monitor::{NotifierPinger, module_monitor_max_silence_ms};

/// The switchover states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema), schema(as = SwitchoverState))]
pub enum State {
    Init,
    Primary,
    Backup,
    Reconnecting,
    UpgradeHigher,
    UpgradeLower,
    Inactive,
    Stopping,
    Error,
    Shutdown,
}

impl State {
    /// The name used in the seed's logs (`StatePrimary`, ...).
    pub fn seed_name(self) -> &'static str {
        match self {
            State::Init => "StateInit",
            State::Primary => "StatePrimary",
            State::Backup => "StateBackup",
            State::Reconnecting => "StateReconnecting",
            State::UpgradeHigher => "StateUpgradeHigher",
            State::UpgradeLower => "StateUpgradeLower",
            State::Inactive => "StateInactive",
            State::Stopping => "StateStopping",
            State::Error => "StateError",
            State::Shutdown => "StateShutdown",
        }
    }

    /// States in which this node watches an active peer over the link.
    fn watches_peer(self) -> bool {
        matches!(
            self,
            State::Backup
                | State::Reconnecting
                | State::UpgradeHigher
                | State::UpgradeLower
                | State::Stopping
                | State::Error
        )
    }
}

/// What the engine needs to know about its node.
#[derive(Debug, Clone)]
pub struct Config {
    pub this: ServerId,
    pub release: Release,
    pub modes: StartupModes,
    /// The backup's gateways, found from its routes at start-up.
    pub gateways: Vec<String>,
    /// The address of the peer's server, for ICMP checks.
    pub peer_address: Option<String>,
}

/// A snapshot for status displays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub state: State,
    pub automatic: bool,
    pub main_up: bool,
    pub aux_up: bool,
    pub starting: bool,
    pub file_replication_running: bool,
    pub pending_switch: Option<SwitchReason>,
    pub last_switch_reason: Option<SwitchReason>,
}

/// Why the backup is reconnecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    NetworkDown,
    NotifierDown,
    PrimaryUnreachable { own_network_good: bool },
}

/// Reconnecting: probe the primary over whatever connection is up, and
/// switch when the reconnect timer expires (or earlier, as the seed lists).
#[derive(Debug, Clone)]
struct Reconnect {
    cause: Cause,
    timer_ms: Option<u64>,
    probe: Option<Probe>,
    next_probe_ms: Option<u64>,
    module_failures: u32,
    attempts: u32,
    unreachable: Option<UnreachableWatch>,
}

impl Reconnect {
    /// A probe whose answers are all in (or timed out) is followed by the
    /// next one a reconnect delay later.
    fn settle(&mut self, now_ms: u64, delay_ms: u64) {
        if self
            .probe
            .as_ref()
            .is_some_and(|p| p.notifier.is_none() && p.module.is_none())
        {
            self.probe = None;
            self.next_probe_ms = Some(now_ms + delay_ms);
        }
    }
}

/// A notifier ping and a module ping sent together while reconnecting.
#[derive(Debug, Clone)]
struct Probe {
    notifier: Option<Pending>,
    notifier_answered: bool,
    module: Option<Pending>,
}

/// Ping sets to an unreachable primary (`Unreachable Primary Ping Count`/`Delay`).
#[derive(Debug, Clone)]
struct UnreachableWatch {
    /// `None` for -1: never switch because of it.
    limit: Option<u32>,
    failed_sets: u32,
    next_set_ms: Option<u64>,
    probe: Option<EchoProbe>,
}

/// The Error state after a WAN failure: the NetTest address is tried again
/// until it answers, then monitoring resumes by itself.
#[derive(Debug, Clone)]
struct WanRetest {
    next_ms: Option<u64>,
    probe: Option<EchoProbe>,
}

pub struct Engine {
    config: Config,
    params: ServerParams,
    targets: EchoTargets,
    next_id: RequestId,
    pub(crate) machine: Machine,
}

pub(crate) struct Machine {
    state: State,
    links: Links,
    connect_at_ms: Option<u64>,
    pub(crate) module: ModuleMonitor,
    notifier: NotifierPinger,
    restarts: RestartTracker,
    diagnosis: Option<Diagnosis>,
    reconnect: Option<Reconnect>,
    wan: Option<WanRetest>,
    starting: bool,
    pending_switch: Option<SwitchReason>,
    file_replication_running: bool,
    last_switch_reason: Option<SwitchReason>,
    /// An active server has been seen since start-up (for /ForceBackup,
    /// which waits for one before it may switch).
    seen_active: bool,
    release: Release,
    modes: StartupModes,
}

impl Engine {
    pub fn new(config: Config, params: ServerParams) -> Engine {
        let targets = targets_for(&config, &params);
        let machine = Machine {
            state: State::Init,
            links: Links::default(),
            connect_at_ms: None,
            module: ModuleMonitor::default(),
            notifier: NotifierPinger::default(),
            restarts: RestartTracker::default(),
            diagnosis: None,
            reconnect: None,
            wan: None,
            starting: false,
            pending_switch: None,
            file_replication_running: true,
            last_switch_reason: None,
            seen_active: false,
            release: config.release.clone(),
            modes: config.modes,
        };
        Engine {
            config,
            params,
            targets,
            next_id: 0,
            machine,
        }
    }

    pub fn state(&self) -> State {
        self.machine.state
    }

    pub fn params(&self) -> &ServerParams {
        &self.params
    }

    pub fn status(&self) -> Status {
        let m = &self.machine;
        Status {
            state: m.state,
            automatic: !m.modes.manual_switch_only
                && !matches!(m.state, State::UpgradeHigher | State::UpgradeLower),
            main_up: m.links.main_up,
            aux_up: m.links.aux_up,
            starting: m.starting,
            file_replication_running: m.file_replication_running,
            pending_switch: m.pending_switch,
            last_switch_reason: m.last_switch_reason,
        }
    }

    /// When the engine next needs an `Event::Tick`.
    pub fn next_deadline(&self) -> Option<u64> {
        self.machine.next_deadline(&self.params)
    }

    /// Handles one event at `now_ms` and returns what to do.
    pub fn handle(&mut self, now_ms: u64, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        if let Event::ParamsChanged(params) = &event {
            self.params = (**params).clone();
            self.targets = targets_for(&self.config, &self.params);
        }
        let mut cx = Ctx {
            now_ms,
            params: &self.params,
            targets: &self.targets,
            out: &mut out,
            next_id: &mut self.next_id,
        };
        self.machine.on_event(&mut cx, event);
        out
    }
}

fn targets_for(config: &Config, params: &ServerParams) -> EchoTargets {
    EchoTargets {
        gateways: config.gateways.clone(),
        net_test: params.net_test_address(config.this).map(str::to_string),
        primary: config.peer_address.clone(),
    }
}

impl Machine {
    fn next_deadline(&self, params: &ServerParams) -> Option<u64> {
        let reconnect = self.reconnect.as_ref().and_then(|r| {
            earliest([
                r.timer_ms,
                r.next_probe_ms,
                r.probe.as_ref().and_then(|p| {
                    earliest([
                        p.notifier.map(|n| n.deadline_ms),
                        p.module.map(|m| m.deadline_ms),
                    ])
                }),
                r.unreachable.as_ref().and_then(|u| {
                    earliest([
                        u.next_set_ms,
                        u.probe.as_ref().and_then(EchoProbe::deadline),
                    ])
                }),
            ])
        });
        let wan = self
            .wan
            .as_ref()
            .and_then(|w| earliest([w.next_ms, w.probe.as_ref().and_then(EchoProbe::deadline)]));
        let watchdog = self
            .monitoring()
            .then(|| self.module.last_event_ms() + module_monitor_max_silence_ms(params));
        earliest([
            self.connect_at_ms,
            self.module.next_deadline(),
            self.notifier.next_deadline(),
            self.diagnosis.as_ref().and_then(Diagnosis::next_deadline),
            reconnect,
            wan,
            watchdog,
        ])
    }

    /// The primary and module monitors should be running.
    fn monitoring(&self) -> bool {
        self.state == State::Backup && self.diagnosis.is_none()
    }

    fn on_event(&mut self, cx: &mut Ctx, event: Event) {
        match event {
            Event::Start(mode) => self.start(cx, mode),
            Event::StartupComplete => {
                self.starting = false;
                if let Some(reason) = self.pending_switch.take() {
                    cx.record(
                        Topic::SwitchoverStates,
                        Level::Info,
                        "Start-up complete; carrying out the scheduled switchover",
                    );
                    self.switch(cx, reason);
                }
            }
            Event::Tick => self.tick(cx),
            Event::ConnectionUp(conn) => self.connection_up(cx, conn),
            Event::ConnectionDown(conn) => self.connection_down(cx, conn),
            Event::ConnectFailed(conn) => {
                if self.state.watches_peer() && !self.links.up(conn) {
                    self.schedule_connect(cx);
                }
            }
            Event::NotifierReply { id } => self.notifier_answer(cx, id, true),
            Event::NotifierRejected { id } => self.notifier_answer(cx, id, false),
            Event::ModuleReply { id, incarnation } => self.module_reply(cx, id, incarnation),
            Event::ModuleRejected { id } => self.module_failed(cx, id, true),
            Event::EchoReply { id } => self.echo_reply(cx, id),
            Event::SwitchRequest { force } => self.switch_request(cx, force),
            Event::FileReplication { running } => {
                if running != self.file_replication_running {
                    cx.record(
                        Topic::Switchover,
                        if running { Level::Info } else { Level::Warning },
                        if running {
                            "File replication from the primary is running again"
                        } else {
                            "The backup server has detected that file replication from the primary has stopped"
                        },
                    );
                }
                self.file_replication_running = running;
            }
            Event::ParamsChanged(_) => cx.record(
                Topic::Switchover,
                Level::Info,
                "Server parameters changed; dynamic parameters take effect now",
            ),
            Event::NewerEpochSeen { epoch } => self.step_down(
                cx,
                Level::Error,
                format!("Another node serves with newer epoch {epoch}: stopping service at once"),
                "a newer epoch exists",
            ),
            Event::PeerHistoryNewer {
                peer_history:
                    Position {
                        epoch: peer_epoch,
                        seq: peer_seq,
                    },
                own_history:
                    Position {
                        epoch: own_epoch,
                        seq: own_seq,
                    },
            } => self.step_down(
                cx,
                Level::Warning,
                format!(
                    "The peer holds a newer history (change {peer_seq} of epoch {peer_epoch}) than this node (change {own_seq} of epoch {own_epoch}): stopping service so that it serves, and rejoining as its backup with this node's changes healed into it"
                ),
                "the peer holds a newer history",
            ),
            Event::TakeoverHeldBack { why } => self.step_down(
                cx,
                Level::Warning,
                format!("The switchover is not carried out: {why}"),
                "the takeover is held back",
            ),
            Event::TakeoverAbandoned { epoch } => self.step_down(
                cx,
                Level::Warning,
                format!(
                    "The active node still serves epoch {epoch} and holds the witness's key: the switchover is abandoned"
                ),
                "the active node kept the witness",
            ),
            Event::Shutdown => {
                self.stop_watching();
                self.set_state(cx, State::Shutdown, "shutdown requested");
            }
        }
    }

    /// Out of Primary, to Inactive (from where the node rejoins or starts
    /// again): stop serving first, and say why.
    fn step_down(&mut self, cx: &mut Ctx, level: Level, message: String, why: &str) {
        if self.state == State::Primary {
            cx.record(Topic::SwitchoverStates, level, message);
            cx.send(Command::StopServing);
            self.set_state(cx, State::Inactive, why);
        }
    }

    fn set_state(&mut self, cx: &mut Ctx, to: State, why: &str) {
        if self.state != to {
            cx.record(
                Topic::SwitchoverStates,
                Level::Info,
                format!("{} -> {}: {why}", self.state.seed_name(), to.seed_name()),
            );
            self.state = to;
        }
    }

    // --- Init ---------------------------------------------------------------

    fn start(&mut self, cx: &mut Ctx, mode: ServiceMode) {
        if !matches!(self.state, State::Init | State::Inactive) {
            return;
        }
        let rejoining = self.state == State::Inactive;
        match mode {
            ServiceMode::PeerUnreachable if self.modes.force_backup => {
                cx.record(
                    Topic::Switchover,
                    Level::Warning,
                    "The peer cannot be reached; /ForceBackup: starting as backup and waiting for an active server",
                );
                self.enter_watching(cx, State::Backup, "forced into backup mode");
            }
            ServiceMode::PeerUnreachable => {
                cx.record(
                    Topic::Switchover,
                    Level::Warning,
                    "Could not reach the switchover service on the peer: starting as the active server (fail-safe)",
                );
                self.set_state(cx, State::Primary, "the peer cannot be reached");
                cx.send(Command::BecomePrimary(Activation::FailSafeStart));
            }
            ServiceMode::ChosenActive if self.modes.force_backup => {
                cx.record(
                    Topic::Switchover,
                    Level::Warning,
                    "/ForceBackup: not becoming active; starting as backup and waiting for an active server",
                );
                self.enter_watching(cx, State::Backup, "forced into backup mode");
            }
            ServiceMode::ChosenActive => {
                self.set_state(cx, State::Primary, "chosen as the active server");
                cx.send(Command::BecomePrimary(Activation::Chosen));
            }
            ServiceMode::PeerActive { release } => {
                if rejoining {
                    cx.record(
                        Topic::Switchover,
                        Level::Info,
                        "The active server is reachable: rejoining the pair as backup",
                    );
                }
                self.seen_active = true;
                let local = self.release.clone();
                let (state, why) = match local.cmp(&release) {
                    std::cmp::Ordering::Equal => (State::Backup, "the peer is active".to_string()),
                    std::cmp::Ordering::Greater => (
                        State::UpgradeHigher,
                        format!("backup release {local} is newer than primary release {release}"),
                    ),
                    std::cmp::Ordering::Less => (
                        State::UpgradeLower,
                        format!("backup release {local} is older than primary release {release}"),
                    ),
                };
                if state != State::Backup {
                    cx.record(
                        Topic::Switchover,
                        Level::Warning,
                        format!("Backup and primary are different versions ({why}): backup server is running in Manual Switch Only mode"),
                    );
                } else if self.modes.manual_switch_only {
                    cx.record(
                        Topic::Switchover,
                        Level::Info,
                        "Backup server is running in Manual Switch Only mode (/ManualSwitchOnly)",
                    );
                }
                self.enter_watching(cx, state, &why);
            }
        }
    }

    /// Enters Backup or an Upgrade state: open both connections, synchronise,
    /// and (in Backup) start the monitors once the connections had time.
    fn enter_watching(&mut self, cx: &mut Ctx, state: State, why: &str) {
        self.set_state(cx, state, why);
        self.starting = true;
        self.links = Links::default();
        // Incarnations count from the first answer of this active server.
        self.restarts = RestartTracker::default();
        cx.send(Command::Connect(Conn::Main));
        cx.send(Command::Connect(Conn::Aux));
        cx.send(Command::Synchronize);
        self.connect_at_ms = Some(cx.now_ms + cx.params.notifier_reconnect_delay.ms());
        if state == State::Backup {
            let grace = cx.params.notifier_reconnect_delay.ms();
            self.notifier.start(cx, grace);
            self.module.start(cx, grace);
        }
    }

    // --- Connections --------------------------------------------------------

    fn schedule_connect(&mut self, cx: &Ctx) {
        if self.connect_at_ms.is_none() {
            self.connect_at_ms = Some(cx.now_ms + cx.params.notifier_reconnect_delay.ms());
        }
    }

    fn connection_up(&mut self, cx: &mut Ctx, conn: Conn) {
        if !self.state.watches_peer() {
            return;
        }
        self.links.set(conn, true);
        self.seen_active = true;
        cx.record(
            Topic::Switchover,
            Level::Info,
            format!("The {} connection to the primary is up", conn.name()),
        );
        match self.state {
            State::Reconnecting => self.start_probe(cx),
            State::Error => {
                // The link itself works again: the WAN is back.
                self.wan = None;
                cx.record(
                    Topic::PrimaryMonitor,
                    Level::Info,
                    "A link connection to the primary is up again: resuming monitoring",
                );
                self.enter_reconnecting(cx, Cause::NotifierDown);
            }
            _ => {}
        }
    }

    fn connection_down(&mut self, cx: &mut Ctx, conn: Conn) {
        if !self.state.watches_peer() || !self.links.up(conn) {
            return;
        }
        self.links.set(conn, false);
        cx.record(
            Topic::Switchover,
            Level::Warning,
            format!("Lost notifier connection ({})", conn.name()),
        );
        self.schedule_connect(cx);
        if let Some(signal) = self.module.connection_lost(cx, conn) {
            self.module_signal(cx, signal);
        }
        let main_up = self.links.main_up;
        if let Some(signal) = self.notifier.connection_lost(cx, conn, main_up) {
            self.notifier_signal(cx, signal);
        }
        if self.monitoring() && !self.links.any_up() {
            self.diagnose(cx, Origin::ConnectionsLost);
        }
    }

    // --- Ticks --------------------------------------------------------------

    fn tick(&mut self, cx: &mut Ctx) {
        let now = cx.now_ms;
        if self.connect_at_ms.is_some_and(|t| t <= now) {
            self.connect_at_ms = None;
            if self.state.watches_peer() {
                for conn in [Conn::Main, Conn::Aux] {
                    if !self.links.up(conn) {
                        cx.send(Command::Connect(conn));
                    }
                }
                if !(self.links.main_up && self.links.aux_up) {
                    self.schedule_connect(cx);
                }
                if self.state == State::Reconnecting {
                    self.count_reconnect_attempt(cx);
                }
            }
        }
        let links = self.links;
        if let Some(signal) = self.notifier.tick(cx, links) {
            self.notifier_signal(cx, signal);
        }
        if let Some(signal) = self.module.tick(cx, links) {
            self.module_signal(cx, signal);
        }
        if let Some(diagnosis) = self.diagnosis.as_mut()
            && let Some(verdict) = diagnosis.tick(cx, links)
        {
            self.verdict(cx, verdict);
        }
        self.reconnect_tick(cx);
        self.wan_tick(cx);
        self.watchdog(cx);
    }

    /// The primary monitor's check that the module monitor still reports.
    fn watchdog(&mut self, cx: &mut Ctx) {
        if !self.monitoring() {
            return;
        }
        let silence = cx.now_ms.saturating_sub(self.module.last_event_ms());
        let max = module_monitor_max_silence_ms(cx.params);
        if silence >= max {
            cx.record(
                Topic::PrimaryMonitor,
                Level::Warning,
                format!("The module monitor has not reported for {silence} ms (maximum {max} ms); restarting it"),
            );
            self.module.start(cx, 0);
        }
    }

    // --- Primary monitor and module monitor (Backup) --------------------------

    // --- Reconnecting -------------------------------------------------------

    // --- Error (WAN failure) ------------------------------------------------

    // --- Switching ----------------------------------------------------------

    fn stop_monitors(&mut self) {
        self.module.stop();
        self.notifier.stop();
        self.diagnosis = None;
    }

    fn stop_watching(&mut self) {
        self.stop_monitors();
        self.reconnect = None;
        self.wan = None;
        self.connect_at_ms = None;
    }
}

fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        (ms / 1000).to_string()
    } else {
        format!("{:.3}", ms as f64 / 1000.0)
    }
}

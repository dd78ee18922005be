//! Runs the real engine against the simulated world on a virtual clock.
//! Everything is ordered by (time, sequence), so a run is a pure function
//! of its inputs and replays exactly.

use std::collections::BTreeMap;

use duet_params::{ServerId, ServerParams, StartupModes};
use duet_switchover::{
    Activation, Command, Config, Conn, Engine, Event, Level, Record, Release, ServiceMode,
    SwitchReason, Topic,
};
use serde::Serialize;

use crate::world::{Fault, GATEWAY_ADDRESS, ModuleHealth, PRIMARY_ADDRESS, World};

/// How long a connection attempt into silence takes to fail.
pub const CONNECT_TIMEOUT_MS: u64 = 3_000;
/// How long an established connection survives a silent network before the
/// socket reports failure (a TCP user timeout).
pub const SILENT_BREAK_MS: u64 = 20_000;
/// How long the backup's start-up (initial synchronisation) takes.
pub const STARTUP_MS: u64 = 1_000;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub params: ServerParams,
    pub modes: StartupModes,
    pub backup_release: String,
    pub primary_release: String,
    /// Whether the backup found a gateway in its routes.
    pub knows_gateway: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            params: ServerParams::default(),
            modes: StartupModes::default(),
            backup_release: "2026.1.0".into(),
            primary_release: "2026.1.0".into(),
            knows_gateway: true,
        }
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub at_ms: u64,
    /// `None` for a change made to the world by the simulation.
    pub topic: Option<Topic>,
    pub level: Level,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub at_ms: u64,
    pub reason: SwitchReason,
}

#[derive(Debug, Clone)]
enum Due {
    Engine(Event),
    Fault(Fault),
    /// A silent network has outlasted the socket's patience.
    SilentBreak {
        conn: Conn,
        generation: u64,
    },
    /// A connection attempt's answer: up if the notifier takes it then.
    ConnectResult(Conn),
}

pub struct Sim {
    engine: Engine,
    pub world: World,
    now_ms: u64,
    seq: u64,
    due: BTreeMap<(u64, u64), Due>,
    established: [bool; 2],
    silent_generation: [u64; 2],
    startup_scheduled: bool,
    pub log: Vec<Entry>,
    pub switch: Option<Switch>,
    module_name: &'static str,
}

fn slot(conn: Conn) -> usize {
    match conn {
        Conn::Main => 0,
        Conn::Aux => 1,
    }
}

impl Sim {
    /// A backup started at t = 0 against an active peer.
    pub fn new(config: SimConfig) -> Sim {
        let module_name = config.params.monitored_module.seed_name();
        let engine = Engine::new(
            Config {
                this: ServerId::B,
                release: Release(config.backup_release.clone()),
                modes: config.modes,
                gateways: if config.knows_gateway {
                    vec![GATEWAY_ADDRESS.to_string()]
                } else {
                    Vec::new()
                },
                peer_address: Some(PRIMARY_ADDRESS.to_string()),
            },
            config.params,
        );
        let mut sim = Sim {
            engine,
            world: World::default(),
            now_ms: 0,
            seq: 0,
            due: BTreeMap::new(),
            established: [false; 2],
            silent_generation: [0; 2],
            startup_scheduled: false,
            log: Vec::new(),
            switch: None,
            module_name,
        };
        sim.deliver(Event::Start(ServiceMode::PeerActive {
            release: Release(config.primary_release),
        }));
        sim
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn schedule_fault(&mut self, at_ms: u64, fault: Fault) {
        self.push(at_ms, Due::Fault(fault));
    }

    /// Sends an event to the engine at `at_ms` (e.g. a switch request).
    pub fn schedule_event(&mut self, at_ms: u64, event: Event) {
        self.push(at_ms, Due::Engine(event));
    }

    fn push(&mut self, at_ms: u64, due: Due) {
        self.seq += 1;
        self.due.insert((at_ms, self.seq), due);
    }

    /// Runs until `end_ms` or the switch, calling `check` after every step;
    /// stops at the first error it returns.
    pub fn run_until(
        &mut self,
        end_ms: u64,
        mut check: impl FnMut(&Sim) -> Result<(), String>,
    ) -> Result<(), String> {
        while self.switch.is_none() {
            let next_due = self.due.keys().next().map(|k| k.0);
            let next_tick = self.engine.next_deadline();
            let at = match (next_due, next_tick) {
                (None, None) => break,
                (a, b) => a.into_iter().chain(b).min().unwrap_or(end_ms),
            };
            if at > end_ms {
                break;
            }
            self.now_ms = self.now_ms.max(at);
            // Deliveries first, so a run does not depend on a tie's order.
            if next_due == Some(at) {
                let key = *self.due.keys().next().expect("a due item");
                let due = self.due.remove(&key).expect("a due item");
                self.handle_due(due);
            } else {
                self.deliver(Event::Tick);
            }
            check(self)?;
        }
        self.now_ms = self
            .now_ms
            .max(end_ms.min(self.switch.map_or(end_ms, |s| s.at_ms)));
        Ok(())
    }

    fn handle_due(&mut self, due: Due) {
        match due {
            Due::Engine(event) => self.deliver(event),
            Due::Fault(fault) => self.apply_fault(fault),
            Due::SilentBreak { conn, generation } => {
                if generation == self.silent_generation[slot(conn)]
                    && self.established[slot(conn)]
                    && !self.world.notifier_reachable()
                {
                    self.established[slot(conn)] = false;
                    self.deliver(Event::ConnectionDown(conn));
                }
            }
            Due::ConnectResult(conn) => {
                if self.world.notifier_reachable() && !self.world.blocked(conn) {
                    self.established[slot(conn)] = true;
                    self.deliver(Event::ConnectionUp(conn));
                } else {
                    self.deliver(Event::ConnectFailed(conn));
                }
            }
        }
    }

    fn apply_fault(&mut self, fault: Fault) {
        self.log.push(Entry {
            at_ms: self.now_ms,
            topic: None,
            level: Level::Warning,
            message: fault.describe(self.module_name),
        });
        self.world.apply(fault);
        let rtt = 2 * self.world.latency_ms;
        for conn in [Conn::Main, Conn::Aux] {
            let i = slot(conn);
            if !self.established[i] {
                continue;
            }
            let reset =
                self.world.host_reachable() && (!self.world.process_up || self.world.blocked(conn));
            if reset {
                self.established[i] = false;
                self.push(self.now_ms + rtt, Due::Engine(Event::ConnectionDown(conn)));
            } else if !self.world.notifier_reachable() {
                self.silent_generation[i] += 1;
                let generation = self.silent_generation[i];
                self.push(
                    self.now_ms + SILENT_BREAK_MS,
                    Due::SilentBreak { conn, generation },
                );
            } else {
                // The network healed before the socket gave up.
                self.silent_generation[i] += 1;
            }
        }
    }

    fn deliver(&mut self, event: Event) {
        let commands = self.engine.handle(self.now_ms, event);
        for command in commands {
            self.carry_out(command);
        }
    }

    fn carry_out(&mut self, command: Command) {
        let rtt = 2 * self.world.latency_ms;
        let reply_at = self.now_ms + rtt;
        match command {
            Command::Connect(conn) => {
                if self.world.host_reachable() {
                    self.push(reply_at, Due::ConnectResult(conn));
                } else {
                    self.push(
                        self.now_ms + CONNECT_TIMEOUT_MS,
                        Due::Engine(Event::ConnectFailed(conn)),
                    );
                }
            }
            Command::SendNotifierPing { conn, id } => {
                if self.established[slot(conn)] && self.world.notifier_reachable() {
                    self.push(reply_at, Due::Engine(Event::NotifierReply { id }));
                }
            }
            Command::SendModulePing { conn, id, .. } => {
                if self.established[slot(conn)] && self.world.notifier_reachable() {
                    let answer = match self.world.module {
                        ModuleHealth::Up => Some(Event::ModuleReply {
                            id,
                            incarnation: self.world.incarnation,
                        }),
                        ModuleHealth::Dead => Some(Event::ModuleRejected { id }),
                        ModuleHealth::Hung => None,
                    };
                    if let Some(event) = answer {
                        self.push(reply_at, Due::Engine(event));
                    }
                }
            }
            Command::SendEcho { address, id } => {
                if self.world.echo_answered(&address) {
                    self.push(reply_at, Due::Engine(Event::EchoReply { id }));
                }
            }
            Command::Synchronize => {
                if !self.startup_scheduled {
                    self.startup_scheduled = true;
                    self.push(
                        self.now_ms + STARTUP_MS,
                        Due::Engine(Event::StartupComplete),
                    );
                }
            }
            Command::BecomePrimary(Activation::Switchover(reason)) => {
                self.switch = Some(Switch {
                    at_ms: self.now_ms,
                    reason,
                });
            }
            Command::BecomePrimary(_) | Command::StopServing => {}
            Command::RefuseSwitch(why) => self.log.push(Entry {
                at_ms: self.now_ms,
                topic: Some(Topic::Switchover),
                level: Level::Warning,
                message: format!("switch refused: {why}"),
            }),
            Command::Record(Record {
                topic,
                level,
                message,
            }) => self.log.push(Entry {
                at_ms: self.now_ms,
                topic: Some(topic),
                level,
                message,
            }),
        }
    }
}

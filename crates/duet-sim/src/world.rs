//! The simulated world as the backup sees it: the active node (its host,
//! its process with the notifier, the monitored module and its
//! incarnation), the path between the nodes, the two link connections, the
//! backup's own network, its gateway and the NetTest host.

use serde::Serialize;

/// How the monitored module behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ModuleHealth {
    Up,
    /// Alive but never answers (pings time out).
    Hung,
    /// Gone while the notifier runs: the notifier rejects its pings.
    Dead,
}

/// One change made to the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Fault {
    /// The active node's process dies: its sockets are reset, the host
    /// still answers ICMP.
    ProcessCrash,
    /// The process starts again (new incarnation).
    ProcessRestart,
    /// The active node's host vanishes: nothing answers, no reset arrives.
    HostVanish,
    HostReturn,
    /// The network between the nodes drops everything silently.
    PathCut,
    PathRepair,
    ModuleHang,
    ModuleDie,
    /// The module comes back (after a hang: same incarnation; after dying: a
    /// new one).
    ModuleRecover,
    /// The module restarts once: a new incarnation, answering again after
    /// a short gap.
    ModuleRestart,
    /// One connection alone is broken: reset, and reconnecting is refused.
    ConnBlock(duet_switchover::Conn),
    ConnUnblock(duet_switchover::Conn),
    /// The backup's own network goes down (everything silent).
    BackupNetDown,
    BackupNetUp,
    GatewayDown,
    GatewayUp,
    NetTestDown,
    NetTestUp,
    /// Replies take this long each way.
    Latency(u64),
}

impl Fault {
    pub fn describe(&self, module: &str) -> String {
        match self {
            Fault::ProcessCrash => {
                "the active node's process crashes (its sockets are reset)".into()
            }
            Fault::ProcessRestart => "the active node's process starts again".into(),
            Fault::HostVanish => "the active node's host vanishes (no reset, no ICMP)".into(),
            Fault::HostReturn => "the active node's host returns".into(),
            Fault::PathCut => "the network between the nodes is cut".into(),
            Fault::PathRepair => "the network between the nodes is repaired".into(),
            Fault::ModuleHang => format!("the {module} module hangs (its pings time out)"),
            Fault::ModuleDie => {
                format!("the {module} module stops (the notifier rejects its pings)")
            }
            Fault::ModuleRecover => format!("the {module} module recovers"),
            Fault::ModuleRestart => format!("the {module} module restarts"),
            Fault::ConnBlock(c) => {
                format!("the {} connection breaks and cannot be reopened", c.name())
            }
            Fault::ConnUnblock(c) => format!("the {} connection can be reopened", c.name()),
            Fault::BackupNetDown => "the backup's own network goes down".into(),
            Fault::BackupNetUp => "the backup's own network comes back".into(),
            Fault::GatewayDown => "the backup's gateway stops answering".into(),
            Fault::GatewayUp => "the backup's gateway answers again".into(),
            Fault::NetTestDown => "the NetTest host stops answering".into(),
            Fault::NetTestUp => "the NetTest host answers again".into(),
            Fault::Latency(ms) => format!("one-way latency becomes {ms} ms"),
        }
    }
}

/// The addresses of the simulated hosts.
pub const GATEWAY_ADDRESS: &str = "192.0.2.1";
pub const PRIMARY_ADDRESS: &str = "192.0.2.10";
pub const NET_TEST_ADDRESS: &str = "198.51.100.7";

#[derive(Debug, Clone, Serialize)]
pub struct World {
    pub host_up: bool,
    pub process_up: bool,
    pub module: ModuleHealth,
    pub incarnation: u64,
    pub path_up: bool,
    pub main_blocked: bool,
    pub aux_blocked: bool,
    pub backup_net_up: bool,
    pub gateway_up: bool,
    pub net_test_up: bool,
    pub latency_ms: u64,
}

impl Default for World {
    fn default() -> Self {
        World {
            host_up: true,
            process_up: true,
            module: ModuleHealth::Up,
            incarnation: 1000,
            path_up: true,
            main_blocked: false,
            aux_blocked: false,
            backup_net_up: true,
            gateway_up: true,
            net_test_up: true,
            latency_ms: 1,
        }
    }
}

impl World {
    /// Packets reach the active node's host from the backup.
    pub fn host_reachable(&self) -> bool {
        self.backup_net_up && self.path_up && self.host_up
    }

    /// The notifier can take a connection or a ping.
    pub fn notifier_reachable(&self) -> bool {
        self.host_reachable() && self.process_up
    }

    pub fn blocked(&self, conn: duet_switchover::Conn) -> bool {
        match conn {
            duet_switchover::Conn::Main => self.main_blocked,
            duet_switchover::Conn::Aux => self.aux_blocked,
        }
    }

    /// Whether an ICMP echo to `address` is answered.
    pub fn echo_answered(&self, address: &str) -> bool {
        self.backup_net_up
            && match address {
                GATEWAY_ADDRESS => self.gateway_up,
                PRIMARY_ADDRESS => self.path_up && self.host_up,
                NET_TEST_ADDRESS => self.path_up && self.net_test_up,
                _ => false,
            }
    }

    /// The primary and its module answer on at least one connection.
    pub fn primary_answers(&self) -> bool {
        self.notifier_reachable()
            && self.module == ModuleHealth::Up
            && !(self.main_blocked && self.aux_blocked)
    }

    pub fn apply(&mut self, fault: Fault) {
        match fault {
            Fault::ProcessCrash => self.process_up = false,
            Fault::ProcessRestart => {
                if !self.process_up {
                    self.process_up = true;
                    self.module = ModuleHealth::Up;
                    self.incarnation += 1;
                }
            }
            Fault::HostVanish => self.host_up = false,
            Fault::HostReturn => self.host_up = true,
            Fault::PathCut => self.path_up = false,
            Fault::PathRepair => self.path_up = true,
            Fault::ModuleHang => self.module = ModuleHealth::Hung,
            Fault::ModuleDie => self.module = ModuleHealth::Dead,
            Fault::ModuleRecover => {
                if self.module == ModuleHealth::Dead {
                    self.incarnation += 1;
                }
                self.module = ModuleHealth::Up;
            }
            Fault::ModuleRestart => self.incarnation += 1,
            Fault::ConnBlock(c) | Fault::ConnUnblock(c) => {
                let blocked = matches!(fault, Fault::ConnBlock(_));
                match c {
                    duet_switchover::Conn::Main => self.main_blocked = blocked,
                    duet_switchover::Conn::Aux => self.aux_blocked = blocked,
                }
            }
            Fault::BackupNetDown => self.backup_net_up = false,
            Fault::BackupNetUp => self.backup_net_up = true,
            Fault::GatewayDown => self.gateway_up = false,
            Fault::GatewayUp => self.gateway_up = true,
            Fault::NetTestDown => self.net_test_up = false,
            Fault::NetTestUp => self.net_test_up = true,
            Fault::Latency(ms) => self.latency_ms = ms,
        }
    }
}

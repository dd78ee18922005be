//! The primary monitor's diagnosis when pings fail: confirm a module reported
//! down, then check the network in the seed's order (gateways when enabled,
//! NetTest addresses when configured, the primary's address) and decide
//! (seed: "How the Primary Monitor Determines the Status of the Network and
//! the Connection", "Handling Module Monitor Notifications").

use duet_params::PRIMARY_PING_SET_SIZE;

use crate::ctx::{Ctx, Links, Pending};
use crate::io::{Command, Conn, Level, RequestId, Topic};

/// The addresses the backup pings with ICMP echo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoTargets {
    /// The backup's gateways (from its routes); empty when none are known.
    pub gateways: Vec<String>,
    /// This node's NetTest address (NetTest A on A, NetTest B on B).
    pub net_test: Option<String>,
    /// The address of the server the primary runs on.
    pub primary: Option<String>,
}

/// Echo requests to a list of addresses, `attempts` each, until one answers.
#[derive(Debug, Clone)]
pub struct EchoProbe {
    targets: Vec<String>,
    attempts: u32,
    index: usize,
    attempt: u32,
    pending: Option<Pending>,
}

impl EchoProbe {
    pub fn start(ctx: &mut Ctx, targets: Vec<String>, attempts: u32) -> EchoProbe {
        let mut probe = EchoProbe {
            targets,
            attempts,
            index: 0,
            attempt: 0,
            pending: None,
        };
        probe.send(ctx);
        probe
    }

    fn send(&mut self, ctx: &mut Ctx) {
        let pending = Pending::new(ctx, ctx.params.net_test_timeout.ms());
        self.pending = Some(pending);
        ctx.send(Command::SendEcho {
            address: self.targets[self.index].clone(),
            id: pending.id,
        });
    }

    pub fn owns(&self, id: RequestId) -> bool {
        self.pending.is_some_and(|p| p.is(id))
    }

    pub fn deadline(&self) -> Option<u64> {
        self.pending.map(|p| p.deadline_ms)
    }

    /// The address that answered.
    pub fn reached(&self) -> &str {
        &self.targets[self.index]
    }

    /// `Some(false)` once every address has had its attempts unanswered.
    pub fn tick(&mut self, ctx: &mut Ctx) -> Option<bool> {
        if !self.pending.is_some_and(|p| p.expired(ctx.now_ms)) {
            return None;
        }
        self.attempt += 1;
        if self.attempt >= self.attempts {
            self.attempt = 0;
            self.index += 1;
        }
        if self.index >= self.targets.len() {
            self.pending = None;
            return Some(false);
        }
        self.send(ctx);
        None
    }
}

/// What started a diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The module monitor signalled MODULE_DOWN (no response).
    ModuleNotResponding,
    /// The notifier ping retries were exhausted.
    NotifierPingsFailed,
    /// Both connections were lost.
    ConnectionsLost,
    /// The reconnect timer expired: check the backup's own network before
    /// switching.
    ReconnectExpired,
}

/// The primary monitor's determination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The module answered a confirmation ping, with this incarnation.
    ModuleUp { incarnation: u64 },
    /// Network OK, both connections up, the module does not answer.
    ModuleDown,
    /// The backup's gateways do not answer: its own network is down.
    NetworkDown,
    /// The NetTest address does not answer: the WAN between the sites is down.
    WanFailure,
    /// The primary's address does not answer; `own_network_good` when a
    /// gateway or NetTest address answered.
    PrimaryUnreachable { own_network_good: bool },
    /// Network OK but the notifier connections are down or silent.
    NotifierDown,
    /// (After the reconnect timer) the backup's network is fine.
    NetworkOk,
}

impl Verdict {
    pub fn describe(&self) -> &'static str {
        match self {
            Verdict::ModuleUp { .. } => "the module is up, no error",
            Verdict::ModuleDown => "network OK, both connections up, the module is down",
            Verdict::NetworkDown => "network NOT OK: the backup's own network is down",
            Verdict::WanFailure => {
                "network NOT OK: the NetTest address is unreachable (WAN failure)"
            }
            Verdict::PrimaryUnreachable {
                own_network_good: true,
            } => "network NOT OK: the primary is unreachable while the backup's network is good",
            Verdict::PrimaryUnreachable {
                own_network_good: false,
            } => "network NOT OK: the primary is unreachable",
            Verdict::NotifierDown => "network OK, primary reachable: the remote notifier is down",
            Verdict::NetworkOk => "network OK",
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Confirm {
        sent: u32,
        conn: Conn,
        pending: Pending,
    },
    Gateway(EchoProbe),
    NetTest(EchoProbe),
    Primary(EchoProbe),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Confirm,
    Gateway,
    NetTest,
    Primary,
    Decide,
}

#[derive(Debug, Clone)]
pub struct Diagnosis {
    origin: Origin,
    stage: Stage,
    step: Option<Step>,
    gateway_reached: Option<bool>,
    net_test_reached: Option<bool>,
    primary_reached: Option<bool>,
    check_primary: bool,
    /// The notifier on the primary answered (it rejected a module ping), so
    /// the network path to the primary works whatever ICMP says.
    notifier_answered: bool,
}

pub enum Progress {
    Running(Diagnosis),
    Done(Verdict),
}

impl Diagnosis {
    /// Starts a diagnosis; `check_primary` says whether the primary's address
    /// is pinged. `up` tells which connections are up.
    pub fn start(ctx: &mut Ctx, origin: Origin, check_primary: bool, links: Links) -> Progress {
        let mut diagnosis = Diagnosis {
            origin,
            stage: Stage::Confirm,
            step: None,
            gateway_reached: None,
            net_test_reached: None,
            primary_reached: None,
            check_primary,
            notifier_answered: false,
        };
        if origin == Origin::ModuleNotResponding {
            let conns = match (links.main_up, links.aux_up) {
                (true, true) => "both connections are up",
                (true, false) => "only the main connection is up",
                (false, true) => "only the auxiliary connection is up",
                (false, false) => "both connections are down",
            };
            ctx.record(
                Topic::PrimaryMonitor,
                Level::Warning,
                format!(
                    "Module monitor indicated the [{}] module is not responding, {conns}",
                    ctx.module_name()
                ),
            );
            if let Some(conn) = links.first_up() {
                ctx.record(
                    Topic::PrimaryMonitor,
                    Level::Info,
                    format!(
                        "Sending up to {} ping(s) to the {} module using the {} connection",
                        ctx.params.primary_monitor_retry_count,
                        ctx.module_name(),
                        conn.name()
                    ),
                );
                diagnosis.step = Some(diagnosis.confirm_ping(ctx, conn, 0));
                return Progress::Running(diagnosis);
            }
        }
        match diagnosis.advance(ctx, links) {
            Some(verdict) => Progress::Done(verdict),
            None => Progress::Running(diagnosis),
        }
    }

    fn confirm_ping(&self, ctx: &mut Ctx, conn: Conn, sent: u32) -> Step {
        let pending = Pending::new(ctx, ctx.params.primary_monitor_timeout_ms());
        ctx.send(Command::SendModulePing {
            conn,
            id: pending.id,
            dscp: None,
        });
        Step::Confirm {
            sent: sent + 1,
            conn,
            pending,
        }
    }

    pub fn next_deadline(&self) -> Option<u64> {
        match &self.step {
            Some(Step::Confirm { pending, .. }) => Some(pending.deadline_ms),
            Some(Step::Gateway(p) | Step::NetTest(p) | Step::Primary(p)) => p.deadline(),
            None => None,
        }
    }

    pub fn owns(&self, id: RequestId) -> bool {
        match &self.step {
            Some(Step::Confirm { pending, .. }) => pending.is(id),
            Some(Step::Gateway(p) | Step::NetTest(p) | Step::Primary(p)) => p.owns(id),
            None => false,
        }
    }

    pub fn module_reply(&mut self, incarnation: u64) -> Option<Verdict> {
        matches!(self.step, Some(Step::Confirm { .. })).then_some(Verdict::ModuleUp { incarnation })
    }

    /// A confirmation ping was rejected (by the notifier) or timed out.
    fn confirm_failed(&mut self, ctx: &mut Ctx, links: Links, rejected: bool) -> Option<Verdict> {
        let Some(Step::Confirm { sent, conn, .. }) = self.step.take() else {
            return None;
        };
        self.notifier_answered |= rejected;
        if sent < ctx.params.primary_monitor_retry_count && links.up(conn) {
            self.step = Some(self.confirm_ping(ctx, conn, sent));
            return None;
        }
        let module = ctx.module_name();
        ctx.record(
            Topic::PrimaryMonitor,
            Level::Warning,
            format!(
                "Did not receive a reply from the {module} module after {sent} ping(s) on the {} connection",
                conn.name()
            ),
        );
        ctx.record(
            Topic::PrimaryMonitor,
            Level::Warning,
            format!("Failed to ping the [{module}] module, checking connections"),
        );
        self.advance(ctx, links)
    }

    pub fn module_rejected(&mut self, ctx: &mut Ctx, links: Links) -> Option<Verdict> {
        self.confirm_failed(ctx, links, true)
    }

    pub fn echo_reply(&mut self, ctx: &mut Ctx, links: Links) -> Option<Verdict> {
        match self.step.take() {
            Some(Step::Gateway(p)) => {
                ctx.record(
                    Topic::PrimaryMonitor,
                    Level::Info,
                    format!("Successfully pinged local gateway address [{}], setting network connection status to 'GatewayReached'", p.reached()),
                );
                self.gateway_reached = Some(true);
            }
            Some(Step::NetTest(p)) => {
                ctx.record(
                    Topic::PrimaryMonitor,
                    Level::Info,
                    format!("Successfully pinged NetTest address [{}], setting network connection status to 'NetTestReached'", p.reached()),
                );
                self.net_test_reached = Some(true);
            }
            Some(Step::Primary(p)) => {
                ctx.record(
                    Topic::PrimaryMonitor,
                    Level::Info,
                    format!("Successfully pinged primary address [{}], setting network connection status to 'PrimaryReached'", p.reached()),
                );
                self.primary_reached = Some(true);
            }
            other => {
                self.step = other;
                return None;
            }
        }
        self.advance(ctx, links)
    }

    pub fn tick(&mut self, ctx: &mut Ctx, links: Links) -> Option<Verdict> {
        let unreachable = match &mut self.step {
            Some(Step::Confirm { pending, .. }) if pending.expired(ctx.now_ms) => {
                return self.confirm_failed(ctx, links, false);
            }
            Some(Step::Gateway(p) | Step::NetTest(p) | Step::Primary(p)) => {
                p.tick(ctx) == Some(false)
            }
            _ => false,
        };
        if !unreachable {
            return None;
        }
        match self.step.take() {
            Some(Step::Gateway(_)) => {
                ctx.record(
                    Topic::PrimaryMonitor,
                    Level::Error,
                    "No gateway address answered, setting network connection status to 'GatewayUnreachable'",
                );
                self.gateway_reached = Some(false);
            }
            Some(Step::NetTest(_)) => {
                ctx.record(
                    Topic::PrimaryMonitor,
                    Level::Error,
                    "NetTest address did not answer, setting network connection status to 'NetTestUnreachable'",
                );
                self.net_test_reached = Some(false);
            }
            Some(Step::Primary(_)) => {
                ctx.record(
                    Topic::PrimaryMonitor,
                    Level::Error,
                    "Primary address did not answer, setting network connection status to 'PrimaryUnreachable'",
                );
                self.primary_reached = Some(false);
            }
            _ => {}
        }
        self.advance(ctx, links)
    }

    /// Moves to the next applicable check, or decides when none is left or
    /// a check already shows the network is not OK.
    fn advance(&mut self, ctx: &mut Ctx, links: Links) -> Option<Verdict> {
        let targets = ctx.targets;
        loop {
            if (self.net_test_reached == Some(false) && !self.notifier_answered)
                || self.stage == Stage::Decide
            {
                return Some(self.decide(ctx, links));
            }
            let gateway_silent = self.gateway_reached == Some(false);
            self.stage = match self.stage {
                Stage::Confirm => Stage::Gateway,
                // A silent gateway: the primary's address tells whether the
                // backup's network is down or the gateway drops ICMP.
                Stage::Gateway if gateway_silent => Stage::Primary,
                Stage::Gateway => Stage::NetTest,
                Stage::NetTest => Stage::Primary,
                Stage::Primary | Stage::Decide => Stage::Decide,
            };
            match self.stage {
                Stage::Gateway if ctx.params.gateway_ping_enabled() => {
                    if targets.gateways.is_empty() {
                        ctx.record(
                            Topic::PrimaryMonitor,
                            Level::Warning,
                            "Gateway ping is enabled but no gateway address is known; the backup's network status is not checked",
                        );
                        continue;
                    }
                    self.step = Some(Step::Gateway(EchoProbe::start(ctx, targets.gateways.clone(), 1)));
                    return None;
                }
                Stage::NetTest => match &targets.net_test {
                    Some(address) => {
                        self.step = Some(Step::NetTest(EchoProbe::start(ctx, vec![address.clone()], 1)));
                        return None;
                    }
                    None => ctx.record(
                        Topic::PrimaryMonitor,
                        Level::Info,
                        "No NetTest addresses to ping, setting network connection status to 'NetTestUnavailable'",
                    ),
                },
                Stage::Primary if self.check_primary || gateway_silent => match &targets.primary {
                    Some(address) => {
                        self.step = Some(Step::Primary(EchoProbe::start(
                            ctx,
                            vec![address.clone()],
                            PRIMARY_PING_SET_SIZE,
                        )));
                        return None;
                    }
                    None => ctx.record(
                        Topic::PrimaryMonitor,
                        Level::Warning,
                        "The primary's address is not known; it is not pinged",
                    ),
                },
                _ => {}
            }
        }
    }

    fn decide(&self, ctx: &mut Ctx, links: Links) -> Verdict {
        let module = ctx.module_name();
        let icmp_failed = self.gateway_reached == Some(false)
            || self.net_test_reached == Some(false)
            || self.primary_reached == Some(false);
        if self.notifier_answered && icmp_failed {
            ctx.record(
                Topic::PrimaryMonitor,
                Level::Info,
                "The notifier on the primary answered, so the network path to the primary works whatever ICMP says",
            );
        }
        let gateway_down =
            self.gateway_reached == Some(false) && self.primary_reached != Some(true);
        if self.gateway_reached == Some(false) && !gateway_down {
            ctx.record(
                Topic::PrimaryMonitor,
                Level::Warning,
                "No gateway answered but the primary's address did: the gateway does not answer ICMP, the backup's network is up",
            );
        }
        let verdict = if self.notifier_answered {
            self.verdict_when_network_ok(ctx, links, module)
        } else if gateway_down {
            Verdict::NetworkDown
        } else if self.net_test_reached == Some(false) {
            Verdict::WanFailure
        } else if self.primary_reached == Some(false) {
            Verdict::PrimaryUnreachable {
                own_network_good: self.net_test_reached == Some(true)
                    || self.gateway_reached == Some(true),
            }
        } else {
            self.verdict_when_network_ok(ctx, links, module)
        };
        ctx.record(
            Topic::PrimaryMonitor,
            Level::Info,
            format!("Primary monitor determination: {}", verdict.describe()),
        );
        verdict
    }

    fn verdict_when_network_ok(&self, ctx: &mut Ctx, links: Links, module: &str) -> Verdict {
        if self.origin == Origin::ReconnectExpired {
            Verdict::NetworkOk
        } else if self.origin == Origin::ModuleNotResponding && links.main_up && links.aux_up {
            ctx.record(
                Topic::PrimaryMonitor,
                Level::Error,
                format!("Module monitor indicated that the [{module}] module is not responding (all connections are up), primary connection status is 'monitored module down', signaling the module is down"),
            );
            Verdict::ModuleDown
        } else {
            Verdict::NotifierDown
        }
    }
}

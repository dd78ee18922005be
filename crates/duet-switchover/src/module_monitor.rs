//! The module monitor: pings the monitored module on the active node, moves
//! to the other connection after Max TS Failures, signals the module down
//! after Max TS Failures there too, and tracks the module's incarnations to
//! catch a module that restarts too often (seed: "Module Monitor").

use std::collections::VecDeque;

use crate::ctx::{Ctx, Links, Pending, earliest};
use crate::io::{Command, Conn, Level, RequestId, Topic};

/// Why the module monitor signals MODULE_DOWN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleDown {
    /// Max TS Failures reached on the second connection too.
    NoResponse,
    /// Max Restarts reached within Max Restarts Period.
    MaxRestarts,
    /// Max Sequential Restarts reached.
    MaxSequentialRestarts,
}

/// What the module monitor tells the primary monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleSignal {
    SystemOk,
    ModuleDown(ModuleDown),
}

/// Incarnation history of the monitored module (the seed's PID tracking).
#[derive(Debug, Default, Clone)]
pub struct RestartTracker {
    last: Option<u64>,
    last_seen_ms: u64,
    restarts_ms: VecDeque<u64>,
    sequential: u32,
}

impl RestartTracker {
    /// Takes an incarnation from a ping answer; says whether the module is
    /// restarting too often.
    pub fn observe(&mut self, ctx: &mut Ctx, incarnation: u64) -> Option<ModuleDown> {
        let p = ctx.params;
        let now = ctx.now_ms;
        // Answers further apart than the restart period are not "in a row":
        // a backup that was cut off for a while saw nothing in between.
        if now.saturating_sub(self.last_seen_ms) > p.max_restarts_period_ms {
            self.sequential = 0;
        }
        self.last_seen_ms = now;
        while self
            .restarts_ms
            .front()
            .is_some_and(|t| now.saturating_sub(*t) > p.max_restarts_period_ms)
        {
            self.restarts_ms.pop_front();
        }
        let previous = self.last.replace(incarnation);
        match previous {
            Some(prev) if prev != incarnation => {
                self.sequential += 1;
                self.restarts_ms.push_back(now);
                ctx.record(
                    Topic::ModuleMonitor,
                    Level::Warning,
                    format!(
                        "The {} module restarted (incarnation {prev} -> {incarnation}); {} restart(s) in the last {} s, {} in a row",
                        ctx.module_name(),
                        self.restarts_ms.len(),
                        p.max_restarts_period_ms / 1000,
                        self.sequential
                    ),
                );
            }
            _ => self.sequential = 0,
        }
        if self.sequential >= p.max_sequential_restarts {
            Some(ModuleDown::MaxSequentialRestarts)
        } else if self.restarts_ms.len() as u32 >= p.max_restarts {
            Some(ModuleDown::MaxRestarts)
        } else {
            None
        }
    }
}

#[derive(Debug, Clone)]
pub struct ModuleMonitor {
    running: bool,
    conn: Conn,
    errors: u32,
    pending: Option<(Pending, Conn)>,
    next_ping_ms: Option<u64>,
    last_event_ms: u64,
}

impl Default for ModuleMonitor {
    fn default() -> Self {
        ModuleMonitor {
            running: false,
            conn: Conn::Main,
            errors: 0,
            pending: None,
            next_ping_ms: None,
            last_event_ms: 0,
        }
    }
}

/// The connection module pings use by default (`Switchover Ping on Aux
/// Connection` moves them to the auxiliary one).
pub fn preferred_conn(ctx: &Ctx) -> Conn {
    if ctx.params.ping_on_aux_connection {
        Conn::Aux
    } else {
        Conn::Main
    }
}

impl ModuleMonitor {
    pub fn last_event_ms(&self) -> u64 {
        self.last_event_ms
    }

    /// Starts pinging on the preferred connection after `first_ping_in_ms`.
    pub fn start(&mut self, ctx: &Ctx, first_ping_in_ms: u64) {
        *self = ModuleMonitor {
            running: true,
            conn: preferred_conn(ctx),
            next_ping_ms: Some(ctx.now_ms + first_ping_in_ms),
            last_event_ms: ctx.now_ms,
            ..ModuleMonitor::default()
        };
    }

    pub fn stop(&mut self) {
        self.running = false;
        self.pending = None;
        self.next_ping_ms = None;
    }

    pub fn next_deadline(&self) -> Option<u64> {
        earliest([self.pending.map(|(p, _)| p.deadline_ms), self.next_ping_ms])
    }

    pub fn owns(&self, id: RequestId) -> bool {
        self.pending.is_some_and(|(p, _)| p.is(id))
    }

    pub fn tick(&mut self, ctx: &mut Ctx, links: Links) -> Option<ModuleSignal> {
        if !self.running {
            return None;
        }
        if self.pending.is_some_and(|(p, _)| p.expired(ctx.now_ms)) {
            self.pending = None;
            let signal = self.failure(ctx, "timed out", ctx.params.module_retry_delay_ms());
            if signal.is_some() {
                return signal;
            }
        }
        if self.pending.is_none() && self.next_ping_ms.is_some_and(|t| t <= ctx.now_ms) {
            self.next_ping_ms = None;
            // A connection known to be down says nothing about the module:
            // ping on the other one if it is up.
            let conn = if links.up(self.conn) {
                self.conn
            } else if links.up(self.conn.other()) {
                self.conn.other()
            } else {
                return self.failure(
                    ctx,
                    "could not be sent (both connections down)",
                    ctx.params.module_retry_delay_ms(),
                );
            };
            let pending = Pending::new(ctx, ctx.params.module_timeout_ms());
            self.pending = Some((pending, conn));
            let dscp = (conn == Conn::Aux)
                .then(|| ctx.params.qos_dscp_for_ping())
                .flatten();
            ctx.send(Command::SendModulePing {
                conn,
                id: pending.id,
                dscp,
            });
        }
        None
    }

    /// A connection went down: a ping outstanding on it has failed.
    pub fn connection_lost(&mut self, ctx: &mut Ctx, conn: Conn) -> Option<ModuleSignal> {
        match self.pending {
            Some((_, on)) if on == conn && self.running => {
                self.pending = None;
                self.failure(
                    ctx,
                    "lost with its connection",
                    ctx.params.module_retry_delay_ms(),
                )
            }
            _ => None,
        }
    }

    pub fn reply(
        &mut self,
        ctx: &mut Ctx,
        incarnation: u64,
        restarts: &mut RestartTracker,
    ) -> Option<ModuleSignal> {
        self.pending = None;
        self.last_event_ms = ctx.now_ms;
        if let Some(down) = restarts.observe(ctx, incarnation) {
            self.errors = ctx.params.max_ts_failures;
            self.running = false;
            ctx.record(
                Topic::ModuleMonitor,
                Level::Error,
                format!(
                    "The {} module is restarting too often, signaling that the module is down",
                    ctx.module_name()
                ),
            );
            return Some(ModuleSignal::ModuleDown(down));
        }
        self.errors = 0;
        self.conn = preferred_conn(ctx);
        self.next_ping_ms = Some(ctx.now_ms + ctx.params.module_timeout_ms());
        Some(ModuleSignal::SystemOk)
    }

    pub fn rejected(&mut self, ctx: &mut Ctx) -> Option<ModuleSignal> {
        self.pending = None;
        // The seed: "ping will be reissued with regular timeout".
        self.failure(ctx, "rejected", ctx.params.module_timeout_ms())
    }

    fn failure(&mut self, ctx: &mut Ctx, how: &str, next_after_ms: u64) -> Option<ModuleSignal> {
        let max = ctx.params.max_ts_failures;
        let module = ctx.module_name();
        self.errors += 1;
        self.last_event_ms = ctx.now_ms;
        if self.errors < max {
            ctx.record(
                Topic::ModuleMonitor,
                Level::Warning,
                format!(
                    "Ping {how} to the {module} module on the {} connection: error count [{}] is within maximum [{max}], ping will be reissued",
                    self.conn.name(),
                    self.errors
                ),
            );
            self.next_ping_ms = Some(ctx.now_ms + next_after_ms);
            return None;
        }
        let preferred = preferred_conn(ctx);
        if self.conn == preferred {
            ctx.record(
                Topic::ModuleMonitor,
                Level::Warning,
                format!(
                    "Ping {how}: reached maximum error count [{max}] pinging the {module} module on the {} connection, resetting error count and trying the alternate connection",
                    self.conn.name()
                ),
            );
            self.errors = 0;
            self.conn = preferred.other();
            self.next_ping_ms = Some(ctx.now_ms + next_after_ms);
            return None;
        }
        ctx.record(
            Topic::ModuleMonitor,
            Level::Error,
            format!(
                "Ping {how} to the {module} module on the {} connection: reached maximum error count [{max}], signaling that the module is down",
                self.conn.name()
            ),
        );
        self.errors = 0;
        self.conn = preferred;
        self.running = false;
        Some(ModuleSignal::ModuleDown(ModuleDown::NoResponse))
    }
}

//! The primary monitor's own pings to the notifier on the active node, with
//! retry pings, and its check that the module monitor is still reporting
//! (seed: "Primary Monitor", "Sending Ping Requests", "Successful Ping
//! Response", "Non-Successful Ping Responses").

use crate::ctx::{Ctx, Links, Pending, earliest};
use crate::io::{Command, Conn, Level, RequestId, Topic};

/// What the notifier pings conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifierSignal {
    /// The retry pings are exhausted: diagnose the network and connections.
    RetriesExhausted,
    /// Both connections are down: nothing to ping on.
    NoConnection,
    /// The moment a pending module monitor restart is carried out.
    RestartModuleMonitor,
}

#[derive(Debug, Clone, Default)]
pub struct NotifierPinger {
    running: bool,
    pending: Option<(Pending, Conn)>,
    retries: u32,
    next_ping_ms: Option<u64>,
    restart_module_monitor: bool,
}

impl NotifierPinger {
    /// Starts pinging after `first_ping_in_ms`.
    pub fn start(&mut self, ctx: &Ctx, first_ping_in_ms: u64) {
        *self = NotifierPinger {
            running: true,
            next_ping_ms: Some(ctx.now_ms + first_ping_in_ms),
            ..NotifierPinger::default()
        };
    }

    /// Stopping cancels the outstanding ping (the seed's "Cancelled"
    /// response, on which nothing is done).
    pub fn stop(&mut self) {
        *self = NotifierPinger::default();
    }

    /// Asks for the module monitor to be restarted when the next ping is
    /// scheduled (the seed's asynchronous restart request).
    pub fn request_module_monitor_restart(&mut self) {
        self.restart_module_monitor = true;
    }

    pub fn next_deadline(&self) -> Option<u64> {
        earliest([self.pending.map(|(p, _)| p.deadline_ms), self.next_ping_ms])
    }

    pub fn owns(&self, id: RequestId) -> bool {
        self.pending.is_some_and(|(p, _)| p.is(id))
    }

    pub fn tick(&mut self, ctx: &mut Ctx, links: Links) -> Option<NotifierSignal> {
        if !self.running {
            return None;
        }
        if self.pending.is_some_and(|(p, _)| p.expired(ctx.now_ms)) {
            self.pending = None;
            if let Some(signal) = self.failure(ctx, "timed out") {
                return Some(signal);
            }
        }
        if self.pending.is_none() && self.next_ping_ms.is_some_and(|t| t <= ctx.now_ms) {
            self.next_ping_ms = None;
            // The main connection carries the pings; the auxiliary one is used
            // when the main one is down.
            let Some(conn) = links.first_up() else {
                return Some(NotifierSignal::NoConnection);
            };
            let pending = Pending::new(ctx, ctx.params.primary_monitor_timeout_ms());
            self.pending = Some((pending, conn));
            ctx.send(Command::SendNotifierPing {
                conn,
                id: pending.id,
            });
        }
        None
    }

    pub fn reply(&mut self, ctx: &mut Ctx) -> Option<NotifierSignal> {
        self.pending = None;
        self.retries = 0;
        self.next_ping_ms = Some(ctx.now_ms + ctx.params.primary_monitor_ping_delay_ms());
        std::mem::take(&mut self.restart_module_monitor)
            .then_some(NotifierSignal::RestartModuleMonitor)
    }

    pub fn rejected(&mut self, ctx: &mut Ctx) -> Option<NotifierSignal> {
        self.pending = None;
        self.failure(ctx, "was rejected")
    }

    /// The seed's "Connection Loss" response: with the main connection still
    /// up a standard ping follows; with it down, a retry ping.
    pub fn connection_lost(
        &mut self,
        ctx: &mut Ctx,
        conn: Conn,
        main_up: bool,
    ) -> Option<NotifierSignal> {
        match self.pending {
            Some((_, on)) if on == conn && self.running => {
                self.pending = None;
                if main_up {
                    self.next_ping_ms = Some(ctx.now_ms);
                    None
                } else {
                    self.failure(ctx, "lost its connection")
                }
            }
            _ => None,
        }
    }

    fn failure(&mut self, ctx: &mut Ctx, how: &str) -> Option<NotifierSignal> {
        let max = ctx.params.primary_monitor_retry_count;
        if self.retries >= max {
            ctx.record(
                Topic::PrimaryMonitor,
                Level::Error,
                format!(
                    "Notifier ping {how}; no reply after {max} retry ping(s), checking connections"
                ),
            );
            self.running = false;
            self.next_ping_ms = None;
            return Some(NotifierSignal::RetriesExhausted);
        }
        self.retries += 1;
        ctx.record(
            Topic::PrimaryMonitor,
            Level::Warning,
            format!(
                "Notifier ping {how}; sending retry ping {} of {max}",
                self.retries
            ),
        );
        self.next_ping_ms = Some(ctx.now_ms + ctx.params.primary_monitor_retry_ping_delay.ms());
        None
    }
}

/// The longest the module monitor may go without an event before the
/// primary monitor considers it stopped: three full ping cycles (a ping and
/// its retry), which a running module monitor always beats.
pub fn module_monitor_max_silence_ms(params: &duet_params::ServerParams) -> u64 {
    3 * (params.module_timeout_ms()
        + params
            .module_retry_delay_ms()
            .max(params.module_timeout_ms()))
}

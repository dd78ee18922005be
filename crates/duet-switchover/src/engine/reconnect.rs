//! Reconnecting: the probes, the reconnect timer, unreachable-primary ping
//! sets, the expiry checks, and the WAN retest in Error.

use duet_params::UnreachablePrimary;

use super::*;
use crate::ctx::Ctx;
use crate::diagnosis::{Diagnosis, EchoProbe, Origin, Progress, Verdict};
use crate::io::{Command, Level, SwitchReason, Topic};

impl Machine {
    pub(super) fn enter_reconnecting(&mut self, cx: &mut Ctx, cause: Cause) {
        self.module.stop();
        self.notifier.stop();
        let why = match cause {
            Cause::NetworkDown => "the backup's network is down",
            Cause::NotifierDown => "lost the notifier connections to the primary",
            Cause::PrimaryUnreachable { .. } => "the primary is unreachable",
        };
        self.set_state(cx, State::Reconnecting, why);
        let timeout_ms = cx.params.reconnect_timeout.ms();
        cx.record(
            Topic::SwitchoverStates,
            Level::Info,
            format!(
                "Scheduling reconnect timeout to execute in {} second(s)",
                seconds(timeout_ms)
            ),
        );
        let unreachable = match cause {
            Cause::PrimaryUnreachable {
                own_network_good: true,
            } => match cx.params.unreachable_primary_ping_count {
                UnreachablePrimary::SwitchImmediately => None,
                UnreachablePrimary::AfterPingSets(n) => Some(Some(n)),
                UnreachablePrimary::Never => Some(None),
            },
            _ => None,
        };
        self.reconnect = Some(Reconnect {
            cause,
            timer_ms: Some(cx.now_ms + timeout_ms),
            probe: None,
            next_probe_ms: None,
            module_failures: 0,
            attempts: 0,
            unreachable: unreachable.map(|limit| UnreachableWatch {
                limit,
                failed_sets: 0,
                next_set_ms: Some(cx.now_ms + cx.params.unreachable_primary_ping_delay.ms()),
                probe: None,
            }),
        });
        self.start_probe(cx);
        if matches!(
            cause,
            Cause::PrimaryUnreachable {
                own_network_good: true
            }
        ) && cx.params.unreachable_primary_ping_count == UnreachablePrimary::SwitchImmediately
        {
            return self.auto_switch(cx, SwitchReason::PrimaryUnreachable);
        }
        if timeout_ms == 0 {
            self.reconnect_tick(cx);
        }
    }

    pub(super) fn count_reconnect_attempt(&mut self, cx: &mut Ctx) {
        let Some(r) = self.reconnect.as_mut() else {
            return;
        };
        r.attempts += 1;
        let max = cx.params.max_reconnect_attempts;
        if max > 0 && r.attempts >= max {
            cx.record(
                Topic::SwitchoverStates,
                Level::Error,
                format!(
                    "Reconnecting: the maximum number of reconnect attempts [{max}] has been made"
                ),
            );
            // The same checks as when the reconnect timer expires.
            r.timer_ms = Some(cx.now_ms);
        }
    }

    /// Sends a notifier ping and a module ping over a connection that is up.
    pub(super) fn start_probe(&mut self, cx: &mut Ctx) {
        let Some(conn) = self.links.first_up() else {
            return;
        };
        let Some(r) = self.reconnect.as_mut() else {
            return;
        };
        if r.probe.is_some() {
            return;
        }
        let notifier = Pending::new(cx, cx.params.primary_monitor_timeout_ms());
        cx.send(Command::SendNotifierPing {
            conn,
            id: notifier.id,
        });
        let module = Pending::new(cx, cx.params.module_timeout_ms());
        cx.send(Command::SendModulePing {
            conn,
            id: module.id,
            dscp: None,
        });
        r.next_probe_ms = None;
        r.probe = Some(Probe {
            notifier: Some(notifier),
            notifier_answered: false,
            module: Some(module),
        });
    }

    pub(super) fn reconnect_tick(&mut self, cx: &mut Ctx) {
        let now = cx.now_ms;
        let Some(r) = self.reconnect.as_mut() else {
            return;
        };
        // The probe's timeouts.
        let mut module_timed_out = None;
        if let Some(probe) = r.probe.as_mut() {
            if probe.notifier.is_some_and(|p| p.expired(now)) {
                probe.notifier = None;
            }
            if let Some(m) = probe.module.filter(|m| m.expired(now)) {
                module_timed_out = Some(m.id);
            }
        }
        if let Some(id) = module_timed_out {
            self.module_failed(cx, id, false);
        }
        let Some(r) = self.reconnect.as_mut() else {
            return;
        };
        if r.probe
            .as_ref()
            .is_some_and(|p| p.notifier.is_none() && p.module.is_none())
        {
            r.probe = None;
            r.next_probe_ms = Some(now + cx.params.notifier_reconnect_delay.ms());
        }
        if r.next_probe_ms.is_some_and(|t| t <= now) {
            r.next_probe_ms = None;
            self.start_probe(cx);
        }
        self.unreachable_tick(cx);
        let Some(r) = self.reconnect.as_mut() else {
            return;
        };
        if r.timer_ms.is_some_and(|t| t <= now) && self.diagnosis.is_none() {
            r.timer_ms = None;
            let check_primary = matches!(r.cause, Cause::PrimaryUnreachable { .. })
                && cx.params.unreachable_primary_ping_count == UnreachablePrimary::Never;
            cx.record(
                Topic::SwitchoverStates,
                Level::Warning,
                "Reconnect period expired; checking the backup's network before switching",
            );
            match Diagnosis::start(cx, Origin::ReconnectExpired, check_primary, self.links) {
                Progress::Running(d) => self.diagnosis = Some(d),
                Progress::Done(verdict) => self.expiry_verdict(cx, verdict),
            }
        }
    }

    pub(super) fn unreachable_tick(&mut self, cx: &mut Ctx) {
        let now = cx.now_ms;
        let Some(watch) = self.reconnect.as_mut().and_then(|r| r.unreachable.as_mut()) else {
            return;
        };
        if let Some(probe) = watch.probe.as_mut()
            && probe.tick(cx) == Some(false)
        {
            watch.probe = None;
            watch.failed_sets += 1;
            let limit = watch.limit;
            cx.record(
                    Topic::PrimaryMonitor,
                    Level::Warning,
                    match limit {
                        Some(n) => format!("Primary unreachable: ping set {} of {n} unanswered", watch.failed_sets),
                        None => format!("Primary unreachable: ping set {} unanswered; waiting for the primary (no switch)", watch.failed_sets),
                    },
                );
            if limit.is_some_and(|n| watch.failed_sets >= n) {
                return self.auto_switch(cx, SwitchReason::PrimaryUnreachable);
            }
            watch.next_set_ms = Some(now + cx.params.unreachable_primary_ping_delay.ms());
        }
        if watch.next_set_ms.is_some_and(|t| t <= now) {
            watch.next_set_ms = None;
            if let Some(address) = cx.targets.primary.clone() {
                watch.probe = Some(EchoProbe::start(
                    cx,
                    vec![address],
                    duet_params::PRIMARY_PING_SET_SIZE,
                ));
            }
        }
    }

    /// What the check after the reconnect timer found.
    pub(super) fn expiry_verdict(&mut self, cx: &mut Ctx, verdict: Verdict) {
        let Some(r) = self.reconnect.as_mut() else {
            return;
        };
        let rearm = |cx: &mut Ctx, r: &mut Reconnect, why: &str| {
            cx.record(
                Topic::SwitchoverStates,
                Level::Warning,
                format!("Not switching: {why}"),
            );
            r.timer_ms = Some(cx.now_ms + cx.params.reconnect_timeout.ms());
        };
        match verdict {
            Verdict::NetworkDown => {
                r.cause = Cause::NetworkDown;
                rearm(
                    cx,
                    r,
                    "the backup's own network is down; a switchover would isolate the pair",
                );
            }
            Verdict::WanFailure => self.enter_error(cx),
            Verdict::PrimaryUnreachable { .. }
                if cx.params.unreachable_primary_ping_count == UnreachablePrimary::Never =>
            {
                rearm(
                    cx,
                    r,
                    "the primary is unreachable and Switchover Unreachable Primary Ping Count is -1",
                );
            }
            _ if self.modes.manual_switch_only => rearm(
                cx,
                r,
                "the reconnect period expired, but the backup is in Manual Switch Only mode",
            ),
            // The connections went down with this node's own network; now
            // that it answers again they get one reconnect period to come
            // up before the primary is taken for lost.
            _ if matches!(r.cause, Cause::NetworkDown) => {
                r.cause = Cause::NotifierDown;
                rearm(
                    cx,
                    r,
                    "the backup's own network is back; the connections get a reconnect period to come up first",
                );
            }
            _ => {
                cx.record(
                    Topic::SwitchoverStates,
                    Level::Error,
                    "Reconnect period expired, posting [event=eConnectionsDown] to initiate a switchover",
                );
                self.auto_switch(cx, SwitchReason::LossOfConnectionToNotifier);
            }
        }
    }

    pub(super) fn back_to_backup(&mut self, cx: &mut Ctx) {
        self.cancel_pending_switch(cx);
        self.reconnect = None;
        self.diagnosis = None;
        self.set_state(cx, State::Backup, "reconnected; the module answers");
        cx.send(Command::Synchronize);
        self.notifier.start(cx, 0);
        self.module.start(cx, 0);
    }

    pub(super) fn enter_error(&mut self, cx: &mut Ctx) {
        self.stop_monitors();
        self.reconnect = None;
        cx.record(
            Topic::PrimaryMonitor,
            Level::Error,
            "The NetTest address is unreachable: the network between the sites is down and the primary is assumed to be running. Not switching; monitoring and replication stop until the NetTest address answers again",
        );
        self.set_state(cx, State::Error, "WAN failure (NetTest unreachable)");
        self.wan = Some(WanRetest {
            next_ms: Some(cx.now_ms + cx.params.unreachable_primary_ping_delay.ms()),
            probe: None,
        });
    }

    pub(super) fn wan_tick(&mut self, cx: &mut Ctx) {
        let now = cx.now_ms;
        let Some(wan) = self.wan.as_mut() else { return };
        if let Some(probe) = wan.probe.as_mut()
            && probe.tick(cx) == Some(false)
        {
            wan.probe = None;
            wan.next_ms = Some(now + cx.params.unreachable_primary_ping_delay.ms());
        }
        if wan.next_ms.is_some_and(|t| t <= now) {
            wan.next_ms = None;
            match cx.targets.net_test.clone() {
                Some(address) => wan.probe = Some(EchoProbe::start(cx, vec![address], 1)),
                // The NetTest parameter was removed: nothing left to wait for.
                None => {
                    self.wan = None;
                    self.enter_reconnecting(cx, Cause::NotifierDown);
                }
            }
        }
    }
}

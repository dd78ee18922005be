//! The monitors' answers and signals: notifier and module pings, the
//! network diagnosis and its verdict.

use super::*;
use crate::ctx::Ctx;
use crate::diagnosis::{Diagnosis, Origin, Progress, Verdict};
use crate::io::{Level, RequestId, SwitchReason, Topic};
use crate::module_monitor::{ModuleDown, ModuleSignal};
use crate::primary_monitor::NotifierSignal;

impl Machine {
    /// A notifier ping was answered (`replied`) or rejected.
    pub(super) fn notifier_answer(&mut self, cx: &mut Ctx, id: RequestId, replied: bool) {
        if self.notifier.owns(id) {
            let signal = if replied {
                self.notifier.reply(cx)
            } else {
                self.notifier.rejected(cx)
            };
            if let Some(signal) = signal {
                self.notifier_signal(cx, signal);
            }
        } else if let Some(r) = self.reconnect.as_mut()
            && let Some(probe) = r
                .probe
                .as_mut()
                .filter(|p| p.notifier.is_some_and(|n| n.is(id)))
        {
            probe.notifier = None;
            probe.notifier_answered = replied;
            r.settle(cx.now_ms, cx.params.notifier_reconnect_delay.ms());
        }
    }

    pub(super) fn notifier_signal(&mut self, cx: &mut Ctx, signal: NotifierSignal) {
        match signal {
            NotifierSignal::RetriesExhausted => self.diagnose(cx, Origin::NotifierPingsFailed),
            NotifierSignal::NoConnection => self.diagnose(cx, Origin::ConnectionsLost),
            NotifierSignal::RestartModuleMonitor => {
                if self.monitoring() {
                    cx.record(
                        Topic::PrimaryMonitor,
                        Level::Info,
                        "Restarting the module monitor",
                    );
                    self.module.start(cx, 0);
                }
            }
        }
    }

    pub(super) fn module_reply(&mut self, cx: &mut Ctx, id: RequestId, incarnation: u64) {
        if self.module.owns(id) {
            if let Some(signal) = self.module.reply(cx, incarnation, &mut self.restarts) {
                self.module_signal(cx, signal);
            }
            return;
        }
        if let Some(diagnosis) = self.diagnosis.as_mut().filter(|d| d.owns(id)) {
            if let Some(verdict) = diagnosis.module_reply(incarnation) {
                self.verdict(cx, verdict);
            }
            return;
        }
        let answered = self
            .reconnect
            .as_mut()
            .and_then(|r| r.probe.as_mut())
            .is_some_and(|p| p.module.is_some_and(|m| m.is(id)));
        if answered {
            match self.restarts.observe(cx, incarnation) {
                Some(_) => self.auto_switch(cx, SwitchReason::ModuleRestartingTooOften),
                None => self.back_to_backup(cx),
            }
        }
    }

    /// A module ping was rejected (`rejected`) or timed out.
    pub(super) fn module_failed(&mut self, cx: &mut Ctx, id: RequestId, rejected: bool) {
        let links = self.links;
        if self.module.owns(id) {
            if let Some(signal) = self.module.rejected(cx) {
                self.module_signal(cx, signal);
            }
        } else if let Some(diagnosis) = self.diagnosis.as_mut().filter(|d| d.owns(id)) {
            if let Some(verdict) = diagnosis.module_rejected(cx, links) {
                self.verdict(cx, verdict);
            }
        } else if let Some(r) = self.reconnect.as_mut() {
            let Some(probe) = r
                .probe
                .as_mut()
                .filter(|p| p.module.is_some_and(|m| m.is(id)))
            else {
                return;
            };
            probe.module = None;
            let proven = rejected || probe.notifier_answered;
            r.settle(cx.now_ms, cx.params.notifier_reconnect_delay.ms());
            // A rejection comes from the notifier, so the connection works.
            if proven {
                r.module_failures += 1;
                let max = cx.params.max_ts_failures;
                cx.record(
                    Topic::SwitchoverStates,
                    Level::Warning,
                    format!(
                        "Reconnecting: the {} module did not answer although the notifier did ({}/{max})",
                        cx.module_name(),
                        r.module_failures
                    ),
                );
                if r.module_failures >= max {
                    self.auto_switch(cx, SwitchReason::ModulePingFailure);
                }
            }
        }
    }

    pub(super) fn module_signal(&mut self, cx: &mut Ctx, signal: ModuleSignal) {
        if self.state == State::Stopping {
            // Manual mode keeps watching the module it found down, quietly,
            // and resumes when it answers.
            match signal {
                ModuleSignal::SystemOk => {
                    self.set_state(cx, State::Backup, "the module answers again");
                    self.notifier.start(cx, 0);
                }
                ModuleSignal::ModuleDown(_) => self.module.start(cx, cx.params.module_timeout_ms()),
            }
            return;
        }
        match signal {
            ModuleSignal::SystemOk => self.cancel_pending_switch(cx),
            ModuleSignal::ModuleDown(ModuleDown::NoResponse) => {
                self.diagnose(cx, Origin::ModuleNotResponding)
            }
            ModuleSignal::ModuleDown(_) => {
                self.notifier.stop();
                self.module_down(cx, SwitchReason::ModuleRestartingTooOften);
            }
        }
    }

    pub(super) fn diagnose(&mut self, cx: &mut Ctx, origin: Origin) {
        if self.diagnosis.is_some() {
            return;
        }
        // The primary monitor stops the module monitor so it cannot cause a
        // switchover before the analysis is done.
        self.module.stop();
        self.notifier.stop();
        match Diagnosis::start(cx, origin, true, self.links) {
            Progress::Running(d) => self.diagnosis = Some(d),
            Progress::Done(verdict) => self.verdict(cx, verdict),
        }
    }

    pub(super) fn echo_reply(&mut self, cx: &mut Ctx, id: RequestId) {
        let links = self.links;
        if let Some(diagnosis) = self.diagnosis.as_mut().filter(|d| d.owns(id)) {
            if let Some(verdict) = diagnosis.echo_reply(cx, links) {
                self.verdict(cx, verdict);
            }
            return;
        }
        if let Some(watch) = self
            .reconnect
            .as_mut()
            .and_then(|r| r.unreachable.as_mut())
            .filter(|u| u.probe.as_ref().is_some_and(|p| p.owns(id)))
        {
            watch.probe = None;
            cx.record(
                Topic::PrimaryMonitor,
                Level::Info,
                "The primary's address answers again; reconnecting",
            );
            if let Some(r) = self.reconnect.as_mut() {
                r.unreachable = None;
                r.cause = Cause::NotifierDown;
            }
            return;
        }
        if let Some(wan) = self
            .wan
            .as_mut()
            .filter(|w| w.probe.as_ref().is_some_and(|p| p.owns(id)))
        {
            wan.probe = None;
            self.wan = None;
            cx.record(
                Topic::PrimaryMonitor,
                Level::Info,
                "The NetTest address answers again: resuming monitoring",
            );
            self.enter_reconnecting(cx, Cause::NotifierDown);
        }
    }

    /// Acts on the primary monitor's determination (seed: "How Primary
    /// Monitor Events are Processed in the Backup State").
    pub(super) fn verdict(&mut self, cx: &mut Ctx, verdict: Verdict) {
        self.diagnosis = None;
        if self.state == State::Reconnecting {
            return self.expiry_verdict(cx, verdict);
        }
        if self.state != State::Backup {
            return;
        }
        match verdict {
            Verdict::ModuleUp { incarnation } => {
                if self.restarts.observe(cx, incarnation).is_some() {
                    return self.module_down(cx, SwitchReason::ModuleRestartingTooOften);
                }
                self.cancel_pending_switch(cx);
                // The module monitor restarts when the next ping is scheduled.
                self.notifier.start(cx, 0);
                self.notifier.request_module_monitor_restart();
            }
            Verdict::ModuleDown => self.module_down(cx, SwitchReason::ModulePingFailure),
            Verdict::NetworkDown => self.enter_reconnecting(cx, Cause::NetworkDown),
            Verdict::WanFailure => self.enter_error(cx),
            Verdict::PrimaryUnreachable { own_network_good } => {
                self.enter_reconnecting(cx, Cause::PrimaryUnreachable { own_network_good })
            }
            Verdict::NotifierDown | Verdict::NetworkOk => {
                self.enter_reconnecting(cx, Cause::NotifierDown)
            }
        }
    }

    /// Module Down in the Backup state: Stopping in manual mode, otherwise
    /// a switchover (scheduled for after start-up while starting).
    pub(super) fn module_down(&mut self, cx: &mut Ctx, reason: SwitchReason) {
        let module = cx.module_name();
        cx.record(
            Topic::PrimaryMonitor,
            Level::Error,
            format!("[{module}] module is down, posting [event=eTSDown]"),
        );
        self.auto_switch(cx, reason);
    }
}

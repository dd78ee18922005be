//! Switching: automatic switches (and those waiting for start-up), the
//! switch itself, and administrators' switch requests.

use super::*;
use crate::ctx::Ctx;
use crate::io::{Command, Level, SwitchReason, SwitchRefusal, Topic};

impl Machine {
    /// An automatic switch decision; refused in manual mode and the Upgrade
    /// states.
    pub(super) fn auto_switch(&mut self, cx: &mut Ctx, reason: SwitchReason) {
        let label = cx.params.monitored_module.ping_label();
        if self.modes.manual_switch_only
            || matches!(self.state, State::UpgradeHigher | State::UpgradeLower)
        {
            cx.record(
                Topic::SwitchoverStates,
                Level::Error,
                format!(
                    "{}: not switching, the backup is in Manual Switch Only mode",
                    reason.describe(label)
                ),
            );
            if matches!(
                reason,
                SwitchReason::ModulePingFailure | SwitchReason::ModuleRestartingTooOften
            ) {
                self.stop_monitors();
                self.reconnect = None;
                self.set_state(
                    cx,
                    State::Stopping,
                    "the module is down in manual switchover mode; switching halted",
                );
                self.module.start(cx, cx.params.module_timeout_ms());
            } else if let Some(r) = self.reconnect.as_mut() {
                r.timer_ms = Some(cx.now_ms + cx.params.reconnect_timeout.ms());
            }
            return;
        }
        if self.modes.force_backup && !self.seen_active {
            cx.record(
                Topic::SwitchoverStates,
                Level::Warning,
                format!(
                    "{}: not switching, no active server has been seen since start-up (/ForceBackup)",
                    reason.describe(label)
                ),
            );
            if let Some(r) = self.reconnect.as_mut() {
                r.timer_ms = Some(cx.now_ms + cx.params.reconnect_timeout.ms());
            }
            return;
        }
        self.switch(cx, reason);
    }

    pub(super) fn switch(&mut self, cx: &mut Ctx, reason: SwitchReason) {
        let label = cx.params.monitored_module.ping_label();
        if self.starting {
            cx.record(
                Topic::SwitchoverStates,
                Level::Warning,
                format!(
                    "{}: this server is still starting up; switchover to StatePrimary scheduled for after start-up",
                    reason.describe(label)
                ),
            );
            self.pending_switch = Some(reason);
            // Keep watching: if the primary recovers before start-up ends,
            // the scheduled switch is cancelled.
            if self.state == State::Backup && self.diagnosis.is_none() {
                self.notifier.start(cx, 0);
                self.module.start(cx, cx.params.module_timeout_ms());
            }
            return;
        }
        cx.record(Topic::Switchover, Level::Error, reason.describe(label));
        cx.record(
            Topic::Switchover,
            Level::Error,
            "Switchover Service: Switch Initiated",
        );
        self.stop_watching();
        self.links = Links::default();
        self.last_switch_reason = Some(reason);
        self.set_state(cx, State::Primary, "switching now");
        cx.send(Command::BecomePrimary(Activation::Switchover(reason)));
    }

    pub(super) fn cancel_pending_switch(&mut self, cx: &mut Ctx) {
        if let Some(reason) = self.pending_switch.take() {
            let label = cx.params.monitored_module.ping_label();
            cx.record(
                Topic::SwitchoverStates,
                Level::Info,
                format!(
                    "The primary answers again: the switchover scheduled for after start-up ({}) is cancelled",
                    reason.describe(label)
                ),
            );
        }
    }

    pub(super) fn switch_request(&mut self, cx: &mut Ctx, force: bool) {
        let refuse = |cx: &mut Ctx, why: SwitchRefusal| {
            cx.record(
                Topic::Switchover,
                Level::Warning,
                format!("Switch request refused: {why}"),
            );
            cx.send(Command::RefuseSwitch(why));
        };
        match self.state {
            State::Primary => refuse(cx, SwitchRefusal::AlreadyActive),
            State::Init | State::Inactive | State::Shutdown => {
                refuse(cx, SwitchRefusal::NotWatching(self.state))
            }
            State::UpgradeHigher | State::UpgradeLower if !force => {
                refuse(cx, SwitchRefusal::UpgradeState)
            }
            _ if !self.file_replication_running && !force => {
                refuse(cx, SwitchRefusal::FileReplicationNotRunning)
            }
            _ => {
                cx.record(
                    Topic::SwitchoverStates,
                    Level::Info,
                    "Switch requested by an administrator, posting [event=eInternalSwitchReq]",
                );
                self.switch(cx, SwitchReason::ManualSwitchover);
            }
        }
    }
}

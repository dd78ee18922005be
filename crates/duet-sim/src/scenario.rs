//! Named scenarios: a fault made to the simulated world, run against the
//! engine with the seed's parameters (or an administrator's), printed as a
//! timeline in the seed's log style with the outcome.

use std::fmt::Write;

use duet_params::{ParamErrors, StartupModes, find, load};
use duet_switchover::bounds::failover_bounds;
use duet_switchover::{Conn, Event};
use serde::Serialize;

use crate::sim::{Entry, Sim, SimConfig};
use crate::world::{Fault, NET_TEST_ADDRESS};

/// When the fault happens, from the backup's start.
pub const FAULT_AT_MS: u64 = 60_000;
/// How long a scenario runs at most after the fault.
pub const RUN_AFTER_FAULT_MS: u64 = 600_000;

pub struct Scenario {
    pub name: &'static str,
    pub summary: &'static str,
    /// Parameters the scenario needs; a parameter file overrides them.
    pub params: &'static [(&'static str, &'static str)],
    pub modes: StartupModes,
    pub backup_release: &'static str,
    /// What happens, in milliseconds after the fault time.
    pub script: &'static [(u64, Action)],
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Fault(Fault),
    SwitchRequest,
}

const MANUAL: StartupModes = StartupModes {
    force_backup: false,
    manual_switch_only: true,
};
const AUTO: StartupModes = StartupModes {
    force_backup: false,
    manual_switch_only: false,
};
const SAME: &str = "2026.1.0";

pub static SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "module-down",
        summary: "the monitored module stops; the notifier rejects its pings (the seed's TS ping failure sample)",
        params: &[],
        modes: AUTO,
        backup_release: SAME,
        script: &[(0, Action::Fault(Fault::ModuleDie))],
    },
    Scenario {
        name: "module-hang",
        summary: "the monitored module hangs; its pings time out",
        params: &[],
        modes: AUTO,
        backup_release: SAME,
        script: &[(0, Action::Fault(Fault::ModuleHang))],
    },
    Scenario {
        name: "module-restarts",
        summary: "the monitored module restarts every 20 s",
        params: &[],
        modes: AUTO,
        backup_release: SAME,
        script: &[
            (0, Action::Fault(Fault::ModuleRestart)),
            (20_000, Action::Fault(Fault::ModuleRestart)),
            (40_000, Action::Fault(Fault::ModuleRestart)),
            (60_000, Action::Fault(Fault::ModuleRestart)),
            (80_000, Action::Fault(Fault::ModuleRestart)),
        ],
    },
    Scenario {
        name: "notifier-lost",
        summary: "the active node's process crashes; both connections are reset (the seed's lost notifier connection sample)",
        params: &[],
        modes: AUTO,
        backup_release: SAME,
        script: &[(0, Action::Fault(Fault::ProcessCrash))],
    },
    Scenario {
        name: "main-link-down",
        summary: "the main connection breaks for good; the auxiliary one still works",
        params: &[],
        modes: AUTO,
        backup_release: SAME,
        script: &[(0, Action::Fault(Fault::ConnBlock(Conn::Main)))],
    },
    Scenario {
        name: "network-down",
        summary: "the backup's own network fails for 4 minutes, gateway ping enabled",
        params: &[("Switchover Disable Gateway Ping", "No")],
        modes: AUTO,
        backup_release: SAME,
        script: &[
            (0, Action::Fault(Fault::BackupNetDown)),
            (240_000, Action::Fault(Fault::BackupNetUp)),
        ],
    },
    Scenario {
        name: "primary-unreachable",
        summary: "the active node's host vanishes, gateway ping enabled",
        params: &[("Switchover Disable Gateway Ping", "No")],
        modes: AUTO,
        backup_release: SAME,
        script: &[(0, Action::Fault(Fault::HostVanish))],
    },
    Scenario {
        name: "host-vanish",
        summary: "the active node's host vanishes, gateway ping disabled (the seed's default)",
        params: &[],
        modes: AUTO,
        backup_release: SAME,
        script: &[(0, Action::Fault(Fault::HostVanish))],
    },
    Scenario {
        name: "wan-partition",
        summary: "the WAN between the sites is cut; NetTest B is configured",
        params: &[("Switchover NetTest B", NET_TEST_ADDRESS)],
        modes: AUTO,
        backup_release: SAME,
        script: &[(0, Action::Fault(Fault::PathCut))],
    },
    Scenario {
        name: "manual-mode",
        summary: "/ManualSwitchOnly: the monitored module stops",
        params: &[],
        modes: MANUAL,
        backup_release: SAME,
        script: &[(0, Action::Fault(Fault::ModuleDie))],
    },
    Scenario {
        name: "manual-switch",
        summary: "an administrator asks the backup to switch",
        params: &[],
        modes: AUTO,
        backup_release: SAME,
        script: &[(0, Action::SwitchRequest)],
    },
    Scenario {
        name: "upgrade-higher",
        summary: "the backup runs a newer release (Upgrade Higher); the active node's host vanishes",
        params: &[],
        modes: AUTO,
        backup_release: "2026.2.0",
        script: &[(0, Action::Fault(Fault::HostVanish))],
    },
    Scenario {
        name: "upgrade-lower",
        summary: "the backup runs an older release (Upgrade Lower); the active node's host vanishes",
        params: &[],
        modes: AUTO,
        backup_release: "2025.4.0",
        script: &[(0, Action::Fault(Fault::HostVanish))],
    },
];

pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineLine {
    /// Seconds from the fault (negative before it).
    pub at_s: f64,
    pub topic: String,
    pub level: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: &'static str,
    pub summary: &'static str,
    pub switched: bool,
    /// Seconds from the fault to the switch.
    pub switch_at_s: Option<f64>,
    pub reason: String,
    pub final_state: String,
    /// The bound the parameters put on detecting this kind of failure, in
    /// seconds (module failures or connection failures).
    pub bound_s: Option<f64>,
    pub warnings: Vec<String>,
    pub timeline: Vec<TimelineLine>,
}

/// Runs a scenario with extra parameter entries (from a file) overriding
/// the scenario's own.
pub fn run(
    scenario: &'static Scenario,
    overrides: &[(String, String)],
) -> Result<Outcome, ParamErrors> {
    let overridden = |name: &str| {
        overrides.iter().any(|(o, _)| {
            find(o).is_some() && find(o).map(|s| s.name) == find(name).map(|s| s.name)
        })
    };
    let entries: Vec<(&str, &str)> = scenario
        .params
        .iter()
        .copied()
        .filter(|(n, _)| !overridden(n))
        .chain(overrides.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .collect();
    let loaded = load(entries)?;
    let params = loaded.params;
    let bounds = failover_bounds(&params, 1, params.net_test_b.is_some());
    let module_fault = scenario.script.iter().any(|(_, a)| {
        matches!(
            a,
            Action::Fault(Fault::ModuleDie | Fault::ModuleHang | Fault::ModuleRestart)
        )
    });
    let bound_ms = if module_fault {
        Some(bounds.module_down_ms)
    } else {
        bounds.connection_lost_ms
    };
    let label = params.monitored_module.ping_label();
    let mut sim = Sim::new(SimConfig {
        params,
        modes: scenario.modes,
        backup_release: scenario.backup_release.into(),
        ..SimConfig::default()
    });
    for (after, action) in scenario.script {
        let at = FAULT_AT_MS + after;
        match action {
            Action::Fault(fault) => sim.schedule_fault(at, *fault),
            Action::SwitchRequest => sim.schedule_event(at, Event::SwitchRequest { force: false }),
        }
    }
    sim.run_until(FAULT_AT_MS + RUN_AFTER_FAULT_MS, |_| Ok(()))
        .expect("a scenario run has no checks that fail");
    let final_state = sim.engine().state().seed_name().to_string();
    let reason = match sim.switch {
        Some(s) => s.reason.describe(label),
        None => format!(
            "no switchover: {}",
            last_transition(&sim.log).unwrap_or_else(|| format!("still in {final_state}"))
        ),
    };
    Ok(Outcome {
        scenario: scenario.name,
        summary: scenario.summary,
        switched: sim.switch.is_some(),
        switch_at_s: sim.switch.map(|s| seconds_from_fault(s.at_ms)),
        reason,
        final_state,
        bound_s: bound_ms.map(|ms| ms as f64 / 1000.0),
        warnings: loaded.warnings,
        timeline: sim
            .log
            .iter()
            .map(|e| TimelineLine {
                at_s: seconds_from_fault(e.at_ms),
                topic: e.topic.map_or("World".to_string(), |t| format!("{t:?}")),
                level: format!("{:?}", e.level),
                message: e.message.clone(),
            })
            .collect(),
    })
}

fn seconds_from_fault(at_ms: u64) -> f64 {
    (at_ms as f64 - FAULT_AT_MS as f64) / 1000.0
}

/// The last state change's reason ("StateBackup -> StateError: why").
fn last_transition(log: &[Entry]) -> Option<String> {
    log.iter()
        .rev()
        .find(|e| e.message.contains(" -> State"))
        .map(|e| e.message.clone())
}

/// The timeline in the seed's log style, then the outcome.
pub fn render(outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Scenario {}: {}.\nTimes are seconds from the fault.\n",
        outcome.scenario, outcome.summary
    );
    for warning in &outcome.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    let _ = writeln!(out, "{:>10}  {:<17} Message", "Time", "Topic");
    for line in &outcome.timeline {
        let message = if line.topic == "World" {
            format!("*** {}", line.message)
        } else {
            line.message.clone()
        };
        let _ = writeln!(out, "{:>+10.3}  {:<17} {}", line.at_s, line.topic, message);
    }
    let _ = writeln!(out);
    match outcome.switch_at_s {
        Some(at) => {
            let _ = write!(
                out,
                "Outcome: switched {at:.3} s after the fault. Reason: {}. Final state: {}.",
                outcome.reason, outcome.final_state
            );
        }
        None => {
            let _ = write!(
                out,
                "Outcome: no switchover in the {} s after the fault. Final state: {}. ({})",
                RUN_AFTER_FAULT_MS / 1000,
                outcome.final_state,
                outcome.reason
            );
        }
    }
    if let Some(bound) = outcome.bound_s {
        let _ = write!(
            out,
            "\nWith these parameters a failure of this kind is detected within {bound:.3} s."
        );
    }
    out.push('\n');
    out
}

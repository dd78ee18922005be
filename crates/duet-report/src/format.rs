//! A report as a table, CSV, JSON or an SVG chart.

use serde::Serialize;

use crate::agents::AgentLine;
use crate::chart::{self, ChartError};
use crate::queues::QueueLine;
use crate::staffing::StaffingLine;
use crate::stuck::Stuck;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Svg,
}

/// A report's line: its columns for the table and CSV, and its chart.
pub trait Line: Serialize + Sized {
    const COLUMNS: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
    fn chart(lines: &[Self]) -> Result<String, ChartError>;
}

/// A figure that may be empty (nothing to divide by), to three places.
fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.3}"))
}

const QUEUE_COLUMNS: [&str; 18] = [
    "start_ms",
    "end_ms",
    "queue",
    "source",
    "gap",
    "offered",
    "answered",
    "answered_in_time",
    "abandoned",
    "handled",
    "transferred",
    "lost_at_switchover",
    "service_level_s",
    "sl_ignored",
    "sl_missed",
    "sl_met",
    "asa_s",
    "aht_s",
];

impl Line for QueueLine {
    const COLUMNS: &'static [&'static str] = &QUEUE_COLUMNS;

    fn chart(lines: &[Self]) -> Result<String, ChartError> {
        chart::queues(lines)
    }

    fn cells(&self) -> Vec<String> {
        let l = self;
        vec![
            l.start_ms.to_string(),
            l.end_ms.to_string(),
            l.queue.clone(),
            l.source.clone(),
            l.gap.to_string(),
            l.offered.to_string(),
            l.answered.to_string(),
            l.answered_in_time.to_string(),
            l.abandoned.to_string(),
            l.handled.to_string(),
            l.transferred.to_string(),
            l.lost_at_switchover.to_string(),
            format!("{:.3}", l.service_level_s),
            opt(l.service_level_abandons_ignored),
            opt(l.service_level_abandons_missed),
            opt(l.service_level_abandons_met),
            opt(l.asa_s),
            opt(l.aht_s),
        ]
    }
}

const AGENT_COLUMNS: [&str; 20] = [
    "start_ms",
    "end_ms",
    "agent",
    "display_name",
    "source",
    "gap",
    "logged_in_s",
    "ready_s",
    "not_ready_s",
    "not_ready_by_reason_s",
    "answered",
    "handled",
    "transfers",
    "talk_s",
    "hold_s",
    "wrap_up_s",
    "aht_s",
    "occupancy",
    "busy_s",
    "idle_s",
];

impl Line for AgentLine {
    const COLUMNS: &'static [&'static str] = &AGENT_COLUMNS;

    fn chart(lines: &[Self]) -> Result<String, ChartError> {
        chart::agents(lines)
    }

    fn cells(&self) -> Vec<String> {
        let l = self;
        let reasons: Vec<String> = l
            .not_ready_by_reason_s
            .iter()
            .map(|(reason, s)| format!("{reason}={s:.3}"))
            .collect();
        vec![
            l.start_ms.to_string(),
            l.end_ms.to_string(),
            l.agent.clone(),
            l.display_name.clone(),
            l.source.clone(),
            l.gap.to_string(),
            format!("{:.3}", l.logged_in_s),
            format!("{:.3}", l.ready_s),
            format!("{:.3}", l.not_ready_s),
            reasons.join(";"),
            l.answered.to_string(),
            l.handled.to_string(),
            l.transfers.to_string(),
            format!("{:.3}", l.talk_s),
            format!("{:.3}", l.hold_s),
            format!("{:.3}", l.wrap_up_s),
            opt(l.aht_s),
            opt(l.occupancy),
            format!("{:.3}", l.busy_s),
            format!("{:.3}", l.idle_s),
        ]
    }
}

const STAFFING_COLUMNS: [&str; 13] = [
    "start_ms",
    "end_ms",
    "queue",
    "gap",
    "offered",
    "aht_s",
    "traffic_erlangs",
    "service_level_s",
    "goal",
    "agents",
    "forecast_sl",
    "forecast_asa_s",
    "forecast_occupancy",
];

impl Line for StaffingLine {
    const COLUMNS: &'static [&'static str] = &STAFFING_COLUMNS;

    fn chart(lines: &[Self]) -> Result<String, ChartError> {
        chart::staffing(lines)
    }

    fn cells(&self) -> Vec<String> {
        let l = self;
        vec![
            l.start_ms.to_string(),
            l.end_ms.to_string(),
            l.queue.clone(),
            l.gap.to_string(),
            l.offered.to_string(),
            opt(l.aht_s),
            opt(l.traffic_erlangs),
            format!("{:.3}", l.service_level_s),
            format!("{:.3}", l.goal),
            l.agents.map_or_else(String::new, |n| n.to_string()),
            opt(l.forecast_service_level),
            opt(l.forecast_asa_s),
            opt(l.forecast_occupancy),
        ]
    }
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

impl Line for Stuck {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "media",
        "queue",
        "phase",
        "agent",
        "created",
        "last_change",
        "still_s",
        "open_in",
    ];

    fn chart(_: &[Self]) -> Result<String, ChartError> {
        Err(ChartError::not_a_chart("stuck interactions"))
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.media.name().to_string(),
            self.queue.clone(),
            self.phase.to_string(),
            self.agent.clone().unwrap_or_default(),
            rfc3339(self.created_ms),
            rfc3339(self.last_change_ms),
            (self.still_ms / 1000).to_string(),
            self.open_in.join(" "),
        ]
    }
}

/// A CSV field, quoted when it must be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn render<L: Line>(lines: &[L], format: Format) -> Result<String, ChartError> {
    Ok(match format {
        Format::Svg => L::chart(lines)?,
        Format::Json => serde_json::to_string_pretty(lines).unwrap_or_default() + "\n",
        Format::Csv => {
            let mut out = L::COLUMNS.join(",") + "\n";
            for l in lines {
                let row: Vec<String> = l.cells().iter().map(|c| csv_field(c)).collect();
                out.push_str(&(row.join(",") + "\n"));
            }
            out
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = lines.iter().map(Line::cells).collect();
            let widths: Vec<usize> = (0..L::COLUMNS.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].len())
                        .chain([L::COLUMNS[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |r: &[String]| {
                r.iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:>w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
                    + "\n"
            };
            let header: Vec<String> = L::COLUMNS.iter().map(|c| c.to_string()).collect();
            std::iter::once(line(&header))
                .chain(rows.iter().map(|r| line(r)))
                .collect()
        }
    })
}

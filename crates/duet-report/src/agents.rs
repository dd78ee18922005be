//! The agent report: per agent and interval, from the database whose
//! coverage has no gap over the interval, its time logged in, ready and
//! not ready (by reason), what it answered, handled and transferred,
//! its talk, hold and wrap-up time, AHT and occupancy. Pure: the caller
//! reads the databases. Formulas are in docs/reporting.md.

mod states;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::USERS;
use crate::queues::{Window, WindowError};
use crate::rows::{ActivityRow, QueueEventKind, QueueEventRow, SegmentRow};
use crate::source::{Source, by_interval, choose};
use states::{State, Stretch, overlap_ms, shared_ms, stretches, union};

/// One agent over one interval; times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentLine {
    pub start_ms: u64,
    pub end_ms: u64,
    pub agent: String,
    /// The agent's `display_name` in effect at the interval's start
    /// (empty when the database holds no version of the user).
    pub display_name: String,
    pub source: String,
    /// No database covers the whole interval (see the queue report).
    pub gap: bool,
    pub logged_in_s: f64,
    pub ready_s: f64,
    pub not_ready_s: f64,
    /// Not-ready time by reason code (a non-ACD status by its name).
    pub not_ready_by_reason_s: BTreeMap<String, f64>,
    pub answered: u64,
    pub handled: u64,
    pub transfers: u64,
    pub talk_s: f64,
    pub hold_s: f64,
    pub wrap_up_s: f64,
    /// (talk + hold + wrap-up) / handled.
    pub aht_s: Option<f64>,
    /// busy / (busy + idle).
    pub occupancy: Option<f64>,
    /// Time with at least one interaction connected, held or in wrap-up.
    pub busy_s: f64,
    /// Time ready with no interaction.
    pub idle_s: f64,
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The agents a database names anywhere in the window.
fn agents_of(source: &Source) -> impl Iterator<Item = &str> {
    let activity = source.activity.iter().map(|a| a.agent.as_str());
    let segments = source.segments.iter().filter_map(|s| s.agent.as_deref());
    let events = source.events.iter().filter_map(|e| e.agent.as_deref());
    activity.chain(segments).chain(events)
}

/// The agent report over `sources` (in the order given: the first that
/// covers an interval is used for it). An agent with nothing in an
/// interval (not logged in, no interaction) has no line for it.
pub fn report(window: &Window, sources: &[Source]) -> Result<Vec<AgentLine>, WindowError> {
    let intervals = window.intervals()?;
    let agents: BTreeSet<&str> = sources.iter().flat_map(agents_of).collect();
    // Each database's stretches per agent, worked out once.
    let states: Vec<BTreeMap<&str, Vec<Stretch>>> = sources
        .iter()
        .map(|source| {
            let mut by_agent: BTreeMap<&str, Vec<&ActivityRow>> = BTreeMap::new();
            for row in &source.activity {
                by_agent.entry(&row.agent).or_default().push(row);
            }
            by_agent
                .into_iter()
                .map(|(agent, rows)| (agent, stretches(&rows, source.covered_until_ms())))
                .collect()
        })
        .collect();
    // Each database's stretches of interactions and events by interval
    // and agent, sorted out once.
    let segments: Vec<_> = sources
        .iter()
        .map(|s| {
            by_interval(
                &intervals,
                &s.segments,
                |g| (g.start_ms, g.end_ms.max(g.start_ms + 1)),
                |g| g.agent.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    let events: Vec<_> = sources
        .iter()
        .map(|s| {
            by_interval(
                &intervals,
                &s.events,
                |e| (e.at_ms, e.at_ms + 1),
                |e| e.agent.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    let mut lines = Vec::new();
    for (i, &(start, end)) in intervals.iter().enumerate() {
        let Some((index, gap)) = choose(sources, start, end) else {
            continue;
        };
        let source = &sources[index];
        for agent in &agents {
            let line = figures(
                source,
                Work {
                    states: states[index].get(agent).map_or(&[][..], Vec::as_slice),
                    segments: segments[index][i].get(agent).map_or(&[][..], Vec::as_slice),
                    events: events[index][i].get(agent).map_or(&[][..], Vec::as_slice),
                },
                agent,
                (start, end),
                gap,
            );
            if let Some(line) = line {
                lines.push(line);
            }
        }
    }
    Ok(lines)
}

/// What an agent did, as one database holds it: its stretches of state,
/// and the stretches of interactions and the events of the interval.
struct Work<'a> {
    states: &'a [Stretch],
    segments: &'a [&'a SegmentRow],
    events: &'a [&'a QueueEventRow],
}

fn figures(
    source: &Source,
    work: Work<'_>,
    agent: &str,
    (start, end): (u64, u64),
    gap: bool,
) -> Option<AgentLine> {
    let (mut logged_in_ms, mut ready_ms, mut not_ready_ms) = (0, 0, 0);
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    let mut ready = Vec::new();
    for s in work.states {
        let ms = overlap_ms(s.start_ms, s.end_ms, start, end);
        if ms == 0 {
            continue;
        }
        logged_in_ms += ms;
        match &s.state {
            State::Available => {
                ready_ms += ms;
                ready.push((s.start_ms.max(start), s.end_ms.min(end)));
            }
            State::NotReady(reason) => {
                not_ready_ms += ms;
                *by_reason.entry(reason.clone()).or_default() += ms;
            }
            State::LoggedOut => {}
        }
    }
    let (mut talk_ms, mut hold_ms, mut wrap_ms) = (0, 0, 0);
    let mut busy = Vec::new();
    for g in work.segments {
        let ms = overlap_ms(g.start_ms, g.end_ms, start, end);
        let total = match g.kind.as_str() {
            "connected" => &mut talk_ms,
            "held" => &mut hold_ms,
            "wrap_up" => &mut wrap_ms,
            _ => continue,
        };
        if ms > 0 {
            *total += ms;
            busy.push((g.start_ms.max(start), g.end_ms.min(end)));
        }
    }
    let (mut answered, mut handled, mut transfers) = (0, 0, 0);
    for e in work.events {
        match e.kind {
            QueueEventKind::Answered => answered += 1,
            QueueEventKind::Handled => handled += 1,
            QueueEventKind::Transferred => transfers += 1,
            _ => {}
        }
    }
    if logged_in_ms == 0 && busy.is_empty() && answered + handled + transfers == 0 {
        return None;
    }
    let busy = union(busy);
    let busy_ms: u64 = busy.iter().map(|(s, e)| e - s).sum();
    let idle_ms = ready_ms.saturating_sub(shared_ms(&union(ready), &busy));
    let handle_ms = talk_ms + hold_ms + wrap_ms;
    Some(AgentLine {
        start_ms: start,
        end_ms: end,
        agent: agent.to_string(),
        display_name: source
            .setting(&format!("{USERS}/{agent}"), "display_name", start)
            .unwrap_or_default()
            .to_string(),
        source: source.name.clone(),
        gap,
        logged_in_s: seconds(logged_in_ms),
        ready_s: seconds(ready_ms),
        not_ready_s: seconds(not_ready_ms),
        not_ready_by_reason_s: by_reason
            .into_iter()
            .map(|(r, ms)| (r, seconds(ms)))
            .collect(),
        answered,
        handled,
        transfers,
        talk_s: seconds(talk_ms),
        hold_s: seconds(hold_ms),
        wrap_up_s: seconds(wrap_ms),
        aht_s: (handled > 0).then(|| seconds(handle_ms) / handled as f64),
        occupancy: (busy_ms + idle_ms > 0).then(|| busy_ms as f64 / (busy_ms + idle_ms) as f64),
        busy_s: seconds(busy_ms),
        idle_s: seconds(idle_ms),
    })
}

#[cfg(test)]
mod tests;

//! A staffing estimate from interval figures, by Erlang C: the agents a
//! queue needed in each interval to answer its service level goal, given
//! what was offered and the interval's AHT. Pure. Formulas are in
//! docs/reporting.md.

use serde::Serialize;

use crate::queues::QueueLine;

/// Agents an estimate goes up to; a queue that needs more is said to.
pub const AGENTS_MAX: u32 = 10_000;
/// The share answered within the service level time aimed at when none
/// is given: the common 80 %.
pub const DEFAULT_GOAL: f64 = 0.8;

/// The probability that a contact waits (Erlang C) with `agents` agents
/// and `traffic_erlangs` of traffic: 1 when they cannot keep up. Worked
/// out through Erlang B's recursion, which neither overflows nor loses
/// precision for thousands of agents.
pub fn wait_probability(agents: u32, traffic_erlangs: f64) -> f64 {
    let n = f64::from(agents);
    if traffic_erlangs <= 0.0 {
        return 0.0;
    }
    if n <= traffic_erlangs {
        return 1.0;
    }
    let mut blocking = 1.0;
    for k in 1..=agents {
        blocking = traffic_erlangs * blocking / (f64::from(k) + traffic_erlangs * blocking);
    }
    n * blocking / (n - traffic_erlangs * (1.0 - blocking))
}

/// The share of contacts answered within `target_s`.
pub fn service_level(agents: u32, traffic_erlangs: f64, aht_s: f64, target_s: f64) -> f64 {
    let waits = wait_probability(agents, traffic_erlangs);
    if waits >= 1.0 {
        return 0.0;
    }
    let spare = f64::from(agents) - traffic_erlangs;
    1.0 - waits * (-spare * target_s / aht_s).exp()
}

/// The average wait before an answer; `None` when the agents cannot keep up.
pub fn asa_s(agents: u32, traffic_erlangs: f64, aht_s: f64) -> Option<f64> {
    if traffic_erlangs <= 0.0 {
        return Some(0.0);
    }
    let spare = f64::from(agents) - traffic_erlangs;
    (spare > 0.0).then(|| wait_probability(agents, traffic_erlangs) * aht_s / spare)
}

/// The fewest agents whose service level reaches `goal`.
pub fn agents_needed(traffic_erlangs: f64, aht_s: f64, target_s: f64, goal: f64) -> Option<u32> {
    if traffic_erlangs <= 0.0 {
        return Some(0);
    }
    let first = traffic_erlangs.floor() as u32 + 1;
    (first..=AGENTS_MAX).find(|&n| service_level(n, traffic_erlangs, aht_s, target_s) >= goal)
}

/// One queue's estimate for one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffingLine {
    pub start_ms: u64,
    pub end_ms: u64,
    pub queue: String,
    pub gap: bool,
    pub offered: u64,
    /// The AHT worked from: the interval's, or the one given.
    pub aht_s: Option<f64>,
    /// offered × AHT / the interval's length.
    pub traffic_erlangs: Option<f64>,
    pub service_level_s: f64,
    pub goal: f64,
    /// `None`: no AHT to work from, or more than [`AGENTS_MAX`].
    pub agents: Option<u32>,
    /// With that many agents, as Erlang C forecasts it.
    pub forecast_service_level: Option<f64>,
    pub forecast_asa_s: Option<f64>,
    /// traffic / agents.
    pub forecast_occupancy: Option<f64>,
}

/// The estimate for each line of a queue report; `aht_s` (when given)
/// stands for every interval's own.
pub fn estimate(lines: &[QueueLine], goal: f64, aht_s: Option<f64>) -> Vec<StaffingLine> {
    lines
        .iter()
        .map(|l| {
            let aht_s = aht_s.or(l.aht_s).filter(|s| *s > 0.0);
            let interval_s = (l.end_ms - l.start_ms) as f64 / 1000.0;
            let traffic = aht_s.map(|aht| l.offered as f64 * aht / interval_s);
            let agents = match (traffic, aht_s) {
                (Some(a), Some(aht)) => agents_needed(a, aht, l.service_level_s, goal),
                _ => (l.offered == 0).then_some(0),
            };
            let forecast = |f: &dyn Fn(u32, f64, f64) -> Option<f64>| match (agents, traffic, aht_s)
            {
                (Some(n), Some(a), Some(aht)) if n > 0 => f(n, a, aht),
                _ => None,
            };
            StaffingLine {
                start_ms: l.start_ms,
                end_ms: l.end_ms,
                queue: l.queue.clone(),
                gap: l.gap,
                offered: l.offered,
                aht_s,
                traffic_erlangs: traffic,
                service_level_s: l.service_level_s,
                goal,
                agents,
                forecast_service_level: forecast(&|n, a, aht| {
                    Some(service_level(n, a, aht, l.service_level_s))
                }),
                forecast_asa_s: forecast(&|n, a, aht| asa_s(n, a, aht)),
                forecast_occupancy: forecast(&|n, a, _| Some(a / f64::from(n))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// By hand: 2 Erlangs on 3 agents. A^N/N! · N/(N−A) = 8/6 · 3 = 4;
    /// Σ_{k<3} A^k/k! = 1 + 2 + 2 = 5; C = 4 / (5 + 4) = 4/9.
    #[test]
    fn erlang_c_by_hand() {
        assert!(close(wait_probability(3, 2.0), 4.0 / 9.0));
        assert_eq!(wait_probability(2, 2.0), 1.0, "cannot keep up");
        assert_eq!(wait_probability(5, 0.0), 0.0);
    }

    /// The published worked example of 100 calls in 30 minutes, AHT
    /// 180 s, answered within 20 s: 10 Erlangs; with 14 agents the wait
    /// probability is 0.1741319, the service level 0.88835 and ASA
    /// 7.835937 s; with 11 agents 0.6821182 and 0.3896138. Source: the
    /// CRAN package ErlangC 0.1.0's README (its `erlang_c` and
    /// `calculate_agents` examples, after Call Centre Helper's "Erlang C
    /// formula example").
    #[test]
    fn the_published_example() {
        let traffic = 100.0 * 180.0 / 1800.0;
        assert!(close(traffic, 10.0));
        assert!(close(wait_probability(14, traffic), 0.1741319));
        assert!(close(service_level(14, traffic, 180.0, 20.0), 0.88835));
        assert!(close(asa_s(14, traffic, 180.0).unwrap(), 7.835937));
        assert!(close(wait_probability(11, traffic), 0.6821182));
        assert!(close(service_level(11, traffic, 180.0, 20.0), 0.3896138));
        // 13 agents answer 79.6 % in 20 s: 80/20 needs 14.
        assert!(service_level(13, traffic, 180.0, 20.0) < 0.8);
        assert_eq!(agents_needed(traffic, 180.0, 20.0, 0.8), Some(14));
    }

    #[test]
    fn an_estimate_per_queue_interval() {
        let line = QueueLine {
            start_ms: 0,
            end_ms: 1_800_000,
            queue: "Sales".into(),
            source: "a".into(),
            gap: false,
            offered: 100,
            answered: 0,
            answered_in_time: 0,
            abandoned: 0,
            handled: 0,
            transferred: 0,
            lost_at_switchover: 0,
            service_level_s: 20.0,
            service_level_abandons_ignored: None,
            service_level_abandons_missed: None,
            service_level_abandons_met: None,
            asa_s: None,
            aht_s: Some(180.0),
        };
        let e = &estimate(std::slice::from_ref(&line), 0.8, None)[0];
        assert_eq!(e.agents, Some(14));
        assert!(close(e.forecast_service_level.unwrap(), 0.88835));
        assert!(close(e.forecast_occupancy.unwrap(), 10.0 / 14.0));
        // No AHT to work from: no estimate, unless one is given.
        let unknown = QueueLine {
            aht_s: None,
            ..line.clone()
        };
        assert_eq!(
            estimate(std::slice::from_ref(&unknown), 0.8, None)[0].agents,
            None
        );
        assert_eq!(estimate(&[unknown], 0.8, Some(180.0))[0].agents, Some(14));
        // Nothing offered: nobody needed.
        let idle = QueueLine {
            offered: 0,
            aht_s: None,
            ..line
        };
        assert_eq!(estimate(&[idle], 0.8, None)[0].agents, Some(0));
    }
}

//! The queue report: per interval, the database whose coverage has no gap
//! over it, and the figures summed from its queue events. Pure: the
//! caller reads the databases. Formulas are in docs/reporting.md.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::config::QUEUES;
use crate::rows::{QueueEventKind, QueueEventRow};
use crate::source::{Source, by_interval, choose};

/// The interval length when none is given: the seed's 1800 s.
pub const DEFAULT_INTERVAL_MS: u64 = 1_800_000;
/// The answer time service levels count against when none is given.
pub const DEFAULT_SERVICE_LEVEL_MS: u64 = 20_000;
/// Intervals one report may hold, so a mistaken window is refused
/// rather than filling the screen (a month of 15-minute intervals fits).
pub const INTERVALS_MAX: u64 = 4 * 24 * 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from_ms: u64,
    pub to_ms: u64,
    pub interval_ms: u64,
    /// The answer time service levels count against; `None`: each
    /// queue's `service_level_s` in effect at the interval's start (20 s
    /// when the database holds no version of it).
    pub service_level_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error(
        "an interval is a whole number of minutes that divides a day (900 s, 1800 s, 3600 s...), not {0} ms"
    )]
    Interval(u64),
    #[error("the window ends ({to_ms}) before it starts ({from_ms})")]
    Backwards { from_ms: u64, to_ms: u64 },
    #[error(
        "the window holds {0} intervals; at most {INTERVALS_MAX}: narrow it or lengthen the interval"
    )]
    TooLong(u64),
}

impl Window {
    /// The intervals of the window, aligned to the epoch: those that
    /// start in `[from_ms, to_ms)`.
    pub fn intervals(&self) -> Result<Vec<(u64, u64)>, WindowError> {
        let day_ms: u64 = 86_400_000;
        if self.interval_ms < 60_000
            || !self.interval_ms.is_multiple_of(60_000)
            || !day_ms.is_multiple_of(self.interval_ms)
        {
            return Err(WindowError::Interval(self.interval_ms));
        }
        if self.to_ms < self.from_ms {
            return Err(WindowError::Backwards {
                from_ms: self.from_ms,
                to_ms: self.to_ms,
            });
        }
        let first = self.from_ms.div_ceil(self.interval_ms) * self.interval_ms;
        let count = self.to_ms.saturating_sub(first).div_ceil(self.interval_ms);
        if count > INTERVALS_MAX {
            return Err(WindowError::TooLong(count));
        }
        Ok((0..count)
            .map(|i| {
                let start = first + i * self.interval_ms;
                (start, start + self.interval_ms)
            })
            .collect())
    }
}

/// One queue over one interval.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueLine {
    pub start_ms: u64,
    pub end_ms: u64,
    pub queue: String,
    /// The database the figures come from (the first that covers the
    /// interval whole; otherwise the one that covers most of it).
    pub source: String,
    /// No database covers the whole interval: the figures may miss what
    /// happened in the gap.
    pub gap: bool,
    pub offered: u64,
    pub answered: u64,
    pub answered_in_time: u64,
    pub abandoned: u64,
    pub handled: u64,
    pub transferred: u64,
    pub lost_at_switchover: u64,
    /// The answer time the service levels counted against.
    pub service_level_s: f64,
    pub service_level_abandons_ignored: Option<f64>,
    pub service_level_abandons_missed: Option<f64>,
    pub service_level_abandons_met: Option<f64>,
    pub asa_s: Option<f64>,
    pub aht_s: Option<f64>,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// The queue report over `sources` (in the order given: the first that
/// covers an interval is used for it).
pub fn report(window: &Window, sources: &[Source]) -> Result<Vec<QueueLine>, WindowError> {
    let intervals = window.intervals()?;
    let queues: BTreeSet<&str> = sources
        .iter()
        .flat_map(|s| s.events.iter().map(|e| e.queue.as_str()))
        .collect();
    // Each database's events by interval and queue, sorted out once.
    let buckets: Vec<_> = sources
        .iter()
        .map(|s| {
            by_interval(
                &intervals,
                &s.events,
                |e| (e.at_ms, e.at_ms + 1),
                |e| e.queue.as_str(),
            )
        })
        .collect();
    let mut lines = Vec::new();
    for (i, &(start, end)) in intervals.iter().enumerate() {
        let Some((index, gap)) = choose(sources, start, end) else {
            continue;
        };
        let source = &sources[index];
        for queue in &queues {
            let events = buckets[index][i].get(queue).into_iter().flatten().copied();
            let service_level_ms = window.service_level_ms.unwrap_or_else(|| {
                source
                    .setting(&format!("{QUEUES}/{queue}"), "service_level_s", start)
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map_or(DEFAULT_SERVICE_LEVEL_MS, |s| s.saturating_mul(1000))
            });
            lines.push(figures(
                service_level_ms,
                start,
                end,
                queue,
                &source.name,
                gap,
                events,
            ));
        }
    }
    Ok(lines)
}

fn figures<'a>(
    service_level_ms: u64,
    start: u64,
    end: u64,
    queue: &str,
    source: &str,
    gap: bool,
    events: impl Iterator<Item = &'a QueueEventRow>,
) -> QueueLine {
    let (mut offered, mut answered, mut in_time, mut abandoned) = (0, 0, 0, 0);
    let (mut handled, mut transferred, mut lost) = (0, 0, 0);
    let (mut wait_ms, mut handle_ms) = (0u64, 0u64);
    for e in events {
        match e.kind {
            QueueEventKind::Offered => offered += 1,
            QueueEventKind::Answered => {
                answered += 1;
                wait_ms += e.duration_ms;
                if e.duration_ms <= service_level_ms {
                    in_time += 1;
                }
            }
            QueueEventKind::Abandoned => abandoned += 1,
            QueueEventKind::Handled => {
                handled += 1;
                handle_ms += e.duration_ms;
            }
            QueueEventKind::Wrapped => handle_ms += e.duration_ms,
            QueueEventKind::Transferred => transferred += 1,
            QueueEventKind::Lost => lost += 1,
        }
    }
    QueueLine {
        start_ms: start,
        end_ms: end,
        queue: queue.to_string(),
        source: source.to_string(),
        gap,
        offered,
        answered,
        answered_in_time: in_time,
        abandoned,
        handled,
        transferred,
        lost_at_switchover: lost,
        service_level_s: service_level_ms as f64 / 1000.0,
        service_level_abandons_ignored: ratio(in_time, answered),
        service_level_abandons_missed: ratio(in_time, answered + abandoned),
        service_level_abandons_met: ratio(in_time + abandoned, answered + abandoned),
        asa_s: ratio(wait_ms, answered).map(|ms| ms / 1000.0),
        aht_s: ratio(handle_ms, handled).map(|ms| ms / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Position;
    use crate::store::Span;

    fn event(seq: u64, at_ms: u64, kind: QueueEventKind, duration_ms: u64) -> QueueEventRow {
        QueueEventRow {
            position: Position::new(1, seq),
            interaction: format!("i{seq}"),
            queue: "Sales".into(),
            media: "chat".into(),
            at_ms,
            kind,
            duration_ms,
            agent: None,
        }
    }

    fn window() -> Window {
        Window {
            from_ms: 0,
            to_ms: 1_800_000,
            interval_ms: 900_000,
            service_level_ms: Some(20_000),
        }
    }

    #[test]
    fn each_interval_comes_from_a_database_that_covers_it_whole() {
        let a = Source {
            name: "a".into(),
            // A gap from 1000 s to 1100 s.
            coverage: vec![
                Span {
                    start_ms: 0,
                    end_ms: 1_000_000,
                },
                Span {
                    start_ms: 1_100_000,
                    end_ms: 2_000_000,
                },
            ],
            events: vec![event(1, 10, QueueEventKind::Offered, 0)],
            ..Source::default()
        };
        let b = Source {
            name: "b".into(),
            coverage: vec![Span {
                start_ms: 500_000,
                end_ms: 2_000_000,
            }],
            events: vec![event(1, 10, QueueEventKind::Offered, 0)],
            ..Source::default()
        };
        let lines = report(&window(), &[a, b]).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].source.as_str(), lines[0].gap), ("a", false));
        assert_eq!((lines[1].source.as_str(), lines[1].gap), ("b", false));
        assert_eq!(lines[0].offered, 1);
    }

    #[test]
    fn an_interval_no_database_covers_is_kept_and_marked() {
        let a = Source {
            name: "a".into(),
            coverage: vec![Span {
                start_ms: 0,
                end_ms: 1_000_000,
            }],
            events: vec![event(1, 10, QueueEventKind::Offered, 0)],
            ..Source::default()
        };
        let lines = report(&window(), &[a]).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(!lines[0].gap);
        assert!(lines[1].gap, "the second interval is only partly covered");
    }

    /// A database named `a` that covers the window whole.
    fn whole(events: Vec<QueueEventRow>) -> Source {
        Source {
            name: "a".into(),
            coverage: vec![Span {
                start_ms: 0,
                end_ms: 2_000_000,
            }],
            events,
            ..Source::default()
        }
    }

    #[test]
    fn the_three_service_levels_asa_and_aht() {
        let a = whole(vec![
            event(1, 10, QueueEventKind::Answered, 10_000),
            event(2, 10, QueueEventKind::Answered, 30_000),
            event(3, 10, QueueEventKind::Abandoned, 5_000),
            event(4, 10, QueueEventKind::Handled, 60_000),
            event(5, 10, QueueEventKind::Wrapped, 20_000),
        ]);
        let l = &report(&window(), &[a]).unwrap()[0];
        assert_eq!(l.service_level_abandons_ignored, Some(0.5));
        assert_eq!(l.service_level_abandons_missed, Some(1.0 / 3.0));
        assert_eq!(l.service_level_abandons_met, Some(2.0 / 3.0));
        assert_eq!(l.asa_s, Some(20.0));
        assert_eq!(l.aht_s, Some(80.0));
    }

    /// Events at random times over two hours, and two databases with a
    /// gap each (where they hold no event): every interval one of them
    /// covers whole reports what a database that saw everything does;
    /// one that neither covers is marked.
    /// Events as (at_ms, kind index, duration_ms) and two gaps.
    type Traffic = (Vec<(u64, u8, u64)>, (u64, u64), (u64, u64));

    fn gaps_and_events() -> impl proptest::strategy::Strategy<Value = Traffic> {
        use proptest::prelude::*;
        let hours_ms = 7_200_000u64;
        let event = (0..hours_ms, 0..7u8, 0..60_000u64);
        let gap = (0..hours_ms, 1..1_000_000u64).prop_map(|(s, len)| (s, s + len));
        (prop::collection::vec(event, 0..200), gap.clone(), gap)
    }

    proptest::proptest! {
        #[test]
        fn two_databases_with_gaps_report_what_one_that_saw_everything_does(
            (events, gap_a, gap_b) in gaps_and_events()
        ) {
            let rows: Vec<QueueEventRow> = events
                .iter()
                .enumerate()
                .map(|(i, &(at_ms, kind, d))| event(i as u64, at_ms, QueueEventKind::ALL[kind as usize], d))
                .collect();
            let end_ms = 7_200_000;
            let without = |(from, to): (u64, u64)| Source {
                name: "x".into(),
                coverage: vec![
                    Span { start_ms: 0, end_ms: from },
                    Span { start_ms: to, end_ms },
                ],
                events: rows.iter().filter(|e| e.at_ms < from || e.at_ms >= to).cloned().collect(),
            ..Source::default()
            };
            let oracle = Source {
                name: "x".into(),
                coverage: vec![Span { start_ms: 0, end_ms }],
                events: rows.clone(),
            ..Source::default()
            };
            let w = Window { from_ms: 0, to_ms: end_ms, interval_ms: 900_000, service_level_ms: Some(20_000) };
            let both = report(&w, &[without(gap_a), without(gap_b)]).unwrap();
            let seen = report(&w, &[oracle]).unwrap();
            proptest::prop_assert_eq!(both.len(), seen.len());
            let hit = |(from, to): (u64, u64), l: &QueueLine| from < l.end_ms && to > l.start_ms;
            for (b, s) in both.iter().zip(&seen) {
                if hit(gap_a, b) && hit(gap_b, b) {
                    proptest::prop_assert!(b.gap, "neither covers it: marked");
                } else {
                    proptest::prop_assert_eq!(b, s);
                }
            }
        }
    }

    #[test]
    fn a_queues_own_service_level_in_effect_when_none_is_asked() {
        use crate::config::{ConfigKind, ConfigVersion};
        let version = |seq, valid_from_ms, valid_to_ms, s: &str| ConfigVersion {
            path: "/config/Workgroups/Sales".into(),
            kind: ConfigKind::Queue,
            name: "Sales".into(),
            epoch: 1,
            seq,
            valid_from_ms,
            valid_to_ms,
            attributes: Some([("service_level_s".to_string(), s.to_string())].into()),
        };
        // Answered after 12 s in each half hour.
        let mut a = whole(vec![
            event(1, 10, QueueEventKind::Answered, 12_000),
            event(2, 900_010, QueueEventKind::Answered, 12_000),
        ]);
        // 10 s until 900 s, then 15 s.
        a.config = vec![
            version(3, 0, Some(900_000), "10"),
            version(8, 900_000, None, "15"),
        ];
        let own = Window {
            service_level_ms: None,
            ..window()
        };
        let lines = report(&own, std::slice::from_ref(&a)).unwrap();
        let plain: Vec<(f64, Option<f64>)> = lines
            .iter()
            .map(|l| (l.service_level_s, l.service_level_abandons_ignored))
            .collect();
        assert_eq!(plain, [(10.0, Some(0.0)), (15.0, Some(1.0))]);
        // Asked for: the same for every queue and interval.
        let asked = report(&window(), &[a]).unwrap();
        assert!(asked.iter().all(|l| l.service_level_s == 20.0));
    }

    #[test]
    fn windows_are_checked() {
        let w = |interval_ms, to_ms| Window {
            from_ms: 0,
            to_ms,
            interval_ms,
            service_level_ms: None,
        };
        assert!(w(1_234, 10).intervals().is_err());
        assert!(w(900_000, 86_400_000 * 365).intervals().is_err());
        assert_eq!(w(1_800_000, 3_600_000).intervals().unwrap().len(), 2);
        assert!(matches!(
            Window {
                from_ms: 5,
                ..w(900_000, 1)
            }
            .intervals(),
            Err(WindowError::Backwards { .. })
        ));
    }
}

//! One reporting database as a report reads it, and which database a
//! report takes each interval from: the first given whose coverage holds
//! the whole interval and that counted every change in it for sure (none
//! about an interaction that crossed a gap); when none does, the one
//! that covers most of it, with the interval marked as a gap (kept,
//! never dropped).

use crate::config::{ConfigVersion, in_effect};
use crate::rows::{ActivityRow, QueueEventRow, SegmentRow};
use crate::store::Span;

/// One database: what it covers and its rows in the window (a report
/// reads the kinds it needs; the others stay empty).
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub name: String,
    pub coverage: Vec<Span>,
    pub events: Vec<QueueEventRow>,
    pub activity: Vec<ActivityRow>,
    pub segments: Vec<SegmentRow>,
    /// Versions of users and queues: the configuration in effect.
    pub config: Vec<ConfigVersion>,
    /// When changes it cannot count for sure were made (after a gap).
    pub uncertain: Vec<u64>,
}

impl Source {
    /// The latest time this database holds every change up to.
    pub fn covered_until_ms(&self) -> u64 {
        self.coverage.iter().map(|s| s.end_ms).max().unwrap_or(0)
    }

    /// The attribute `name` of the object at `path` as it stood at `at_ms`.
    pub fn setting(&self, path: &str, name: &str, at_ms: u64) -> Option<&str> {
        in_effect(&self.config, path, at_ms)?
            .attributes
            .as_ref()?
            .get(name)
            .map(String::as_str)
    }
}

/// Whether `spans` cover `[start, end)` whole, with no gap.
pub fn covers(spans: &[Span], start: u64, end: u64) -> bool {
    spans.iter().any(|s| s.start_ms <= start && s.end_ms >= end)
}

/// How much of `[start, end)` `spans` cover.
pub fn covered_ms(spans: &[Span], start: u64, end: u64) -> u64 {
    spans
        .iter()
        .map(|s| s.end_ms.min(end).saturating_sub(s.start_ms.max(start)))
        .sum()
}

/// Whether `source` holds `[start, end)` surely: every change in it, and
/// none it cannot count for sure.
pub fn holds(source: &Source, start: u64, end: u64) -> bool {
    covers(&source.coverage, start, end) && !source.uncertain.iter().any(|&t| t >= start && t < end)
}

/// The database an interval is taken from, and whether it has a gap
/// there (none holds it surely); `None` when no database was given.
pub fn choose(sources: &[Source], start: u64, end: u64) -> Option<(&Source, bool)> {
    match sources.iter().find(|s| holds(s, start, end)) {
        Some(s) => Some((s, false)),
        None => sources
            .iter()
            .max_by_key(|s| covered_ms(&s.coverage, start, end))
            .map(|s| (s, true)),
    }
}

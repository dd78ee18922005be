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

/// The database an interval is taken from (its index in `sources`), and
/// whether it has a gap there (none holds it surely); `None` when no
/// database was given.
pub fn choose(sources: &[Source], start: u64, end: u64) -> Option<(usize, bool)> {
    match sources.iter().position(|s| holds(s, start, end)) {
        Some(i) => Some((i, false)),
        None => (0..sources.len())
            .max_by_key(|&i| covered_ms(&sources[i].coverage, start, end))
            .map(|i| (i, true)),
    }
}

/// Items (each over `[start, end)`, a point as `[t, t + 1)`) of each of
/// `intervals` (contiguous, of one length, as a window makes them), by
/// `key`: a report reads each interval's own, not all of them each time.
pub fn by_interval<'a, T, K: Ord>(
    intervals: &[(u64, u64)],
    items: &'a [T],
    span: impl Fn(&T) -> (u64, u64),
    key: impl Fn(&'a T) -> K,
) -> Vec<std::collections::BTreeMap<K, Vec<&'a T>>> {
    let mut buckets: Vec<std::collections::BTreeMap<K, Vec<&'a T>>> =
        intervals.iter().map(|_| Default::default()).collect();
    let (Some(first), Some(last)) = (intervals.first(), intervals.last()) else {
        return buckets;
    };
    let length = first.1 - first.0;
    for item in items {
        let (start, end) = span(item);
        if end <= first.0 || start >= last.1 || end <= start {
            continue;
        }
        let from = (start.max(first.0) - first.0) / length;
        let to = (end.min(last.1) - 1 - first.0) / length;
        for bucket in &mut buckets[from as usize..=to as usize] {
            bucket.entry(key(item)).or_default().push(item);
        }
    }
    buckets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_go_to_every_interval_they_overlap_and_nowhere_else() {
        let intervals = [(60, 120), (120, 180), (180, 240)];
        let items = [
            (0, 61),
            (100, 200),
            (239, 240),
            (240, 300),
            (10, 20),
            (130, 131),
        ];
        let buckets = by_interval(&intervals, &items, |&(s, e)| (s, e), |_| ());
        let of = |i: usize| -> Vec<(u64, u64)> {
            buckets[i]
                .get(&())
                .map_or(Vec::new(), |v| v.iter().map(|x| **x).collect())
        };
        assert_eq!(of(0), [(0, 61), (100, 200)]);
        assert_eq!(of(1), [(100, 200), (130, 131)]);
        assert_eq!(of(2), [(100, 200), (239, 240)]);
    }
}

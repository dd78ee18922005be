//! Statistics intervals: each queue's running totals become a record at
//! every interval boundary and at every takeover, as the seed's log data
//! does ("instead of a single log record for 1800 seconds, there would be
//! 2 log records, each for 900 seconds"). Both nodes apply the same
//! changes, so both hold the same records: nothing is missing at a
//! switchover or counted twice.

use serde::{Deserialize, Serialize};

use super::{Applied, Interactions, QueueTotals, RowLog};

/// The most interval records the live state keeps; the oldest go first
/// (30 days of 48 intervals a day for 6 queues).
pub const INTERVAL_RECORDS_MAX: usize = 8_640;

/// Why an interval record ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IntervalEnd {
    /// The statistics interval's boundary.
    Boundary,
    /// A new active node took over; the rest of the interval is a record
    /// of its own.
    Takeover,
}

/// A queue's totals over `[start_ms, end_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct IntervalRecord {
    pub queue: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub ended_by: IntervalEnd,
    /// Takeovers before this record started (0: none yet).
    pub takeovers: u64,
    pub totals: QueueTotals,
}

/// The replicated reporting state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reporting {
    /// When the interval in progress started: the boundary before the
    /// first change, then the end of the last record.
    pub interval_start_ms: u64,
    /// Takeovers the pair has made (activations, the first included).
    pub takeovers: u64,
    /// Closed intervals, oldest first (a row each in the node's store).
    pub intervals: RowLog<IntervalRecord>,
}

/// The first boundary after `start_ms` of intervals `length_ms` long,
/// aligned to the epoch (None: intervals are off).
pub fn next_boundary(start_ms: u64, length_ms: u64) -> Option<u64> {
    (length_ms > 0).then(|| (start_ms / length_ms + 1).saturating_mul(length_ms))
}

impl Interactions {
    /// The interval in progress ends at `at` (a boundary's command ends it
    /// at the boundary itself when that has passed).
    pub(crate) fn end_interval(&mut self, ended_by: IntervalEnd, at: u64, out: &mut Applied) {
        let r = &mut self.live.reporting;
        let mut end = at;
        if ended_by == IntervalEnd::Boundary
            && let Some(boundary) = next_boundary(
                r.interval_start_ms,
                self.config.directory.settings.statistics_interval_ms,
            )
            && boundary <= at
        {
            end = boundary;
        }
        let (start_ms, takeovers) = (r.interval_start_ms, r.takeovers);
        self.live.queues.change_where(
            |_| true,
            |name, q| {
                r.intervals.push_back(IntervalRecord {
                    queue: name.to_string(),
                    start_ms,
                    end_ms: end.max(start_ms),
                    ended_by,
                    takeovers,
                    totals: std::mem::take(&mut q.totals),
                });
                out.queues.insert(name.to_string());
            },
        );
        while r.intervals.len() > INTERVAL_RECORDS_MAX {
            r.intervals.pop_front();
        }
        r.interval_start_ms = end;
    }

    /// Closed interval records, oldest first.
    pub fn intervals(&self) -> impl Iterator<Item = &IntervalRecord> {
        self.live.reporting.intervals.iter()
    }

    pub fn reporting(&self) -> &Reporting {
        &self.live.reporting
    }
}

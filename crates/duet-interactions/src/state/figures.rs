//! Queue figures for supervisors and reports: what is waiting now, who is
//! in which status, and the interval's running totals.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Interactions;

/// A queue's running totals since the interval started. Each interaction
/// is counted once: answered when first accepted on a visit, handled or
/// abandoned when it closes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct QueueTotals {
    pub entered: u64,
    pub answered: u64,
    pub answered_within_sl: u64,
    pub answer_wait_ms_total: u64,
    /// Closed after an agent had it.
    pub handled: u64,
    /// Connected, held and wrap-up time of those handled.
    pub handle_ms_total: u64,
    /// The customer left before an agent answered.
    pub abandoned: u64,
    /// Ended by a takeover that did not recover its media (recovery of
    /// that media turned off).
    #[serde(default)]
    pub lost_at_switchover: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct QueueFigures {
    pub waiting: usize,
    pub longest_wait_ms: u64,
    /// Status name -> members in it (members never logged in count as
    /// "logged_out").
    pub agents_by_status: BTreeMap<String, usize>,
    /// Answered within the service level, of answered and abandoned.
    pub service_level_pct: Option<f64>,
    /// Average speed of answer.
    pub asa_ms: Option<u64>,
    /// Average handle time.
    pub aht_ms: Option<u64>,
    pub abandoned: u64,
    pub totals: QueueTotals,
    pub interval_start_ms: u64,
}

impl Interactions {
    /// The figures of `queue` at `now_ms` (None: no such queue).
    pub fn queue_figures(&self, queue: &str, now_ms: u64) -> Option<QueueFigures> {
        let config = self.config.queue(queue).ok();
        let live = self.live.queues.get(queue);
        if config.is_none() && live.is_none() {
            return None;
        }
        let totals = live.map(|q| q.totals.clone()).unwrap_or_default();
        let waiting = self.index.waiting.get(queue).map_or(0, |s| s.len());
        let longest_wait_ms = self
            .index
            .waiting_since
            .get(queue)
            .and_then(|counts| counts.keys().next())
            .map_or(0, |since| now_ms.saturating_sub(*since));
        let mut agents_by_status = BTreeMap::new();
        let members: Vec<&str> = match self.config.user_queue_owner(queue) {
            Some(owner) => vec![owner],
            None => config
                .map(|q| q.members.keys().map(String::as_str).collect())
                .unwrap_or_default(),
        };
        for member in members {
            let status = self
                .live
                .agents
                .get(member)
                .map_or("logged_out", |a| a.status.name());
            *agents_by_status.entry(status.to_string()).or_insert(0) += 1;
        }
        let offered = totals.answered + totals.abandoned;
        Some(QueueFigures {
            waiting,
            longest_wait_ms,
            agents_by_status,
            service_level_pct: (offered > 0)
                .then(|| totals.answered_within_sl as f64 * 100.0 / offered as f64),
            asa_ms: (totals.answered > 0).then(|| totals.answer_wait_ms_total / totals.answered),
            aht_ms: (totals.handled > 0).then(|| totals.handle_ms_total / totals.handled),
            abandoned: totals.abandoned,
            totals,
            interval_start_ms: self.live.reporting.interval_start_ms,
        })
    }
}

//! The rows reports read back, for a window of time. Ties in `seq` are
//! ordered by the rest of the key, so every database returns one order.

use super::{Cells, Tx, values};
use crate::rows::{ActivityRow, QueueEventKind, QueueEventRow, SegmentRow};
use crate::store::{Result, StoreError};

/// A comma-joined list as written (empty: none).
fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn queue_event(r: &Cells) -> Result<QueueEventRow> {
    let kind = r.text(6)?;
    Ok(QueueEventRow {
        position: r.position(0)?,
        interaction: r.text(2)?,
        queue: r.text(3)?,
        media: r.text(4)?,
        at_ms: r.u64(5)?,
        kind: QueueEventKind::from_name(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("queue event kind {kind:?}")))?,
        duration_ms: r.u64(7)?,
        agent: r.opt_text(8)?,
    })
}

pub(super) fn queue_events(
    tx: &mut dyn Tx,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<QueueEventRow>> {
    tx.query(
        "SELECT epoch, seq, interaction, queue, media, at_ms, kind, duration_ms, agent
         FROM queue_events WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY seq, interaction, kind",
        values![from_ms, to_ms],
    )?
    .iter()
    .map(queue_event)
    .collect()
}

/// Each agent's activity before `to_ms`, from its last log-out of every
/// media before `from_ms` (what its state at `from_ms` follows from).
pub(super) fn agent_activity(
    tx: &mut dyn Tx,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<ActivityRow>> {
    tx.query(
        "SELECT epoch, seq, agent, at_ms, kind, status, reason, media FROM agent_activity a
         WHERE at_ms < ?2 AND at_ms >= coalesce((SELECT max(at_ms) FROM agent_activity b
             WHERE b.agent = a.agent AND b.kind = 'logout' AND b.media = ''
             AND b.at_ms < ?1), 0)
         ORDER BY seq, agent",
        values![from_ms, to_ms],
    )?
    .iter()
    .map(|r| {
        Ok(ActivityRow {
            position: r.position(0)?,
            agent: r.text(2)?,
            at_ms: r.u64(3)?,
            kind: r.text(4)?,
            status: r.opt_text(5)?,
            reason: r.opt_text(6)?,
            media: split(&r.text(7)?),
        })
    })
    .collect()
}

/// The columns [`segment`] reads, in its order.
pub(super) const SEGMENT_COLUMNS: &str =
    "epoch, seq, interaction, kind, agent, queue, start_ms, end_ms, seqno";

pub(super) fn segment(r: &Cells) -> Result<SegmentRow> {
    Ok(SegmentRow {
        position: r.position(0)?,
        interaction: r.text(2)?,
        kind: r.text(3)?,
        agent: r.opt_text(4)?,
        queue: r.text(5)?,
        start_ms: r.u64(6)?,
        end_ms: r.u64(7)?,
        seqno: r.u32(8)?,
    })
}

/// The stretches that overlap `[from_ms, to_ms)`.
pub(super) fn segments(tx: &mut dyn Tx, from_ms: u64, to_ms: u64) -> Result<Vec<SegmentRow>> {
    tx.query(
        &format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments WHERE end_ms > ?1 AND start_ms < ?2
             ORDER BY seq, interaction"
        ),
        values![from_ms, to_ms],
    )?
    .iter()
    .map(segment)
    .collect()
}

/// When, in `[from_ms, to_ms)`, changes the database cannot count for
/// sure were made.
pub(super) fn uncertain(tx: &mut dyn Tx, from_ms: u64, to_ms: u64) -> Result<Vec<u64>> {
    tx.query(
        "SELECT at_ms FROM uncertain WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms",
        values![from_ms, to_ms],
    )?
    .iter()
    .map(|r| r.u64(0))
    .collect()
}

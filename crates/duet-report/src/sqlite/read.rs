//! The rows reports read back, for a window of time.

use rusqlite::{Connection, params};

use crate::position::Position;
use crate::rows::{ActivityRow, QueueEventKind, QueueEventRow, SegmentRow};
use crate::store::{Result, StoreError};

/// A comma-joined list as written (empty: none).
fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub(super) fn queue_events(
    db: &Connection,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<QueueEventRow>> {
    let mut q = db.prepare(
        "SELECT epoch, seq, interaction, queue, media, at_ms, kind, duration_ms, agent
         FROM queue_events WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY seq",
    )?;
    let rows = q.query_map(params![from_ms, to_ms], |r| {
        Ok((
            QueueEventRow {
                position: Position::new(r.get(0)?, r.get(1)?),
                interaction: r.get(2)?,
                queue: r.get(3)?,
                media: r.get(4)?,
                at_ms: r.get(5)?,
                // Replaced below, from the name.
                kind: QueueEventKind::Offered,
                duration_ms: r.get(7)?,
                agent: r.get(8)?,
            },
            r.get::<_, String>(6)?,
        ))
    })?;
    rows.map(|row| {
        let (row, kind) = row?;
        let kind = QueueEventKind::from_name(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("queue event kind {kind:?}")))?;
        Ok(QueueEventRow { kind, ..row })
    })
    .collect()
}

/// Each agent's activity before `to_ms`, from its last log-out of every
/// media before `from_ms` (what its state at `from_ms` follows from).
pub(super) fn agent_activity(
    db: &Connection,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<ActivityRow>> {
    let mut q = db.prepare(
        "SELECT epoch, seq, agent, at_ms, kind, status, reason, media FROM agent_activity a
         WHERE at_ms < ?2 AND at_ms >= coalesce((SELECT max(at_ms) FROM agent_activity b
             WHERE b.agent = a.agent AND b.kind = 'logout' AND b.media = ''
             AND b.at_ms < ?1), 0)
         ORDER BY seq",
    )?;
    let rows = q.query_map(params![from_ms, to_ms], |r| {
        Ok(ActivityRow {
            position: Position::new(r.get(0)?, r.get(1)?),
            agent: r.get(2)?,
            at_ms: r.get(3)?,
            kind: r.get(4)?,
            status: r.get(5)?,
            reason: r.get(6)?,
            media: split(&r.get::<_, String>(7)?),
        })
    })?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

/// The columns [`segment`] reads, in its order.
pub(super) const SEGMENT_COLUMNS: &str =
    "epoch, seq, interaction, kind, agent, queue, start_ms, end_ms, seqno";

pub(super) fn segment(r: &rusqlite::Row<'_>) -> rusqlite::Result<SegmentRow> {
    Ok(SegmentRow {
        position: Position::new(r.get(0)?, r.get(1)?),
        interaction: r.get(2)?,
        kind: r.get(3)?,
        agent: r.get(4)?,
        queue: r.get(5)?,
        start_ms: r.get(6)?,
        end_ms: r.get(7)?,
        seqno: r.get(8)?,
    })
}

/// The stretches that overlap `[from_ms, to_ms)`.
pub(super) fn segments(db: &Connection, from_ms: u64, to_ms: u64) -> Result<Vec<SegmentRow>> {
    let mut q = db.prepare(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE end_ms > ?1 AND start_ms < ?2 ORDER BY seq"
    ))?;
    let rows = q.query_map(params![from_ms, to_ms], segment)?;
    Ok(rows.collect::<std::result::Result<_, _>>()?)
}

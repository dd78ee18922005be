//! Rows into their tables: upserts keyed by the position that made them.

use rusqlite::{Transaction, params};

use crate::rows::Row;
use crate::store::{Result, StoreError};

pub(super) fn write_row(tx: &Transaction<'_>, row: &Row) -> Result<()> {
    match row {
        Row::Summary(s) => {
            let state = serde_json::to_string(s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            tx.execute(
                "INSERT OR REPLACE INTO interactions (id, media, queue, created_ms, answered_ms,
                 wait_ms, ended_ms, closed_ms, talk_ms, hold_ms, wrap_ms, disposition,
                 disposition_code, agents, transfers, seqno, wrap_code, open, state, epoch, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21)",
                params![
                    s.id,
                    s.media.name(),
                    s.queue,
                    s.created_ms,
                    s.answered_ms,
                    s.wait_ms,
                    s.ended_ms,
                    s.closed_ms,
                    s.talk_ms,
                    s.hold_ms,
                    s.wrap_ms,
                    s.disposition.map(|d| d.name()),
                    s.disposition.map(|d| d.code()),
                    s.agents.join(","),
                    s.transfers,
                    s.seqno,
                    s.wrap_code,
                    s.closed_ms.is_none(),
                    state,
                    s.position.epoch,
                    s.position.seq,
                ],
            )?;
        }
        Row::Segment(g) => {
            tx.execute(
                "INSERT OR REPLACE INTO segments (epoch, seq, interaction, kind, agent, queue,
                 start_ms, end_ms, seqno) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    g.position.epoch,
                    g.position.seq,
                    g.interaction,
                    g.kind,
                    g.agent,
                    g.queue,
                    g.start_ms,
                    g.end_ms,
                    g.seqno
                ],
            )?;
        }
        Row::WrapUp(w) => {
            tx.execute(
                "INSERT OR REPLACE INTO wrap_ups (epoch, seq, interaction, agent, code, notes,
                 at_ms, seqno) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    w.position.epoch,
                    w.position.seq,
                    w.interaction,
                    w.agent,
                    w.code,
                    w.notes,
                    w.at_ms,
                    w.seqno
                ],
            )?;
        }
        Row::Activity(a) => {
            tx.execute(
                "INSERT OR REPLACE INTO agent_activity (epoch, seq, agent, at_ms, kind, status,
                 reason, media) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    a.position.epoch,
                    a.position.seq,
                    a.agent,
                    a.at_ms,
                    a.kind,
                    a.status,
                    a.reason,
                    a.media.join(",")
                ],
            )?;
        }
        Row::Archive(a) => super::archive::write(tx, a)?,
        Row::QueueEvent(q) => {
            tx.execute(
                "INSERT OR REPLACE INTO queue_events (epoch, seq, interaction, queue, media, at_ms,
                 kind, duration_ms, agent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    q.position.epoch,
                    q.position.seq,
                    q.interaction,
                    q.queue,
                    q.media,
                    q.at_ms,
                    q.kind.name(),
                    q.duration_ms,
                    q.agent
                ],
            )?;
        }
        Row::Uncertain(u) => {
            tx.execute(
                "INSERT OR REPLACE INTO uncertain (epoch, seq, interaction, at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![u.position.epoch, u.position.seq, u.interaction, u.at_ms],
            )?;
        }
    }
    Ok(())
}

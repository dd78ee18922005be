//! Rows into their tables: upserts keyed by the position that made them,
//! so writing a change's rows again replaces them with themselves.

use super::{Tx, Value};
use crate::rows::Row;
use crate::store::{Result, StoreError};

/// One row for `table`, replacing the one with the same `key`.
pub(super) struct Upsert {
    pub table: &'static str,
    pub key: &'static [&'static str],
    pub columns: &'static [&'static str],
    pub values: Vec<Value>,
}

impl Upsert {
    /// `INSERT ... ON CONFLICT (key) DO UPDATE`: SQLite (3.24 on) and
    /// PostgreSQL read it alike.
    fn sql(&self) -> String {
        let placeholders: Vec<String> = (1..=self.columns.len()).map(|i| format!("?{i}")).collect();
        let updates: Vec<String> = self
            .columns
            .iter()
            .filter(|c| !self.key.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
            self.table,
            self.columns.join(", "),
            placeholders.join(", "),
            self.key.join(", "),
            updates.join(", ")
        )
    }

    pub fn run(self, tx: &mut dyn Tx) -> Result<()> {
        tx.write(&self.sql(), self.values)
    }
}

pub(super) fn row(tx: &mut dyn Tx, row: &Row) -> Result<()> {
    let upsert = match row {
        Row::Summary(s) => {
            let state = serde_json::to_string(s).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Upsert {
                table: "interactions",
                key: &["id"],
                columns: &[
                    "id",
                    "media",
                    "queue",
                    "created_ms",
                    "answered_ms",
                    "wait_ms",
                    "ended_ms",
                    "closed_ms",
                    "talk_ms",
                    "hold_ms",
                    "wrap_ms",
                    "disposition",
                    "disposition_code",
                    "agents",
                    "transfers",
                    "seqno",
                    "wrap_code",
                    "open",
                    "state",
                    "epoch",
                    "seq",
                ],
                values: vec![
                    s.id.as_str().into(),
                    s.media.name().into(),
                    s.queue.as_str().into(),
                    s.created_ms.into(),
                    s.answered_ms.into(),
                    s.wait_ms.into(),
                    s.ended_ms.into(),
                    s.closed_ms.into(),
                    s.talk_ms.into(),
                    s.hold_ms.into(),
                    s.wrap_ms.into(),
                    s.disposition.map(|d| d.name()).into(),
                    s.disposition.map(|d| d.code()).into(),
                    s.agents.join(",").into(),
                    s.transfers.into(),
                    s.seqno.into(),
                    s.wrap_code.clone().into(),
                    s.closed_ms.is_none().into(),
                    state.into(),
                    s.position.epoch.into(),
                    s.position.seq.into(),
                ],
            }
        }
        Row::Segment(g) => Upsert {
            table: "segments",
            key: &["seq", "interaction"],
            columns: &[
                "epoch",
                "seq",
                "interaction",
                "kind",
                "agent",
                "queue",
                "start_ms",
                "end_ms",
                "seqno",
            ],
            values: vec![
                g.position.epoch.into(),
                g.position.seq.into(),
                g.interaction.as_str().into(),
                g.kind.as_str().into(),
                g.agent.clone().into(),
                g.queue.as_str().into(),
                g.start_ms.into(),
                g.end_ms.into(),
                g.seqno.into(),
            ],
        },
        Row::WrapUp(w) => Upsert {
            table: "wrap_ups",
            key: &["seq", "interaction"],
            columns: &[
                "epoch",
                "seq",
                "interaction",
                "agent",
                "code",
                "notes",
                "at_ms",
                "seqno",
            ],
            values: vec![
                w.position.epoch.into(),
                w.position.seq.into(),
                w.interaction.as_str().into(),
                w.agent.as_str().into(),
                w.code.as_str().into(),
                w.notes.as_str().into(),
                w.at_ms.into(),
                w.seqno.into(),
            ],
        },
        Row::Activity(a) => Upsert {
            table: "agent_activity",
            key: &["seq", "agent"],
            columns: &[
                "epoch", "seq", "agent", "at_ms", "kind", "status", "reason", "media",
            ],
            values: vec![
                a.position.epoch.into(),
                a.position.seq.into(),
                a.agent.as_str().into(),
                a.at_ms.into(),
                a.kind.as_str().into(),
                a.status.clone().into(),
                a.reason.clone().into(),
                a.media.join(",").into(),
            ],
        },
        Row::QueueEvent(q) => Upsert {
            table: "queue_events",
            key: &["seq", "interaction", "kind"],
            columns: &[
                "epoch",
                "seq",
                "interaction",
                "queue",
                "media",
                "at_ms",
                "kind",
                "duration_ms",
                "agent",
            ],
            values: vec![
                q.position.epoch.into(),
                q.position.seq.into(),
                q.interaction.as_str().into(),
                q.queue.as_str().into(),
                q.media.as_str().into(),
                q.at_ms.into(),
                q.kind.name().into(),
                q.duration_ms.into(),
                q.agent.clone().into(),
            ],
        },
        Row::Uncertain(u) => Upsert {
            table: "uncertain",
            key: &["seq", "interaction"],
            columns: &["epoch", "seq", "interaction", "at_ms"],
            values: vec![
                u.position.epoch.into(),
                u.position.seq.into(),
                u.interaction.as_str().into(),
                u.at_ms.into(),
            ],
        },
        Row::Archive(a) => return super::archive::write(tx, a),
    };
    upsert.run(tx)
}

//! The archive on SQLite: its rows written (upserts keyed by position),
//! searched, and read back whole for one interaction.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::read::SEGMENT_COLUMNS;
use crate::archive::rows::{ArchiveRow, Entry, Header};
use crate::archive::view::Kept;
use crate::archive::{Found, Hit, Search};
use crate::position::Position;
use crate::rows::{Summary, WrapUpRow};
use crate::store::{Result, StoreError};

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn write(tx: &Transaction<'_>, row: &ArchiveRow) -> Result<()> {
    match row {
        ArchiveRow::Header(h) => {
            tx.execute(
                "INSERT OR REPLACE INTO archive_headers (id, epoch, seq, media, customer_address,
                 customer_name, message_id, header) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    h.id,
                    h.position.epoch,
                    h.position.seq,
                    h.media.name(),
                    h.customer.address,
                    h.customer.name,
                    h.message_id(),
                    json(h)?
                ],
            )?;
        }
        ArchiveRow::Entry(e) => {
            tx.execute(
                "INSERT OR REPLACE INTO archive_entries (epoch, seq, interaction, n, at_ms, kind,
                 item) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    e.position.epoch,
                    e.position.seq,
                    e.interaction,
                    e.n,
                    e.at_ms,
                    e.item.kind(),
                    json(&e.item)?
                ],
            )?;
        }
    }
    Ok(())
}

/// SQL conditions and their values, built together.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    fn add(&mut self, sql: &str, values: impl IntoIterator<Item = Value>) {
        self.sql.push(sql.to_string());
        self.values.extend(values);
    }

    fn text(&mut self, sql: &str, value: &Option<String>, times: usize) {
        if let Some(v) = value {
            self.add(sql, std::iter::repeat_n(Value::Text(v.clone()), times));
        }
    }
}

fn int(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// An agent in the comma-joined `agents` column.
const HAS_AGENT: &str = "instr(',' || i.agents || ',', ',' || ? || ',') > 0";

/// The first `limit + 1` interactions `search` finds after its cursor,
/// newest first.
pub(super) fn search(db: &Connection, search: &Search) -> Result<Vec<Hit>> {
    let f = &search.filter;
    let mut c = Conditions::default();
    if let Some(from) = f.from_ms {
        c.add("i.created_ms >= ?", [int(from)]);
    }
    if let Some(to) = f.to_ms {
        c.add("i.created_ms < ?", [int(to)]);
    }
    c.text("i.queue = ?", &f.queue, 1);
    c.text(HAS_AGENT, &f.agent, 1);
    c.text("i.media = ?", &f.media.map(|m| m.name().to_string()), 1);
    c.text(
        "(instr(lower(coalesce(h.customer_address, '')), lower(?)) > 0
          OR instr(lower(coalesce(h.customer_name, '')), lower(?)) > 0)",
        &f.customer,
        2,
    );
    c.text("h.message_id = ?", &f.message_id, 1);
    c.text(
        "i.disposition = ?",
        &f.disposition.map(|d| d.name().to_string()),
        1,
    );
    let scope = &search.scope;
    if !scope.every_queue {
        let mut any = vec!["0".to_string()];
        let mut values: Vec<Value> = Vec::new();
        if !scope.queues.is_empty() {
            any.push(format!(
                "i.queue IN ({})",
                vec!["?"; scope.queues.len()].join(", ")
            ));
            values.extend(scope.queues.iter().cloned().map(Value::Text));
        }
        if let Some(agent) = &scope.agent {
            any.push(HAS_AGENT.to_string());
            values.push(Value::Text(agent.clone()));
        }
        c.add(&format!("({})", any.join(" OR ")), values);
    }
    if let Some(after) = &search.after {
        c.add(
            "(i.created_ms < ? OR (i.created_ms = ? AND i.id < ?))",
            [
                int(after.created_ms),
                int(after.created_ms),
                Value::Text(after.id.clone()),
            ],
        );
    }
    c.values.push(int(search.limit as u64 + 1));
    let sql = format!(
        "SELECT i.state, h.customer_address, h.customer_name, h.message_id
         FROM interactions i LEFT JOIN archive_headers h ON h.id = i.id
         WHERE {} ORDER BY i.created_ms DESC, i.id DESC LIMIT ?",
        if c.sql.is_empty() {
            "1".to_string()
        } else {
            c.sql.join(" AND ")
        }
    );
    let mut q = db.prepare(&sql)?;
    let rows = q.query_map(params_from_iter(c.values), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    rows.map(|row| {
        let (state, address, name, message_id) = row?;
        let s: Summary = parse(&state)?;
        Ok(Hit {
            id: s.id,
            media: s.media,
            queue: s.queue,
            created_ms: s.created_ms,
            closed_ms: s.closed_ms,
            agents: s.agents,
            customer: duet_interactions::model::Party {
                address: address.unwrap_or_default(),
                name: name.unwrap_or_default(),
            },
            disposition: s.disposition,
            message_id,
            found: Found::Archive,
            position: s.position,
        })
    })
    .collect()
}

/// What the database keeps of interaction `id`.
pub(super) fn kept(db: &Connection, id: &str) -> Result<Kept> {
    let summary = db
        .query_row("SELECT state FROM interactions WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .map(|s| parse::<Summary>(&s))
        .transpose()?;
    let header = db
        .query_row(
            "SELECT header FROM archive_headers WHERE id = ?1",
            [id],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .map(|h| parse::<Header>(&h))
        .transpose()?;
    let mut q = db.prepare(
        "SELECT epoch, seq, n, at_ms, item FROM archive_entries WHERE interaction = ?1
         ORDER BY seq, n",
    )?;
    let entries = q
        .query_map([id], |r| {
            Ok((
                Position::new(r.get(0)?, r.get(1)?),
                r.get::<_, u32>(2)?,
                r.get::<_, u64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .map(|row| {
            let (position, n, at_ms, item) = row?;
            Ok(Entry {
                position,
                interaction: id.to_string(),
                n,
                at_ms,
                item: parse(&item)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut q = db.prepare(&format!(
        "SELECT {SEGMENT_COLUMNS} FROM segments WHERE interaction = ?1 ORDER BY seq"
    ))?;
    let segments = q
        .query_map([id], super::read::segment)?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut q = db.prepare(
        "SELECT epoch, seq, agent, code, notes, at_ms, seqno FROM wrap_ups
         WHERE interaction = ?1 ORDER BY seq",
    )?;
    let wrap_ups = q
        .query_map([id], |r| {
            Ok(WrapUpRow {
                position: Position::new(r.get(0)?, r.get(1)?),
                interaction: id.to_string(),
                agent: r.get(2)?,
                code: r.get(3)?,
                notes: r.get(4)?,
                at_ms: r.get(5)?,
                seqno: r.get(6)?,
            })
        })?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Kept {
        summary,
        header,
        entries,
        segments,
        wrap_ups,
    })
}

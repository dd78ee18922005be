//! The archive on SQLite: its rows written (upserts keyed by position),
//! searched, and read back whole for one interaction. The statements are
//! portable SQL (`?N` parameters, `ON CONFLICT` upserts, `LIKE` with an
//! escape, no engine's own functions), so another SQL database runs
//! them as they are.

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
                "INSERT INTO archive_headers (id, epoch, seq, media, customer_address,
                 customer_name, message_id, header) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq,
                 media = excluded.media, customer_address = excluded.customer_address,
                 customer_name = excluded.customer_name, message_id = excluded.message_id,
                 header = excluded.header",
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
                "INSERT INTO archive_entries (epoch, seq, interaction, n, at_ms, kind, item)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (interaction, seq, n) DO NOTHING",
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

/// A statement's conditions and the values they bind, numbered as they
/// are added.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    /// `?N` for `value`.
    fn bind(&mut self, value: Value) -> String {
        self.values.push(value);
        format!("?{}", self.values.len())
    }

    fn add(&mut self, condition: String) {
        self.sql.push(condition);
    }
}

fn int(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A `LIKE` pattern (escaped with `\`) for text holding `piece`.
fn holding(piece: &str) -> Value {
    let mut pattern = String::from("%");
    for c in piece.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Value::Text(pattern)
}

/// Agent `p` (a bound `holding(",name,")`) in the comma-joined `agents`.
fn has_agent(p: &str) -> String {
    format!("(',' || i.agents || ',') LIKE {p} ESCAPE '\\'")
}

/// The first `limit + 1` interactions `search` finds after its cursor,
/// newest first.
pub(super) fn search(db: &Connection, search: &Search) -> Result<Vec<Hit>> {
    let f = &search.filter;
    let mut c = Conditions::default();
    if let Some(from) = f.from_ms {
        let p = c.bind(int(from));
        c.add(format!("i.created_ms >= {p}"));
    }
    if let Some(to) = f.to_ms {
        let p = c.bind(int(to));
        c.add(format!("i.created_ms < {p}"));
    }
    if let Some(queue) = &f.queue {
        let p = c.bind(Value::Text(queue.clone()));
        c.add(format!("i.queue = {p}"));
    }
    if let Some(agent) = &f.agent {
        let p = c.bind(holding(&format!(",{agent},")));
        c.add(has_agent(&p));
    }
    if let Some(media) = f.media {
        let p = c.bind(Value::Text(media.name().to_string()));
        c.add(format!("i.media = {p}"));
    }
    if let Some(customer) = &f.customer {
        // ASCII case ignored: the pattern and the columns in lower case.
        let p = c.bind(holding(&customer.to_ascii_lowercase()));
        c.add(format!(
            "(lower(coalesce(h.customer_address, '')) LIKE {p} ESCAPE '\\'
              OR lower(coalesce(h.customer_name, '')) LIKE {p} ESCAPE '\\')"
        ));
    }
    if let Some(message_id) = &f.message_id {
        let p = c.bind(Value::Text(message_id.clone()));
        c.add(format!("h.message_id = {p}"));
    }
    if let Some(disposition) = f.disposition {
        let p = c.bind(Value::Text(disposition.name().to_string()));
        c.add(format!("i.disposition = {p}"));
    }
    let scope = &search.scope;
    if !scope.every_queue {
        let mut any = vec!["1 = 0".to_string()];
        if !scope.queues.is_empty() {
            let queues: Vec<String> = scope
                .queues
                .iter()
                .map(|q| c.bind(Value::Text(q.clone())))
                .collect();
            any.push(format!("i.queue IN ({})", queues.join(", ")));
        }
        if let Some(agent) = &scope.agent {
            let p = c.bind(holding(&format!(",{agent},")));
            any.push(has_agent(&p));
        }
        c.add(format!("({})", any.join(" OR ")));
    }
    if let Some(after) = &search.after {
        let created = c.bind(int(after.created_ms));
        let id = c.bind(Value::Text(after.id.clone()));
        c.add(format!(
            "(i.created_ms < {created} OR (i.created_ms = {created} AND i.id < {id}))"
        ));
    }
    let limit = c.bind(int(search.limit as u64 + 1));
    let sql = format!(
        "SELECT i.state, h.customer_address, h.customer_name, h.message_id
         FROM interactions i LEFT JOIN archive_headers h ON h.id = i.id
         WHERE {} ORDER BY i.created_ms DESC, i.id DESC LIMIT {limit}",
        if c.sql.is_empty() {
            "1 = 1".to_string()
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

//! The archive: its rows written (upserts keyed by position), searched,
//! and read back whole for one interaction, in the same portable SQL as
//! the rest of the store (`?N` parameters, `ON CONFLICT` upserts, `LIKE`
//! with an escape, no engine's own functions).

use super::read::{SEGMENT_COLUMNS, segment};
use super::write::Upsert;
use super::{Tx, Value, values};
use crate::archive::rows::{ArchiveRow, Entry, Header};
use crate::archive::view::Kept;
use crate::archive::{Found, Hit, Search};
use crate::rows::{Summary, WrapUpRow};
use crate::store::{Result, StoreError};

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn write(tx: &mut dyn Tx, row: &ArchiveRow) -> Result<()> {
    match row {
        ArchiveRow::Header(h) => Upsert {
            table: "archive_headers",
            key: &["id"],
            columns: &[
                "id",
                "epoch",
                "seq",
                "media",
                "customer_address",
                "customer_name",
                "message_id",
                "header",
            ],
            values: vec![
                h.id.as_str().into(),
                h.position.epoch.into(),
                h.position.seq.into(),
                h.media.name().into(),
                h.customer.address.as_str().into(),
                h.customer.name.as_str().into(),
                h.message_id().into(),
                json(h)?.into(),
            ],
        }
        .run(tx),
        ArchiveRow::Entry(e) => tx.write(
            "INSERT INTO archive_entries (epoch, seq, interaction, n, at_ms, kind, item)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (interaction, seq, n) DO NOTHING",
            values![
                e.position.epoch,
                e.position.seq,
                e.interaction.as_str(),
                e.n,
                e.at_ms,
                e.item.kind(),
                json(&e.item)?
            ]
            .to_vec(),
        ),
    }
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
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("?{}", self.values.len())
    }

    fn add(&mut self, condition: String) {
        self.sql.push(condition);
    }
}

/// A time or a count as a bound integer (one past the largest: the largest).
fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
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
pub(super) fn search(tx: &mut dyn Tx, search: &Search) -> Result<Vec<Hit>> {
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
        let p = c.bind(queue.as_str());
        c.add(format!("i.queue = {p}"));
    }
    if let Some(agent) = &f.agent {
        let p = c.bind(holding(&format!(",{agent},")));
        c.add(has_agent(&p));
    }
    if let Some(media) = f.media {
        let p = c.bind(media.name());
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
        let p = c.bind(message_id.as_str());
        c.add(format!("h.message_id = {p}"));
    }
    if let Some(disposition) = f.disposition {
        let p = c.bind(disposition.name());
        c.add(format!("i.disposition = {p}"));
    }
    let scope = &search.scope;
    if !scope.every_queue {
        let mut any = vec!["1 = 0".to_string()];
        if !scope.queues.is_empty() {
            let queues: Vec<String> = scope.queues.iter().map(|q| c.bind(q.as_str())).collect();
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
        let id = c.bind(after.id.as_str());
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
    tx.query(&sql, &c.values)?
        .iter()
        .map(|r| {
            let s: Summary = parse(&r.text(0)?)?;
            Ok(Hit {
                id: s.id,
                media: s.media,
                queue: s.queue,
                created_ms: s.created_ms,
                closed_ms: s.closed_ms,
                agents: s.agents,
                customer: duet_interactions::model::Party {
                    address: r.opt_text(1)?.unwrap_or_default().into(),
                    name: r.opt_text(2)?.unwrap_or_default().into(),
                },
                disposition: s.disposition,
                message_id: r.opt_text(3)?,
                found: Found::Archive,
                position: s.position,
            })
        })
        .collect()
}

/// What the database keeps of interaction `id`.
pub(super) fn kept(tx: &mut dyn Tx, id: &str) -> Result<Kept> {
    let summary = tx
        .query("SELECT state FROM interactions WHERE id = ?1", values![id])?
        .first()
        .map(|r| parse::<Summary>(&r.text(0)?))
        .transpose()?;
    let header = tx
        .query(
            "SELECT header FROM archive_headers WHERE id = ?1",
            values![id],
        )?
        .first()
        .map(|r| parse::<Header>(&r.text(0)?))
        .transpose()?;
    let entries = tx
        .query(
            "SELECT epoch, seq, n, at_ms, item FROM archive_entries WHERE interaction = ?1
             ORDER BY seq, n",
            values![id],
        )?
        .iter()
        .map(|r| {
            Ok(Entry {
                position: r.position(0)?,
                interaction: id.to_string(),
                n: r.u32(2)?,
                at_ms: r.u64(3)?,
                item: parse(&r.text(4)?)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let segments = tx
        .query(
            &format!("SELECT {SEGMENT_COLUMNS} FROM segments WHERE interaction = ?1 ORDER BY seq"),
            values![id],
        )?
        .iter()
        .map(segment)
        .collect::<Result<Vec<_>>>()?;
    let wrap_ups = tx
        .query(
            "SELECT epoch, seq, agent, code, notes, at_ms, seqno FROM wrap_ups
             WHERE interaction = ?1 ORDER BY seq",
            values![id],
        )?
        .iter()
        .map(|r| {
            Ok(WrapUpRow {
                position: r.position(0)?,
                interaction: id.to_string(),
                agent: r.text(2)?,
                code: r.text(3)?,
                notes: r.text(4)?,
                at_ms: r.u64(5)?,
                seqno: r.u32(6)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Kept {
        summary,
        header,
        entries,
        segments,
        wrap_ups,
    })
}

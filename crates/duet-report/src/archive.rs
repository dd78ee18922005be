//! The archive people search: closed interactions kept whole by the
//! reporting writers ([`rows`]: a header and appended entries), found by
//! time, queue, agent, media, customer, Message-ID or disposition, a page
//! at a time, and fetched whole ([`view`]). Pure where it decides: the
//! query and its bounds, who may see what ([`Scope`]), the order and the
//! page's cursor, and the merge of several databases' answers and the
//! live state's into one result per interaction. [`read`] reads the
//! SQLite databases.

use std::collections::{BTreeMap, BTreeSet};

use duet_interactions::model::Party;
use duet_interactions::{Interaction, MediaType};
use serde::{Deserialize, Serialize};

use crate::Position;
use crate::disposition::Disposition;

pub mod read;
pub mod rows;
pub mod view;

/// The most results a page holds, and how many when none is asked.
pub const LIMIT_MAX: usize = 100;
pub const LIMIT_DEFAULT: usize = 50;
/// The longest text a search field takes (bytes).
pub const FIELD_MAX_BYTES: usize = 320;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{field} is {len} bytes long; at most {FIELD_MAX_BYTES}")]
    TooLong { field: &'static str, len: usize },
    #[error("limit is 1 to {LIMIT_MAX}, not {0}")]
    Limit(String),
    #[error(
        "media {0:?} is none of call, chat, email, callback, sms, social_conversation, social_direct_message"
    )]
    Media(String),
    #[error("disposition {0:?} is none of {known}", known = Disposition::ALL.map(Disposition::name).join(", "))]
    Disposition(String),
    #[error("{field} {value:?} is neither RFC 3339 (2026-12-02T09:00:00Z) nor unix milliseconds")]
    Time { field: &'static str, value: String },
    #[error("next {0:?} is not a token a page of this search answered; start again without it")]
    Cursor(String),
}

/// A search as it comes (the query string of `GET /api/interactions`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Asked {
    /// Created at or after: RFC 3339 or unix ms.
    pub from: Option<String>,
    /// Created before, as `from`.
    pub to: Option<String>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub media: Option<String>,
    pub customer: Option<String>,
    pub message_id: Option<String>,
    pub disposition: Option<String>,
    pub limit: Option<String>,
    /// The `next` token of the page before.
    pub next: Option<String>,
}

/// What a search matches; every field given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Created in `[from_ms, to_ms)`.
    pub from_ms: Option<u64>,
    pub to_ms: Option<u64>,
    /// The queue it is in, or ended in.
    pub queue: Option<String>,
    /// An agent that was connected to it.
    pub agent: Option<String>,
    pub media: Option<MediaType>,
    /// A piece of the customer's address or name, ASCII case ignored.
    pub customer: Option<String>,
    /// The email's Message-ID, exactly (angle brackets ignored).
    pub message_id: Option<String>,
    pub disposition: Option<Disposition>,
}

/// Who is asking: what they may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// An administrator, or a supervisor of every queue.
    pub every_queue: bool,
    /// The queues supervised.
    pub queues: BTreeSet<String>,
    /// An agent: the interactions it was connected to.
    pub agent: Option<String>,
}

impl Scope {
    pub fn covers<'a>(&self, queue: &str, mut agents: impl Iterator<Item = &'a str>) -> bool {
        self.every_queue
            || self.queues.contains(queue)
            || self
                .agent
                .as_deref()
                .is_some_and(|me| agents.any(|a| a == me))
    }
}

/// Where a page starts: after this interaction in the order (newest
/// first by creation, then by id, descending).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub created_ms: u64,
    pub id: String,
}

impl Cursor {
    /// The opaque token a page answers as `next`.
    pub fn token(&self) -> String {
        format!("{}.{}", self.created_ms, self.id)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn from_token(token: &str) -> Result<Cursor, QueryError> {
        let bad = || QueryError::Cursor(token.to_string());
        if !token.len().is_multiple_of(2) {
            return Err(bad());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| {
                token
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (created, id) = text.split_once('.').ok_or_else(bad)?;
        Ok(Cursor {
            created_ms: created.parse().map_err(|_| bad())?,
            id: id.to_string(),
        })
    }

    /// Whether `(created_ms, id)` comes after this cursor in the order.
    pub fn before(&self, created_ms: u64, id: &str) -> bool {
        (created_ms, id) < (self.created_ms, self.id.as_str())
    }
}

/// A search: what to match, for whom, from where, how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub filter: Filter,
    pub scope: Scope,
    pub after: Option<Cursor>,
    pub limit: usize,
}

impl Search {
    /// The search `asked` for someone who may see `scope`; its fields
    /// checked and bounded.
    pub fn new(asked: &Asked, scope: Scope) -> Result<Search, QueryError> {
        let text =
            |field: &'static str, v: &Option<String>| -> Result<Option<String>, QueryError> {
                match v.as_deref().map(str::trim) {
                    Some(v) if v.len() > FIELD_MAX_BYTES => Err(QueryError::TooLong {
                        field,
                        len: v.len(),
                    }),
                    Some("") | None => Ok(None),
                    Some(v) => Ok(Some(v.to_string())),
                }
            };
        let time = |field: &'static str, v: &Option<String>| -> Result<Option<u64>, QueryError> {
            text(field, v)?
                .map(|t| crate::read::unix_ms(&t).map_err(|_| QueryError::Time { field, value: t }))
                .transpose()
        };
        let media = text("media", &asked.media)?
            .map(|m| {
                MediaType::ALL
                    .into_iter()
                    .find(|x| x.name() == m)
                    .ok_or(QueryError::Media(m))
            })
            .transpose()?;
        let disposition = text("disposition", &asked.disposition)?
            .map(|d| {
                Disposition::ALL
                    .into_iter()
                    .find(|x| x.name() == d)
                    .ok_or(QueryError::Disposition(d))
            })
            .transpose()?;
        let limit = match text("limit", &asked.limit)? {
            None => LIMIT_DEFAULT,
            Some(l) => l
                .parse()
                .ok()
                .filter(|n| (1..=LIMIT_MAX).contains(n))
                .ok_or(QueryError::Limit(l))?,
        };
        Ok(Search {
            filter: Filter {
                from_ms: time("from", &asked.from)?,
                to_ms: time("to", &asked.to)?,
                queue: text("queue", &asked.queue)?,
                agent: text("agent", &asked.agent)?,
                media,
                customer: text("customer", &asked.customer)?,
                message_id: text("message_id", &asked.message_id)?
                    .map(|m| m.trim_start_matches('<').trim_end_matches('>').to_string()),
                disposition,
            },
            scope,
            after: text("next", &asked.next)?
                .map(|t| Cursor::from_token(&t))
                .transpose()?,
            limit,
        })
    }
}

/// Where a result was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// The pair's live state (open, or closed within `closed_retention_s`).
    Live,
    /// A reporting database.
    Archive,
}

/// One interaction a search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hit {
    pub id: String,
    pub media: MediaType,
    pub queue: String,
    pub created_ms: u64,
    /// When it closed; none while open.
    pub closed_ms: Option<u64>,
    /// The agents connected to it, in order.
    pub agents: Vec<String>,
    pub customer: Party,
    /// How it ended (archived ones).
    pub disposition: Option<Disposition>,
    pub message_id: Option<String>,
    pub found: Found,
    /// The change an archived result was written by last.
    #[serde(skip)]
    pub position: Position,
}

impl Hit {
    fn key(&self) -> (u64, &str) {
        (self.created_ms, &self.id)
    }

    /// Which of two copies of one interaction to show: a live one, else
    /// a closed one, else the later written.
    fn rank(&self) -> (bool, bool, Position) {
        (
            self.found == Found::Live,
            self.closed_ms.is_some(),
            self.position,
        )
    }
}

/// The agents a live interaction is read by: the ones it is offered to
/// or held by, and once closed, the ones that were connected to it (as
/// its archived copy is).
pub fn live_agents(ix: &Interaction) -> Vec<&str> {
    if ix.is_closed() {
        ix.parties.joined.iter().map(String::as_str).collect()
    } else {
        ix.agents().collect()
    }
}

fn contains_ignoring_case(text: &str, piece: &str) -> bool {
    text.to_ascii_lowercase()
        .contains(&piece.to_ascii_lowercase())
}

/// Whether `customer` matches the filter's piece of an address or name.
pub fn customer_matches(filter: &Filter, customer: &Party) -> bool {
    filter.customer.as_deref().is_none_or(|piece| {
        contains_ignoring_case(&customer.address, piece)
            || contains_ignoring_case(&customer.name, piece)
    })
}

impl Filter {
    /// Whether a live interaction matches (a live one has no disposition,
    /// so a search by disposition finds archived ones only).
    pub fn matches_live(&self, ix: &Interaction) -> bool {
        self.from_ms.is_none_or(|f| ix.created_at_ms >= f)
            && self.to_ms.is_none_or(|t| ix.created_at_ms < t)
            && self.queue.as_ref().is_none_or(|q| *q == ix.routing.queue)
            && self
                .agent
                .as_ref()
                .is_none_or(|a| ix.parties.joined.contains(a))
            && self.media.is_none_or(|m| m == ix.media)
            && customer_matches(self, &ix.parties.customer)
            && self
                .message_id
                .as_ref()
                .is_none_or(|m| ix.attributes.get("message_id").is_some_and(|v| v == m))
            && self.disposition.is_none()
    }
}

/// The page of live interactions `search` finds: the first `limit + 1`
/// after its cursor, in order (one more than a page, to tell whether
/// more follow).
pub fn live_page<'a>(all: impl Iterator<Item = &'a Interaction>, search: &Search) -> Vec<Hit> {
    let mut found: Vec<&Interaction> = all
        .filter(|ix| {
            search
                .after
                .as_ref()
                .is_none_or(|c| c.before(ix.created_at_ms, &ix.id))
                && search.filter.matches_live(ix)
                && search
                    .scope
                    .covers(&ix.routing.queue, live_agents(ix).into_iter())
        })
        .collect();
    found.sort_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
    found
        .into_iter()
        .take(search.limit + 1)
        .map(|ix| Hit {
            id: ix.id.to_string(),
            media: ix.media,
            queue: ix.routing.queue.to_string(),
            created_ms: ix.created_at_ms,
            closed_ms: match ix.state {
                duet_interactions::model::InteractionState::Closed { at_ms } => Some(at_ms),
                _ => None,
            },
            agents: ix.parties.joined.to_vec(),
            customer: ix.parties.customer.clone(),
            disposition: None,
            message_id: ix.attributes.get("message_id").map(|m| m.to_string()),
            found: Found::Live,
            position: Position::default(),
        })
        .collect()
}

/// A page of results and the token of the next, if more follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page {
    pub interactions: Vec<Hit>,
    /// Give it back as `next` for the page after this one.
    pub next: Option<String>,
}

/// One page from what each source found (each its first `limit + 1`
/// after the cursor, in order): one result per interaction (the live
/// copy, else the closed one, else the later written), newest first.
pub fn merge(found: impl IntoIterator<Item = Vec<Hit>>, limit: usize) -> Page {
    let mut by_id: BTreeMap<String, Hit> = BTreeMap::new();
    for hit in found.into_iter().flatten() {
        match by_id.get(&hit.id) {
            Some(kept) if kept.rank() >= hit.rank() => {}
            _ => {
                by_id.insert(hit.id.clone(), hit);
            }
        }
    }
    let mut hits: Vec<Hit> = by_id.into_values().collect();
    hits.sort_by(|a, b| b.key().cmp(&a.key()));
    let next = (hits.len() > limit)
        .then(|| hits.get(limit.saturating_sub(1)))
        .flatten()
        .map(|last| {
            Cursor {
                created_ms: last.created_ms,
                id: last.id.clone(),
            }
            .token()
        });
    hits.truncate(limit);
    Page {
        interactions: hits,
        next,
    }
}

#[cfg(test)]
mod tests;

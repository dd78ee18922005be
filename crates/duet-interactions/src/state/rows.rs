//! The state as rows keyed by item, for the node's store: what changed
//! since the last take (interactions by id, agents and queues by name,
//! conflict records, interval records and history by row number, the
//! meta), so a store costs what changed, not the size of the state; and
//! the state rebuilt from its rows, through the same `install` as a
//! snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use duet_rsm::{Limits, Position};

use super::{Interactions, Keyed, PageItem, Reporting, RowLog};
use crate::error::{Error, Result};
use crate::model::Directory;

/// Where an item's row is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowKey {
    /// The reporting counters (interval start, takeovers).
    Meta,
    Queue(String),
    Agent(String),
    Conflict(u64),
    Interval(u64),
    History(u64),
    Interaction(String),
    Chunk(String),
}

/// Row numbers as fixed-width decimals, so keys sort as numbers do.
impl fmt::Display for RowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowKey::Meta => f.write_str("meta"),
            RowKey::Queue(name) => write!(f, "queue/{name}"),
            RowKey::Agent(name) => write!(f, "agent/{name}"),
            RowKey::Conflict(n) => write!(f, "conflict/{n:020}"),
            RowKey::Interval(n) => write!(f, "interval/{n:020}"),
            RowKey::History(n) => write!(f, "history/{n:020}"),
            RowKey::Interaction(id) => write!(f, "interaction/{id}"),
            RowKey::Chunk(name) => write!(f, "chunk/{name}"),
        }
    }
}

impl std::str::FromStr for RowKey {
    type Err = Error;

    fn from_str(key: &str) -> Result<RowKey> {
        if key == "meta" {
            return Ok(RowKey::Meta);
        }
        let bad = || Error::BadRow(format!("unknown key {key:?}"));
        let (kind, rest) = key.split_once('/').ok_or_else(bad)?;
        let number = || rest.parse::<u64>().map_err(|_| bad());
        Ok(match kind {
            "queue" => RowKey::Queue(rest.to_string()),
            "agent" => RowKey::Agent(rest.to_string()),
            "conflict" => RowKey::Conflict(number()?),
            "interval" => RowKey::Interval(number()?),
            "history" => RowKey::History(number()?),
            "interaction" => RowKey::Interaction(rest.to_string()),
            "chunk" => RowKey::Chunk(rest.to_string()),
            _ => return Err(bad()),
        })
    }
}

/// What to store: each changed row with its item (`None`: delete it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    /// Every row of the state is here: the store drops every other (the
    /// state was replaced, or was never stored).
    pub whole: bool,
    pub changed: Vec<(RowKey, Option<PageItem>)>,
}

impl Rows {
    pub fn is_empty(&self) -> bool {
        !self.whole && self.changed.is_empty()
    }
}

/// What the store holds of what is not marked in the collections.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// Nothing the store holds counts: the next take is whole.
    whole: bool,
    /// The counters the stored meta row holds.
    meta: Option<(u64, u64)>,
}

impl Stored {
    pub(crate) fn nothing() -> Stored {
        Stored {
            whole: true,
            meta: None,
        }
    }
}

fn meta_of(reporting: &Reporting) -> (u64, u64) {
    (reporting.interval_start_ms, reporting.takeovers)
}

fn keyed<V: Clone>(
    map: &mut Keyed<V>,
    all: bool,
    key: fn(String) -> RowKey,
    item: impl Fn(&str, &Arc<V>) -> PageItem,
    out: &mut Vec<(RowKey, Option<PageItem>)>,
) {
    for (name, value) in map.take(all) {
        let row = value.map(|v| item(&name, v));
        out.push((key(name.to_string()), row));
    }
}

fn logged<T>(
    log: &mut RowLog<T>,
    all: bool,
    key: fn(u64) -> RowKey,
    item: impl Fn(&T) -> PageItem,
    out: &mut Vec<(RowKey, Option<PageItem>)>,
) {
    let (dropped, added) = log.take(all);
    out.extend(dropped.map(|n| (key(n), None)));
    out.extend(added.into_iter().map(|(n, t)| (key(n), Some(item(t)))));
}

impl Interactions {
    /// The rows changed since the last take (all of them after an
    /// install or on a new state), for the store to write at
    /// `position()`; taken once.
    pub fn take_rows(&mut self) -> Rows {
        let whole = std::mem::replace(&mut self.stored.whole, false);
        let live = &self.live;
        let all = live.queues.len()
            + live.agents.len()
            + live.conflicts.len()
            + live.reporting.intervals.len()
            + live.history.len()
            + live.interactions.len()
            + live.chunks.len();
        let mut changed = Vec::with_capacity(if whole { all + 1 } else { 0 });
        let meta = meta_of(&self.live.reporting);
        if whole || self.stored.meta != Some(meta) {
            self.stored.meta = Some(meta);
            let reporting = Reporting {
                intervals: RowLog::default(),
                ..self.live.reporting.clone()
            };
            let row = PageItem::Meta {
                reporting,
                history: Default::default(),
            };
            changed.push((RowKey::Meta, Some(row)));
        }
        let live = &mut self.live;
        let out = &mut changed;
        keyed(
            &mut live.queues,
            whole,
            RowKey::Queue,
            |name, q| PageItem::Queue {
                name: name.to_string(),
                live: (**q).clone(),
            },
            out,
        );
        keyed(
            &mut live.agents,
            whole,
            RowKey::Agent,
            |_, a| PageItem::Agent((**a).clone()),
            out,
        );
        logged(
            &mut live.conflicts,
            whole,
            RowKey::Conflict,
            |c| PageItem::Conflict(Box::new(c.clone())),
            out,
        );
        logged(
            &mut live.reporting.intervals,
            whole,
            RowKey::Interval,
            |r| PageItem::Interval(r.clone()),
            out,
        );
        logged(
            &mut live.history,
            whole,
            RowKey::History,
            |h| PageItem::History(h.clone()),
            out,
        );
        keyed(
            &mut live.interactions,
            whole,
            RowKey::Interaction,
            // A reference: the store's thread encodes it.
            |_, ix| PageItem::Interaction(Arc::clone(ix)),
            out,
        );
        keyed(
            &mut live.chunks,
            whole,
            RowKey::Chunk,
            |name, chunk| PageItem::Chunk {
                name: name.to_string(),
                chunk: Arc::clone(chunk),
            },
            out,
        );
        Rows { whole, changed }
    }

    /// The state as stored in `rows` at `position`, checked against
    /// `directory`; nothing to take until it changes.
    pub fn from_rows(
        directory: Directory,
        limits: Limits,
        rows: impl IntoIterator<Item = (RowKey, PageItem)>,
        position: Position,
    ) -> Result<Interactions> {
        let mut by_key = BTreeMap::new();
        for (key, item) in rows {
            check_row(&key, &item)?;
            if by_key.insert(key.clone(), item).is_some() {
                return Err(Error::BadRow(format!("{key} twice")));
            }
        }
        // Each log's rows are numbered without a gap (rows go from the
        // front only); its front's number is where the next drops start.
        let mut firsts = [None; 3];
        let mut next = [0u64; 3];
        for key in by_key.keys() {
            let (log, n) = match key {
                RowKey::Conflict(n) => (0, *n),
                RowKey::Interval(n) => (1, *n),
                RowKey::History(n) => (2, *n),
                _ => continue,
            };
            if firsts[log].is_some() && n != next[log] {
                return Err(Error::BadRow(format!("{key} follows a gap")));
            }
            firsts[log].get_or_insert(n);
            next[log] = n + 1;
        }
        let mut state = Interactions::new(directory, limits);
        state.install_items(by_key.into_values(), position)?;
        let live = &mut state.live;
        let [conflicts, intervals, history] = firsts.map(Option::unwrap_or_default);
        live.conflicts.mark_stored_from(conflicts);
        live.reporting.intervals.mark_stored_from(intervals);
        live.history.mark_stored_from(history);
        state.stored = Stored {
            whole: false,
            meta: Some(meta_of(&live.reporting)),
        };
        Ok(state)
    }
}

/// A row holds the item its key names.
fn check_row(key: &RowKey, item: &PageItem) -> Result<()> {
    let fits = match (key, item) {
        (RowKey::Meta, PageItem::Meta { .. }) => true,
        (RowKey::Queue(k), PageItem::Queue { name, .. }) => k == name,
        (RowKey::Agent(k), PageItem::Agent(a)) => *k == a.name,
        (RowKey::Interaction(k), PageItem::Interaction(ix)) => *k == ix.id,
        (RowKey::Chunk(k), PageItem::Chunk { name, .. }) => k == name,
        (RowKey::Conflict(_), PageItem::Conflict(_))
        | (RowKey::Interval(_), PageItem::Interval(_))
        | (RowKey::History(_), PageItem::History(_)) => true,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(Error::BadRow(format!("{key} holds another item")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Agent;
    use crate::state::HistoryEntry;

    #[test]
    fn keys_read_back_as_written_and_sort_by_number() {
        let keys = [
            RowKey::Meta,
            RowKey::Queue("sales/east".into()),
            RowKey::Agent("ann".into()),
            RowKey::Conflict(3),
            RowKey::Interval(9),
            RowKey::History(10),
            RowKey::Interaction("x/y".into()),
            RowKey::Chunk("ba78".into()),
        ];
        for key in &keys {
            assert_eq!(key.to_string().parse::<RowKey>().unwrap(), *key);
        }
        assert!(RowKey::History(9).to_string() < RowKey::History(10).to_string());
        assert!("history/ten".parse::<RowKey>().is_err());
        assert!("nothing".parse::<RowKey>().is_err());
    }

    #[test]
    fn rows_that_do_not_fit_their_keys_or_leave_gaps_are_refused() {
        let mut state = Interactions::default();
        let mut rows: BTreeMap<RowKey, PageItem> = state
            .take_rows()
            .changed
            .into_iter()
            .map(|(k, item)| (k, item.unwrap()))
            .collect();
        let load = |rows: &BTreeMap<RowKey, PageItem>| {
            Interactions::from_rows(
                Directory::default(),
                crate::DEFAULT_LIMITS,
                rows.clone(),
                Position::new(0, 5),
            )
        };
        assert!(load(&rows).is_ok());
        let history = |seq| {
            PageItem::History(HistoryEntry {
                seq,
                epoch: 1,
                client: String::new(),
            })
        };
        rows.insert(RowKey::History(4), history(1));
        rows.insert(RowKey::History(6), history(2));
        assert!(matches!(load(&rows), Err(Error::BadRow(_))), "a gap");
        rows.insert(RowKey::History(5), history(2));
        rows.insert(RowKey::History(6), history(3));
        let mut loaded = load(&rows).unwrap();
        assert_eq!(loaded.take_rows(), Rows::default());
        rows.insert(
            RowKey::Agent("bob".into()),
            PageItem::Agent(Agent::new("ann", 0)),
        );
        assert!(
            matches!(load(&rows), Err(Error::BadRow(_))),
            "another's row"
        );
    }
}

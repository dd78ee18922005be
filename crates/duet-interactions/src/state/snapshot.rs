//! Snapshot pages: the whole replicated state in pages of bounded size,
//! so a backup that diverged (or starts empty) can be made equal to the
//! active node, then follow the stream from the snapshot's position. The
//! node's stored rows (`rows.rs`) are the same items, installed the same
//! way.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use duet_rsm::Position;
use serde::{Deserialize, Serialize};

use super::{HistoryEntry, Index, Interactions, IntervalRecord, Keyed, Live, QueueLive, Reporting};
use crate::encode;
use crate::error::{Error, Result};
use crate::model::{Agent, Chunk, Interaction};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageItem {
    /// The state's own records (first page). As a stored row it holds
    /// no interval records and no history: those are rows of their own.
    Meta {
        reporting: Reporting,
        history: VecDeque<HistoryEntry>,
    },
    /// Shared with the live state: a page or a row refers to it, a
    /// change to it copies it first. Encoded as the interaction itself.
    Interaction(#[serde(with = "shared")] Arc<Interaction>),
    Agent(Agent),
    Queue {
        name: String,
        live: QueueLive,
    },
    /// A heal conflict record, oldest first.
    Conflict(Box<crate::model::HealConflict>),
    /// A statistics interval record (stored rows only; a snapshot sends
    /// them in its `Meta`), oldest first.
    Interval(IntervalRecord),
    /// A record of the history (stored rows only, as `Interval`).
    History(HistoryEntry),
    /// A chunk of content, by name (`model::blob`).
    Chunk {
        name: String,
        #[serde(with = "shared")]
        chunk: Arc<Chunk>,
    },
}

/// An `Arc` encoded as what it holds (serde's own needs its `rc`
/// feature, for this one field).
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &Arc<T>, s: S) -> Result<S::Ok, S::Error> {
        (**value).serialize(s)
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Arc<T>, D::Error> {
        T::deserialize(d).map(Arc::new)
    }
}

/// Items of at most `max_bytes` (postcard size), except that one item
/// larger than that gets a page of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<PageItem>,
}

/// `items` in pages of at most `max_bytes` each (postcard size), except
/// that one item larger than that gets a page of its own. Sizing encodes
/// each item, so a node does it off the task that keeps the state.
pub fn paginate(items: Vec<PageItem>, max_bytes: usize) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut page = Page::default();
    let mut page_bytes = 0;
    for item in items {
        let bytes = encode::size_of(&item);
        if !page.items.is_empty() && page_bytes + bytes > max_bytes {
            pages.push(std::mem::take(&mut page));
            page_bytes = 0;
        }
        page_bytes += bytes;
        page.items.push(item);
    }
    if !page.items.is_empty() {
        pages.push(page);
    }
    pages
}

impl Interactions {
    /// The state as pages, for a backup to `install` at `position()`.
    pub fn snapshot_pages(&self, max_bytes: usize) -> Vec<Page> {
        paginate(self.snapshot_items(), max_bytes)
    }

    /// The state's items as a snapshot holds them, in order, at
    /// `position()`: interactions shared with the live state (a change
    /// copies one first), so taking them costs no copy of a transcript.
    pub fn snapshot_items(&self) -> Vec<PageItem> {
        let meta = PageItem::Meta {
            reporting: self.live.reporting.clone(),
            history: self.live.history.iter().cloned().collect(),
        };
        let items = std::iter::once(meta)
            .chain(self.live.queues.iter().map(|(name, live)| PageItem::Queue {
                name: name.to_string(),
                live: live.clone(),
            }))
            .chain(self.live.agents.values().cloned().map(PageItem::Agent))
            .chain(
                self.live
                    .conflicts
                    .iter()
                    .map(|c| PageItem::Conflict(Box::new(c.clone()))),
            )
            .chain(
                self.live
                    .chunks
                    .iter_shared()
                    .map(|(name, chunk)| PageItem::Chunk {
                        name: name.to_string(),
                        chunk: Arc::clone(chunk),
                    }),
            )
            .chain(
                self.live
                    .interactions
                    .shared()
                    .map(|ix| PageItem::Interaction(Arc::clone(ix))),
            );
        items.collect()
    }

    /// Replaces the state with a snapshot's pages, taken at `position`.
    /// The directory and limits stay; on error nothing changes. The node
    /// stores the whole state again at its next take of rows.
    pub fn install(&mut self, pages: &[Page], position: Position) -> Result<()> {
        let items = pages.iter().flat_map(|p| &p.items).cloned();
        self.install_items(items, position)?;
        self.stored = super::rows::Stored::nothing();
        Ok(())
    }

    /// Replaces the state with `items` (a snapshot's, or stored rows)
    /// at `position`; on error nothing changes.
    pub(super) fn install_items(
        &mut self,
        items: impl IntoIterator<Item = PageItem>,
        position: Position,
    ) -> Result<()> {
        let mut live = Live {
            position,
            ..Live::default()
        };
        let mut metas = 0;
        // Built whole, then taken whole or already stored: not marked.
        let (mut interactions, mut agents, mut queues, mut chunks) = (
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        // Rows of their own follow their `Meta` whatever the order.
        let (mut intervals, mut history) = (Vec::new(), Vec::new());
        for item in items {
            match item {
                PageItem::Meta {
                    reporting,
                    history: records,
                } => {
                    metas += 1;
                    live.reporting = reporting;
                    live.history = records.into();
                }
                PageItem::Interaction(ix) => {
                    let id = ix.id.clone();
                    if interactions.insert(id.clone(), ix).is_some() {
                        return Err(Error::BadSnapshot(format!("interaction {id:?} twice")));
                    }
                }
                PageItem::Agent(a) => {
                    let name = a.name.clone();
                    if agents.insert(name.as_str().into(), Arc::new(a)).is_some() {
                        return Err(Error::BadSnapshot(format!("agent {name:?} twice")));
                    }
                }
                PageItem::Queue { name, live: q } => {
                    queues.insert(name.into(), Arc::new(q));
                }
                PageItem::Conflict(c) => live.conflicts.push_back(*c),
                PageItem::Interval(r) => intervals.push(r),
                PageItem::History(h) => history.push(h),
                PageItem::Chunk { name, chunk } => {
                    chunks.insert(name.into(), chunk);
                }
            }
        }
        live.interactions = Keyed::unmarked(interactions);
        live.agents = Keyed::unmarked(agents);
        live.queues = Keyed::unmarked(queues);
        live.chunks = Keyed::unmarked(chunks);
        if metas != 1 {
            return Err(Error::BadSnapshot(format!(
                "{metas} meta records; a snapshot has one (pages missing?)"
            )));
        }
        for r in intervals {
            live.reporting.intervals.push_back(r);
        }
        for h in history {
            live.history.push_back(h);
        }
        if live.history.back().is_some_and(|h| h.seq > position.seq) {
            return Err(Error::BadSnapshot(
                "its history runs past the position it was taken at".into(),
            ));
        }
        let mut index = Index::default();
        for ix in live.interactions.values() {
            index.add_interaction(ix);
            index.add_messages(ix);
        }
        for a in live.agents.values() {
            index.add_agent(a, self.config.directory.agents.get(&a.name));
        }
        index.chunks.installed(&live.chunks);
        self.live = live;
        self.index = index;
        Ok(())
    }
}

//! Snapshot pages: the whole replicated state in pages of bounded size,
//! so a backup that diverged (or starts empty) can be made equal to the
//! active node, then follow the stream from the snapshot's position.

use std::collections::VecDeque;

use duet_rsm::Position;
use serde::{Deserialize, Serialize};

use super::{HistoryEntry, Index, Interactions, Live, QueueLive, Reporting};
use crate::encode;
use crate::error::{Error, Result};
use crate::model::{Agent, Interaction};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageItem {
    /// The state's own records (first page).
    Meta {
        reporting: Reporting,
        history: VecDeque<HistoryEntry>,
    },
    Interaction(Box<Interaction>),
    Agent(Agent),
    Queue {
        name: String,
        live: QueueLive,
    },
    /// A heal conflict record, oldest first.
    Conflict(Box<crate::model::HealConflict>),
}

/// Items of at most `max_bytes` (postcard size), except that one item
/// larger than that gets a page of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<PageItem>,
}

impl Interactions {
    /// The state as pages, for a backup to `install` at `position()`.
    pub fn snapshot_pages(&self, max_bytes: usize) -> Vec<Page> {
        let meta = PageItem::Meta {
            reporting: self.live.reporting.clone(),
            history: self.live.history.clone(),
        };
        let items = std::iter::once(meta)
            .chain(self.live.queues.iter().map(|(name, live)| PageItem::Queue {
                name: name.clone(),
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
                    .interactions
                    .values()
                    .map(|ix| PageItem::Interaction(Box::new(ix.clone()))),
            );
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

    /// Replaces the state with a snapshot's pages, taken at `position`.
    /// The directory and limits stay; on error nothing changes.
    pub fn install(&mut self, pages: &[Page], position: Position) -> Result<()> {
        let mut live = Live {
            position,
            ..Live::default()
        };
        let mut metas = 0;
        for item in pages.iter().flat_map(|p| &p.items) {
            match item {
                PageItem::Meta { reporting, history } => {
                    metas += 1;
                    live.reporting = reporting.clone();
                    live.history = history.clone();
                }
                PageItem::Interaction(ix) => {
                    if live
                        .interactions
                        .insert(ix.id.clone(), (**ix).clone())
                        .is_some()
                    {
                        return Err(Error::BadSnapshot(format!("interaction {:?} twice", ix.id)));
                    }
                }
                PageItem::Agent(a) => {
                    if live.agents.insert(a.name.clone(), a.clone()).is_some() {
                        return Err(Error::BadSnapshot(format!("agent {:?} twice", a.name)));
                    }
                }
                PageItem::Queue { name, live: q } => {
                    live.queues.insert(name.clone(), q.clone());
                }
                PageItem::Conflict(c) => live.conflicts.push_back((**c).clone()),
            }
        }
        if metas != 1 {
            return Err(Error::BadSnapshot(format!(
                "{metas} meta records; a snapshot has one (pages missing?)"
            )));
        }
        if live.history.back().is_some_and(|h| h.seq > position.1) {
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
            index.add_agent(a);
        }
        self.live = live;
        self.index = index;
        Ok(())
    }
}

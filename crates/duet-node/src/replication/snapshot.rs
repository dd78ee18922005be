//! The interaction state's resynchronisation: the active node takes a
//! snapshot at the position it asks a backup to resynchronise to; the
//! backup, once its configuration is resynchronised, fetches the pages
//! one request at a time (so the link's outbox never overflows), installs
//! them at that position, stores them, and says hello.

use std::sync::Arc;

use duet_interactions::Page;
use duet_link::protocol::{SnapshotPage, Stream};
use duet_switchover::Level;

use super::*;
use crate::shared::Shared;
use crate::store::SNAPSHOT_PAGE_BYTES;

/// A backup's fetch of the active node's interaction snapshot.
pub(super) struct SnapshotRun {
    upto: (u64, u64),
    pages: Vec<Page>,
    request_id: u64,
    /// On the node's monotonic clock.
    pub(super) asked_at_ms: u64,
}

impl Replicator {
    /// The active node: a snapshot of the interaction state at its
    /// position, kept for the backup about to resynchronise to it.
    pub(super) fn snapshot_take(&mut self) {
        use duet_rsm::StateMachine;
        let at = self.ix.state.position();
        if self.ix.snapshot_out.as_ref().is_some_and(|(p, _)| *p == at) {
            return;
        }
        let pages = self.ix.state.snapshot_pages(SNAPSHOT_PAGE_BYTES);
        self.ix.snapshot_out = Some((at, Arc::new(pages)));
    }

    /// The active node's answer to a snapshot request.
    pub fn snapshot_answer(&self, id: u64, upto: (u64, u64), page: u32) -> Stream {
        let answer = |items, pages, error| {
            Stream::SnapshotPage(SnapshotPage {
                id,
                page,
                pages,
                items,
                error,
            })
        };
        match &self.ix.snapshot_out {
            Some((at, pages)) if *at == upto => match pages.get(page as usize) {
                Some(items) => answer(Some(items.clone()), pages.len() as u32, None),
                // An empty state is one empty page.
                None if pages.is_empty() && page == 0 => answer(Some(Page::default()), 1, None),
                None => answer(None, pages.len() as u32, Some(format!("no page {page}"))),
            },
            _ => answer(
                None,
                0,
                Some(format!(
                    "no interaction snapshot at change {} (the active node restarted or took a newer one)",
                    upto.1
                )),
            ),
        }
    }

    /// The backup: the configuration is resynchronised to `upto`; the
    /// interaction snapshot at `upto` follows. Returns the first request.
    pub(super) fn snapshot_begin(&mut self, upto: (u64, u64), now_ms: u64) -> Stream {
        self.sync.last_request_id += 1;
        self.sync.snapshot = Some(SnapshotRun {
            upto,
            pages: Vec::new(),
            request_id: self.sync.last_request_id,
            asked_at_ms: now_ms,
        });
        Stream::SnapshotRequest {
            id: self.sync.last_request_id,
            upto,
            page: 0,
        }
    }

    /// A page of the snapshot; returns the next request, or nothing once
    /// the hello waits for the store (or the fetch failed: it starts over
    /// after Switchover DS Request Timeout).
    pub fn snapshot_page(
        &mut self,
        shared: &Shared,
        answer: SnapshotPage,
        now_ms: u64,
    ) -> Option<Stream> {
        let SnapshotPage {
            id,
            page,
            pages,
            items,
            error,
        } = answer;
        let run = self.sync.snapshot.as_mut()?;
        if run.request_id != id || page as usize != run.pages.len() {
            return None;
        }
        let Some(items) = items.filter(|_| error.is_none()) else {
            shared.log_event(
                Level::Warning,
                format!(
                    "The interaction snapshot could not be fetched: {}; resynchronising again",
                    error.unwrap_or_default()
                ),
            );
            // No answer matches id 0: the overdue check starts over.
            run.request_id = 0;
            return None;
        };
        run.pages.push(items);
        if (run.pages.len() as u32) < pages {
            self.sync.last_request_id += 1;
            run.request_id = self.sync.last_request_id;
            run.asked_at_ms = now_ms;
            return Some(Stream::SnapshotRequest {
                id: run.request_id,
                upto: run.upto,
                page: run.pages.len() as u32,
            });
        }
        let run = self.sync.snapshot.take()?;
        if let Err(e) = self.ix.state.install(&run.pages, run.upto) {
            shared.log_event(
                Level::Error,
                format!(
                    "The interaction snapshot cannot be installed ({e}); resynchronising again"
                ),
            );
            let hello = self.hello_here(true);
            self.hello();
            return Some(hello);
        }
        self.ix.installed(&self.tree, &mut self.writer, run.upto.1);
        shared.log_event(
            Level::Info,
            format!(
                "Interactions resynchronised: {} live interactions in {} pages",
                self.ix.state.len(),
                run.pages.len()
            ),
        );
        let hello = self.hello();
        self.after_durable(AfterDurable::Reply(Box::new(hello)));
        None
    }
}

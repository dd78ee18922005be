//! The interaction state's resynchronisation: once a backup's
//! configuration is resynchronised, the active node takes a snapshot at
//! its position then, encoded and cut into chunks of at most
//! `SNAPSHOT_CHUNK_BYTES` (so no message is larger than a frame, however
//! large one interaction is); the backup fetches the chunks one request at
//! a time (so the link's outbox never overflows), joins and decodes them,
//! installs the pages at that position, stores them, and says hello.
//!
//! Why then and not at the resync's position: the active node answers the
//! configuration's resync from its tree as it is while the resync runs,
//! so the backup's tree may hold settings made after the resync's
//! position. An interaction change between the two, applied there against
//! those settings, could come out otherwise than it did on the active
//! node (a chunk's keep, a queue's settings). With the snapshot taken
//! after the last answer, the backup applies no interaction change before
//! it; the stream replays the configuration from the resync's position
//! (each replayed change sets its entry again), so by the first
//! interaction change after the snapshot the tree is the active node's at
//! that position.

use std::sync::Arc;

use crate::Event;
use duet_interactions::Page;
use duet_link::protocol::{SNAPSHOT_CHUNK_BYTES, SnapshotPage, StreamToActive, StreamToBackup};
use duet_rsm::Position;

use crate::persist::SNAPSHOT_PAGE_BYTES;
use crate::*;

/// A backup's fetch of the active node's interaction snapshot.
pub(crate) struct SnapshotRun {
    /// The configuration's resync position: the tree's, once installed.
    tree_at: Position,
    /// The snapshot's position, from its first page: the interaction
    /// state's, once installed (at or after `tree_at`).
    at: Option<Position>,
    /// The chunks received so far, joined.
    encoded: Vec<u8>,
    chunks: u32,
    request_id: u64,
    /// On the node's monotonic clock.
    pub(crate) asked_at_ms: u64,
}

/// The active node's snapshot for a backup, taken at `at`: being encoded
/// (off the replication task: sizing and encoding a state of many long
/// transcripts takes long enough to hold up every acknowledgement), with
/// the requests that came meanwhile, or encoded in chunks.
pub(crate) enum SnapshotOut<P> {
    Encoding {
        at: Position,
        waiting: Vec<(u64, u32, P)>,
    },
    Ready {
        at: Position,
        chunks: Arc<Vec<Vec<u8>>>,
    },
}

impl<P> SnapshotOut<P> {
    fn at(&self) -> Position {
        match self {
            SnapshotOut::Encoding { at, .. } | SnapshotOut::Ready { at, .. } => *at,
        }
    }
}

impl<P: Clone, A> Replica<P, A> {
    /// The active node: a snapshot of the interaction state at its
    /// position, kept for the backup about to resynchronise to it. The
    /// state's items are taken here (shared, no transcript copied); the
    /// runtime sizes, pages and encodes them off its loop ([`encode`]) and
    /// hands the chunks back as [`Input::SnapshotEncoded`].
    pub(crate) fn snapshot_take(&mut self) -> Position {
        use duet_rsm::StateMachine;
        let at = self.ix.state.position();
        if self
            .sync
            .snapshot_out
            .as_ref()
            .is_some_and(|out| out.at() == at)
        {
            return at;
        }
        let items = self.ix.state.snapshot_items();
        self.sync.snapshot_out = Some(SnapshotOut::Encoding {
            at,
            waiting: Vec::new(),
        });
        self.out.push(Output::EncodeSnapshot { at, items });
        at
    }

    /// The snapshot taken at `at` is encoded: the requests that waited
    /// for it are answered. One taken since replaces it.
    pub(crate) fn snapshot_encoded(&mut self, at: Position, chunks: Arc<Vec<Vec<u8>>>) {
        let waiting = match &mut self.sync.snapshot_out {
            Some(SnapshotOut::Encoding { at: taken, waiting }) if *taken == at => {
                std::mem::take(waiting)
            }
            _ => return,
        };
        self.sync.snapshot_out = Some(SnapshotOut::Ready { at, chunks });
        for (id, page, to) in waiting {
            let answer = self.snapshot_answer(id, at, page);
            self.out.send(to, answer);
        }
    }

    /// The active node: whether it holds a snapshot made for a backup
    /// (being encoded, or encoded).
    pub fn snapshot_held(&self) -> bool {
        self.sync.snapshot_out.is_some()
    }

    /// The active node: a backup asks for a chunk of the snapshot at
    /// `at`, or (`None`) for the first of one taken now; it is answered
    /// now, or once the snapshot is encoded. A snapshot taken now is
    /// answered once everything up to its position is durable here, as a
    /// resync's start is.
    pub(crate) fn snapshot_request(&mut self, id: u64, at: Option<Position>, page: u32, to: P) {
        let snapshot_at = match at {
            Some(at) => at,
            None => {
                let at = self.snapshot_take();
                if self.out.last_ticket() > self.writes.durable_ticket {
                    self.after_durable(AfterDurable::SnapshotRequest { id, at, to });
                    return;
                }
                at
            }
        };
        if let Some(SnapshotOut::Encoding { at, waiting }) = &mut self.sync.snapshot_out
            && *at == snapshot_at
        {
            waiting.push((id, page, to));
            return;
        }
        let answer = self.snapshot_answer(id, snapshot_at, page);
        self.out.send(to, answer);
    }

    /// The answer to a request for chunk `page` of the snapshot at `upto`.
    fn snapshot_answer(&self, id: u64, upto: Position, page: u32) -> StreamToBackup {
        let answer = |chunk, pages, error| {
            StreamToBackup::SnapshotPage(SnapshotPage {
                id,
                at: upto,
                page,
                pages,
                chunk,
                error,
            })
        };
        match &self.sync.snapshot_out {
            Some(SnapshotOut::Ready { at, chunks }) if *at == upto => {
                match chunks.get(page as usize) {
                    Some(chunk) => answer(Some(chunk.clone()), chunks.len() as u32, None),
                    None => answer(None, chunks.len() as u32, Some(format!("no page {page}"))),
                }
            }
            _ => answer(
                None,
                0,
                Some(format!(
                    "no interaction snapshot at change {} (the active node restarted or took a newer one)",
                    upto.seq
                )),
            ),
        }
    }

    /// The backup: the configuration is resynchronised to `upto`; an
    /// interaction snapshot taken now follows. Returns the first request.
    pub(crate) fn snapshot_begin(&mut self, upto: Position) -> StreamToActive {
        self.sync.last_request_id += 1;
        self.sync.snapshot = Some(SnapshotRun {
            tree_at: upto,
            at: None,
            encoded: Vec::new(),
            chunks: 0,
            request_id: self.sync.last_request_id,
            asked_at_ms: self.ctx.mono_ms,
        });
        StreamToActive::SnapshotRequest {
            id: self.sync.last_request_id,
            at: None,
            page: 0,
        }
    }

    /// A page of the snapshot; returns the next request, or nothing once
    /// the hello waits for the store (or the fetch failed: it starts over
    /// after Switchover DS Request Timeout).
    pub(crate) fn snapshot_page(&mut self, answer: SnapshotPage) -> Option<StreamToActive> {
        let SnapshotPage {
            id,
            at,
            page,
            pages,
            chunk,
            error,
        } = answer;
        let run = self.sync.snapshot.as_mut()?;
        if run.request_id != id || page != run.chunks {
            return None;
        }
        // A snapshot older than the configuration installed would apply
        // changes against newer settings; the pages of one snapshot only.
        let error = error.or_else(|| {
            (at < run.tree_at || run.at.is_some_and(|first| first != at)).then(|| {
                format!(
                    "a page of a snapshot at change {} (asked for one at or after {})",
                    at.seq,
                    run.at.unwrap_or(run.tree_at).seq
                )
            })
        });
        let Some(chunk) = chunk.filter(|_| error.is_none()) else {
            self.out.event(Event::SnapshotNotFetched {
                error: error.unwrap_or_default(),
            });
            // No answer matches id 0: the overdue check starts over.
            run.request_id = 0;
            return None;
        };
        run.at = Some(at);
        run.encoded.extend_from_slice(&chunk);
        run.chunks += 1;
        if run.chunks < pages {
            self.sync.last_request_id += 1;
            run.request_id = self.sync.last_request_id;
            run.asked_at_ms = self.ctx.mono_ms;
            return Some(StreamToActive::SnapshotRequest {
                id: run.request_id,
                at: Some(at),
                page: run.chunks,
            });
        }
        let run = self.sync.snapshot.take()?;
        let installed = postcard::from_bytes::<Vec<Page>>(&run.encoded)
            .map_err(|e| format!("its encoding does not decode: {e}"))
            .and_then(|pages| {
                self.ix
                    .state
                    .install(&pages, at)
                    .map_err(|e| e.to_string())?;
                Ok(pages.len())
            });
        let pages = match installed {
            Ok(pages) => pages,
            Err(e) => {
                self.out.event(Event::SnapshotNotInstalled { error: e });
                let hello = self.hello_here(true);
                self.hello();
                return Some(hello);
            }
        };
        self.ix.installed(&self.tree, &mut self.out, at);
        // The tree's position with the rows, after them: the interaction
        // state at `at`, the tree at the resync's position, both of the
        // active node's history; the stream replays the configuration
        // from there and passes over interaction changes up to `at`.
        self.tree.synchronised_to(run.tree_at);
        if let Some(history) = self.sync.taking.take() {
            self.take_history(history);
        }
        self.out.persist(StoreWrite::Resynchronised {
            installed: duet_config::sync::Installed::default(),
            last: run.tree_at,
        });
        self.out.event(Event::InteractionsResynchronised {
            interactions: self.ix.state.len(),
            pages,
            bytes: run.encoded.len(),
            chunks: run.chunks as usize,
        });
        let hello = self.hello();
        self.after_durable(AfterDurable::Reply(Box::new(hello)));
        None
    }
}

/// A snapshot's items sized, paged, encoded and cut into chunks: what
/// the runtime does with [`Output::EncodeSnapshot`], off its loop.
pub fn encode(items: Vec<duet_interactions::PageItem>) -> Vec<Vec<u8>> {
    snapshot_chunks(&duet_interactions::paginate(items, SNAPSHOT_PAGE_BYTES))
}

/// The snapshot's pages encoded as one whole and cut into chunks of at
/// most `SNAPSHOT_CHUNK_BYTES`; an empty state is one chunk too.
pub(crate) fn snapshot_chunks(pages: &[Page]) -> Vec<Vec<u8>> {
    let encoded = postcard::to_allocvec(pages).expect("a snapshot encodes");
    encoded
        .chunks(SNAPSHOT_CHUNK_BYTES)
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use duet_interactions::PageItem;
    use duet_link::protocol::{ActiveCodec, Envelope, MAX_FRAME_BYTES, PROTOCOL_VERSION, ToBackup};
    use tokio_util::codec::Encoder;

    use super::*;

    #[test]
    fn an_item_larger_than_a_frame_travels_in_chunks_that_each_fit_one() {
        let huge = PageItem::Queue {
            name: "q".repeat(MAX_FRAME_BYTES * 3 / 2),
            live: Default::default(),
        };
        let pages = vec![
            Page { items: vec![huge] },
            Page {
                items: vec![PageItem::Queue {
                    name: "small".into(),
                    live: Default::default(),
                }],
            },
        ];
        let chunks = snapshot_chunks(&pages);
        assert!(chunks.len() >= 3, "{} chunks", chunks.len());
        let mut codec = ActiveCodec::default();
        for (page, chunk) in chunks.iter().enumerate() {
            let envelope = Envelope {
                version: PROTOCOL_VERSION,
                node: "a".into(),
                epoch: 1,
                release: "2026.1.0".into(),
                body: ToBackup::Stream(StreamToBackup::SnapshotPage(SnapshotPage {
                    id: 1,
                    at: Position::new(1, 1),
                    page: page as u32,
                    pages: chunks.len() as u32,
                    chunk: Some(chunk.clone()),
                    error: None,
                })),
            };
            let mut frame = tokio_util::bytes::BytesMut::new();
            codec.encode(envelope, &mut frame).unwrap();
            assert!(frame.len() <= MAX_FRAME_BYTES + 4);
        }
        let joined: Vec<u8> = chunks.concat();
        assert_eq!(postcard::from_bytes::<Vec<Page>>(&joined).unwrap(), pages);
    }

    #[test]
    fn an_empty_state_is_one_chunk() {
        let chunks = snapshot_chunks(&[]);
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            postcard::from_bytes::<Vec<Page>>(&chunks[0]).unwrap(),
            Vec::<Page>::new()
        );
    }
}

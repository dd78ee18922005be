//! The chunks of content the live state holds (`model::blob`): which
//! live interactions refer to each, so a chunk nobody refers to is let go
//! `unreferenced_chunk_keep_ms` (an hour by default) after it was last
//! stored, on both nodes at the same change.

use std::collections::{BTreeSet, HashMap};

use super::{Interactions, Keyed};
use crate::error::{Error, Result};
use crate::model::{Blob, Bytes, CHUNK_BYTES_MAX, Chunk, Content, Interaction, Name, chunk_name};

/// Derived from the live state (rebuilt on install), kept as it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChunkIndex {
    /// How many times live interactions refer to each chunk.
    refs: HashMap<Name, u32>,
    /// Held chunks no live interaction refers to, by when they were
    /// stored: the oldest go first.
    unreferenced: BTreeSet<(u64, Name)>,
    /// Chunks whose count went to or from zero in the change being made;
    /// settled once it is made (an edit takes an interaction's references
    /// out and puts them back).
    touched: Vec<Name>,
    held_bytes: u64,
}

/// Every blob an interaction refers to: its shared files, its email's
/// MIME and attachments, its replies' attachments.
pub(crate) fn blobs(ix: &Interaction) -> impl Iterator<Item = &Blob> {
    let email = match &ix.content {
        Content::Email(email) => Some(email),
        _ => None,
    };
    let email_parts = email.into_iter().flat_map(|e| {
        std::iter::once(&e.mime)
            .chain(e.attachments.iter().map(|a| &a.content))
            .chain(
                e.replies
                    .iter()
                    .flat_map(|r| r.attachments.iter().map(|a| &a.content)),
            )
    });
    ix.files.iter().map(|f| &f.content).chain(email_parts)
}

impl ChunkIndex {
    pub fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    pub fn add_refs(&mut self, ix: &Interaction) {
        for name in blobs(ix).flat_map(|b| &b.chunks) {
            let n = self.refs.entry(name.as_str().into()).or_default();
            *n += 1;
            if *n == 1 {
                self.touched.push(name.as_str().into());
            }
        }
    }

    pub fn remove_refs(&mut self, ix: &Interaction) {
        for name in blobs(ix).flat_map(|b| &b.chunks) {
            if let Some(n) = self.refs.get_mut(name.as_str()) {
                *n -= 1;
                if *n == 0 {
                    self.refs.remove(name.as_str());
                    self.touched.push(name.as_str().into());
                }
            }
        }
    }

    /// Chunk `name` is now held.
    pub fn stored(&mut self, name: &str, chunk: &Chunk) {
        self.held_bytes += chunk.bytes.len() as u64;
        if !self.refs.contains_key(name) {
            self.unreferenced.insert((chunk.stored_at_ms, name.into()));
        }
    }

    /// After a change: the chunks whose references came or went are
    /// found referenced or not.
    pub fn settle(&mut self, chunks: &Keyed<Chunk>) {
        for name in std::mem::take(&mut self.touched) {
            if let Some(chunk) = chunks.get(&name) {
                let key = (chunk.stored_at_ms, name);
                if self.refs.contains_key(&key.1) {
                    self.unreferenced.remove(&key);
                } else {
                    self.unreferenced.insert(key);
                }
            }
        }
    }

    /// Every chunk of `chunks` is held (an install, after every
    /// interaction's references were added).
    pub fn installed(&mut self, chunks: &Keyed<Chunk>) {
        self.touched.clear();
        for (name, chunk) in chunks.iter() {
            self.stored(name, chunk);
        }
    }
}

impl Interactions {
    /// Stores chunk `name`. One held already is kept as it is, but one
    /// nobody refers to is stored afresh at `at` (its keep starts again):
    /// content sent again an hour after an upload was cut off is not let
    /// go between its chunks and the change that names them.
    pub(super) fn store_chunk(&mut self, name: &str, bytes: &Bytes, at: u64) {
        if let Some(held) = self.live.chunks.get(name) {
            if self.index.chunks.refs.contains_key(name) || held.stored_at_ms >= at {
                return;
            }
            let old = (held.stored_at_ms, Name::from(name));
            self.index.chunks.unreferenced.remove(&old);
            self.index.chunks.unreferenced.insert((at, old.1));
            if let Some(chunk) = self.live.chunks.get_mut(name) {
                chunk.stored_at_ms = at;
            }
            return;
        }
        let chunk = Chunk {
            stored_at_ms: at,
            bytes: bytes.clone(),
        };
        self.index.chunks.stored(name, &chunk);
        self.live.chunks.insert(name, chunk);
    }

    /// Whether chunk `name` is held and will be for a while yet at
    /// `now_ms`: some live interaction refers to it, or it was stored
    /// less than half its keep ago. A chunk held but not for long is sent
    /// again, which stores it afresh.
    pub fn chunk_kept(&self, name: &str, now_ms: u64) -> bool {
        let keep_ms = self.config.directory.settings.unreferenced_chunk_keep_ms;
        self.live.chunks.get(name).is_some_and(|chunk| {
            self.index.chunks.refs.contains_key(name)
                || chunk.stored_at_ms.saturating_add(keep_ms / 2) > now_ms
        })
    }

    /// The bytes of `blob`, joined; `None` when a chunk is not held.
    pub fn content(&self, blob: &Blob) -> Option<Vec<u8>> {
        let mut bytes = Vec::with_capacity(usize::try_from(blob.size_bytes).unwrap_or(0));
        for name in &blob.chunks {
            bytes.extend_from_slice(&self.live.chunks.get(name)?.bytes);
        }
        Some(bytes)
    }

    /// After each change at `at`: chunks are found referenced or not, and
    /// those unreferenced past their keep are let go.
    pub(super) fn settle_chunks(&mut self, at: u64) {
        self.index.chunks.settle(&self.live.chunks);
        let keep_ms = self.config.directory.settings.unreferenced_chunk_keep_ms;
        let index = &mut self.index.chunks;
        while let Some(stored_at_ms) = index.unreferenced.first().map(|(ms, _)| *ms)
            && stored_at_ms.saturating_add(keep_ms) <= at
        {
            let Some((_, name)) = index.unreferenced.pop_first() else {
                break;
            };
            if let Some(chunk) = self.live.chunks.remove(&name) {
                index.held_bytes -= chunk.bytes.len() as u64;
            }
        }
    }

    /// Whether chunk `name` may be stored: its name is its bytes' hash,
    /// its size within bounds, and the total held within the setting.
    pub(super) fn check_chunk(&self, name: &str, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() || bytes.len() > CHUNK_BYTES_MAX {
            return Err(Error::Invalid {
                what: "chunk",
                why: format!("{} bytes; a chunk is 1 to {CHUNK_BYTES_MAX}", bytes.len()),
            });
        }
        if chunk_name(bytes) != name {
            return Err(Error::Invalid {
                what: "chunk",
                why: format!("{name:?} is not the SHA-256 of its bytes"),
            });
        }
        let max = self.config.directory.settings.content_held_bytes_max;
        let held = self.index.chunks.held_bytes;
        if !self.live.chunks.contains_key(name) && held + bytes.len() as u64 > max {
            return Err(Error::ContentFull { held, max });
        }
        Ok(())
    }

    /// Whether every chunk of `blob` is held here, adding up to its size.
    pub fn holds(&self, blob: &Blob) -> bool {
        self.check_blob(blob).is_ok()
    }

    /// Whether `blob` may be referred to: every chunk held, their sizes
    /// adding up to its size, within the largest content allowed.
    pub(super) fn check_blob(&self, blob: &Blob) -> Result<()> {
        let max = self.config.directory.settings.content_bytes_max;
        if blob.size_bytes > max {
            return Err(Error::ContentTooLarge {
                bytes: blob.size_bytes,
                max,
            });
        }
        let mut total = 0u64;
        for name in &blob.chunks {
            let chunk = self
                .live
                .chunks
                .get(name)
                .ok_or_else(|| Error::ContentMissing {
                    chunk: name.clone(),
                })?;
            total += chunk.bytes.len() as u64;
        }
        if total != blob.size_bytes {
            return Err(Error::Invalid {
                what: "content",
                why: format!("{} bytes said, its chunks hold {total}", blob.size_bytes),
            });
        }
        Ok(())
    }
}

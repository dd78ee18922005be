//! Content (an email with its attachments, a shared file, a reply's
//! attachment) stored as chunks ahead of the change that refers to it
//! (`duet_interactions::model::blob`): each chunk the state lacks is a
//! change of its own, and the referring change is made only once every
//! one is acknowledged, so it is never acknowledged to its client unless
//! both nodes (while in sync) hold the whole content.

use std::collections::HashSet;
use std::future::Future;

use duet_interactions::Change;
use duet_interactions::model::{Blob, Bytes, blob};
use futures::{StreamExt, TryStreamExt};

/// Chunk changes of one piece of content under way at once.
pub const CHUNKS_IN_FLIGHT: usize = 8;

/// What the state holds of some content's chunks, and the largest
/// content it takes.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub names: HashSet<String>,
    pub content_bytes_max: u64,
}

impl Held {
    /// Content of `bytes` is within the setting.
    pub fn check_size(&self, bytes: usize) -> Result<(), duet_interactions::Error> {
        if bytes as u64 > self.content_bytes_max {
            return Err(duet_interactions::Error::ContentTooLarge {
                bytes: bytes as u64,
                max: self.content_bytes_max,
            });
        }
        Ok(())
    }
}

/// The client id of chunk `name` stored for the change `client`: unique
/// to this attempt (`at_ms`), so a retry long after, when the chunk may
/// have been let go, stores it again rather than be told it was stored.
fn chunk_client(client: &str, name: &str, at_ms: u64) -> String {
    format!("{client}/chunk/{name}/{at_ms}")
}

/// A chunk's name and bytes (a share of the content's, not a copy).
pub type Piece = (String, Bytes);

/// Each of `parts` cut into chunks and named (`blob::split`), on a
/// blocking thread: hashing 25 MiB would hold an async worker, and the
/// node's link with it, for tens of milliseconds.
pub async fn split(parts: Vec<Bytes>) -> Result<Vec<(Blob, Vec<Piece>)>, ShuttingDown> {
    tokio::task::spawn_blocking(move || parts.iter().map(blob::split).collect())
        .await
        .map_err(|_| ShuttingDown)
}

/// A blocking task did not finish: the runtime is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the node is shutting down")]
pub struct ShuttingDown;

/// Commits, by `commit` (a client id and the change), each of `pieces`
/// (from [`split`]) that `held` lacks, for the change `client` at
/// `at_ms`, [`CHUNKS_IN_FLIGHT`] at a time; returns once every one is
/// acknowledged, or with the first refusal.
pub async fn store<E, Fut>(
    pieces: Vec<Piece>,
    held: &Held,
    (client, at_ms): (&str, u64),
    commit: impl Fn(String, Change) -> Fut,
) -> Result<(), E>
where
    Fut: Future<Output = Result<(), E>>,
{
    let mut seen = HashSet::new();
    let missing: Vec<(String, Change)> = pieces
        .into_iter()
        .filter(|(name, _)| !held.names.contains(name) && seen.insert(name.clone()))
        .map(|(name, bytes)| {
            let chunk = Change::Chunk {
                name: name.clone(),
                bytes,
            };
            (chunk_client(client, &name, at_ms), chunk)
        })
        .collect();
    futures::stream::iter(
        missing
            .into_iter()
            .map(|(client, chunk)| commit(client, chunk)),
    )
    .buffer_unordered(CHUNKS_IN_FLIGHT)
    .try_collect::<Vec<()>>()
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn only_the_chunks_not_held_are_committed_each_once() {
        let mut bytes = vec![7u8; duet_interactions::model::CHUNK_BYTES_MAX * 3];
        bytes[0] = 1; // the first chunk differs; the other two are one
        let (blob, pieces) = blob::split(&Bytes::from(bytes.clone()));
        let held = Held {
            names: [blob.chunks[0].clone()].into(),
            content_bytes_max: u64::MAX,
        };
        let committed = Mutex::new(Vec::new());
        let run = store(pieces, &held, ("c1", 5), |client, change| {
            if let Change::Chunk { name, .. } = change {
                assert_eq!(client, format!("c1/chunk/{name}/5"));
                committed.lock().unwrap().push(name);
            }
            async { Ok::<(), ()>(()) }
        });
        futures::executor::block_on(run).unwrap();
        assert_eq!(*committed.lock().unwrap(), vec![blob.chunks[1].clone()]);
        assert!(held.check_size(bytes.len()).is_ok());
        let small = Held {
            content_bytes_max: 10,
            ..held
        };
        assert!(small.check_size(11).is_err());
    }
}

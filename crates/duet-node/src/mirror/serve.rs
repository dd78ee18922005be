//! The active node's side: listings cut from one scan per listing,
//! chunks, watches held on the file monitor, health checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use duet_link::protocol::MirrorAnswer;
use duet_link::protocol::mirror::{Changed, Chunk, Listing};
use duet_mirror::{FileMeta, HashCache, RelPath, read_chunk, scan_cached};
use tokio::sync::oneshot;

use super::monitor::MonitorMsg;

use super::*;

/// What the active node keeps of a root between listing requests: the hash
/// cache, and the scan the pages of one listing are cut from (so a large
/// root is scanned once per listing, and its pages agree).
#[derive(Debug, Default)]
pub struct RootScan {
    cache: HashCache,
    snapshot: Option<Snapshot>,
}

/// One scan of a root on the active node.
#[derive(Debug, Clone)]
struct Snapshot {
    generation: u64,
    /// `None`: the root does not exist.
    files: Option<Arc<Vec<FileMeta>>>,
}

/// The active node's answer to a listing request: the first page scans the
/// root afresh, later pages come from that scan.
pub async fn list(
    mirror: Arc<MirrorState>,
    id: u64,
    root: String,
    after: Option<RelPath>,
) -> Listing {
    let refused = |root: String, error: String| Listing {
        id,
        root,
        generation: 0,
        missing: false,
        files: Vec::new(),
        more: false,
        error: Some(error),
    };
    let r = match mirror.served_root(&root) {
        Ok(r) => r,
        Err(e) => return refused(root, e),
    };
    let mut state = mirror
        .scans
        .lock()
        .ok()
        .and_then(|mut scans| scans.remove(&root))
        .unwrap_or_default();
    let snapshot = match (&after, state.snapshot.clone()) {
        (Some(_), Some(snapshot)) => Ok(snapshot),
        _ => {
            // Read before scanning: a change during the scan is seen again.
            let generation = mirror
                .file_monitor
                .generations
                .borrow()
                .get(&root)
                .copied()
                .unwrap_or(0);
            let scanned = tokio::task::spawn_blocking(move || {
                let result = scan_cached(&r.dir, r.recursive, &r.exceptions, &mut state.cache);
                (result, state)
            })
            .await;
            match scanned {
                Ok((result, scanned_state)) => {
                    state = scanned_state;
                    // An unreadable or missing root is not an empty one:
                    // the backup must not delete.
                    let files = match result {
                        Ok((files, _)) => Ok(Some(Arc::new(files))),
                        Err(duet_mirror::MirrorError::NoRoot { .. }) => Ok(None),
                        Err(e) => Err(e.to_string()),
                    };
                    files
                        .map(|files| Snapshot { generation, files })
                        .inspect(|snapshot| state.snapshot = Some(snapshot.clone()))
                }
                Err(e) => {
                    state = RootScan::default();
                    Err(e.to_string())
                }
            }
        }
    };
    if let Ok(mut scans) = mirror.scans.lock() {
        scans.insert(root.clone(), state);
    }
    let (generation, files) = match snapshot {
        Ok(Snapshot {
            generation,
            files: Some(files),
        }) => (generation, files),
        Ok(Snapshot {
            generation,
            files: None,
        }) => {
            return Listing {
                id,
                root,
                generation,
                missing: true,
                files: Vec::new(),
                more: false,
                error: None,
            };
        }
        Err(e) => return refused(root, e),
    };
    let from = after
        .as_ref()
        .map_or(0, |a| files.partition_point(|f| f.path <= *a));
    let page: Vec<FileMeta> = files[from..].iter().take(LISTING_PAGE).cloned().collect();
    Listing {
        id,
        root,
        generation,
        missing: false,
        more: from + page.len() < files.len(),
        files: page,
        error: None,
    }
}

/// The active node's answer to a fetch request.
pub async fn fetch(
    mirror: Arc<MirrorState>,
    id: u64,
    root: String,
    path: RelPath,
    offset: u64,
) -> Chunk {
    let dir = mirror.served_root(&root).map(|r| r.dir);
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            read_chunk(&dir?, &path, offset).map_err(|e| e.to_string())
        })
        .await
    };
    let (bytes, error) = match read {
        Ok(Ok(bytes)) => (bytes, None),
        Ok(Err(e)) => (Vec::new(), Some(e)),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Chunk {
        id,
        root,
        path,
        offset,
        bytes,
        error,
    }
}

/// The active node's answer to a watch: as soon as a root the backup names
/// has a generation other than the one it knows, or after `hold_ms`.
pub async fn watch(
    mirror: Arc<MirrorState>,
    id: u64,
    known: BTreeMap<String, u64>,
    hold_ms: u64,
) -> Changed {
    let mut generations = mirror.file_monitor.generations.clone();
    let differs = |gens: &super::monitor::Generations| {
        known
            .iter()
            .any(|(name, g)| gens.get(name).is_some_and(|now| now != g))
    };
    let hold = Duration::from_millis(hold_ms.min(WATCH_HOLD_MS));
    let _ = tokio::time::timeout(hold, generations.wait_for(differs)).await;
    let generations = generations.borrow().clone();
    Changed { id, generations }
}

/// The active node's answer to a health check: only the file monitor
/// itself answers, so a hung monitor is seen as one.
pub async fn health_check(mirror: Arc<MirrorState>, id: u64) -> Option<MirrorAnswer> {
    let (reply, answered) = oneshot::channel();
    mirror
        .file_monitor
        .control
        .try_send(MonitorMsg::Check(reply))
        .ok()?;
    answered.await.ok()?;
    Some(MirrorAnswer::MonitorAlive { id })
}

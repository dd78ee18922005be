//! Mirrored directories over the link. Both nodes derive the same list of
//! mirror roots from the server parameters (the seed's default set, then
//! CustomMirrorDir and InitialMirrorDir), resolved under their own data
//! directory. While its main link is up, the backup lists each root on the
//! active node, compares with its own copy, fetches what differs in chunks
//! (replaced atomically) and deletes what is gone; continuous roots are
//! compared again every [`RESCAN_MS`], start-up-only roots once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use duet_link::protocol::{Body, Envelope};
use duet_mirror::{
    FileMeta, HashCache, Incoming, MirrorOp, RelPath, delete, plan, read_chunk, scan_cached,
};
use duet_params::ServerParams;
use duet_switchover::Level;
use tokio::sync::mpsc;

use crate::shared::Shared;

/// How often continuous roots are compared again.
pub const RESCAN_MS: u64 = 2_000;
/// Files in one listing page.
const LISTING_PAGE: usize = 2_000;

/// One mirrored directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub dir: PathBuf,
    pub recursive: bool,
    /// Compared continuously (else only when the backup starts).
    pub continuous: bool,
    pub exceptions: Vec<String>,
}

/// The mirror roots the parameters name, resolved under `data_dir`: the
/// seed's defaults (handlers once at start-up; resources and tables
/// continuously), then CustomMirrorDir (continuous) and InitialMirrorDir
/// (start-up). A directory named twice is mirrored once.
pub fn roots(params: &ServerParams, data_dir: &Path) -> Vec<Root> {
    let resolve = |dir: &str| {
        let dir = dir.replace('\\', "/");
        let path = Path::new(&dir);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            data_dir.join(path)
        }
    };
    let mut out: Vec<Root> = Vec::new();
    let mut add = |dir: &str, recursive: bool, continuous: bool| {
        let dir = resolve(dir);
        if let Some(existing) = out.iter_mut().find(|r| r.dir == dir) {
            existing.recursive |= recursive;
            existing.continuous |= continuous;
            return;
        }
        out.push(Root {
            dir,
            recursive,
            continuous,
            exceptions: params.mirror_exceptions.clone(),
        });
    };
    add("Handlers", false, false);
    add("Resources", true, true);
    add("Tables", false, true);
    for d in &params.custom_mirror_dirs {
        add(&d.path, d.recursive, true);
    }
    for d in &params.initial_mirror_dirs {
        add(&d.path, d.recursive, false);
    }
    out
}

/// The active node's answer to a listing request.
pub async fn list(shared: Arc<Shared>, root: u32, after: Option<RelPath>) -> Body {
    let refused = |error: String| Body::MirrorListing {
        root,
        files: Vec::new(),
        more: false,
        error: Some(error),
    };
    let Some(r) = shared.mirror_roots().get(root as usize).cloned() else {
        return refused(format!("no mirror root {root}"));
    };
    let mut cache = shared
        .mirror_hashes
        .lock()
        .ok()
        .and_then(|mut c| c.remove(&root))
        .unwrap_or_default();
    let scanned = tokio::task::spawn_blocking(move || {
        let result = scan_cached(&r.dir, r.recursive, &r.exceptions, &mut cache);
        (result, cache)
    })
    .await;
    let scanned = scanned.map(|(result, cache)| {
        if let Ok(mut caches) = shared.mirror_hashes.lock() {
            caches.insert(root, cache);
        }
        result
    });
    let files = match scanned {
        Ok(Ok((files, _))) => files,
        // An unreadable root is not an empty one: the backup must not delete.
        Ok(Err(e)) => return refused(e.to_string()),
        Err(e) => return refused(e.to_string()),
    };
    let page: Vec<FileMeta> = files
        .into_iter()
        .filter(|f| after.as_ref().is_none_or(|a| f.path > *a))
        .take(LISTING_PAGE + 1)
        .collect();
    let more = page.len() > LISTING_PAGE;
    Body::MirrorListing {
        root,
        files: page.into_iter().take(LISTING_PAGE).collect(),
        more,
        error: None,
    }
}

/// The active node's answer to a fetch request.
pub async fn fetch(shared: Arc<Shared>, root: u32, path: RelPath, offset: u64) -> Body {
    let dir = shared
        .mirror_roots()
        .get(root as usize)
        .map(|r| r.dir.clone());
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || match dir {
            Some(dir) => read_chunk(&dir, &path, offset).map_err(|e| e.to_string()),
            None => Err(format!("no mirror root {root}")),
        })
        .await
    };
    let (bytes, error) = match read {
        Ok(Ok(bytes)) => (bytes, None),
        Ok(Err(e)) => (Vec::new(), Some(e)),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Body::MirrorChunk {
        root,
        path,
        offset,
        bytes,
        error,
    }
}

/// The backup's side: runs while the main link is up.
pub struct BackupMirror {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Envelope>,
    answers: mpsc::Receiver<Body>,
    wait: Duration,
    hashes: std::collections::BTreeMap<u32, HashCache>,
}

impl BackupMirror {
    pub fn new(
        shared: Arc<Shared>,
        tx: mpsc::Sender<Envelope>,
        answers: mpsc::Receiver<Body>,
        wait_ms: u64,
    ) -> Self {
        BackupMirror {
            shared,
            tx,
            answers,
            wait: Duration::from_millis(wait_ms.max(1_000)),
            hashes: Default::default(),
        }
    }

    async fn ask(&mut self, body: Body) -> Option<Body> {
        self.tx.send(self.shared.envelope(body)).await.ok()?;
        tokio::time::timeout(self.wait, self.answers.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn run(mut self) {
        let mut first = true;
        loop {
            let roots = self.shared.mirror_roots();
            let mut healthy = true;
            for (index, root) in roots.iter().enumerate() {
                if !first && !root.continuous {
                    continue;
                }
                match self.sync_root(index as u32, root).await {
                    Some(Ok(())) => {}
                    Some(Err(())) => healthy = false,
                    None => {
                        // The link is gone (a new one starts again) or the
                        // active node stopped answering: replication stopped.
                        self.report(false);
                        return;
                    }
                }
            }
            self.report(healthy);
            first = false;
            tokio::time::sleep(Duration::from_millis(RESCAN_MS)).await;
        }
    }

    /// Tells the engine whether file replication is running (the seed's
    /// file replication warnings).
    fn report(&self, running: bool) {
        self.shared.to_driver(crate::shared::DriverMsg::Engine(
            duet_switchover::Event::FileReplication { running },
        ));
    }

    /// Brings one root up to date; `None` when the link failed, `Err` when
    /// this root could not be mirrored this time.
    async fn sync_root(&mut self, index: u32, root: &Root) -> Option<Result<(), ()>> {
        let mut remote = Vec::new();
        let mut after = None;
        loop {
            let request = Body::MirrorList {
                root: index,
                after: after.clone(),
            };
            match self.ask(request).await? {
                Body::MirrorListing { error: Some(e), .. } => {
                    let message = format!(
                        "Mirror: {} cannot be read on the active node ({e}); nothing changed here",
                        root.dir.display()
                    );
                    self.shared.log_event(Level::Warning, message);
                    return Some(Err(()));
                }
                Body::MirrorListing { files, more, .. } => {
                    after = files.last().map(|f| f.path.clone());
                    remote.extend(files);
                    if !more {
                        break;
                    }
                }
                _ => return None,
            }
        }
        let r = root.clone();
        let mut cache = self.hashes.remove(&index).unwrap_or_default();
        let (scanned, cache) = tokio::task::spawn_blocking(move || {
            let result = scan_cached(&r.dir, r.recursive, &r.exceptions, &mut cache);
            (result, cache)
        })
        .await
        .ok()?;
        self.hashes.insert(index, cache);
        let local = scanned.map(|(files, _)| files).unwrap_or_default();
        let (mut fetched, mut deleted, mut failed) = (0, 0, false);
        for op in plan(&remote, &local) {
            match op {
                MirrorOp::Fetch(meta) => {
                    let name = meta.path.to_string();
                    match self.fetch_file(index, &root.dir, meta).await {
                        Some(Ok(())) => fetched += 1,
                        Some(Err(e)) => {
                            failed = true;
                            self.shared.log_event(
                                Level::Warning,
                                format!("Mirror: {name} not copied: {e}"),
                            );
                        }
                        None => return None,
                    }
                }
                MirrorOp::Delete(path) => match delete(&root.dir, &path) {
                    Ok(()) => deleted += 1,
                    Err(e) => {
                        failed = true;
                        self.shared
                            .log_event(Level::Warning, format!("Mirror: {path} not removed: {e}"));
                    }
                },
            }
        }
        if fetched + deleted > 0 {
            let message = format!(
                "Mirrored {}: {fetched} file(s) copied, {deleted} removed",
                root.dir.display()
            );
            self.shared.log_event(Level::Info, message);
        }
        Some(if failed { Err(()) } else { Ok(()) })
    }

    /// `None` when the link failed; `Some(Err)` when this file failed.
    async fn fetch_file(
        &mut self,
        index: u32,
        dir: &Path,
        meta: FileMeta,
    ) -> Option<Result<(), String>> {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return Some(Err(e.to_string()));
        }
        let path = meta.path.clone();
        let size = meta.size;
        let mut incoming = match Incoming::begin(dir, meta) {
            Ok(i) => i,
            Err(e) => return Some(Err(e.to_string())),
        };
        let mut offset = 0;
        while offset < size {
            match self
                .ask(Body::MirrorFetch {
                    root: index,
                    path: path.clone(),
                    offset,
                })
                .await?
            {
                Body::MirrorChunk { error: Some(e), .. } => return Some(Err(e)),
                Body::MirrorChunk {
                    bytes, offset: at, ..
                } if at == offset && !bytes.is_empty() => {
                    if let Err(e) = incoming.chunk(offset, &bytes) {
                        return Some(Err(e.to_string()));
                    }
                    offset += bytes.len() as u64;
                }
                // The file shrank or changed under us: the next scan retries.
                _ => return Some(Err("the file changed while being copied".into())),
            }
        }
        Some(incoming.finish().map(|_| ()).map_err(|e| e.to_string()))
    }
}

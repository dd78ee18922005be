//! Mirrored directories over the link. Both nodes derive their mirror roots
//! from the server parameters (the seed's default set, then CustomMirrorDir
//! and InitialMirrorDir; fewer in an Upgrade state, Appendix C), resolved
//! under their own data directory and named by the directory the parameters
//! give. While its main link is up, the backup lists each root on the active
//! node, compares with its own copy, fetches what differs in chunks
//! (replaced atomically) and deletes what is gone. After that first pass it
//! waits on the active node's file monitor and compares again only the
//! continuous roots that changed; start-up-only roots are compared once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use duet_link::protocol::{Body, Envelope};
use duet_mirror::{
    FileMeta, HashCache, Incoming, MirrorOp, RelPath, delete, excepted, plan, read_chunk,
    scan_cached,
};
use duet_params::ServerParams;
use duet_params::value::MirrorDir;
use duet_switchover::Level;
use tokio::sync::{mpsc, oneshot};

use crate::file_monitor::MonitorMsg;
use crate::shared::Shared;

/// Files in one listing page.
const LISTING_PAGE: usize = 2_000;
/// How long the active node holds a watch with nothing changed.
const WATCH_HOLD_MS: u64 = 30_000;
/// How soon a root that could not be mirrored is tried again.
const RETRY_MS: u64 = 2_000;

/// One mirrored directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The directory as the parameters give it: the same on both nodes.
    pub name: String,
    pub dir: PathBuf,
    pub recursive: bool,
    /// Compared continuously (else only when the backup starts).
    pub continuous: bool,
    pub exceptions: Vec<String>,
    /// Subdirectories left out (Switchover Upgrade Higher File Exclusions),
    /// with their subdirectories when recursive (`+`).
    pub excluded: Vec<(RelPath, bool)>,
}

impl Root {
    /// Whether this root's copy includes `path`.
    fn admits(&self, path: &RelPath) -> bool {
        // The active node may serve a root recursively for another scope.
        (self.recursive || path.depth() == 1)
            && !excepted(path, &self.exceptions)
            && !self.excluded.iter().any(|(dir, recursive)| {
                path.starts_with(dir) && (*recursive || path.depth() == dir.depth() + 1)
            })
    }
}

/// What the backup mirrors: all of it, or the Upgrade states' share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileScope {
    Full,
    /// Everything but handlers and Switchover Upgrade Higher File Exclusions.
    UpgradeHigher,
    /// Only Custom Upgrade File Synchronization Directories.
    UpgradeLower,
}

/// The mirror set-up the driver keeps current from the parameters and state.
#[derive(Debug, Clone, Default)]
pub struct MirrorSetup {
    /// The roots this node answers for as the active node: every root any
    /// scope names (a backup in an Upgrade state asks for its own share).
    pub served: Vec<Root>,
    /// The roots this node copies as the backup.
    pub mirrored: Vec<Root>,
    pub health_check_interval_ms: u64,
    pub health_check_timeout_ms: u64,
}

impl MirrorSetup {
    pub fn new(params: &ServerParams, data_dir: &Path, scope: FileScope) -> MirrorSetup {
        let mut served = roots(params, data_dir, FileScope::Full);
        for extra in roots(params, data_dir, FileScope::UpgradeLower) {
            match served.iter_mut().find(|r| r.name == extra.name) {
                // Served with the fewer exceptions; each backup filters.
                Some(r) => {
                    r.recursive |= extra.recursive;
                    r.continuous |= extra.continuous;
                    r.exceptions.retain(|e| extra.exceptions.contains(e));
                }
                None => served.push(extra),
            }
        }
        MirrorSetup {
            served,
            mirrored: roots(params, data_dir, scope),
            health_check_interval_ms: params.file_monitor_health_check_interval_ms,
            health_check_timeout_ms: params.file_monitor_health_check_timeout_ms,
        }
    }
}

/// The mirror roots the parameters name for `scope`, resolved under
/// `data_dir`. Full: the seed's defaults (handlers once at start-up;
/// resources and tables continuously), then CustomMirrorDir (continuous)
/// and InitialMirrorDir (start-up); a directory named twice is mirrored
/// once. Upgrade Higher leaves out handlers and the file exclusions;
/// Upgrade Lower mirrors only its opt-in directories.
pub fn roots(params: &ServerParams, data_dir: &Path, scope: FileScope) -> Vec<Root> {
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
    let mut add = |name: &str, recursive: bool, continuous: bool, exceptions: &[String]| {
        if let Some(existing) = out.iter_mut().find(|r| r.name == name) {
            existing.recursive |= recursive;
            existing.continuous |= continuous;
            return;
        }
        out.push(Root {
            name: name.to_string(),
            dir: resolve(name),
            recursive,
            continuous,
            exceptions: exceptions.to_vec(),
            excluded: Vec::new(),
        });
    };
    if scope == FileScope::UpgradeLower {
        let exceptions = params.effective_upgrade_file_sync_exceptions();
        for d in &params.upgrade_file_sync_dirs {
            add(&d.path, d.recursive, true, exceptions);
        }
        return out;
    }
    let exceptions = &params.mirror_exceptions;
    if scope == FileScope::Full {
        add("Handlers", false, false, exceptions);
    }
    add("Resources", true, true, exceptions);
    add("Tables", false, true, exceptions);
    for d in &params.custom_mirror_dirs {
        add(&d.path, d.recursive, true, exceptions);
    }
    for d in &params.initial_mirror_dirs {
        add(&d.path, d.recursive, false, exceptions);
    }
    if scope == FileScope::UpgradeHigher {
        // Handler files are not replicated, wherever CustomMirrorDir names them.
        let handlers = resolve("Handlers");
        out.retain(|r| !r.dir.starts_with(&handlers));
        exclude(&mut out, &params.upgrade_higher_file_exclusions, &resolve);
    }
    out
}

/// Drops the roots an exclusion covers; an excluded subdirectory of a
/// recursive root is left out of that root (its files, and with `+` its
/// subdirectories too).
fn exclude(roots: &mut Vec<Root>, exclusions: &[MirrorDir], resolve: &dyn Fn(&str) -> PathBuf) {
    for exclusion in exclusions {
        let dir = resolve(&exclusion.path);
        roots.retain(|r| !(r.dir == dir || (exclusion.recursive && r.dir.starts_with(&dir))));
        for root in roots.iter_mut().filter(|r| r.recursive) {
            let inner = dir
                .strip_prefix(&root.dir)
                .ok()
                .and_then(|rel| RelPath::parse(&rel.to_string_lossy()).ok());
            if let Some(inner) = inner {
                root.excluded.push((inner, exclusion.recursive));
            }
        }
    }
}

fn served_root(shared: &Shared, name: &str) -> Result<Root, String> {
    shared
        .mirror_setup()
        .served
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| format!("{name} is not a mirrored directory on this node"))
}

/// The active node's answer to a listing request.
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
pub async fn list(shared: Arc<Shared>, id: u64, root: String, after: Option<RelPath>) -> Body {
    let refused = |root: String, error: String| Body::MirrorListing {
        id,
        root,
        generation: 0,
        missing: false,
        files: Vec::new(),
        more: false,
        error: Some(error),
    };
    let r = match served_root(&shared, &root) {
        Ok(r) => r,
        Err(e) => return refused(root, e),
    };
    let mut state = shared
        .mirror_scans
        .lock()
        .ok()
        .and_then(|mut scans| scans.remove(&root))
        .unwrap_or_default();
    let snapshot = match (&after, state.snapshot.clone()) {
        (Some(_), Some(snapshot)) => Ok(snapshot),
        _ => {
            // Read before scanning: a change during the scan is seen again.
            let generation = shared
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
    if let Ok(mut scans) = shared.mirror_scans.lock() {
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
            return Body::MirrorListing {
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
    Body::MirrorListing {
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
pub async fn fetch(shared: Arc<Shared>, id: u64, root: String, path: RelPath, offset: u64) -> Body {
    let dir = served_root(&shared, &root).map(|r| r.dir);
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
    Body::MirrorChunk {
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
    shared: Arc<Shared>,
    id: u64,
    known: BTreeMap<String, u64>,
    hold_ms: u64,
) -> Body {
    let mut generations = shared.file_monitor.generations.clone();
    let differs = |gens: &crate::file_monitor::Generations| {
        known
            .iter()
            .any(|(name, g)| gens.get(name).is_some_and(|now| now != g))
    };
    let hold = Duration::from_millis(hold_ms.min(WATCH_HOLD_MS));
    let _ = tokio::time::timeout(hold, generations.wait_for(differs)).await;
    let generations = generations.borrow().clone();
    Body::MirrorChanged { id, generations }
}

/// The active node's answer to a health check: only the file monitor
/// itself answers, so a hung monitor is seen as one.
pub async fn health_check(shared: Arc<Shared>, id: u64) -> Option<Body> {
    let (reply, answered) = oneshot::channel();
    shared
        .file_monitor
        .control
        .try_send(MonitorMsg::Check(reply))
        .ok()?;
    answered.await.ok()?;
    Some(Body::FileMonitorAlive { id })
}

/// Tells the engine whether file replication is running (the seed's file
/// replication warnings): the mirror is up to date and the active node's
/// file monitor answers its health checks.
fn report(shared: &Shared) {
    let running = shared.mirror_healthy.load(Ordering::Relaxed)
        && shared.file_monitor_healthy.load(Ordering::Relaxed);
    shared.to_driver(crate::shared::DriverMsg::Engine(
        duet_switchover::Event::FileReplication { running },
    ));
}

/// Why a request to the active node got no answer.
enum AskError {
    /// The link is gone: a new connection starts a new mirror.
    LinkGone,
    /// Not within the wait: asked again later on the same connection.
    NoAnswer,
}

/// Why a root was not brought up to date.
enum SyncError {
    /// This root only (reported in the event log).
    Root,
    Ask(AskError),
}

impl From<AskError> for SyncError {
    fn from(e: AskError) -> Self {
        SyncError::Ask(e)
    }
}

/// The id a mirror answer repeats from its request.
fn answer_id(body: &Body) -> Option<u64> {
    match body {
        Body::MirrorListing { id, .. }
        | Body::MirrorChunk { id, .. }
        | Body::MirrorChanged { id, .. } => Some(*id),
        _ => None,
    }
}

/// The backup's side: runs while the main link is up.
pub struct BackupMirror {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Envelope>,
    answers: mpsc::Receiver<Body>,
    wait: Duration,
    hashes: BTreeMap<String, HashCache>,
    last_id: u64,
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
            last_id: 0,
        }
    }

    /// Sends a request made with a new id and waits for the answer with
    /// that id; late answers to requests given up on are passed over.
    async fn ask(
        &mut self,
        request: impl FnOnce(u64) -> Body,
        wait: Duration,
    ) -> Result<Body, AskError> {
        self.last_id += 1;
        let id = self.last_id;
        self.tx
            .send(self.shared.envelope(request(id)))
            .await
            .map_err(|_| AskError::LinkGone)?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.answers.recv()).await {
                Err(_) => return Err(AskError::NoAnswer),
                Ok(None) => return Err(AskError::LinkGone),
                Ok(Some(body)) if answer_id(&body) == Some(id) => return Ok(body),
                Ok(Some(_)) => continue,
            }
        }
    }

    fn stopped(&self, why: &str) {
        if self.shared.mirror_healthy.swap(false, Ordering::Relaxed) {
            self.shared.log_event(
                Level::Warning,
                format!("Mirror: {why}; trying again in {} s", RETRY_MS / 1_000),
            );
        }
        report(&self.shared);
    }

    pub async fn run(mut self) {
        // Generation each root was last brought up to date at.
        let mut known: BTreeMap<String, u64> = BTreeMap::new();
        let mut pending: BTreeSet<String> = BTreeSet::new();
        let mut roots: Vec<Root> = Vec::new();
        let mut first = true;
        loop {
            let now = self.shared.mirror_setup().mirrored;
            if now != roots {
                // First pass: every root (the start-up-only ones until this
                // process has copied them once); after a parameter or state
                // change: the continuous ones.
                let starting = first && !self.shared.startup_roots_copied.load(Ordering::Relaxed);
                pending.extend(
                    now.iter()
                        .filter(|r| r.continuous || starting)
                        .map(|r| r.name.clone()),
                );
                pending.retain(|name| now.iter().any(|r| r.name == *name));
                known.retain(|name, _| now.iter().any(|r| r.continuous && r.name == *name));
                roots = now;
            }
            let due: Vec<Root> = roots
                .iter()
                .filter(|r| pending.contains(&r.name))
                .cloned()
                .collect();
            let mut answered = true;
            for root in &due {
                match self.sync_root(root).await {
                    Ok(generation) => {
                        pending.remove(&root.name);
                        if root.continuous {
                            known.insert(root.name.clone(), generation);
                        }
                    }
                    // Retried every RETRY_MS, not on every change.
                    Err(SyncError::Root) => {
                        known.remove(&root.name);
                    }
                    Err(SyncError::Ask(AskError::NoAnswer)) => {
                        known.remove(&root.name);
                        answered = false;
                        break;
                    }
                    Err(SyncError::Ask(AskError::LinkGone)) => {
                        return self.stopped("the link to the active node is down");
                    }
                }
            }
            if !roots
                .iter()
                .any(|r| !r.continuous && pending.contains(&r.name))
            {
                self.shared
                    .startup_roots_copied
                    .store(true, Ordering::Relaxed);
            }
            if first {
                first = false;
                let missing = pending.iter().cloned().collect();
                let _ = self
                    .shared
                    .driver
                    .send(crate::shared::DriverMsg::MirrorFirstPass { missing })
                    .await;
            }
            if !answered {
                self.stopped("the active node did not answer a mirror request in time");
                tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                continue;
            }
            self.shared
                .mirror_healthy
                .store(pending.is_empty(), Ordering::Relaxed);
            report(&self.shared);
            let hold_ms = if pending.is_empty() {
                WATCH_HOLD_MS
            } else {
                RETRY_MS
            };
            let wait = Duration::from_millis(hold_ms) + self.wait;
            let known_now = known.clone();
            let watch = |id| Body::MirrorWatch {
                id,
                known: known_now,
                hold_ms,
            };
            match self.ask(watch, wait).await {
                Ok(Body::MirrorChanged { generations, .. }) => {
                    for (name, generation) in generations {
                        if known.get(&name).is_some_and(|g| *g != generation) {
                            pending.insert(name);
                        }
                    }
                }
                Ok(_) | Err(AskError::NoAnswer) => {
                    self.stopped("the active node did not answer a mirror watch in time");
                    tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                }
                Err(AskError::LinkGone) => {
                    return self.stopped("the link to the active node is down");
                }
            }
        }
    }

    /// Brings one root up to date; returns the generation it reached.
    async fn sync_root(&mut self, root: &Root) -> Result<u64, SyncError> {
        let mut remote = Vec::new();
        let mut after = None;
        let mut reached = None;
        loop {
            self.progress(format!("listing {}", root.name));
            let name = root.name.clone();
            let page_after = after.clone();
            let request = |id| Body::MirrorList {
                id,
                root: name,
                after: page_after,
            };
            match self.ask(request, self.wait).await? {
                Body::MirrorListing { error: Some(e), .. } => {
                    let message = format!(
                        "Mirror: {} cannot be read on the active node ({e}); nothing changed here",
                        root.name
                    );
                    self.shared.log_event(Level::Warning, message);
                    return Err(SyncError::Root);
                }
                Body::MirrorListing {
                    missing: true,
                    generation,
                    ..
                } => {
                    // Nothing to copy, and the copy here (if any) is kept.
                    return Ok(generation);
                }
                Body::MirrorListing {
                    files,
                    more,
                    generation,
                    ..
                } => {
                    reached.get_or_insert(generation);
                    after = files.last().map(|f| f.path.clone());
                    remote.extend(files);
                    if !more {
                        break;
                    }
                }
                _ => return Err(SyncError::Ask(AskError::NoAnswer)),
            }
        }
        remote.retain(|f| root.admits(&f.path));
        let r = root.clone();
        let mut cache = self.hashes.remove(&root.name).unwrap_or_default();
        let (scanned, cache) = tokio::task::spawn_blocking(move || {
            let result = scan_cached(&r.dir, r.recursive, &r.exceptions, &mut cache);
            (result, cache)
        })
        .await
        .map_err(|_| SyncError::Root)?;
        self.hashes.insert(root.name.clone(), cache);
        // A root not created here yet holds nothing; an unreadable one is
        // compared as empty, and what cannot be written is reported below.
        let mut local = scanned.map(|(files, _)| files).unwrap_or_default();
        local.retain(|f| root.admits(&f.path));
        let (mut fetched, mut deleted, mut failed) = (0, 0, false);
        let ops = plan(&remote, &local);
        let to_fetch = ops
            .iter()
            .filter(|op| matches!(op, MirrorOp::Fetch(_)))
            .count();
        for op in ops {
            match op {
                MirrorOp::Fetch(meta) => {
                    self.progress(format!(
                        "copying {}: {fetched} of {to_fetch} file(s) copied, now {}",
                        root.name, meta.path
                    ));
                    let name = meta.path.to_string();
                    match self.fetch_file(root, meta).await {
                        Ok(Ok(())) => fetched += 1,
                        Ok(Err(e)) => {
                            failed = true;
                            self.shared.log_event(
                                Level::Warning,
                                format!("Mirror: {name} not copied: {e}"),
                            );
                        }
                        Err(e) => return Err(e.into()),
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
                root.name
            );
            self.shared.log_event(Level::Info, message);
        }
        if failed {
            Err(SyncError::Root)
        } else {
            Ok(reached.unwrap_or(0))
        }
    }

    fn progress(&self, text: String) {
        if let Ok(mut progress) = self.shared.mirror_progress.lock() {
            *progress = text;
        }
    }

    /// `Err` when the active node did not answer; `Ok(Err)` when this file
    /// could not be copied.
    async fn fetch_file(
        &mut self,
        root: &Root,
        meta: FileMeta,
    ) -> Result<Result<(), String>, AskError> {
        if let Err(e) = std::fs::create_dir_all(&root.dir) {
            return Ok(Err(e.to_string()));
        }
        let path = meta.path.clone();
        let size = meta.size;
        let mut incoming = match Incoming::begin(&root.dir, meta) {
            Ok(i) => i,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let mut offset = 0;
        while offset < size {
            let (name, file) = (root.name.clone(), path.clone());
            let request = |id| Body::MirrorFetch {
                id,
                root: name,
                path: file,
                offset,
            };
            match self.ask(request, self.wait).await? {
                Body::MirrorChunk { error: Some(e), .. } => return Ok(Err(e)),
                Body::MirrorChunk {
                    bytes, offset: at, ..
                } if at == offset && !bytes.is_empty() => {
                    if let Err(e) = incoming.chunk(offset, &bytes) {
                        return Ok(Err(e.to_string()));
                    }
                    offset += bytes.len() as u64;
                }
                // The file shrank or changed under us: the next pass retries.
                _ => return Ok(Err("the file changed while being copied".into())),
            }
        }
        Ok(incoming.finish().map(|_| ()).map_err(|e| e.to_string()))
    }
}

/// The backup's health checks of the active node's file monitor (the
/// seed's Switchover File Monitor Health Check Interval and Timeout): a
/// check that is not answered in time is traced in the event log and file
/// replication is reported stopped until the monitor answers again.
pub async fn check_file_monitor(
    shared: Arc<Shared>,
    tx: mpsc::Sender<Envelope>,
    mut answers: mpsc::Receiver<u64>,
) {
    let mut id = 0u64;
    loop {
        let setup = shared.mirror_setup();
        if setup.health_check_interval_ms == 0 {
            // Turned off: nothing to report against; check again whether
            // it was turned on.
            if !shared.file_monitor_healthy.swap(true, Ordering::Relaxed) {
                report(&shared);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(setup.health_check_interval_ms)).await;
        id += 1;
        if tx
            .send(shared.envelope(Body::FileMonitorCheck { id }))
            .await
            .is_err()
        {
            return;
        }
        let timeout = Duration::from_millis(setup.health_check_timeout_ms);
        let answered = tokio::time::timeout(timeout, async {
            while let Some(answer) = answers.recv().await {
                if answer == id {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        let was = shared
            .file_monitor_healthy
            .swap(answered, Ordering::Relaxed);
        if was != answered {
            let peer = &shared.boot.peer().name;
            let (level, message) = if answered {
                (
                    Level::Info,
                    format!("File Monitor health check: the File Monitor on {peer} answers again"),
                )
            } else {
                (
                    Level::Error,
                    format!(
                        "File Monitor health check: the File Monitor on {peer} did not answer within {} s; the latest files may not be replicated to this node",
                        timeout.as_secs()
                    ),
                )
            };
            shared.log_event(level, message);
            report(&shared);
        }
    }
}

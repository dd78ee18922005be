//! The backup's side: the first pass over every root, then compares of
//! the roots the active node's file monitor says changed, and the file
//! monitor's health checks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use duet_link::protocol::mirror::{Answer, Changed, Chunk, Listing};
use duet_link::protocol::{MirrorAnswer, MirrorRequest, ToActive};
use duet_mirror::{FileMeta, HashCache, Incoming, MirrorOp, delete, plan, scan_cached};
use duet_switchover::Level;
use tokio::sync::mpsc;

use super::*;

/// Tells the engine whether file replication is running (the seed's file
/// replication warnings): the mirror is up to date and the active node's
/// file monitor answers its health checks.
fn report(node: &Handles) {
    let running = node.mirror.healthy.load(Ordering::Relaxed)
        && node.mirror.monitor_healthy.load(Ordering::Relaxed);
    node.driver.send(crate::driver_inbox::DriverMsg::Engine(
        duet_switchover::Event::FileReplication { running },
    ));
}

/// Why a request to the active node got no answer.
enum AskError {
    /// The link is gone: a new connection starts a new mirror.
    LinkGone,
    /// Not within the wait: asked again later on the same connection.
    NoAnswer,
    /// Answered with another kind than asked for: the active node's
    /// release speaks the protocol otherwise, and asking again would get
    /// the same; the mirror stops until the link reconnects.
    WrongKind {
        asked: &'static str,
        answered: &'static str,
    },
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

/// The backup's side: runs while the main link is up.
pub struct BackupMirror {
    node: Handles,
    tx: crate::wire::Outbox<ToActive>,
    answers: mpsc::Receiver<MirrorAnswer>,
    wait: Duration,
    hashes: BTreeMap<String, HashCache>,
    last_id: u64,
}

impl BackupMirror {
    pub fn new(
        node: Handles,
        tx: crate::wire::Outbox<ToActive>,
        answers: mpsc::Receiver<MirrorAnswer>,
        wait_ms: u64,
    ) -> Self {
        BackupMirror {
            node,
            tx,
            answers,
            wait: Duration::from_millis(wait_ms.max(1_000)),
            hashes: Default::default(),
            last_id: 0,
        }
    }

    /// Sends a request made with a new id and waits for the answer with
    /// that id, of the kind `A`; late answers to requests given up on are
    /// passed over.
    async fn ask<A: Answer>(
        &mut self,
        request: impl FnOnce(u64) -> MirrorRequest,
        wait: Duration,
    ) -> Result<A, AskError> {
        self.last_id += 1;
        let id = self.last_id;
        if !self
            .tx
            .send_waiting(self.node.view.envelope(request(id)))
            .await
        {
            return Err(AskError::LinkGone);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.answers.recv()).await {
                Err(_) => return Err(AskError::NoAnswer),
                Ok(None) => return Err(AskError::LinkGone),
                Ok(Some(body)) if body.id() == id => {
                    return A::take(body).map_err(|other| AskError::WrongKind {
                        asked: A::KIND,
                        answered: other.kind(),
                    });
                }
                Ok(Some(_)) => continue,
            }
        }
    }

    /// The mirror cannot go on over this connection: says why once.
    fn ended(&self, error: AskError) {
        match error {
            AskError::WrongKind { asked, answered } => {
                self.node.events.log_event(
                    Level::Error,
                    format!(
                        "Mirror: {} answered a request for a {asked} with a {answered}; files are not mirrored until the link to it reconnects (are both nodes on one release?)",
                        self.node.peer
                    ),
                );
                self.stopped("the active node answers mirror requests with the wrong kind")
            }
            AskError::LinkGone => self.stopped("the link to the active node is down"),
            AskError::NoAnswer => {
                self.stopped("the active node did not answer a mirror request in time")
            }
        }
    }

    fn stopped(&self, why: &str) {
        if self.node.mirror.healthy.swap(false, Ordering::Relaxed) {
            self.node.events.log_event(
                Level::Warning,
                format!("Mirror: {why}; trying again in {} s", RETRY_MS / 1_000),
            );
        }
        report(&self.node);
    }

    pub async fn run(mut self) {
        // Generation each root was last brought up to date at.
        let mut known: BTreeMap<String, u64> = BTreeMap::new();
        let mut pending: BTreeSet<String> = BTreeSet::new();
        let mut roots: Vec<Root> = Vec::new();
        let mut first = true;
        loop {
            let now = self.node.mirror.setup().mirrored;
            if now != roots {
                // First pass: every root (the start-up-only ones until this
                // process has copied them once); after a parameter or state
                // change: the continuous ones.
                let starting = first
                    && !self
                        .node
                        .mirror
                        .startup_roots_copied
                        .load(Ordering::Relaxed);
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
                    Err(SyncError::Ask(e)) => return self.ended(e),
                }
            }
            if !roots
                .iter()
                .any(|r| !r.continuous && pending.contains(&r.name))
            {
                self.node
                    .mirror
                    .startup_roots_copied
                    .store(true, Ordering::Relaxed);
            }
            if first {
                first = false;
                let missing = pending.iter().cloned().collect();
                self.node
                    .driver
                    .send_waiting(crate::driver_inbox::DriverMsg::MirrorFirstPass { missing })
                    .await;
            }
            if !answered {
                self.stopped("the active node did not answer a mirror request in time");
                tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                continue;
            }
            self.node
                .mirror
                .healthy
                .store(pending.is_empty(), Ordering::Relaxed);
            report(&self.node);
            let hold_ms = if pending.is_empty() {
                WATCH_HOLD_MS
            } else {
                RETRY_MS
            };
            let wait = Duration::from_millis(hold_ms) + self.wait;
            let known_now = known.clone();
            let watch = |id| MirrorRequest::Watch {
                id,
                known: known_now,
                hold_ms,
            };
            match self.ask(watch, wait).await {
                Ok(Changed { generations, .. }) => {
                    for (name, generation) in generations {
                        if known.get(&name).is_some_and(|g| *g != generation) {
                            pending.insert(name);
                        }
                    }
                }
                Err(AskError::NoAnswer) => {
                    self.stopped("the active node did not answer a mirror watch in time");
                    tokio::time::sleep(Duration::from_millis(RETRY_MS)).await;
                }
                Err(e) => return self.ended(e),
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
            let request = |id| MirrorRequest::List {
                id,
                root: name,
                after: page_after,
            };
            match self.ask(request, self.wait).await? {
                Listing { error: Some(e), .. } => {
                    let message = format!(
                        "Mirror: {} cannot be read on the active node ({e}); nothing changed here",
                        root.name
                    );
                    self.node.events.log_event(Level::Warning, message);
                    return Err(SyncError::Root);
                }
                Listing {
                    missing: true,
                    generation,
                    ..
                } => {
                    // Nothing to copy, and the copy here (if any) is kept.
                    return Ok(generation);
                }
                Listing {
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
                            self.node.events.log_event(
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
                        self.node
                            .events
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
            self.node.events.log_event(Level::Info, message);
        }
        if failed {
            Err(SyncError::Root)
        } else {
            Ok(reached.unwrap_or(0))
        }
    }

    fn progress(&self, text: String) {
        if let Ok(mut progress) = self.node.mirror.progress.lock() {
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
            let request = |id| MirrorRequest::Fetch {
                id,
                root: name,
                path: file,
                offset,
            };
            match self.ask(request, self.wait).await? {
                Chunk { error: Some(e), .. } => return Ok(Err(e)),
                Chunk {
                    bytes, offset: at, ..
                } if at == offset && !bytes.is_empty() => {
                    if let Err(e) = incoming.chunk(offset, &bytes) {
                        return Ok(Err(e.to_string()));
                    }
                    offset += bytes.len() as u64;
                }
                // The file shrank or changed under us: the next pass retries.
                Chunk { .. } => return Ok(Err("the file changed while being copied".into())),
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
    node: Handles,
    tx: crate::wire::Outbox<ToActive>,
    mut answers: mpsc::Receiver<u64>,
) {
    let mut id = 0u64;
    loop {
        let setup = node.mirror.setup();
        if setup.health_check_interval_ms == 0 {
            // Turned off: nothing to report against; check again whether
            // it was turned on.
            if !node.mirror.monitor_healthy.swap(true, Ordering::Relaxed) {
                report(&node);
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(setup.health_check_interval_ms)).await;
        id += 1;
        if !tx
            .send_waiting(node.view.envelope(MirrorRequest::MonitorCheck { id }))
            .await
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
        let was = node
            .mirror
            .monitor_healthy
            .swap(answered, Ordering::Relaxed);
        if was != answered {
            let peer = &node.peer;
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
            node.events.log_event(level, message);
            report(&node);
        }
    }
}

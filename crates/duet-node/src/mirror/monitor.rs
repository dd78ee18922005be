//! The file monitor (the seed's File Monitor): watches the continuous
//! mirror roots and counts changes per root, so a backup waiting on a
//! `MirrorWatch` learns at once which roots to compare again. A lapse in the
//! watcher's notifications (the kernel's event queue overflowed, or ours
//! did) or a root it cannot watch counts as a change to every root: a full
//! rescan, never a missed change. It also answers the backup's health
//! checks; a hang fault stops it, like the seed's unresponsive File Monitor.

use crate::answer::Answer as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use duet_switchover::Level;
use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, oneshot, watch};

use super::{MirrorState, Root};
use crate::events::Journal;
use crate::supervisor::ModuleFault;

/// Notifications waiting for the monitor; more is a lapse (full rescan).
const NOTIFICATION_QUEUE_MAX: usize = 4_096;
/// How often roots are checked against the parameters, and roots that could
/// not be watched are tried again.
const RECONCILE_MS: u64 = 1_000;
/// Lapses are logged at most this often.
const LAPSE_LOG_MS: u64 = 10_000;

/// The generation of every served mirror root, by name.
pub type Generations = BTreeMap<String, u64>;

pub enum MonitorMsg {
    /// A health check: answered while the monitor runs.
    Check(oneshot::Sender<()>),
    Fault(ModuleFault),
}

/// The handles the rest of the node holds.
pub struct FileMonitorHandle {
    pub generations: watch::Receiver<Generations>,
    pub control: mpsc::Sender<MonitorMsg>,
}

pub struct FileMonitor {
    generations: watch::Sender<Generations>,
    control: mpsc::Receiver<MonitorMsg>,
}

pub fn channel() -> (FileMonitor, FileMonitorHandle) {
    let (generations_tx, generations) = watch::channel(Generations::new());
    let (control_tx, control) = mpsc::channel(16);
    (
        FileMonitor {
            generations: generations_tx,
            control,
        },
        FileMonitorHandle {
            generations,
            control: control_tx,
        },
    )
}

/// One watched root: its directory, what was last seen at its path, and
/// whether the watch is in place.
struct Watched {
    dir: PathBuf,
    recursive: bool,
    seen: Option<(u64, u64)>,
    placed: bool,
}

/// The device and inode at a root's path: a directory moved away and
/// another (or a file) put in its place is another thing, and needs a look
/// and a watch of its own.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

impl FileMonitor {
    pub async fn run(mut self, events: Journal, mirror: Arc<MirrorState>) {
        let (notes_tx, mut notes) = mpsc::channel(NOTIFICATION_QUEUE_MAX);
        // Held here too, so the channel stays open without a watcher.
        let _open = notes_tx.clone();
        let lapsed = Arc::new(AtomicBool::new(false));
        let flag = lapsed.clone();
        let watcher = notify::recommended_watcher(move |note: notify::Result<notify::Event>| {
            if notes_tx.try_send(note).is_err() {
                flag.store(true, Ordering::Relaxed);
            }
        });
        let mut watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                let message = format!(
                    "File Monitor: cannot watch files ({e}); mirrored directories are compared every {} s instead",
                    RECONCILE_MS / 1_000
                );
                events.log_event(Level::Warning, message);
                None
            }
        };
        let mut counter = 0u64;
        let mut watched: BTreeMap<String, Watched> = BTreeMap::new();
        let mut hung = false;
        let mut last_lapse_log: Option<Instant> = None;
        let mut reconcile = tokio::time::interval(Duration::from_millis(RECONCILE_MS));
        loop {
            tokio::select! {
                msg = self.control.recv() => match msg {
                    Some(MonitorMsg::Check(reply)) if !hung => { reply.answer(()); }
                    // A hung monitor drops the check; the backup times out.
                    Some(MonitorMsg::Check(_)) => {}
                    Some(MonitorMsg::Fault(fault)) => hung = fault == ModuleFault::Hang,
                    None => return,
                },
                note = notes.recv(), if !hung => {
                    let Some(note) = note else { return };
                    let changed: Vec<String> = match note {
                        Ok(event) if !event.need_rescan() => watched
                            .iter()
                            .filter(|(_, w)| event.paths.iter().any(|p| w.covers(p)))
                            .map(|(name, _)| name.clone())
                            .collect(),
                        _ => {
                            lapsed.store(true, Ordering::Relaxed);
                            Vec::new()
                        }
                    };
                    self.bump(&mut counter, changed);
                },
                _ = reconcile.tick(), if !hung => {
                    let roots = mirror.served_roots();
                    let changed = reconcile_watches(&mut watched, watcher.as_mut(), &roots);
                    self.track(&roots, &mut counter);
                    self.bump(&mut counter, changed);
                    if watcher.is_none() {
                        // No notifications at all: every root counts as changed.
                        lapsed.store(true, Ordering::Relaxed);
                    }
                },
            }
            if !hung && lapsed.swap(false, Ordering::Relaxed) {
                let all = self.generations.borrow().keys().cloned().collect();
                self.bump(&mut counter, all);
                if watcher.is_some()
                    && last_lapse_log
                        .is_none_or(|t| t.elapsed() >= Duration::from_millis(LAPSE_LOG_MS))
                {
                    last_lapse_log = Some(Instant::now());
                    events.log_event(
                        Level::Warning,
                        "File Monitor: change notifications were lost (the event queue overflowed); every mirrored directory is compared in full",
                    );
                }
            }
        }
    }

    /// Gives a newly served root a generation and forgets roots no longer
    /// served (a root whose directory changed is bumped by the watches).
    fn track(&self, roots: &[Root], counter: &mut u64) {
        let names: Vec<&str> = roots.iter().map(|r| r.name.as_str()).collect();
        self.generations.send_if_modified(|gens| {
            let before = gens.len();
            gens.retain(|name, _| names.contains(&name.as_str()));
            let mut modified = gens.len() != before;
            for name in &names {
                gens.entry(name.to_string()).or_insert_with(|| {
                    modified = true;
                    *counter += 1;
                    *counter
                });
            }
            modified
        });
    }

    fn bump(&self, counter: &mut u64, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        *counter += 1;
        let generation = *counter;
        self.generations.send_modify(|gens| {
            for name in names {
                gens.insert(name, generation);
            }
        });
    }
}

impl Watched {
    fn covers(&self, path: &Path) -> bool {
        if self.recursive {
            path.starts_with(&self.dir)
        } else {
            path == self.dir || path.parent() == Some(self.dir.as_path())
        }
    }
}

/// Watches the continuous roots and no others; returns the roots whose
/// watch was newly placed or lost (their content is unknown: compare).
fn reconcile_watches(
    watched: &mut BTreeMap<String, Watched>,
    mut watcher: Option<&mut notify::RecommendedWatcher>,
    roots: &[Root],
) -> Vec<String> {
    let mut changed = Vec::new();
    watched.retain(|name, w| {
        let keep = roots.iter().any(|r| {
            r.continuous && r.name == *name && r.dir == w.dir && r.recursive == w.recursive
        });
        if !keep
            && w.placed
            && let Some(watcher) = watcher.as_deref_mut()
        {
            let _ = watcher.unwatch(&w.dir);
        }
        keep
    });
    for root in roots.iter().filter(|r| r.continuous) {
        let w = watched.entry(root.name.clone()).or_insert_with(|| Watched {
            dir: root.dir.clone(),
            recursive: root.recursive,
            seen: None,
            placed: false,
        });
        let now = identity(&w.dir);
        if now != w.seen {
            // Created, gone, or something else in its place: any watch is
            // stale, and what it holds is unknown.
            if w.placed
                && let Some(watcher) = watcher.as_deref_mut()
            {
                let _ = watcher.unwatch(&w.dir);
            }
            w.seen = now;
            w.placed = false;
            changed.push(root.name.clone());
        }
        if !w.placed
            && w.dir.is_dir()
            && let Some(watcher) = watcher.as_deref_mut()
        {
            let mode = if w.recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            w.placed = watcher.watch(&w.dir, mode).is_ok();
            if !w.placed {
                // Out of watches: compare at every round instead.
                changed.push(root.name.clone());
            }
        }
    }
    changed
}

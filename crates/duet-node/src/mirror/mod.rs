//! Mirrored directories over the link. Both nodes derive their mirror roots
//! from the server parameters (the seed's default set, then CustomMirrorDir
//! and InitialMirrorDir; fewer in an Upgrade state, Appendix C), resolved
//! under their own data directory and named by the directory the parameters
//! give. While its main link is up, the backup lists each root on the active
//! node, compares with its own copy, fetches what differs in chunks
//! (replaced atomically) and deletes what is gone. After that first pass it
//! waits on the active node's file monitor and compares again only the
//! continuous roots that changed; start-up-only roots are compared once.

use std::path::{Path, PathBuf};

use duet_mirror::{RelPath, excepted};
use duet_params::ServerParams;
use duet_params::value::MirrorDir;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use duet_link::protocol::MirrorAnswer;
use tokio::sync::mpsc;

use crate::driver_inbox::DriverInbox;
use crate::events::Journal;
use crate::status::StatusView;

mod backup;
pub mod monitor;
mod serve;

pub use backup::{BackupMirror, check_file_monitor};
pub use serve::{RootScan, fetch, health_check, list, watch};

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

/// What the mirror's parts share on a node: the roots in effect, where the
/// backup's link delivers answers, the active node's scans, the file
/// monitor, and how the copy stands.
pub struct MirrorState {
    /// The mirrored directories, from the server parameters and the state.
    pub setup: RwLock<MirrorSetup>,
    /// Where the link client delivers mirror answers while the backup's
    /// mirror runs.
    pub answers: Mutex<Option<mpsc::Sender<MirrorAnswer>>>,
    /// Where it delivers the file monitor's health check answers.
    pub monitor_answers: Mutex<Option<mpsc::Sender<u64>>>,
    /// The active node's scans of each mirror root, for its listings.
    pub scans: Mutex<BTreeMap<String, RootScan>>,
    /// This node's file monitor.
    pub file_monitor: monitor::FileMonitorHandle,
    /// The backup's copy is up to date (as of its last pass).
    pub healthy: AtomicBool,
    /// The start-up-only mirror roots (Handlers, InitialMirrorDir) were
    /// copied once by this process.
    pub startup_roots_copied: AtomicBool,
    /// What the backup's mirror is copying, for a start-up that runs late.
    pub progress: Mutex<String>,
    /// The active node's file monitor answers its health checks.
    pub monitor_healthy: AtomicBool,
}

impl MirrorState {
    pub fn new(setup: MirrorSetup, file_monitor: monitor::FileMonitorHandle) -> MirrorState {
        MirrorState {
            setup: RwLock::new(setup),
            answers: Mutex::new(None),
            monitor_answers: Mutex::new(None),
            scans: Mutex::new(BTreeMap::new()),
            file_monitor,
            healthy: AtomicBool::new(true),
            startup_roots_copied: AtomicBool::new(false),
            progress: Mutex::new(String::new()),
            monitor_healthy: AtomicBool::new(true),
        }
    }

    pub fn setup(&self) -> MirrorSetup {
        self.setup.read().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn served_roots(&self) -> Vec<Root> {
        self.setup().served
    }

    fn served_root(&self, name: &str) -> Result<Root, String> {
        self.served_roots()
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| format!("{name} is not a mirrored directory on this node"))
    }
}

/// What the backup's mirror and its health checks use of the node.
#[derive(Clone)]
pub struct Handles {
    /// The peer's name, for the event log.
    pub peer: String,
    pub view: StatusView,
    pub events: Journal,
    pub driver: DriverInbox,
    pub mirror: Arc<MirrorState>,
}

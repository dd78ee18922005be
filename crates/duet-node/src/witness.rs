//! The etcd witness: a task that, while the driver wants it, holds an etcd
//! lease for this node and, under it, the pair's key (its value names the
//! holder), and reports what it holds to the driver.
//!
//! The task only reports; what a report means for the right to serve is
//! the driver's. `Held { sent_ms, ttl_ms, .. }` is a lower bound: etcd
//! keeps the key at least `ttl_ms` after the grant or keep-alive sent at
//! `sent_ms` (on the node's monotonic clock), because the lease's time to
//! live starts when etcd handles the request, after it was sent. Every
//! etcd call is bounded by a third of the TTL, and the task never waits on
//! the driver (reports go through its bounded inbox, dropped when full).

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The witness as the bootstrap file and the parameters set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessConfig {
    /// The etcd cluster's client URLs.
    pub endpoints: Vec<String>,
    /// The pair's key.
    pub key: String,
    /// The lease's time to live (Duet Witness TTL s).
    pub ttl_s: u64,
}

/// What the witness task reports (`DriverMsg::Witness(WitnessReport)`),
/// times on the node's monotonic clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessReport {
    /// This node holds the key under its etcd lease: the grant or
    /// keep-alive that confirmed it was sent at `sent_ms`; etcd keeps the
    /// key at least `ttl_ms` from then. `revision` is the key's create
    /// revision.
    Held {
        sent_ms: u64,
        ttl_ms: u64,
        revision: i64,
    },
    /// The key is held by the other node (its value names it).
    HeldByPeer { holder: String },
    /// etcd could not be reached or answered with an error; says why.
    Unreachable { why: String },
    /// This node does not hold the key (it let it go, or was told to).
    Released,
}

/// The clock and the report sink the task runs on: the node's (its
/// monotonic clock and the driver's inbox) or a test's.
pub trait WitnessSink: Send + Sync + 'static {
    /// Milliseconds on a monotonic clock.
    fn now_ms(&self) -> u64;
    /// Passes a report on; must not wait.
    fn report(&self, report: WitnessReport);
}

/// The driver's hold on the witness task. Dropping it lets the key go
/// (the lease is revoked) and ends the task.
#[derive(Debug)]
pub struct WitnessHandle {
    wanted: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WitnessHandle {
    /// Asks the task to hold the key (`true`) or to let it go (`false`).
    pub fn want(&self, wanted: bool) {
        self.wanted
            .send_if_modified(|w| std::mem::replace(w, wanted) != wanted);
    }

    /// Whether the key is wanted now.
    pub fn wanted(&self) -> bool {
        *self.wanted.borrow()
    }

    /// Ends the task at once without revoking anything, as if the process
    /// died: the key stays until its lease runs out. For tests.
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// Starts the witness task for the node named `me`, on `sink`'s clock and
/// reporting to it.
pub fn spawn_with(sink: impl WitnessSink, me: String, config: WitnessConfig) -> WitnessHandle {
    let (wanted, wanted_rx) = watch::channel(false);
    let task = tokio::spawn(etcd::run(sink, me, config, wanted_rx));
    WitnessHandle { wanted, task }
}

/// Whether this build can talk to etcd (the `witness` feature: its client
/// needs `protoc` to build).
pub const AVAILABLE: bool = cfg!(feature = "witness");

#[cfg(feature = "witness")]
mod etcd;

/// Without the `witness` feature the task only says why it cannot work.
#[cfg(not(feature = "witness"))]
mod etcd {
    use super::{WitnessConfig, WitnessReport, WitnessSink};

    pub async fn run(
        sink: impl WitnessSink,
        _me: String,
        _config: WitnessConfig,
        _wanted: tokio::sync::watch::Receiver<bool>,
    ) {
        sink.report(WitnessReport::Unreachable {
            why: "this duet was built without the etcd witness; build it with --features witness"
                .into(),
        });
    }
}

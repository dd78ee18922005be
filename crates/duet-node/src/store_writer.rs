//! The store's writer: a thread of its own that commits the node's writes
//! in groups (whatever queued up during the previous commit goes in the
//! next transaction, one sync for all), so neither the driver nor the link
//! waits on the disk. Each write gets a ticket; the thread publishes the
//! last ticket made durable, and the replicator acts on a write (an
//! acknowledgement, a persisted change) only once its ticket is.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::watch;

use crate::store::{Store, StoreWrite};

/// Writes queued at most; a full queue makes the caller wait for the disk.
const QUEUE_MAX: usize = 16_384;
/// Writes in one transaction at most.
const GROUP_MAX: usize = 4_096;
/// After a failed commit, the same group is tried again after this
/// (doubling up to the maximum): nothing is acknowledged meanwhile.
const RETRY_MIN_MS: u64 = 100;
const RETRY_MAX_MS: u64 = 5_000;

pub struct StoreWriter {
    /// `None` only while dropping.
    jobs: Option<SyncSender<(u64, StoreWrite)>>,
    thread: Option<std::thread::JoinHandle<()>>,
    last_ticket: u64,
    durable: watch::Receiver<u64>,
    /// Why the store fails to commit, from the first failure of a commit
    /// until it succeeds.
    failing: watch::Receiver<Option<String>>,
}

impl StoreWriter {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<Store>, commit_seconds: Histogram) -> StoreWriter {
        let (jobs, queue) = std::sync::mpsc::sync_channel(QUEUE_MAX);
        let (durable_tx, durable) = watch::channel(0);
        let (failing_tx, failing) = watch::channel(None);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || {
                let told = Told {
                    durable: durable_tx,
                    failing: failing_tx,
                };
                run(&store, &queue, &told, &commit_seconds)
            })
            .inspect_err(|e| tracing::error!("cannot start the store writer: {e}"))
            .ok();
        StoreWriter {
            jobs: Some(jobs),
            thread,
            last_ticket: 0,
            durable,
            failing,
        }
    }

    /// A receiver that changes when the store starts failing to commit
    /// (`Some`) and when it commits again (`None`).
    pub fn failing_watch(&self) -> watch::Receiver<Option<String>> {
        self.failing.clone()
    }

    /// Queues a write; returns its ticket.
    pub fn write(&mut self, write: StoreWrite) -> u64 {
        self.last_ticket += 1;
        let job = (self.last_ticket, write);
        if let Some(jobs) = &self.jobs {
            let queued = match jobs.try_send(job) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(job)) => {
                    tracing::warn!(
                        "the store writer is {QUEUE_MAX} writes behind; waiting for the disk"
                    );
                    jobs.send(job).map_err(|_| ())
                }
                Err(TrySendError::Disconnected(_)) => Err(()),
            };
            // Never durable, so never acknowledged: said loudly.
            if queued.is_err() {
                tracing::error!(
                    "the store writer has stopped: write {} is not stored",
                    self.last_ticket
                );
            }
        }
        self.last_ticket
    }

    /// The ticket of the last write queued.
    pub fn last_ticket(&self) -> u64 {
        self.last_ticket
    }

    /// The last ticket made durable.
    pub fn durable(&self) -> u64 {
        *self.durable.borrow()
    }

    /// A receiver that changes when more is durable, for the driver's loop.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.durable.clone()
    }
}

impl Drop for StoreWriter {
    /// What is queued is committed before the store closes.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the writer tells the replication task.
struct Told {
    durable: watch::Sender<u64>,
    failing: watch::Sender<Option<String>>,
}

fn run(
    store: &Store,
    queue: &Receiver<(u64, StoreWrite)>,
    told: &Told,
    commit_seconds: &Histogram,
) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let last = group.last().map_or(0, |(ticket, _)| *ticket);
        let writes: Vec<StoreWrite> = group.into_iter().map(|(_, w)| w).collect();
        let mut retry_ms = RETRY_MIN_MS;
        let started = std::time::Instant::now();
        let mut failed = false;
        while let Err(e) = store.commit(&writes) {
            if !std::mem::replace(&mut failed, true) {
                told.failing.send_replace(Some(e.to_string()));
            }
            tracing::error!(
                "the state store cannot commit {} write(s) ({e}); nothing is acknowledged until it can: trying again in {retry_ms} ms (check the data directory's disk)",
                writes.len()
            );
            std::thread::sleep(Duration::from_millis(retry_ms));
            retry_ms = (retry_ms * 2).min(RETRY_MAX_MS);
        }
        commit_seconds.observe(started.elapsed().as_secs_f64());
        told.durable.send_replace(last);
        if failed {
            told.failing.send_replace(None);
        }
    }
}

//! The active node's monitored modules (duet's `interactions` subsystem
//! stands for the seed's TsServer, `routing` for IP). Each runs as its own
//! task; a module ping is answered by the module's task itself, so an answer
//! proves the module is responsive. A module that dies is restarted with a
//! new incarnation id (the seed's PID); while it is down, pings are rejected,
//! as the notifier rejects requests for a subsystem that is not there.

use crate::answer::Answer as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

/// How long a dead module stays down before the supervisor restarts it.
pub const RESTART_DELAY_MS: u64 = 500;
/// Pending pings a module may queue; more are rejected.
const PING_QUEUE_MAX: usize = 64;

pub const MODULES: [&str; 2] = ["interactions", "routing"];

/// Test faults (only with fault injection turned on): the API's.
pub use duet_api::ModuleFault;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleAnswer {
    Alive {
        incarnation: u64,
    },
    /// The module is not running (or this node is not active).
    Rejected,
    /// The module took the ping but never answered.
    NoAnswer,
}

enum ModuleMsg {
    Ping(oneshot::Sender<u64>),
    Fault(ModuleFault),
}

struct Running {
    incarnation: u64,
    tx: mpsc::Sender<ModuleMsg>,
}

/// The modules of a node; started when it becomes active, stopped when it
/// stops serving.
#[derive(Clone, Default)]
pub struct Supervisor {
    modules: Arc<Mutex<BTreeMap<&'static str, Running>>>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

fn new_incarnation() -> u64 {
    // Unique across restarts of the module and of the process.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    crate::events::unix_ms() * 1000
        + COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000
}

impl Supervisor {
    pub fn start(&self) {
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        for name in MODULES {
            self.spawn(name, generation);
        }
    }

    pub fn stop(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Running>> {
        self.modules.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&self, name: &'static str, generation: u64) {
        let (tx, rx) = mpsc::channel(PING_QUEUE_MAX);
        let incarnation = new_incarnation();
        self.lock().insert(name, Running { incarnation, tx });
        let this = self.clone();
        tokio::spawn(async move {
            run_module(rx, incarnation).await;
            let current =
                || this.generation.load(std::sync::atomic::Ordering::SeqCst) == generation;
            if !current() {
                return; // stopped with the node's service
            }
            // The module died: restart it with a new incarnation.
            this.lock().remove(name);
            tracing::warn!("module {name} (incarnation {incarnation}) died; restarting it");
            tokio::time::sleep(Duration::from_millis(RESTART_DELAY_MS)).await;
            if current() {
                this.spawn(name, generation);
            }
        });
    }

    /// Pings a module, waiting at most `timeout`.
    pub async fn ping(&self, name: &str, timeout: Duration) -> ModuleAnswer {
        let tx = match self.lock().get(name) {
            Some(running) => running.tx.clone(),
            None => return ModuleAnswer::Rejected,
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        if tx.try_send(ModuleMsg::Ping(reply_tx)).is_err() {
            return ModuleAnswer::Rejected;
        }
        match tokio::time::timeout(timeout, reply_rx).await {
            Ok(Ok(incarnation)) => ModuleAnswer::Alive { incarnation },
            Ok(Err(_)) => ModuleAnswer::Rejected,
            Err(_) => ModuleAnswer::NoAnswer,
        }
    }

    /// Injects a test fault; false if the module is not running.
    pub fn inject(&self, name: &str, fault: ModuleFault) -> bool {
        match self.lock().get(name) {
            Some(running) => running.tx.try_send(ModuleMsg::Fault(fault)).is_ok(),
            None => false,
        }
    }

    pub fn incarnation(&self, name: &str) -> Option<u64> {
        self.lock().get(name).map(|r| r.incarnation)
    }
}

async fn run_module(mut rx: mpsc::Receiver<ModuleMsg>, incarnation: u64) {
    let mut hung = false;
    let mut held = Vec::new();
    while let Some(msg) = rx.recv().await {
        match msg {
            // A hung module's queue fills up; later pings are dropped, which
            // the pinging side sees as a rejection.
            ModuleMsg::Ping(reply) if hung => {
                if held.len() < PING_QUEUE_MAX {
                    held.push(reply);
                }
            }
            ModuleMsg::Ping(reply) => {
                reply.answer(incarnation);
            }
            ModuleMsg::Fault(ModuleFault::Hang) => hung = true,
            ModuleMsg::Fault(ModuleFault::Recover) => {
                hung = false;
                held.clear();
            }
            ModuleMsg::Fault(ModuleFault::Crash) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn modules_answer_with_their_incarnation_and_restart_with_a_new_one() {
        let s = Supervisor::default();
        assert_eq!(s.ping("interactions", T).await, ModuleAnswer::Rejected);
        s.start();
        let ModuleAnswer::Alive { incarnation: first } = s.ping("interactions", T).await else {
            panic!("module not answering")
        };
        assert!(s.inject("interactions", ModuleFault::Crash));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(s.ping("interactions", T).await, ModuleAnswer::Rejected);
        tokio::time::sleep(Duration::from_millis(RESTART_DELAY_MS + 100)).await;
        let ModuleAnswer::Alive {
            incarnation: second,
        } = s.ping("interactions", T).await
        else {
            panic!("module not restarted")
        };
        assert_ne!(first, second);
        s.stop();
        assert_eq!(s.ping("interactions", T).await, ModuleAnswer::Rejected);
    }

    #[tokio::test]
    async fn a_hung_module_takes_pings_but_never_answers() {
        let s = Supervisor::default();
        s.start();
        s.inject("routing", ModuleFault::Hang);
        assert_eq!(s.ping("routing", T).await, ModuleAnswer::NoAnswer);
        s.inject("routing", ModuleFault::Recover);
        assert!(matches!(
            s.ping("routing", T).await,
            ModuleAnswer::Alive { .. }
        ));
    }
}

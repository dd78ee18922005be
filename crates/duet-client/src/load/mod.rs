//! The load engine: customers and agents driven over the real protocols
//! (REST, WebSocket, SMTP) against a running pair, following switchovers
//! like real clients, with an exact tally (see [`tally`]).
//!
//! ```no_run
//! use duet_client::load::{Load, LoadSpec};
//! let spec = LoadSpec::new(["http://127.0.0.1:8080".into(), "http://127.0.0.1:8081".into()]);
//! let handle = Load::start(spec).expect("set up");
//! std::thread::sleep(std::time::Duration::from_secs(10));
//! let report = handle.stop_and_drain(std::time::Duration::from_secs(30));
//! assert_eq!(report.tally.messages_lost, 0);
//! ```

mod agent;
mod customer;
mod setup;
pub mod tally;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::nodes::{Nodes, Retry};
use crate::{Client, Error};
pub use tally::{Ledger, Tally};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Both nodes' base URLs.
    pub nodes: [String; 2],
    /// Both nodes' SMTP `host:port` (none: no email).
    pub smtp: Vec<String>,
    pub customers: usize,
    pub agents: usize,
    /// Messages per second each customer sends at most while chatting.
    pub rate_per_customer: f64,
    pub messages_per_chat: u32,
    /// Every this-many-th conversation of a customer is an email (0: none).
    pub email_every: u32,
    /// Every this-many-th is a callback request (0: none).
    pub callback_every: u32,
    /// Chats an agent moves back to the queue once, in percent.
    pub transfer_percent: u32,
    /// Customers that send on their chat's WebSocket (the rest use REST),
    /// in percent.
    pub websocket_percent: u32,
    /// Customers and agents whose changes go to the second node first, in
    /// percent (the rest follow the node that answered last): when the
    /// nodes are apart and both serve, these act on the second one (they
    /// accept its offers, talk on in chats the other side closed) while
    /// the rest act on the first.
    pub split_percent: u32,
    pub queue: String,
    /// A master administrator of the bootstrap files: with it, the agents
    /// and the queue are made when absent.
    pub admin: Option<(String, String)>,
    /// Agents are `<prefix><n>`, n from 1, with this password.
    pub agent_prefix: String,
    pub agent_password: String,
    pub retry: Retry,
}

impl LoadSpec {
    /// Four customers and two agents chatting in the queue `Load`.
    pub fn new(nodes: [String; 2]) -> LoadSpec {
        LoadSpec {
            nodes,
            smtp: Vec::new(),
            customers: 4,
            agents: 2,
            rate_per_customer: 2.0,
            messages_per_chat: 6,
            email_every: 4,
            callback_every: 5,
            transfer_percent: 10,
            websocket_percent: 50,
            split_percent: 0,
            queue: "Load".into(),
            admin: None,
            agent_prefix: "load-agent-".into(),
            agent_password: "load-agent-password".into(),
            retry: Retry::default(),
        }
    }
}

/// What the queue offers the load (read or made by the setup).
#[derive(Debug, Clone, Default)]
pub(crate) struct QueueInfo {
    pub wrap_up_code: String,
    /// Where its email goes (none: the load sends no email).
    pub address: Option<String>,
}

/// What every customer and agent thread shares.
pub(crate) struct Shared {
    pub spec: LoadSpec,
    /// One following the node that answered last, one making its changes
    /// on the second node first (`split_percent`).
    pub clients: [Client; 2],
    pub queue: QueueInfo,
    /// A tag of this run, in every client id, so runs do not collide.
    pub run: String,
    pub ledger: Mutex<Ledger>,
    /// Customers start nothing new and finish what they have.
    pub stopping: AtomicBool,
    /// Everyone stops now.
    pub halt: AtomicBool,
    pub drain_deadline: Mutex<Option<Instant>>,
}

impl Shared {
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A thread that panicked holding the ledger leaves it as it was;
        // the counts are still the best there is.
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn halted(&self) -> bool {
        self.halt.load(Ordering::SeqCst)
            || self
                .drain_deadline
                .lock()
                .ok()
                .and_then(|d| *d)
                .is_some_and(|d| Instant::now() >= d)
    }

    /// Customer `k`'s client.
    pub fn customer_client(&self, k: usize) -> &Client {
        self.client_of(k, self.spec.customers)
    }

    /// Agent `n`'s client.
    pub fn agent_client(&self, n: usize) -> &Client {
        self.client_of(n, self.spec.agents)
    }

    /// The last `split_percent` of `count` use the splitting client.
    fn client_of(&self, i: usize, count: usize) -> &Client {
        let from = count * (100 - self.spec.split_percent.min(100) as usize) / 100;
        &self.clients[usize::from(i >= from)]
    }

    pub fn agent_name(&self, n: usize) -> String {
        format!("{}{}", self.spec.agent_prefix, n + 1)
    }
}

/// The final word on a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub customers: usize,
    pub agents: usize,
    pub seconds: f64,
    pub drain_seconds: f64,
    /// Whether everything was delivered and found before the drain's
    /// time ran out.
    pub settled: bool,
    pub tally: Tally,
    /// The first errors the clients met (a request refused or given up).
    pub errors: Vec<String>,
    /// Which messages were doubled, and how.
    pub doubles: Vec<String>,
    /// What agents still held when the drain ended, as `agent: id`.
    pub held: Vec<String>,
    /// Acknowledged emails and callbacks no agent found.
    pub unfound: Vec<String>,
}

impl Report {
    /// Nothing lost or doubled.
    pub fn clean(&self) -> bool {
        let t = &self.tally;
        t.messages_lost == 0
            && t.messages_doubled == 0
            && t.messages_out_of_order == 0
            && t.emails_doubled == 0
            && t.emails_present == t.emails_accepted
            && t.callbacks_present == t.callbacks_acknowledged
    }
}

pub struct Load;

impl Load {
    /// Sets up the directory (with `spec.admin`), signs the agents in and
    /// starts every customer and agent.
    pub fn start(spec: LoadSpec) -> Result<LoadHandle, Error> {
        let client = Client::new(Arc::new(Nodes::new(spec.nodes.clone())?), spec.retry);
        let splitting = Nodes::changes_first_on(spec.nodes.clone(), 1)?;
        let splitting = Client::new(Arc::new(splitting), spec.retry);
        let queue = setup::prepare(&client, &spec)?;
        let shared = Arc::new(Shared {
            run: format!("{:08x}", rand::random::<u32>()),
            spec,
            clients: [client, splitting],
            queue,
            ledger: Mutex::new(Ledger::default()),
            stopping: AtomicBool::new(false),
            halt: AtomicBool::new(false),
            drain_deadline: Mutex::new(None),
        });
        let mut agents = Vec::new();
        for n in 0..shared.spec.agents {
            agents.push(agent::start(shared.clone(), n)?);
        }
        let customers = (0..shared.spec.customers)
            .map(|k| customer::start(shared.clone(), k))
            .collect();
        Ok(LoadHandle {
            shared,
            customers,
            agents,
            started: Instant::now(),
        })
    }
}

/// A running load.
pub struct LoadHandle {
    shared: Arc<Shared>,
    customers: Vec<std::thread::JoinHandle<()>>,
    agents: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl LoadHandle {
    /// The counts now.
    pub fn tally(&self) -> Tally {
        self.shared.ledger().tally()
    }

    /// Stops sending, waits (at most `timeout`) for what is in flight to
    /// be delivered, audits the transcripts, and reports.
    pub fn stop_and_drain(self, timeout: Duration) -> Report {
        let seconds = self.started.elapsed().as_secs_f64();
        let drain_started = Instant::now();
        let deadline = drain_started + timeout;
        if let Ok(mut d) = self.shared.drain_deadline.lock() {
            *d = Some(deadline);
        }
        self.shared.stopping.store(true, Ordering::SeqCst);
        for c in self.customers {
            let _ = c.join();
        }
        while Instant::now() < deadline && !self.shared.ledger().settled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.shared.halt.store(true, Ordering::SeqCst);
        for a in self.agents {
            let _ = a.join();
        }
        let ledger = self.shared.ledger();
        Report {
            customers: self.shared.spec.customers,
            agents: self.shared.spec.agents,
            seconds,
            drain_seconds: drain_started.elapsed().as_secs_f64(),
            settled: ledger.settled(),
            tally: ledger.tally(),
            errors: ledger.first_errors(),
            doubles: ledger.doubles(),
            held: ledger.held(),
            unfound: ledger.unfound(),
        }
    }
}

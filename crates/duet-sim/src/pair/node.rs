//! One simulated node: its store (which survives a crash), and while it
//! runs, its replica, the writes queued and not yet durable, and what its
//! live feed showed.

use duet_config::Tree;
use duet_replica::persist::{LoadedInteractions, StoreWrite, StoredCopy};
use duet_replica::{Context, Input, NodeFacts, Output, Replica, Settings};
use duet_rsm::{HistoryId, Position};
use duet_store::Store;

use super::SimError;
use super::right::Right;

/// A connection between the nodes, by its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn(pub u64);

/// A client's write waiting for its answer: the operation's number.
pub type OpId = usize;

pub type Core = Replica<Conn, OpId>;

/// What a node is in the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Backup,
    /// Leads the stream in this epoch.
    Active {
        epoch: u64,
    },
}

/// A paused node (its process stopped): until when, and the inputs that
/// reached it meanwhile (clients' requests, a connection closed), which it
/// handles in order when it resumes.
pub struct Pause {
    pub since_ms: u64,
    pub until_ms: u64,
    pub inbox: Vec<Input<Conn, OpId>>,
}

/// A running node.
pub struct Up {
    pub replica: Core,
    /// Writes queued in the store's writer and not yet durable (the
    /// first has ticket `durable + 1`).
    pub queued: Vec<StoreWrite>,
    pub durable: u64,
    pub role: Role,
    /// Its driver's right to serve: lease, promise, takeover gate.
    pub right: Right,
    /// Which of the pair's takeovers made it active (their count then;
    /// 0: none in this run of the process): the checks' record of who took
    /// over after whom, which epochs do not give (a node that never heard
    /// of the newest epoch takes one below it).
    pub takeover: usize,
    /// Snapshots being encoded off the loop.
    pub encoding: Vec<(Position, Vec<duet_interactions::PageItem>)>,
    /// Feed resets so far: what the feed shows is checked per generation.
    pub feed_generation: u64,
    /// The newest epoch this incarnation has seen served (the driver's
    /// `max_seen`: its epoch file and its history's at the start, then
    /// every active node it meets).
    pub max_seen: u64,
    /// Paused: it handles nothing, and its store does not flush.
    pub pause: Option<Pause>,
    /// Its store fails to commit until then: the writer retries, and
    /// nothing becomes durable meanwhile.
    pub store_stalled_until_ms: Option<u64>,
    /// The replica was told its store fails ([`Input::StoreFailing`]), as
    /// the node's writer does at the first commit that fails.
    pub store_failing_told: bool,
}

pub struct Node {
    pub name: &'static str,
    pub parity: u64,
    pub store: Store,
    pub up: Option<Up>,
    /// What its live feed showed: (generation, position, the client id a
    /// heal carries it under, unless it is the node's own takeover), in
    /// order.
    pub published: Vec<(u64, Position, Option<String>)>,
    /// Every incarnation's feed generations are its own.
    pub generations: u64,
    /// The epoch file: the last epoch it served in (gone with its disk).
    pub epoch_file: u64,
}

impl Node {
    /// `history`: its store's history id (each store's its own).
    pub fn new(name: &'static str, parity: u64, history: HistoryId) -> Result<Node, SimError> {
        Ok(Node {
            name,
            parity,
            store: Store::in_memory(history).map_err(|e| SimError::Store(e.to_string()))?,
            up: None,
            published: Vec::new(),
            generations: 0,
            epoch_file: 0,
        })
    }

    /// Its disk is replaced while it is down: an empty store (whose
    /// history id is `history`) and no epoch file.
    pub fn replace_disk(&mut self, history: HistoryId) -> Result<(), SimError> {
        self.up = None;
        self.store = Store::in_memory(history).map_err(|e| SimError::Store(e.to_string()))?;
        self.epoch_file = 0;
        Ok(())
    }

    /// The newest change it holds (what its driver tells the peer).
    pub fn history(&self) -> Position {
        self.up
            .as_ref()
            .map_or(Position::ZERO, |up| up.replica.position())
    }

    /// Which history its changes belong to (0 while it is down).
    pub fn history_id(&self) -> HistoryId {
        self.up.as_ref().map_or(0, |up| up.replica.history_id())
    }

    /// Starts from what the store holds, as a backup, with a new `right`.
    pub fn start(
        &mut self,
        facts: NodeFacts,
        settings: &Settings,
        right: Right,
    ) -> Result<Vec<Output<Conn, OpId>>, SimError> {
        let store_error = |e: duet_store::StoreError| SimError::Store(e.to_string());
        let tree: Tree = self.store.load().map_err(store_error)?;
        let directory = duet_replica::directory::from_tree(&tree);
        let interactions: LoadedInteractions = self
            .store
            .load_interactions(directory)
            .map_err(store_error)?;
        let copy = StoredCopy {
            filtered: self.store.filtered().map_err(store_error)?,
            history: self.store.history_id().map_err(store_error)?,
        };
        let mut replica = Replica::new(facts, settings.clone(), tree, interactions, copy);
        let outputs = replica.take_outputs();
        let max_seen = self.epoch_file.max(replica.position().epoch);
        self.generations += 1;
        self.up = Some(Up {
            replica,
            queued: Vec::new(),
            durable: 0,
            role: Role::Backup,
            right,
            takeover: 0,
            encoding: Vec::new(),
            feed_generation: self.generations,
            max_seen,
            pause: None,
            store_stalled_until_ms: None,
            store_failing_told: false,
        });
        Ok(outputs)
    }

    /// Everything not yet durable is lost.
    pub fn crash(&mut self) {
        self.up = None;
    }

    /// Makes what is queued durable in one commit; the input that says so.
    /// (Not while it is paused or its store stalls.)
    pub fn flush(&mut self) -> Result<Option<Input<Conn, OpId>>, SimError> {
        let Some(up) = self.up.as_mut() else {
            return Ok(None);
        };
        if up.queued.is_empty() || up.pause.is_some() {
            return Ok(None);
        }
        if up.store_stalled_until_ms.is_some() {
            let first = !std::mem::replace(&mut up.store_failing_told, true);
            return Ok(first.then(|| Input::StoreFailing {
                error: "a simulated commit failure".into(),
            }));
        }
        up.store_failing_told = false;
        let writes = std::mem::take(&mut up.queued);
        self.store
            .commit(&writes)
            .map_err(|e| SimError::Store(e.to_string()))?;
        up.durable += writes.len() as u64;
        Ok(Some(Input::Durable(up.durable)))
    }

    pub fn handle(&mut self, ctx: &Context, input: Input<Conn, OpId>) -> Vec<Output<Conn, OpId>> {
        match self.up.as_mut() {
            Some(up) => up.replica.handle(ctx, input),
            None => Vec::new(),
        }
    }

    /// The replica's next deadline has come by `now_ms`.
    pub fn tick_due(&self, now_ms: u64) -> bool {
        self.up
            .as_ref()
            .and_then(|up| up.replica.next_deadline())
            .is_some_and(|deadline| deadline <= now_ms)
    }

    /// Running and not paused: it handles what it is given.
    pub fn runs(&self) -> bool {
        self.up.as_ref().is_some_and(|up| up.pause.is_none())
    }

    /// Running and paused: what it is given waits until it resumes.
    pub fn paused(&self) -> bool {
        self.up.as_ref().is_some_and(|up| up.pause.is_some())
    }

    pub fn epoch(&self) -> Option<u64> {
        match self.up.as_ref()?.role {
            Role::Active { epoch } => Some(epoch),
            Role::Backup => None,
        }
    }

    /// Holds the right to serve at `now_ms`: active, its lease valid.
    pub fn serving(&self, now_ms: u64) -> bool {
        self.up.as_ref().is_some_and(|up| {
            matches!(up.role, Role::Active { .. }) && up.right.lease_valid(now_ms)
        })
    }
}

//! A whole pair simulated from a seed: two replica cores
//! ([`duet_replica::Replica`]) with their stores (in memory; a crash
//! loses what was not yet durable), the link between them (delays, cuts,
//! heals; in order within a connection), crashes and restarts, an active
//! node cut off from its peer and its gateway, nodes that pause and stores
//! that stall (with [`Options::stalls`]), and clients that retry with their
//! client ids. Who may serve is decided as the nodes' drivers decide it,
//! by `duet_role`'s lease, promise and takeover gate, fed role queries and
//! own-network checks that travel on the simulated clock (`right.rs`).
//! Everything runs on one virtual clock; the same seed replays the same
//! run.
//!
//! What is checked, after every step: never two nodes acknowledging in
//! one epoch, never an acknowledgement from a node that is not active, nor
//! from one the other node took over from (and still serves) unless the
//! other holds the change; a feed shows each change once, in order. After
//! the faults, once the pair is healed and quiet: every acknowledged change
//! is on both nodes once (configuration values, chats, every customer
//! message once in its transcript); both states have one digest at one
//! position; every change a feed showed is in the pair's history at that
//! very position.

mod checks;
mod clients;
mod faults;
mod followers;
mod guard;
mod membership;
mod network;
mod node;
mod right;
mod stalls;
mod witness;
mod world;

use world::World;

pub use duet_replica::Mutation;
pub use right::RightMutation;

/// Why a run could not go on (not a broken rule: a broken tool).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the simulated store failed: {0}")]
    Store(String),
}

/// What a run is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Steps of faults and traffic before the pair is healed.
    pub steps: usize,
    /// A defect put into the replica on purpose (the checks must find it).
    pub mutation: Option<Mutation>,
    /// A defect put into the simulated driver's use of `duet_role` on
    /// purpose (the checks must find it).
    pub right_mutation: Option<RightMutation>,
    /// Every eighth customer message is [`clients::LARGE_MESSAGE_BYTES`]
    /// long: a few such chats make a snapshot larger than a frame, and a
    /// message larger than a frame closes the link.
    pub large_messages: bool,
    /// After the heal, one node of the whole pair gets a new disk (an
    /// empty store and no epoch file: it knows no epoch) and starts first,
    /// serving alone; then the other starts, and the pair is healed and
    /// checked again. The roles of two nodes that meet are decided by
    /// `duet_role`'s discovery and membership, each node choosing its
    /// epochs from what it knows.
    pub replaced_disks: bool,
    /// Nodes pause now and then (the process stopped: it handles nothing,
    /// its clocks jump when it resumes, and while an active node is paused
    /// its lease runs out and the other may take over), and stores stall (a
    /// failed commit retried: nothing becomes durable for a while).
    pub stalls: bool,
    /// An etcd witness holds the pair's key: only it, the peer's promise
    /// or its gone process confirm a lease, a takeover needs the key, and
    /// the nodes alone are split apart now and then (both still reach
    /// their gateways and the witness). Two nodes never serve at once.
    pub witness: bool,
    /// The active node's components fail now and then while its process
    /// answers: the backup decides to take over, held back by its guard
    /// while it is not synchronised or switchovers come too often.
    pub component_failures: bool,
}

impl Options {
    /// 400 steps, no defect, the other options off.
    pub const DEFAULT: Options = Options {
        steps: 400,
        mutation: None,
        right_mutation: None,
        large_messages: false,
        replaced_disks: false,
        stalls: false,
        witness: false,
        component_failures: false,
    };
}

impl Options {
    /// The `duet simulate --pair` flags that ask for these options (a
    /// defect put in on purpose has none: only the tests put one in).
    pub fn flags(&self) -> String {
        [
            (self.large_messages, " --large-messages"),
            (self.replaced_disks, " --replaced-disks"),
            (self.stalls, " --stalls"),
            (self.witness, " --witness"),
            (self.component_failures, " --component-failures"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, flag)| *flag)
        .collect()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::DEFAULT
    }
}

/// A run that kept every rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub seed: u64,
    pub steps: usize,
    /// Operations acknowledged, and those given up (never acknowledged).
    pub acknowledged: usize,
    pub refused: usize,
    pub crashes: usize,
    pub takeovers: usize,
    pub cuts: usize,
    /// Connections closed because a message was larger than a frame.
    pub oversize: usize,
    /// Disks replaced.
    pub replaced_disks: usize,
    /// Nodes paused, and stores stalled.
    pub pauses: usize,
    pub store_stalls: usize,
    /// Stores that failed a commit, told to their replica (which refuses
    /// new client writes until it commits again).
    pub store_failures: usize,
    /// Times a backup caught up with its active node (from then on the
    /// active node acknowledges a change once the backup holds it).
    pub caught_up: usize,
    /// Takeovers decided for a failed component of the active node.
    pub component_takeovers: usize,
    /// Automatic takeovers the guard held back: the backup not yet
    /// synchronised, switchovers damped.
    pub held_back_unsynchronised: usize,
    pub held_back_damped: usize,
    /// Times the nodes were split apart (with a witness).
    pub splits: usize,
    /// Changes the feeds showed.
    pub shown: usize,
    /// Where the healed pair stands.
    pub position: duet_rsm::Position,
}

/// A run that broke a rule: which, at which step, and the last events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub seed: u64,
    pub step: usize,
    pub broken: String,
    pub trace: Vec<String>,
    /// What the run was asked to do (a replay needs it).
    pub options: Options,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "seed {} broke a rule at step {}: {}",
            self.seed, self.step, self.broken
        )?;
        writeln!(
            f,
            "replay: duet simulate --pair --seed {}{}",
            self.seed,
            self.options.flags()
        )?;
        writeln!(f, "the run:")?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Runs seed `seed`.
pub fn run(seed: u64, options: Options) -> Result<Report, Failure> {
    let mut world = World::new(seed, options).map_err(|e| Failure {
        seed,
        step: 0,
        broken: e.to_string(),
        trace: Vec::new(),
        options,
    })?;
    let outcome = world.play(options.steps);
    outcome.map_err(|broken| Failure {
        seed,
        step: world.step,
        broken,
        trace: world.trace(),
        options,
    })?;
    Ok(world.report)
}

/// Runs `count` seeds from `first`; the first failure ends the sweep.
pub fn run_seeds(first: u64, count: u64, options: Options) -> Result<Vec<Report>, Failure> {
    (first..first + count)
        .map(|seed| run(seed, options))
        .collect()
}

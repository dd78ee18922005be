//! The right to serve in the simulated pair, decided by `duet_role`'s
//! machines as a node's driver uses them (`duet-node`'s `driver/safety.rs`
//! and `right.rs`): each running node keeps a [`Lease`] (a silent peer
//! confirmed by its own-network checks), the [`Promise`] it gives in its
//! role answers, a [`TakeoverGate`] and a [`TakeoverGuard`]; with a
//! witness (`witness.rs`), its key confirms instead of the own-network
//! checks and a takeover needs it. A node serves (its replica's
//! `Context::serving`) while it is active and its lease is valid.
//!
//! Role queries travel on the virtual clock. Every `renew_every_ms` a node
//! asks its peer: a peer that runs and can be reached answers at once,
//! `Active { epoch }`, or `Promised` (granting its promise), or, while it
//! waits to take over, `NoPromise`; a crashed one that can be reached is
//! `ProcessGone` (its arbiter refuses); a paused one, or one that cannot be
//! reached, is `Silent` once the query times out. The own-network checks
//! the lease asks for answer while the node's gateway does: a node cut off
//! loses its gateway, and when it comes back its gateway answers a while
//! before its peer does.
//!
//! A backup decides to take over when its peer's process is gone, or its
//! peer has been silent for [`SILENCE_DECIDES_MS`] while its own network
//! answered (the switchover engine's detection and network diagnosis), or,
//! as role discovery does when neither serves, node `a` when its peer
//! answers as a backup too. The gate lets it serve once the promise it gave
//! has run out, or a query sent after the decision finds the peer's
//! process gone.

use duet_role::{
    Lease, LeaseCommand, PeerAnswer, Promise, SilentPeer, TakeoverGate, TakeoverGuard, WitnessSeen,
};

use super::network::PEER_BACK_AFTER_GATEWAY_MS;
use super::node::Role;
use super::world::{LEASE_MS, World};

/// A backup whose peer has been silent this long, while its own network
/// answered throughout, decides to take over. While both nodes' gateways
/// answer and neither hears the other (for [`PEER_BACK_AFTER_GATEWAY_MS`],
/// as a node cut off comes back), either could be the one cut off, and the
/// other keeps its lease by its own network: a silence that began then and
/// goes on because the other is now cut off must not decide before the
/// other's lease, renewed up to the moment it was cut off, has run out. (The
/// seed's own-network rule cannot tell the two apart for longer; a witness
/// can.) Two ticks of margin: the clock moves in ticks of 100 ms.
const SILENCE_DECIDES_MS: u64 = LEASE_MS + PEER_BACK_AFTER_GATEWAY_MS + 200;
/// An answer from a peer that answers, or from the gateway, arrives by the
/// next tick.
const ANSWER_MS: u64 = 1;
/// A fault that takes the active node away plays out in ticks until a
/// node takes over; it stops earlier once no backup has a reason to.
const PLAY_OUT_TICKS_MAX: usize = 100;
/// Ticks before the first answer that could start a takeover is in: a
/// query's period, its timeout and a tick each way.
const PLAY_OUT_TICKS_MIN: usize = 9;

/// The promise a backup gives in a role answer (the node's
/// `lease_promise_ms`: the lease and an eighth more).
fn promise_ms() -> u64 {
    duet_params::promise_for_lease_ms(LEASE_MS)
}

/// Defects put into the simulated driver's use of `duet_role` on purpose,
/// to prove the checks find them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RightMutation {
    /// An own-network check that answers restores a lease that lapsed (the
    /// lease as it was before `Lease::activated` existed: every answer
    /// taken as if the node had just become active).
    RestoreLapsedLease,
    /// With a witness, a takeover waits for the promise alone, not for the
    /// key (the gate as if no witness were configured).
    TakeoverWithoutKey,
    /// A backup that resumes from a pause does not promise again, so a
    /// takeover it decides at once may serve beside a lease its peer
    /// renewed from its own network while it was paused.
    NoPromiseAfterPause,
    /// A node that stops serving gives no promise until asked, so a
    /// takeover it decides at once (a component of the new active node
    /// failing) may serve beside that node's first lease, which rests on
    /// its activation alone.
    NoPromiseAfterServing,
}

/// What is on its way to a node's driver.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arrival {
    /// The answer to the role query sent at `sent_ms`.
    Answer { sent_ms: u64, answer: PeerAnswer },
    /// The own-network checks asked at `asked_ms`.
    OwnNetwork { asked_ms: u64, ok: bool },
    /// What the witness said to the call sent before.
    Witness(WitnessSeen),
}

/// A running node's right to serve. A process that starts gets a new one:
/// no lease, no takeover decided, and a whole promise counted from its
/// start (it does not know what its previous run promised).
pub struct Right {
    pub(super) lease: Lease,
    promise: Promise,
    pub(super) gate: TakeoverGate<()>,
    pub(super) guard: TakeoverGuard,
    /// It has neither joined an active node nor taken over since it
    /// started: joining one starts its synchronisation (the engine's
    /// `Synchronize` at start-up).
    starting: bool,
    /// When it last became a backup (started, or stepped down): what a
    /// query sent then or before says of the peer is no reason to take
    /// over.
    pub(super) backup_since_ms: u64,
    /// The promise in force when the takeover was decided.
    pub(super) gate_promise: Promise,
    next_query_ms: u64,
    /// A defect of the driver's put in on purpose.
    mutation: Option<RightMutation>,
    /// The next call to the witness, while this node wants its key.
    pub(super) next_witness_ms: u64,
    /// It wanted the key at its last call (its witness task ran).
    pub(super) witness_wanted: bool,
    /// When the peer's silence began (the first silent answer), this
    /// node's own network answering since.
    silent_since_ms: Option<u64>,
    /// In order of arrival: (when, what).
    arrivals: Vec<(u64, Arrival)>,
}

impl Right {
    /// `witness`: the pair has one (only its key then confirms a silent
    /// peer, not the own-network checks, as the node's driver has it).
    pub fn new(now_ms: u64, witness: bool, mutation: Option<RightMutation>) -> Right {
        let silent_peer = if witness {
            SilentPeer::Witness { own_network: false }
        } else {
            SilentPeer::OwnNetwork
        };
        let gate_needs_key = witness && mutation != Some(RightMutation::TakeoverWithoutKey);
        Right {
            lease: Lease::new(LEASE_MS, silent_peer),
            promise: Promise::at_start(now_ms, promise_ms()),
            gate: TakeoverGate::new(gate_needs_key),
            guard: TakeoverGuard::default(),
            starting: true,
            backup_since_ms: now_ms,
            gate_promise: Promise::at_start(0, 0),
            next_query_ms: now_ms,
            mutation,
            next_witness_ms: now_ms,
            witness_wanted: false,
            silent_since_ms: None,
            arrivals: Vec::new(),
        }
    }

    pub fn lease_valid(&self, now_ms: u64) -> bool {
        self.lease.valid(now_ms)
    }

    /// This node became active: its first lease may come from its own
    /// network (the gate or role discovery being the evidence), and no
    /// takeover waits any more.
    pub fn activated(&mut self) {
        self.starting = false;
        self.lease.activated();
        self.gate.cancel();
    }

    /// It joins an active node as its backup: at its first since it
    /// started, its copy is not whole until the active node says it has
    /// caught up.
    pub fn joined(&mut self) {
        if std::mem::take(&mut self.starting) {
            self.guard.starting_as_backup();
        }
    }

    /// Its driver woke after `gap_ms` without progress (a pause): as the
    /// node's driver does, a backup promises again from now, a takeover
    /// already decided included (`Promise::after_gap`: longer than a
    /// renewal period and a query's timeout).
    pub fn woke_after(&mut self, now_ms: u64, gap_ms: u64) {
        let quiet_ms = self.lease.renew_every_ms() + self.lease.query_timeout_ms();
        if self.mutation != Some(RightMutation::NoPromiseAfterPause)
            && self
                .promise
                .after_gap(now_ms, gap_ms, quiet_ms, promise_ms())
        {
            self.gate_promise.grant(now_ms, promise_ms());
        }
    }

    /// It stopped serving, as its driver does: a whole promise from now
    /// (`Promise::after_serving`), unless the mutation leaves it out.
    pub fn stopped_serving(&mut self, now_ms: u64) {
        self.backup_since_ms = now_ms;
        if self.mutation != Some(RightMutation::NoPromiseAfterServing) {
            self.promise.after_serving(now_ms, promise_ms());
        }
    }

    /// A takeover is decided and waits at the gate.
    pub fn taking_over(&self) -> bool {
        self.gate.waiting()
    }

    pub(super) fn arrive(&mut self, at_ms: u64, what: Arrival) {
        let i = self.arrivals.partition_point(|(at, _)| *at <= at_ms);
        self.arrivals.insert(i, (at_ms, what));
    }
}

impl World {
    pub(super) fn right(&mut self, n: usize) -> Option<&mut Right> {
        self.nodes[n].up.as_mut().map(|up| &mut up.right)
    }

    /// Node `n` asks its peer for its role now.
    pub(super) fn ask_peer(&mut self, n: usize) {
        let now = self.now_ms;
        let Some(right) = self.right(n) else {
            return;
        };
        let timeout_ms = right.lease.query_timeout_ms();
        right.next_query_ms = now + right.lease.renew_every_ms();
        let silent = (PeerAnswer::Silent, now + timeout_ms);
        let (answer, at_ms) = if self.cut_off.is_some() {
            silent
        } else {
            match self.nodes[1 - n].up.as_mut() {
                None => (PeerAnswer::ProcessGone, now + ANSWER_MS),
                Some(up) if up.pause.is_some() => silent,
                Some(up) => {
                    let answer = match up.role {
                        Role::Active { epoch } => PeerAnswer::Active { epoch },
                        Role::Backup if up.right.gate.waiting() => PeerAnswer::NoPromise,
                        Role::Backup => {
                            up.right.promise.grant(now, promise_ms());
                            PeerAnswer::Promised {
                                promise_ms: promise_ms(),
                            }
                        }
                    };
                    (answer, now + ANSWER_MS)
                }
            }
        };
        if let Some(right) = self.right(n) {
            right.arrive(
                at_ms,
                Arrival::Answer {
                    sent_ms: now,
                    answer,
                },
            );
        }
    }

    /// Node `n`'s driver at a tick (a running node, not paused): what
    /// arrived by now (answers before the lease's tick, so one delivered
    /// to a node that resumes from a pause comes first), the lease's tick,
    /// the gate, a decision to take over, and the next role query.
    pub(super) fn right_tick(&mut self, n: usize) -> Result<(), String> {
        let now = self.now_ms;
        loop {
            let Some(right) = self.right(n) else {
                return Ok(());
            };
            if right.arrivals.first().is_none_or(|(at, _)| *at > now) {
                break;
            }
            let (_, what) = right.arrivals.remove(0);
            self.arrived(n, what)?;
        }
        let Some(right) = self.right(n) else {
            return Ok(());
        };
        let commands = right.lease.tick(now);
        let opens = right.gate.tick(now, &right.gate_promise).is_some();
        self.lease_commands(n, commands);
        if opens {
            self.gate_opens(n, "the promise it gave has run out")?;
        }
        let Some(up) = self.nodes[n].up.as_ref() else {
            return Ok(());
        };
        let right = &up.right;
        let silent_long = right
            .silent_since_ms
            .is_some_and(|since| now.saturating_sub(since) >= SILENCE_DECIDES_MS);
        if up.role == Role::Backup && !right.gate.waiting() && silent_long {
            self.decide(n, "its peer has been silent while its own network answers")?;
        }
        if self
            .right(n)
            .is_some_and(|right| right.next_query_ms <= now)
        {
            self.ask_peer(n);
        }
        self.witness_tick(n);
        Ok(())
    }

    fn arrived(&mut self, n: usize, what: Arrival) -> Result<(), String> {
        let now = self.now_ms;
        let gateway = self.gateway_answers(n);
        let Some(up) = self.nodes[n].up.as_mut() else {
            return Ok(());
        };
        let (sent_ms, answer) = match what {
            Arrival::OwnNetwork { asked_ms, ok } => {
                if up.right.mutation == Some(RightMutation::RestoreLapsedLease) {
                    up.right.lease.activated();
                }
                let commands = up.right.lease.own_network(asked_ms, ok);
                self.lease_commands(n, commands);
                return Ok(());
            }
            Arrival::Witness(seen) => return self.witness_said(n, seen),
            Arrival::Answer { sent_ms, answer } => (sent_ms, answer),
        };
        let role = up.role;
        let right = &mut up.right;
        let commands = right.lease.peer_answered(now, sent_ms, answer);
        let gone = right.gate.peer_answered(sent_ms, answer).is_some();
        right.silent_since_ms = match answer {
            // From the answer that says so, not the query: one sent while
            // this node's own network was down proves nothing of the peer.
            PeerAnswer::Silent if role == Role::Backup && gateway => {
                Some(right.silent_since_ms.unwrap_or(now))
            }
            _ => None,
        };
        let waiting = right.gate.waiting();
        let backup_since = right.backup_since_ms;
        self.lease_commands(n, commands);
        if gone {
            return self.gate_opens(
                n,
                "a query sent after its decision found its peer's process gone",
            );
        }
        match (answer, role) {
            (PeerAnswer::Active { epoch }, _) => self.peer_serves(n, epoch),
            (PeerAnswer::ProcessGone, Role::Backup) if !waiting && sent_ms > backup_since => {
                self.decide(n, "its peer's process is gone")
            }
            // Neither serves: role discovery chooses node a.
            (PeerAnswer::Promised { .. }, Role::Backup)
                if !waiting && self.nodes[n].parity == 0 && self.active().is_none() =>
            {
                self.decide(n, "its peer answers as a backup and neither serves")
            }
            _ => Ok(()),
        }
    }

    fn lease_commands(&mut self, n: usize, commands: Vec<LeaseCommand>) {
        for command in commands {
            match command {
                LeaseCommand::CheckOwnNetwork { asked_ms } => {
                    let ok = self.gateway_answers(n);
                    if let Some(right) = self.right(n) {
                        right.arrive(asked_ms + ANSWER_MS, Arrival::OwnNetwork { asked_ms, ok });
                    }
                }
                // What bears on serving, as the driver's event log keeps.
                LeaseCommand::Record { message, .. }
                    if self.nodes[n].epoch().is_some()
                        || self.right(n).is_some_and(|r| r.taking_over()) =>
                {
                    self.note(format!("{}: {message}", self.nodes[n].name));
                }
                LeaseCommand::Record { .. } => {}
            }
        }
    }

    /// Backup `n` decides to take over (`why`): it gives no promise from
    /// now, and serves once the one in force has run out, or at once when
    /// none runs; it asks its peer at once, whose process may be gone.
    pub(super) fn decide(&mut self, n: usize, why: &str) -> Result<(), String> {
        let now = self.now_ms;
        let Some(right) = self.right(n) else {
            return Ok(());
        };
        right.silent_since_ms = None;
        let promise = right.promise;
        if right.gate.decide(now, (), &promise).is_some() {
            return self.gate_opens(n, why);
        }
        right.gate_promise = promise;
        self.note(format!(
            "{} decides to take over ({why}); it serves once its promise has run out, within {} ms, or its peer's process is found gone",
            self.nodes[n].name,
            promise.until_ms().saturating_sub(now)
        ));
        self.ask_peer(n);
        Ok(())
    }

    /// The gate lets node `n` serve (`why`): it drops the link to the
    /// former active node, as a node becoming active does, and takes
    /// over. Clients that sent to a former active node that is paused
    /// keep doing so: they do not know.
    pub(super) fn gate_opens(&mut self, n: usize, why: &str) -> Result<(), String> {
        self.note(format!("{}'s gate opens: {why}", self.nodes[n].name));
        let target = self.clients.target;
        self.disconnect()?;
        self.take_over(n)?;
        if target != n && self.nodes[target].paused() {
            self.clients.target = target;
        }
        // The other, if it can be reached, now follows it.
        self.connect()
    }

    /// A backup has a reason to take over: its peer is silent, or it has
    /// decided and waits at the gate.
    fn takeover_under_way(&self) -> bool {
        self.nodes.iter().any(|node| {
            node.up.as_ref().is_some_and(|up| {
                up.role == Role::Backup
                    && (up.right.silent_since_ms.is_some() || up.right.gate.waiting())
            })
        })
    }

    /// Time passes, tick after tick and nothing else, until a node takes
    /// over or no backup has a reason to: how a fault that takes the
    /// active node away plays out.
    pub(super) fn play_out_takeover(&mut self) -> Result<(), String> {
        let takeovers = self.report.takeovers;
        for ticks in 0..PLAY_OUT_TICKS_MAX {
            if self.report.takeovers != takeovers
                || (ticks >= PLAY_OUT_TICKS_MIN && !self.takeover_under_way())
            {
                break;
            }
            self.tick()?;
        }
        Ok(())
    }
}

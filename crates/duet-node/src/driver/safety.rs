//! The driver's part of the right to serve: the lease (fed every role
//! answer, whatever the role, so a node that takes over starts with what it
//! knows), a decided takeover waiting for the old active's lease, the
//! own-network checks that may confirm a silent peer, and the etcd witness.

use std::time::Duration;

use duet_link::protocol::Role;
use duet_params::ServerId;
use duet_role::{
    Lease, LeaseCommand, Membership, MembershipCommand, PeerAnswer as Answer, PeerSaid, Promise,
    SilentPeer, Standing, TakeoverGate, TakeoverGuard, WitnessSeen,
};
use duet_switchover::{
    Activation, Event, Record, Release, ServiceMode, State, SwitchReason, Topic,
};

use super::{Driver, resolve};
use crate::arbiter::{self, PeerAnswer, QueryFailure};
use crate::driver_inbox::{DriverInbox, DriverMsg};
use crate::status::{ReplicationView, RightView, WitnessState, WitnessView};
use crate::witness::{WitnessHandle, WitnessReport};
use duet_params::ServerParams;

/// The driver's part of the right to serve: the lease (fed every role
/// answer, whatever the role, so a node that takes over starts with what it
/// knows), a decided takeover waiting for the old active's lease, and the
/// own-network checks that may confirm a silent peer.
pub(super) struct Safety {
    pub(super) lease: Lease,
    pub(super) gate: TakeoverGate<Activation>,
    /// The promise in force when the takeover was decided.
    pub(super) gate_promise: Promise,
    /// Gateways (when Switchover Disable Gateway Ping is No) and the NetTest
    /// host; empty: nothing can confirm a silent peer.
    pub(super) own_network: Vec<String>,
    /// What the peer's answers mean for this node's role.
    pub(super) membership: Membership,
    /// The etcd witness task, when the bootstrap names one, and what it
    /// last said (for the status).
    pub(super) witness: Option<WitnessHandle>,
    pub(super) witness_said: Option<WitnessView>,
    /// The create revision of the key this node last held.
    pub(super) witness_revision: u64,
    /// Holds an automatic takeover back (not synchronised; damped).
    pub(super) guard: TakeoverGuard,
    /// An automatic takeover the guard would hold back, waiting for the
    /// answer to a role query sent when it was decided (at the `u64`): the
    /// peer's process answering holds it back, gone or silent lets it go.
    pub(super) guarded: Option<(Activation, u64)>,
    /// When the driver's loop last woke (the node's clock).
    pub(super) woke_ms: Option<u64>,
}

impl Safety {
    pub(super) fn new(
        params: &duet_params::ServerParams,
        this: ServerId,
        gateways: Vec<String>,
    ) -> Safety {
        let mut own_network = if params.gateway_ping_enabled() {
            gateways
        } else {
            Vec::new()
        };
        own_network.extend(params.net_test_address(this).map(str::to_string));
        let silent_peer = if own_network.is_empty() {
            SilentPeer::Unconfirmed
        } else {
            SilentPeer::OwnNetwork
        };
        Safety {
            lease: Lease::new(params.lease_ms(), silent_peer),
            gate: TakeoverGate::new(false),
            gate_promise: Promise::at_start(0, 0),
            own_network,
            membership: Membership::default(),
            witness: None,
            witness_said: None,
            witness_revision: 0,
            guard: TakeoverGuard::default(),
            guarded: None,
            woke_ms: None,
        }
    }

    /// With a witness, only the key confirms a silent peer: not the
    /// own-network checks (a node cut off that comes back passes them
    /// before it can reach its peer or learn the key has gone), nor the
    /// unconfirmed mode; and a takeover needs the key.
    pub(super) fn use_witness(&mut self, witness: WitnessHandle, params: &ServerParams) {
        let own_network = false;
        self.lease = Lease::new(params.lease_ms(), SilentPeer::Witness { own_network });
        self.gate = TakeoverGate::new(true);
        self.witness = Some(witness);
        self.witness_said = Some(WitnessView {
            state: WitnessState::NotHeld,
            detail: "not asked yet".into(),
        });
    }

    /// The witness task holds the key while this node serves or waits to.
    pub(super) fn want_witness(&self, wanted: bool) {
        if let Some(witness) = &self.witness {
            witness.want(wanted);
        }
    }
}

/// What a role query brought, for the lease and the takeover gate.
pub(super) fn lease_answer(answer: &Result<PeerAnswer, QueryFailure>) -> Answer {
    match answer {
        Ok(a) if a.info.role == Role::Active => Answer::Active { epoch: a.epoch },
        Ok(a) => match a.info.promise_ms {
            Some(promise_ms) => Answer::Promised { promise_ms },
            None => Answer::NoPromise,
        },
        Err(QueryFailure::Refused) => Answer::ProcessGone,
        // A peer whose answer cannot be read counts as unanswered (the
        // seed's rule for start-up).
        Err(QueryFailure::Unreachable | QueryFailure::Failed(_)) => Answer::Silent,
    }
}

impl Driver {
    /// How often the lease is renewed, and how long a query may take.
    pub fn renewal(&self) -> (u64, u64) {
        let lease = &self.safety.lease;
        (lease.renew_every_ms(), lease.query_timeout_ms())
    }

    /// What a role query sent at `sent_ms` brought: the lease and a
    /// waiting takeover learn from it; a newer active fences this node; an
    /// inactive node rejoins, or starts again after a long silence.
    pub(super) fn peer_answered(&mut self, sent_ms: u64, answer: Result<PeerAnswer, QueryFailure>) {
        let said = self.peer_said(&answer);
        // A peer claiming this node's letter is ignored (and reported).
        let answer = match answer {
            Ok(_) if said == PeerSaid::SameLetter => Err(QueryFailure::Unreachable),
            other => other,
        };
        let now = self.now_ms();
        let evidence = lease_answer(&answer);
        self.guarded_answer(
            sent_ms,
            !matches!(evidence, Answer::ProcessGone | Answer::Silent),
        );
        let commands = self.safety.lease.peer_answered(now, sent_ms, evidence);
        self.lease_commands(commands);
        if let Some(activation) = self.safety.gate.peer_answered(sent_ms, evidence) {
            self.note(format!(
                "{}'s process is gone (its role arbiter refuses connections): taking over now",
                self.shared.boot.peer().name
            ));
            self.become_active(activation);
        }
        let (history, history_id) = self.shared.view.history();
        let standing = Standing {
            holding: self.holding,
            epoch: self.epoch,
            max_seen: self.max_seen,
            inactive: self.engine.state() == State::Inactive,
            takeover_held_by_witness: self.safety.gate.waiting()
                && self.safety.gate.blocked_by_witness(),
            history,
            history_id,
        };
        let answer = answer.ok();
        for command in self.safety.membership.answered(now, said, standing) {
            match command {
                MembershipCommand::StepDown { epoch } => self.epoch_seen(epoch),
                MembershipCommand::Rejoin => {
                    let release = answer
                        .as_ref()
                        .map(|a| a.release.clone())
                        .unwrap_or_default();
                    self.apply(Event::Start(ServiceMode::PeerActive {
                        release: Release(release),
                    }));
                }
                MembershipCommand::StartAgain => {
                    self.note("The peer has not answered for 3 s while this node was inactive: starting again (fail-safe)".into());
                    self.apply(Event::Start(ServiceMode::PeerUnreachable));
                }
                MembershipCommand::YieldToNewer { peer_history } => {
                    let own_history = standing.history;
                    self.apply(Event::PeerHistoryNewer {
                        peer_history,
                        own_history,
                    });
                }
                MembershipCommand::AbandonTakeover { epoch } => {
                    self.safety.gate.cancel();
                    self.apply(Event::TakeoverAbandoned { epoch });
                }
            }
        }
        self.note_peer(answer.as_ref());
        self.publish();
    }

    /// The loop woke. Its lease ticks wake it at least every renewal
    /// period, and a role query may take as long again: a longer gap means
    /// this node was paused or starved, its peer's queries may have gone
    /// unanswered meanwhile and the peer renewed its lease from its own
    /// network. A backup then counts a whole promise from now, a takeover
    /// already decided included, so it cannot serve beside that lease.
    pub(super) fn woke(&mut self) {
        let now = self.now_ms();
        let gap_ms = self
            .safety
            .woke_ms
            .replace(now)
            .map_or(0, |last| now.saturating_sub(last));
        let (renew_ms, timeout_ms) = self.renewal();
        let quiet_ms = renew_ms + timeout_ms;
        let right = self.shared.view.right();
        if self.holding || !right.promise_after_gap(gap_ms, quiet_ms) {
            return;
        }
        let promise_ms = right.promise_ms();
        self.safety.gate_promise.grant(now, promise_ms);
        // A busy machine delays the loop now and then; only a pause as
        // long as a lease is worth the event log.
        if gap_ms > self.safety.lease.lease_ms() {
            self.note(format!(
                "This node made no progress for {gap_ms} ms: it will not serve for {promise_ms} ms, as {} may have renewed its lease from its own network meanwhile",
                self.shared.boot.peer().name
            ));
        }
    }

    /// The lease's regular tick: a late one means this node was paused.
    pub(super) fn lease_tick(&mut self) {
        let commands = self.safety.lease.tick(self.now_ms());
        // Held writes are released or refused there too.
        self.lease_commands(commands);
        self.publish();
    }

    pub(super) fn lease_commands(&mut self, commands: Vec<LeaseCommand>) {
        for command in commands {
            match command {
                LeaseCommand::CheckOwnNetwork { asked_ms } => self.check_own_network(asked_ms),
                // Only what bears on serving is worth the event log.
                LeaseCommand::Record { warning, message }
                    if self.holding || self.safety.gate.waiting() =>
                {
                    self.record(Record {
                        topic: Topic::Switchover,
                        level: if warning {
                            duet_switchover::Level::Warning
                        } else {
                            duet_switchover::Level::Info
                        },
                        message,
                    })
                }
                LeaseCommand::Record { .. } => {}
            }
        }
    }

    /// Echoes to the gateways and the NetTest host; any answer will do.
    pub(super) fn check_own_network(&self, asked_ms: u64) {
        let timeout = Duration::from_millis(self.engine.params().net_test_timeout.ms());
        let targets = self.safety.own_network.clone();
        let prober = self.prober.clone();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut ok = false;
            for target in targets {
                let Some(ip) = tokio::time::timeout(timeout, resolve(&target))
                    .await
                    .ok()
                    .flatten()
                else {
                    continue;
                };
                if prober.echo(ip, timeout).await {
                    ok = true;
                    break;
                }
            }
            shared.driver.send(DriverMsg::OwnNetwork { asked_ms, ok });
        });
    }

    /// A waiting takeover's promise has run out: the old active's lease
    /// has too.
    /// What the witness task said: the lease and a waiting takeover learn
    /// from it; a change of what it says goes to the event log.
    pub(super) fn witness_said(&mut self, report: WitnessReport) {
        let (seen, state, detail) = match &report {
            WitnessReport::Held {
                sent_ms,
                ttl_ms,
                revision,
            } => {
                self.safety.witness_revision = u64::try_from(*revision).unwrap_or(0);
                (
                    WitnessSeen::Held {
                        sent_ms: *sent_ms,
                        ttl_ms: *ttl_ms,
                    },
                    WitnessState::Held,
                    format!("this node holds the pair's key (revision {revision})"),
                )
            }
            WitnessReport::HeldByPeer { holder } => (
                WitnessSeen::HeldByPeer,
                WitnessState::HeldByPeer,
                format!("{holder} holds the pair's key"),
            ),
            WitnessReport::Unreachable { why } => (
                WitnessSeen::Unreachable,
                WitnessState::Down,
                format!("etcd cannot be reached: {why}"),
            ),
            WitnessReport::Released => (
                WitnessSeen::Released,
                WitnessState::NotHeld,
                "this node does not hold the pair's key".to_string(),
            ),
        };
        if self.safety.witness_said.as_ref().map(|w| &w.state) != Some(&state) {
            self.note(format!("Witness: {detail}"));
        }
        self.safety.witness_said = Some(WitnessView { state, detail });
        self.safety.lease.witness(seen);
        let now = self.now_ms();
        let promise = self.safety.gate_promise;
        if let Some(activation) = self.safety.gate.witness(now, seen, &promise) {
            self.note(format!(
                "This node holds the witness's key and its promise to {} has run out: taking over",
                self.shared.boot.peer().name
            ));
            self.become_active(activation);
        }
        self.publish();
    }

    pub(super) fn takeover_tick(&mut self) {
        let now = self.now_ms();
        if let Some(activation) = self.safety.gate.tick(now, &self.safety.gate_promise) {
            self.note(format!(
                "The promise to {} has run out, so has its lease: taking over",
                self.shared.boot.peer().name
            ));
            self.become_active(activation);
        }
    }

    /// The engine decided this node becomes active: at once when no
    /// promise to the peer runs, else once it has run out or the peer's
    /// process is found gone.
    pub(super) fn activate_when_safe(&mut self, activation: Activation) {
        let now = self.now_ms();
        // Whether the peer's process answers is asked afresh: what the
        // last renewal saw may predate a kill.
        if let Activation::Switchover(reason) = activation
            && reason != SwitchReason::ManualSwitchover
            && self.safety.guard.check(now, true).is_err()
        {
            self.safety.guarded = Some((activation, now));
            let (_, timeout_ms) = self.renewal();
            ask_peer(
                self.shared.arbiter_handles(),
                self.shared.driver.clone(),
                timeout_ms,
            );
            return;
        }
        self.activate_through_gate(activation);
    }

    /// A guarded takeover learns whether the peer's process answers.
    fn guarded_answer(&mut self, sent_ms: u64, process_answers: bool) {
        let Some((activation, decided_ms)) = self.safety.guarded else {
            return;
        };
        if sent_ms < decided_ms {
            return;
        }
        self.safety.guarded = None;
        match self.safety.guard.check(self.now_ms(), process_answers) {
            Ok(()) => self.activate_through_gate(activation),
            Err(held) => {
                let why = held.describe(&self.shared.boot.peer().name);
                self.apply(Event::TakeoverHeldBack { why });
            }
        }
    }

    fn activate_through_gate(&mut self, activation: Activation) {
        let now = self.now_ms();
        let promise = self.shared.view.right().stop_promising();
        // A process that starts counts a whole promise from its start: what
        // its previous run promised is unknown.
        let promised_by = if matches!(activation, Activation::Switchover(_)) {
            "the promise this node gave it runs out"
        } else {
            "any promise an earlier run of this node gave it has run out"
        };
        match self.safety.gate.decide(now, activation, &promise) {
            Some(activation) => self.become_active(activation),
            None => {
                self.safety.gate_promise = promise;
                self.note(format!(
                    "Serving once {} cannot be serving: within {} ms, when {promised_by}, or sooner if its process is found gone",
                    self.shared.boot.peer().name,
                    promise.until_ms().saturating_sub(now)
                ));
                let (_, timeout_ms) = self.renewal();
                ask_peer(
                    self.shared.arbiter_handles(),
                    self.shared.driver.clone(),
                    timeout_ms,
                );
                self.publish();
            }
        }
    }

    /// The right to serve for the status; times are filled in when read.
    pub(super) fn right_view(&self, replication: &ReplicationView) -> RightView {
        let lease = &self.safety.lease;
        let confirmed_by = self.holding.then(|| lease.confirmed_by()).flatten();
        let lease_detail = self
            .holding
            .then(|| {
                lease
                    .why_not(self.now_ms())
                    .or_else(|| confirmed_by.map(|c| c.describe().to_string()))
            })
            .flatten();
        RightView {
            confirmed_by,
            lease_detail,
            takeover_waiting: self.safety.gate.waiting().then(|| {
                format!(
                    "waiting for {}'s lease to run out (or its process to be found gone) before serving",
                    self.shared.boot.peer().name
                )
            }),
            writes_held: replication.writes_held,
            witness: self.safety.witness_said.clone(),
            conflicts: replication.conflicts,
            interaction_conflicts: replication.interaction_conflicts,
            ..RightView::default()
        }
    }
}

/// Asks the peer for its role every `every_ms`, each query given
/// `timeout_ms`. Queries run side by side, so a silent peer does not
/// stretch the rhythm.
pub async fn renew(arbiter: arbiter::Handles, driver: DriverInbox, every_ms: u64, timeout_ms: u64) {
    let mut interval = tokio::time::interval(Duration::from_millis(every_ms));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        ask_peer(arbiter.clone(), driver.clone(), timeout_ms);
    }
}

/// One role query, in a task of its own; the driver is told what came back
/// and when it was asked.
pub fn ask_peer(arbiter: arbiter::Handles, driver: DriverInbox, timeout_ms: u64) {
    tokio::spawn(async move {
        let right = arbiter.view.right();
        let sent_ms = right.now_ms();
        let answer = arbiter::query(&arbiter, timeout_ms).await;
        match &answer {
            Err(arbiter::QueryFailure::Failed(why)) if right.query_failure_is_new(Some(why)) => {
                tracing::warn!("role arbiter: {why}");
            }
            Ok(_) => {
                right.query_failure_is_new(None);
            }
            _ => {}
        }
        driver.send(DriverMsg::Peer { sent_ms, answer });
    });
}

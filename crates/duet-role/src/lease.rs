//! The active node's lease: how long the peer cannot be serving, from what
//! this node has seen. Renewed by role queries to the peer (the runtime
//! sends one every [`Lease::renew_every_ms`], giving up after
//! [`Lease::query_timeout_ms`]) and, when the peer is silent, by this node's
//! own-network checks. Those checks may keep a lease alive, or give the
//! first one after the node became active (the takeover gate or role
//! discovery being the evidence then, while it stands: until a check
//! fails or the node is paused); they never restore a lease that lapsed:
//! a node that was cut off or paused cannot tell from its own network that
//! the peer did not take over meanwhile, so only the peer (its promise,
//! its process gone) or the witness's key restores it.

use serde::{Deserialize, Serialize};

/// What a role query to the peer brought, for the query sent at a given
/// moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAnswer {
    /// It answered as not active and promised not to serve for
    /// `promise_ms` from its answer.
    Promised { promise_ms: u64 },
    /// It answered as active in `epoch`.
    Active { epoch: u64 },
    /// It answered as not active but gave no promise: it has decided to
    /// take over, or it is stopping.
    NoPromise,
    /// Its role arbiter refused the connection: the process is gone.
    ProcessGone,
    /// Nothing answered in time.
    Silent,
}

/// What the etcd witness last said about this node's hold on the pair's
/// key (times on the node's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitnessSeen {
    /// This node holds the key: the call that confirmed it was sent at
    /// `sent_ms`, and etcd keeps it at least `ttl_ms` from then.
    Held { sent_ms: u64, ttl_ms: u64 },
    /// The peer holds the key.
    HeldByPeer,
    /// etcd cannot be reached.
    Unreachable,
    /// This node does not hold the key.
    Released,
}

/// What can confirm a silent peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilentPeer {
    /// Nothing is configured: the node serves unconfirmed (the seed's
    /// choice), and says so.
    Unconfirmed,
    /// The own-network checks (gateway, NetTest).
    OwnNetwork,
    /// The etcd witness; while it cannot be reached, the own-network
    /// checks when `own_network` (never the unconfirmed mode: a node that
    /// lost its witness may be the one cut off).
    Witness { own_network: bool },
}

/// How the lease was last confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Confirmation {
    /// The peer answered as not active and promised not to take over.
    PeerPromised,
    /// The peer's role arbiter refused: its process is gone.
    PeerProcessGone,
    /// The peer is silent and this node's own network checks answered.
    OwnNetwork,
    /// The peer is silent and no own-network check is configured: nothing
    /// can confirm, and the node keeps serving (the seed's choice).
    Unconfirmed,
    /// This node holds the pair's key at the etcd witness.
    Witness,
}

impl Confirmation {
    /// A few words, for a status line.
    pub fn short(self) -> &'static str {
        match self {
            Confirmation::PeerPromised => "the peer promised",
            Confirmation::PeerProcessGone => "the peer's process is gone",
            Confirmation::OwnNetwork => "own network checks",
            Confirmation::Unconfirmed => "UNCONFIRMED",
            Confirmation::Witness => "the witness's key",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Confirmation::PeerPromised => {
                "the peer answered as not active and promised not to take over"
            }
            Confirmation::PeerProcessGone => {
                "the peer's process is gone (its role arbiter refuses connections)"
            }
            Confirmation::OwnNetwork => {
                "the peer is silent and this node's own network checks (gateway, NetTest) answer"
            }
            Confirmation::Witness => "this node holds the pair's key at the etcd witness",
            Confirmation::Unconfirmed => {
                "UNCONFIRMED: the peer is silent and no gateway or NetTest check is configured, so this node serves without proof that the peer does not; set Switchover Disable Gateway Ping = No or a NetTest host to close this window"
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseCommand {
    /// Check this node's own network now (gateway, NetTest); report with
    /// [`Lease::own_network`] and this `asked_ms`.
    CheckOwnNetwork { asked_ms: u64 },
    /// Write this to the event log (`warning`: at warning level).
    Record { warning: bool, message: String },
}

#[derive(Debug, Clone)]
pub struct Lease {
    lease_ms: u64,
    silent_peer: SilentPeer,
    /// The witness can be reached (with a witness configured).
    witness_reachable: bool,
    until_ms: u64,
    how: Option<Confirmation>,
    /// The send time of the newest answer taken; older ones are stale.
    newest_sent_ms: u64,
    /// Evidence gathered before this moment is not taken (set after a
    /// pause: the node confirms again).
    not_before_ms: u64,
    last_tick_ms: Option<u64>,
    why_not: Option<String>,
    /// What made this node active no longer stands for a first lease: a
    /// lease was held since, an own-network check failed (this node may be
    /// the one cut off) or it was paused for longer than a lease (the peer
    /// may have taken over meanwhile in either case). From then on the
    /// own-network checks cannot give a lease that is not held.
    activation_spent: bool,
}

impl Lease {
    /// A lease of `lease_ms`, not held. `own_network_checks`: a gateway or
    /// NetTest check is configured.
    pub fn new(lease_ms: u64, silent_peer: SilentPeer) -> Lease {
        Lease {
            lease_ms,
            silent_peer,
            witness_reachable: false,
            until_ms: 0,
            how: None,
            newest_sent_ms: 0,
            not_before_ms: 0,
            last_tick_ms: None,
            why_not: Some("no answer from the peer yet".into()),
            activation_spent: false,
        }
    }

    /// This node became active (through the takeover gate or role
    /// discovery): its first lease may come from the own-network checks.
    pub fn activated(&mut self) {
        self.activation_spent = false;
    }

    pub fn lease_ms(&self) -> u64 {
        self.lease_ms
    }

    /// How often the runtime asks the peer.
    pub fn renew_every_ms(&self) -> u64 {
        (self.lease_ms / 3).max(1)
    }

    /// How long one query may take before the peer counts as silent.
    pub fn query_timeout_ms(&self) -> u64 {
        (self.lease_ms / 3).max(1)
    }

    /// The lease is valid at `now_ms`.
    pub fn valid(&self, now_ms: u64) -> bool {
        now_ms < self.until_ms
    }

    pub fn until_ms(&self) -> u64 {
        self.until_ms
    }

    pub fn confirmed_by(&self) -> Option<Confirmation> {
        self.how
    }

    /// Why the lease is not held at `now_ms`, in words an administrator
    /// can act on; `None` while it is.
    pub fn why_not(&self, now_ms: u64) -> Option<String> {
        (!self.valid(now_ms)).then(|| {
            self.why_not
                .clone()
                .unwrap_or_else(|| "the lease ran out before it was renewed".into())
        })
    }

    fn extend(&mut self, sent_ms: u64, length_ms: u64, how: Confirmation) {
        self.until_ms = self.until_ms.max(sent_ms.saturating_add(length_ms));
        self.how = Some(how);
        self.why_not = None;
        self.activation_spent = true;
    }

    fn revoke(&mut self, why: String) {
        self.until_ms = 0;
        self.why_not = Some(why);
    }

    /// The answer to the role query sent at `sent_ms`.
    pub fn peer_answered(
        &mut self,
        now_ms: u64,
        sent_ms: u64,
        answer: PeerAnswer,
    ) -> Vec<LeaseCommand> {
        if sent_ms < self.not_before_ms || sent_ms < self.newest_sent_ms {
            return Vec::new();
        }
        self.newest_sent_ms = sent_ms;
        let mut commands = Vec::new();
        match answer {
            PeerAnswer::Promised { promise_ms } => {
                // Less than was promised: the promise counts from the peer's
                // answer, this lease from the earlier query, and an eighth of
                // margin covers clocks that run at slightly different rates.
                let length = self.lease_ms.min(promise_ms.saturating_mul(8) / 9);
                self.extend(sent_ms, length, Confirmation::PeerPromised);
            }
            PeerAnswer::ProcessGone => {
                // A restarted peer counts a whole promise from its start.
                self.extend(sent_ms, self.lease_ms, Confirmation::PeerProcessGone);
            }
            PeerAnswer::Active { epoch } => {
                self.revoke(format!("the peer answers as active in epoch {epoch}"));
            }
            PeerAnswer::NoPromise => {
                self.why_not = Some(
                    "the peer answers but gives no promise: it is taking over or stopping".into(),
                );
            }
            PeerAnswer::Silent => match self.silent_peer {
                SilentPeer::OwnNetwork => {
                    commands.push(LeaseCommand::CheckOwnNetwork { asked_ms: now_ms });
                }
                // Reachable, the witness confirms (or not) by itself.
                SilentPeer::Witness { own_network } => {
                    if own_network && !self.witness_reachable {
                        commands.push(LeaseCommand::CheckOwnNetwork { asked_ms: now_ms });
                    }
                }
                SilentPeer::Unconfirmed => {
                    if self.how != Some(Confirmation::Unconfirmed) {
                        commands.push(LeaseCommand::Record {
                            warning: true,
                            message: format!(
                                "Right to serve: {}",
                                Confirmation::Unconfirmed.describe()
                            ),
                        });
                    }
                    self.extend(sent_ms, self.lease_ms, Confirmation::Unconfirmed);
                }
            },
        }
        commands
    }

    /// What the witness said. Holding the key confirms for as long as etcd
    /// keeps it (less an eighth); the peer holding it means the peer may
    /// serve: whatever this node held is gone.
    pub fn witness(&mut self, seen: WitnessSeen) {
        self.witness_reachable = seen != WitnessSeen::Unreachable;
        match seen {
            WitnessSeen::Held { sent_ms, ttl_ms } if sent_ms >= self.not_before_ms => {
                self.extend(sent_ms, ttl_ms.saturating_mul(8) / 9, Confirmation::Witness);
            }
            WitnessSeen::HeldByPeer => {
                self.revoke("the peer holds the pair's key at the etcd witness".into());
            }
            WitnessSeen::Unreachable
                if !matches!(
                    self.how,
                    Some(Confirmation::PeerPromised | Confirmation::PeerProcessGone)
                ) =>
            {
                self.why_not =
                    Some("the etcd witness cannot be reached and the peer does not confirm".into());
            }
            _ => {}
        }
    }

    /// The own-network checks asked at `asked_ms` answered (`ok`) or not.
    pub fn own_network(&mut self, asked_ms: u64, ok: bool) -> Vec<LeaseCommand> {
        if asked_ms < self.not_before_ms || asked_ms < self.newest_sent_ms {
            return Vec::new();
        }
        if ok && (self.valid(asked_ms) || !self.activation_spent) {
            self.extend(asked_ms, self.lease_ms, Confirmation::OwnNetwork);
            return Vec::new();
        }
        if !ok {
            self.activation_spent = true;
        }
        let why = if ok {
            "the lease lapsed while the peer was silent, and this node's own network answering again cannot show that the peer did not take over meanwhile: waiting for the peer (its promise, or its process gone) or the witness's key"
        } else {
            "the peer is silent and this node's own network checks (gateway, NetTest) do not answer: this node may be the one cut off"
        }
        .to_string();
        let first = self.why_not.as_ref() != Some(&why);
        self.why_not = Some(why.clone());
        if first {
            vec![LeaseCommand::Record {
                warning: true,
                message: format!("Right to serve not renewed: {why}"),
            }]
        } else {
            Vec::new()
        }
    }

    /// The runtime's regular tick, due every [`Lease::renew_every_ms`]. A
    /// tick later than the lease itself means this node was paused (a
    /// stopped process, a stalled disk): whatever it held has run out and
    /// only evidence gathered from now on counts.
    pub fn tick(&mut self, now_ms: u64) -> Vec<LeaseCommand> {
        let previous = self.last_tick_ms.replace(now_ms);
        let Some(previous) = previous else {
            return Vec::new();
        };
        let gap = now_ms.saturating_sub(previous);
        if gap <= self.lease_ms {
            return Vec::new();
        }
        self.not_before_ms = now_ms;
        self.activation_spent = true;
        self.revoke(format!(
            "this node was paused for {gap} ms (longer than its {} ms lease); it serves again once it has confirmed anew",
            self.lease_ms
        ));
        vec![LeaseCommand::Record {
            warning: true,
            message: format!(
                "Right to serve lost: this node made no progress for {gap} ms, longer than its {} ms lease; not serving until the peer confirms again",
                self.lease_ms
            ),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promise_gives_a_lease_from_the_query_and_less_than_promised() {
        let mut lease = Lease::new(90, SilentPeer::OwnNetwork);
        assert!(!lease.valid(0));
        // Asked at 100, answered at 130 with a 90 ms promise: the lease runs
        // from the question, for 8/9 of the promise (80 ms).
        assert!(
            lease
                .peer_answered(130, 100, PeerAnswer::Promised { promise_ms: 90 })
                .is_empty()
        );
        assert!(lease.valid(179));
        assert!(!lease.valid(180));
        assert_eq!(lease.confirmed_by(), Some(Confirmation::PeerPromised));
    }

    #[test]
    fn an_active_peer_revokes_and_a_stale_answer_is_not_taken() {
        let mut lease = Lease::new(90, SilentPeer::OwnNetwork);
        lease.peer_answered(10, 0, PeerAnswer::Promised { promise_ms: 90 });
        lease.peer_answered(40, 30, PeerAnswer::Active { epoch: 7 });
        assert!(!lease.valid(41));
        assert!(lease.why_not(41).unwrap().contains("epoch 7"));
        // An answer to an older query arriving late changes nothing.
        lease.peer_answered(50, 20, PeerAnswer::Promised { promise_ms: 90 });
        assert!(!lease.valid(51));
    }

    #[test]
    fn a_silent_peer_needs_the_own_network_checks_when_they_are_configured() {
        let mut lease = Lease::new(90, SilentPeer::OwnNetwork);
        assert_eq!(
            lease.peer_answered(40, 10, PeerAnswer::Silent),
            vec![LeaseCommand::CheckOwnNetwork { asked_ms: 40 }]
        );
        assert!(!lease.valid(41));
        assert!(lease.own_network(40, true).is_empty());
        assert!(lease.valid(129));
        assert!(!lease.valid(130));
        assert_eq!(lease.confirmed_by(), Some(Confirmation::OwnNetwork));
        // Failing checks do not renew, and say so once.
        lease.peer_answered(100, 70, PeerAnswer::Silent);
        assert_eq!(lease.own_network(100, false).len(), 1);
        lease.peer_answered(130, 100, PeerAnswer::Silent);
        assert!(lease.own_network(130, false).is_empty());
        assert!(!lease.valid(130));
        assert!(lease.why_not(130).unwrap().contains("cut off"));
    }

    #[test]
    fn own_network_checks_keep_a_lease_alive_but_never_restore_a_lapsed_one() {
        let mut lease = Lease::new(90, SilentPeer::OwnNetwork);
        // The first lease after becoming active may come from them.
        lease.peer_answered(40, 10, PeerAnswer::Silent);
        assert!(lease.own_network(40, true).is_empty());
        assert!(lease.valid(129));
        // Renewed while held.
        lease.peer_answered(100, 70, PeerAnswer::Silent);
        assert!(lease.own_network(100, true).is_empty());
        assert!(lease.valid(189));
        // Cut off: the checks fail and the lease runs out at 190.
        lease.peer_answered(160, 130, PeerAnswer::Silent);
        lease.own_network(160, false);
        assert!(!lease.valid(190));
        // The network is back, the gateway answers, the peer's answer is
        // not in yet: the peer may have taken over meanwhile.
        lease.peer_answered(250, 220, PeerAnswer::Silent);
        let commands = lease.own_network(250, true);
        assert!(!lease.valid(251));
        assert!(matches!(
            &commands[..],
            [LeaseCommand::Record { warning: true, message }] if message.contains("lapsed")
        ));
        assert!(lease.why_not(251).unwrap().contains("waiting for the peer"));
        // The peer's promise restores it.
        lease.peer_answered(290, 280, PeerAnswer::Promised { promise_ms: 90 });
        assert!(lease.valid(300));
        assert_eq!(lease.confirmed_by(), Some(Confirmation::PeerPromised));
    }

    #[test]
    fn after_a_pause_only_the_peer_restores_the_lease_and_a_new_activation_starts_afresh() {
        let mut lease = Lease::new(90, SilentPeer::OwnNetwork);
        lease.tick(0);
        lease.peer_answered(5, 0, PeerAnswer::Promised { promise_ms: 90 });
        lease.tick(30);
        lease.tick(400);
        assert!(!lease.valid(400));
        lease.peer_answered(440, 410, PeerAnswer::Silent);
        lease.own_network(440, true);
        assert!(!lease.valid(441));
        // Having become active again (through the takeover gate), the
        // own-network checks may give its first lease.
        lease.activated();
        lease.peer_answered(470, 445, PeerAnswer::Silent);
        lease.own_network(470, true);
        assert!(lease.valid(471));
    }

    /// Found by the pair simulation (seed 4394 with stalls): a node took
    /// over, was paused before its first lease, then cut off; the peer took
    /// over; the node's gateway answered again before its peer did, and its
    /// first lease came from that check, beside the peer serving.
    #[test]
    fn a_first_lease_from_own_network_checks_needs_the_activation_to_stand() {
        // Paused before any lease: the activation no longer stands.
        let mut lease = Lease::new(90, SilentPeer::OwnNetwork);
        lease.activated();
        lease.tick(0);
        lease.tick(500);
        lease.peer_answered(540, 510, PeerAnswer::Silent);
        lease.own_network(540, true);
        assert!(!lease.valid(541));
        assert!(lease.why_not(541).unwrap().contains("waiting for the peer"));
        // A check that failed (cut off before any lease), then one that
        // answers: no lease either.
        let mut lease = Lease::new(90, SilentPeer::OwnNetwork);
        lease.activated();
        lease.peer_answered(40, 10, PeerAnswer::Silent);
        lease.own_network(40, false);
        lease.peer_answered(400, 370, PeerAnswer::Silent);
        lease.own_network(400, true);
        assert!(!lease.valid(401));
        // The peer's promise restores it.
        lease.peer_answered(440, 430, PeerAnswer::Promised { promise_ms: 90 });
        assert!(lease.valid(441));
    }

    #[test]
    fn with_nothing_to_confirm_a_silent_peer_leaves_the_lease_unconfirmed() {
        let mut lease = Lease::new(90, SilentPeer::Unconfirmed);
        let commands = lease.peer_answered(40, 10, PeerAnswer::Silent);
        assert!(matches!(
            &commands[..],
            [LeaseCommand::Record { warning: true, .. }]
        ));
        assert!(lease.valid(99));
        assert_eq!(lease.confirmed_by(), Some(Confirmation::Unconfirmed));
        // Said once, not at every renewal.
        assert!(lease.peer_answered(70, 40, PeerAnswer::Silent).is_empty());
    }

    #[test]
    fn a_pause_longer_than_the_lease_drops_it_and_old_evidence() {
        let mut lease = Lease::new(90, SilentPeer::OwnNetwork);
        lease.tick(0);
        lease.peer_answered(5, 0, PeerAnswer::Promised { promise_ms: 1_000 });
        assert!(lease.valid(80));
        lease.tick(30);
        // Stopped from 30 to 500.
        let commands = lease.tick(500);
        assert!(matches!(
            &commands[..],
            [LeaseCommand::Record { warning: true, .. }]
        ));
        assert!(!lease.valid(500));
        // An answer to a query sent before the pause is not taken.
        lease.peer_answered(501, 25, PeerAnswer::Promised { promise_ms: 1_000 });
        assert!(!lease.valid(502));
        lease.peer_answered(510, 500, PeerAnswer::Promised { promise_ms: 90 });
        assert!(lease.valid(510));
    }

    #[test]
    fn a_gone_process_confirms_for_a_whole_lease() {
        let mut lease = Lease::new(90, SilentPeer::Unconfirmed);
        lease.peer_answered(3, 1, PeerAnswer::ProcessGone);
        assert!(lease.valid(90));
        assert!(!lease.valid(91));
        assert_eq!(lease.confirmed_by(), Some(Confirmation::PeerProcessGone));
    }

    #[test]
    fn with_a_witness_the_key_confirms_and_the_peer_holding_it_revokes() {
        let mut lease = Lease::new(90, SilentPeer::Witness { own_network: false });
        // A silent peer alone confirms nothing, and is never "unconfirmed".
        assert!(lease.peer_answered(40, 10, PeerAnswer::Silent).is_empty());
        assert!(!lease.valid(41));
        lease.witness(WitnessSeen::Held {
            sent_ms: 50,
            ttl_ms: 1_800,
        });
        assert!(lease.valid(1_649));
        assert!(!lease.valid(1_650));
        assert_eq!(lease.confirmed_by(), Some(Confirmation::Witness));
        lease.witness(WitnessSeen::HeldByPeer);
        assert!(!lease.valid(100));

        // Unreachable, the own-network checks stand in when configured.
        let mut lease = Lease::new(90, SilentPeer::Witness { own_network: true });
        lease.witness(WitnessSeen::Held {
            sent_ms: 0,
            ttl_ms: 1_800,
        });
        assert!(lease.peer_answered(40, 10, PeerAnswer::Silent).is_empty());
        lease.witness(WitnessSeen::Unreachable);
        assert_eq!(
            lease.peer_answered(80, 50, PeerAnswer::Silent),
            vec![LeaseCommand::CheckOwnNetwork { asked_ms: 80 }]
        );
    }
}

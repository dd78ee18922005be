//! Where this node stands with its peer, from what the peer answers: the
//! seed's start-up discovery, and once running, what an answer means: step
//! down for a newer active, rejoin as backup, start again after a long
//! silence (the seed's fail-safe start), or give up a takeover the witness
//! holds back.

use duet_rsm::{HistoryId, Position};

/// What a role query brought, as role logic needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerSaid {
    /// The peer serves as active in `epoch`; `history` is the newest
    /// change it holds, of the history `history_id`.
    Active {
        epoch: u64,
        history: Position,
        history_id: HistoryId,
    },
    /// The peer is still finding its role (or about to serve);
    /// `history_id` says which history `history` is of.
    Starting {
        history: Position,
        history_id: HistoryId,
    },
    /// The peer answered as anything else (backup, inactive).
    Other {
        history: Position,
        history_id: HistoryId,
    },
    /// The peer claims this node's SwitchoverServer letter: the bootstrap
    /// files disagree, and it is ignored.
    SameLetter,
    /// Nothing answered (or the answer could not be read).
    Silent,
}

/// How a starting node begins, once discovery has decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovered {
    /// The peer serves: this node starts as its backup.
    PeerActive,
    /// The peer answered but does not serve: this node is chosen.
    ChosenActive,
    /// The peer did not answer three times: the seed's fail-safe start.
    PeerUnreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryStep {
    AskAgainAfterMs(u64),
    /// The peer serves with an older history than this node's: this node
    /// does not join under it (it would be resynchronised to the older
    /// state); the peer steps down when it hears of this node's history.
    WaitForOlderActive {
        peer_history: Position,
        after_ms: u64,
    },
    Decided(Discovered),
}

/// Whether a history whose newest change is `theirs` (of history id
/// `their_id`) is newer than that of a node serving (or whose newest
/// change is) in `epoch`, its newest change `mine` of `my_id`: it holds a
/// change of a later epoch, or more changes of that very epoch of another
/// history (a node whose store was emptied knows no epoch and takes its
/// first again, which the pair had used; positions of two histories say
/// nothing of each other, and the longer one serves).
pub fn newer_history(
    (theirs, their_id): (Position, HistoryId),
    epoch: u64,
    (mine, my_id): (Position, HistoryId),
) -> bool {
    theirs.epoch > epoch || (theirs.epoch == epoch && their_id != my_id && theirs.seq > mine.seq)
}

/// Unanswered queries after which a starting node takes the role.
pub const DISCOVERY_UNANSWERED_MAX: u32 = 3;
/// An inactive node whose peer stays silent this long starts again.
pub const INACTIVE_SILENT_MS: u64 = 3_000;

/// The seed's start-up: a live active peer makes this node backup, an
/// unreachable one makes it active; two nodes starting together agree that
/// SwitchoverServer A is active (B asks again). Where the seed is silent:
/// an active peer whose history is older than this node's (an emptied or
/// restored data directory started first) is not joined; it steps down.
#[derive(Debug, Clone)]
pub struct Discovery {
    this_is_b: bool,
    unanswered: u32,
    /// The newest change this node holds, and of which history.
    history: (Position, HistoryId),
}

impl Discovery {
    pub fn new(this_is_b: bool, history: Position, history_id: HistoryId) -> Discovery {
        Discovery {
            this_is_b,
            unanswered: 0,
            history: (history, history_id),
        }
    }

    pub fn answered(&mut self, said: PeerSaid) -> DiscoveryStep {
        match said {
            // An active node serving an epoch older than this node's newest
            // change is stale: this node served (or followed) after it (or
            // it serves this node's epoch again with less of another history).
            PeerSaid::Active {
                epoch,
                history,
                history_id,
            } if newer_history(self.history, epoch, (history, history_id)) => {
                DiscoveryStep::WaitForOlderActive {
                    peer_history: history,
                    after_ms: 250,
                }
            }
            PeerSaid::Active { .. } => DiscoveryStep::Decided(Discovered::PeerActive),
            PeerSaid::Starting { .. } if self.this_is_b => DiscoveryStep::AskAgainAfterMs(250),
            PeerSaid::Starting { .. } | PeerSaid::Other { .. } => {
                DiscoveryStep::Decided(Discovered::ChosenActive)
            }
            PeerSaid::SameLetter => DiscoveryStep::AskAgainAfterMs(1_000),
            PeerSaid::Silent => {
                self.unanswered += 1;
                if self.unanswered >= DISCOVERY_UNANSWERED_MAX {
                    DiscoveryStep::Decided(Discovered::PeerUnreachable)
                } else {
                    DiscoveryStep::AskAgainAfterMs(300)
                }
            }
        }
    }
}

/// This node as it stands when an answer arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Holds the active role in `epoch`.
    pub holding: bool,
    pub epoch: u64,
    /// The newest epoch this node has seen.
    pub max_seen: u64,
    /// Stepped down (the engine's Inactive).
    pub inactive: bool,
    /// A decided takeover waits, held back by the witness (the peer has the
    /// key).
    pub takeover_held_by_witness: bool,
    /// The newest change this node holds.
    pub history: Position,
    /// Which history this node's changes belong to.
    pub history_id: HistoryId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipCommand {
    /// A newer epoch serves: stop serving at once.
    StepDown { epoch: u64 },
    /// The active node answers: rejoin as its backup.
    Rejoin,
    /// Silent for [`INACTIVE_SILENT_MS`] while inactive: start again.
    StartAgain,
    /// The active node serves and keeps the witness's key: give the
    /// takeover up and watch it again.
    AbandonTakeover { epoch: u64 },
    /// This node serves, and its peer (not serving) holds a newer history:
    /// stop serving, so the newer history serves and this node's changes
    /// are healed into it rather than the newer ones resynchronised away.
    YieldToNewer { peer_history: Position },
}

#[derive(Debug, Clone, Default)]
pub struct Membership {
    inactive_silent_since: Option<u64>,
}

impl Membership {
    pub fn answered(
        &mut self,
        now_ms: u64,
        said: PeerSaid,
        me: Standing,
    ) -> Vec<MembershipCommand> {
        let mut commands = Vec::new();
        let silent = matches!(said, PeerSaid::Silent | PeerSaid::SameLetter);
        if silent && me.inactive {
            let since = *self.inactive_silent_since.get_or_insert(now_ms);
            if now_ms.saturating_sub(since) >= INACTIVE_SILENT_MS {
                self.inactive_silent_since = None;
                commands.push(MembershipCommand::StartAgain);
            }
        } else {
            self.inactive_silent_since = None;
        }
        // The peer holds a newer history: it served after this node's
        // epoch began (this node's store was emptied or restored from
        // older days), or it holds more of this epoch of another history
        // (this node's store was emptied and took the epoch again); the
        // other is healed into it.
        if let PeerSaid::Starting {
            history,
            history_id,
        }
        | PeerSaid::Other {
            history,
            history_id,
        } = said
            && me.holding
            && newer_history((history, history_id), me.epoch, (me.history, me.history_id))
        {
            commands.push(MembershipCommand::YieldToNewer {
                peer_history: history,
            });
        }
        if let PeerSaid::Active { epoch, .. } = said {
            if me.takeover_held_by_witness && epoch >= me.max_seen {
                commands.push(MembershipCommand::AbandonTakeover { epoch });
            } else if me.holding && epoch > me.epoch {
                commands.push(MembershipCommand::StepDown { epoch });
            } else if me.inactive && epoch >= me.max_seen {
                commands.push(MembershipCommand::Rejoin);
            }
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_follows_the_seed() {
        let mut a = Discovery::new(false, Position::ZERO, 0);
        assert_eq!(
            a.answered(PeerSaid::Starting {
                history: Position::ZERO,
                history_id: 0,
            }),
            DiscoveryStep::Decided(Discovered::ChosenActive)
        );
        let mut b = Discovery::new(true, Position::ZERO, 0);
        assert_eq!(
            b.answered(PeerSaid::Starting {
                history: Position::ZERO,
                history_id: 0,
            }),
            DiscoveryStep::AskAgainAfterMs(250)
        );
        assert_eq!(
            b.answered(PeerSaid::Active {
                epoch: 2,
                history: Position::new(2, 1),
                history_id: 0,
            }),
            DiscoveryStep::Decided(Discovered::PeerActive)
        );
        let mut lone = Discovery::new(true, Position::ZERO, 0);
        assert_eq!(
            lone.answered(PeerSaid::Silent),
            DiscoveryStep::AskAgainAfterMs(300)
        );
        assert_eq!(
            lone.answered(PeerSaid::SameLetter),
            DiscoveryStep::AskAgainAfterMs(1_000)
        );
        assert_eq!(
            lone.answered(PeerSaid::Silent),
            DiscoveryStep::AskAgainAfterMs(300)
        );
        assert_eq!(
            lone.answered(PeerSaid::Silent),
            DiscoveryStep::Decided(Discovered::PeerUnreachable)
        );
    }

    #[test]
    fn a_node_with_a_newer_history_does_not_join_an_older_active() {
        // An emptied data directory started first serves at epoch 2; the
        // node holding epoch 337's history waits for it to step down.
        let mut full = Discovery::new(false, Position::new(337, 9_000), 0);
        let older = PeerSaid::Active {
            epoch: 2,
            history: Position::new(2, 1),
            history_id: 0,
        };
        assert_eq!(
            full.answered(older),
            DiscoveryStep::WaitForOlderActive {
                peer_history: Position::new(2, 1),
                after_ms: 250
            }
        );
        // Once it has (it answers as inactive), this node is chosen.
        assert_eq!(
            full.answered(PeerSaid::Other {
                history: Position::new(2, 1),
                history_id: 0,
            }),
            DiscoveryStep::Decided(Discovered::ChosenActive)
        );
        // The same history, or an older one here, joins as before; so
        // does a node holding changes of the epoch before the active one's
        // (the old active after a takeover, its last changes not yet
        // replicated: they are healed in).
        let mut same = Discovery::new(true, Position::new(2, 1), 0);
        assert_eq!(
            same.answered(older),
            DiscoveryStep::Decided(Discovered::PeerActive)
        );
        // An active node serving this node's newest epoch again with fewer
        // changes of another history (its store was emptied) is not
        // joined; with more of them, or of this history, it is.
        let mut pairs = Discovery::new(false, Position::new(2, 107), 3);
        let emptied = |seq, history_id| PeerSaid::Active {
            epoch: 2,
            history: Position::new(2, seq),
            history_id,
        };
        assert_eq!(
            pairs.answered(emptied(9, 7)),
            DiscoveryStep::WaitForOlderActive {
                peer_history: Position::new(2, 9),
                after_ms: 250
            }
        );
        for longer_or_same in [emptied(500, 7), emptied(9, 3)] {
            assert_eq!(
                pairs.answered(longer_or_same),
                DiscoveryStep::Decided(Discovered::PeerActive)
            );
        }
        let mut old_active = Discovery::new(true, Position::new(4, 105), 0);
        assert_eq!(
            old_active.answered(PeerSaid::Active {
                epoch: 5,
                history: Position::new(4, 100),
                history_id: 0,
            }),
            DiscoveryStep::Decided(Discovered::PeerActive)
        );
    }

    #[test]
    fn an_active_node_yields_to_a_peer_holding_a_newer_history() {
        let mut m = Membership::default();
        let holding = Standing {
            holding: true,
            epoch: 2,
            max_seen: 2,
            history: Position::new(2, 1),
            ..standing()
        };
        assert_eq!(
            m.answered(
                0,
                PeerSaid::Starting {
                    history: Position::new(337, 9_000),
                    history_id: 0,
                },
                holding
            ),
            vec![MembershipCommand::YieldToNewer {
                peer_history: Position::new(337, 9_000)
            }]
        );
        // A peer of another history holding more changes of this very
        // epoch: this node's store was emptied and it took its first epoch
        // again. Of the same history, or with fewer changes, it stays.
        let emptied = Standing {
            history: Position::new(2, 9),
            history_id: 7,
            ..holding
        };
        let pairs_history = |seq, history_id| PeerSaid::Other {
            history: Position::new(2, seq),
            history_id,
        };
        assert_eq!(
            m.answered(0, pairs_history(107, 3), emptied),
            vec![MembershipCommand::YieldToNewer {
                peer_history: Position::new(2, 107)
            }]
        );
        assert_eq!(m.answered(0, pairs_history(107, 7), emptied), vec![]);
        assert_eq!(m.answered(0, pairs_history(5, 3), emptied), vec![]);
        // A backup behind or level with it changes nothing, nor one holding
        // more changes of an epoch before this node's (the old active, its
        // last changes healed in), and a node not serving has nothing to
        // yield.
        assert_eq!(
            m.answered(
                0,
                PeerSaid::Other {
                    history: Position::new(1, 500),
                    history_id: 0,
                },
                holding
            ),
            vec![]
        );
        assert_eq!(
            m.answered(
                0,
                PeerSaid::Other {
                    history: Position::new(2, 1),
                    history_id: 0,
                },
                holding
            ),
            vec![]
        );
        assert_eq!(
            m.answered(
                0,
                PeerSaid::Other {
                    history: Position::new(337, 9_000),
                    history_id: 0,
                },
                standing()
            ),
            vec![]
        );
    }

    fn standing() -> Standing {
        Standing {
            holding: false,
            epoch: 4,
            max_seen: 4,
            inactive: false,
            takeover_held_by_witness: false,
            history: Position::new(4, 10),
            history_id: 0,
        }
    }

    fn active(epoch: u64) -> PeerSaid {
        PeerSaid::Active {
            epoch,
            history: Position::new(epoch, 10),
            history_id: 0,
        }
    }

    #[test]
    fn a_newer_active_fences_and_an_inactive_node_rejoins() {
        let mut m = Membership::default();
        let holding = Standing {
            holding: true,
            ..standing()
        };
        assert_eq!(m.answered(0, active(4), holding), vec![]);
        assert_eq!(
            m.answered(0, active(5), holding),
            vec![MembershipCommand::StepDown { epoch: 5 }]
        );
        let inactive = Standing {
            inactive: true,
            max_seen: 5,
            ..standing()
        };
        assert_eq!(m.answered(0, active(3), inactive), vec![]);
        assert_eq!(
            m.answered(0, active(5), inactive),
            vec![MembershipCommand::Rejoin]
        );
    }

    #[test]
    fn an_inactive_node_starts_again_after_three_silent_seconds() {
        let mut m = Membership::default();
        let inactive = Standing {
            inactive: true,
            ..standing()
        };
        assert_eq!(m.answered(1_000, PeerSaid::Silent, inactive), vec![]);
        assert_eq!(m.answered(3_999, PeerSaid::Silent, inactive), vec![]);
        // An answer in between starts the count again.
        assert_eq!(
            m.answered(
                3_000,
                PeerSaid::Other {
                    history: Position::new(4, 10),
                    history_id: 0,
                },
                inactive
            ),
            vec![]
        );
        assert_eq!(m.answered(4_000, PeerSaid::Silent, inactive), vec![]);
        assert_eq!(
            m.answered(7_000, PeerSaid::Silent, inactive),
            vec![MembershipCommand::StartAgain]
        );
    }

    #[test]
    fn a_takeover_the_key_holds_back_is_abandoned_when_the_active_answers() {
        let mut m = Membership::default();
        let waiting = Standing {
            takeover_held_by_witness: true,
            ..standing()
        };
        assert_eq!(
            m.answered(0, active(4), waiting),
            vec![MembershipCommand::AbandonTakeover { epoch: 4 }]
        );
        assert_eq!(m.answered(0, PeerSaid::Silent, waiting), vec![]);
    }
}

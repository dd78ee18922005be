//! The live feed the API's WebSockets follow: interaction changes shown
//! once committed, kept for clients that resume by position.

use std::sync::Arc;

use duet_interactions::{Change, Command};
use duet_rsm::Position;
use duet_stream::Entry;

use crate::Mutation;
/// Applied changes a resuming client can be sent again, at most.
pub const RECENT_MAX: usize = 50_000;

/// Interaction changes for the API's live views. A change is applied
/// first and shown only once it is committed: durable here and, while the
/// backup is in sync, on the backup (the active node: when it may be
/// acknowledged; the backup: once it is durable here), so a client never
/// sees a change the pair may not keep. What is shown is published (the
/// runtime's broadcast to the sockets) and kept among the most recent, for
/// a client that resumes from the position it last saw, on either node.
pub struct Feed {
    /// Applied, not yet committed, in order.
    pending: std::collections::VecDeque<(Arc<Entry<Command>>, bool)>,
    recent: std::collections::VecDeque<Arc<Entry<Command>>>,
    /// Those of `recent` that changed nothing (a resend of a message id
    /// the transcript holds): kept for a heal, never shown to a client,
    /// which would see the message twice; and the chunks of content,
    /// never shown nor kept.
    no_ops: std::collections::BTreeSet<u64>,
    /// Every change up to this one is no longer in `recent`.
    forgotten_upto: u64,
    /// The last change committed.
    committed: Position,
    /// A defect put in on purpose (the pair simulation's own test).
    mutation: Option<Mutation>,
}

/// A client's start: where it stands, and what it missed (when all of it
/// is still here).
pub struct Resume {
    /// The position the socket's state or resume stands at: later
    /// published changes are the ones to send.
    pub position: Position,
    /// The last change committed: where a reader with no state of its
    /// own (the reporting stream) follows on from after a gap, so the
    /// changes applied and not yet committed still reach it.
    pub committed: Position,
    pub missed: Option<Vec<Arc<Entry<Command>>>>,
}

impl Feed {
    /// A feed that holds nothing up to `position` (a start, an install).
    pub fn new(position: Position) -> Feed {
        Feed {
            pending: Default::default(),
            recent: Default::default(),
            no_ops: Default::default(),
            forgotten_upto: position.seq,
            committed: position,
            mutation: None,
        }
    }

    /// Puts `mutation` in (the pair simulation's own test).
    pub fn mutate(&mut self, mutation: Mutation) {
        self.mutation = Some(mutation);
    }

    /// An applied change, shown once committed; `no_op` when it changed
    /// nothing. Returns it to show now only under
    /// [`Mutation::FeedBeforeCommit`].
    pub(crate) fn push(
        &mut self,
        entry: Arc<Entry<Command>>,
        no_op: bool,
    ) -> Option<Arc<Entry<Command>>> {
        let early =
            (self.mutation == Some(Mutation::FeedBeforeCommit) && !no_op).then(|| entry.clone());
        self.pending.push_back((entry, no_op));
        early
    }

    /// Every change up to `seq` is committed: returns those to show.
    pub fn commit(&mut self, seq: u64) -> Vec<Arc<Entry<Command>>> {
        let mut shown = Vec::new();
        while self.pending.front().is_some_and(|(e, _)| e.seq <= seq) {
            let Some((entry, no_op)) = self.pending.pop_front() else {
                break;
            };
            self.committed = Position::new(entry.epoch, entry.seq);
            if matches!(entry.change.change, Change::Chunk { .. }) {
                // Never shown, and not kept: its bytes are the state's,
                // where a heal takes them from (`Follower::heal_interactions`).
                self.no_ops.insert(entry.seq);
                continue;
            }
            if no_op {
                self.no_ops.insert(entry.seq);
            } else if self.mutation != Some(Mutation::FeedBeforeCommit) {
                shown.push(entry.clone());
            }
            self.recent.push_back(entry);
        }
        while self.recent.len() > RECENT_MAX {
            if let Some(old) = self.recent.pop_front() {
                // A start's feed holds logged changes before the rows it
                // cannot vouch for: what it forgets never lowers the mark.
                self.forgotten_upto = self.forgotten_upto.max(old.seq);
                // Chunks before it too, which `recent` does not keep.
                while self.no_ops.first().is_some_and(|&seq| seq <= old.seq) {
                    self.no_ops.pop_first();
                }
            }
        }
        shown
    }

    /// The recent changes, oldest first (committed ones, then those
    /// applied and not yet committed: a heal replays both).
    pub fn recent(&self) -> impl Iterator<Item = &Arc<Entry<Command>>> {
        self.recent
            .iter()
            .chain(self.pending.iter().map(|(e, _)| e))
    }

    /// Everything since the state was installed is forgotten; the
    /// runtime closes every socket following this feed
    /// ([`crate::Output::FeedReset`]): the state changed under it without
    /// passing through the feed, so its client reconnects and resumes
    /// from its position (vouched for, or the state again) rather than
    /// carry on past changes it never saw.
    ///
    /// Returns whether the sockets must close: always, but under
    /// [`Mutation::NoFeedResetAtInstall`].
    #[must_use]
    pub fn reset(&mut self, position: Position) -> bool {
        self.pending.clear();
        self.recent.clear();
        self.no_ops.clear();
        self.forgotten_upto = position.seq;
        self.committed = position;
        self.mutation != Some(Mutation::NoFeedResetAtInstall)
    }

    /// Whether change `seq`, among the recent ones, is never shown (it
    /// changed nothing, or is a chunk of content).
    pub fn no_op(&self, seq: u64) -> bool {
        self.no_ops.contains(&seq)
    }

    /// A client's start. It resumes after `after` only when this node
    /// holds that very change (same epoch at that sequence number) among
    /// its recent committed ones, or after [`Position::ZERO`] while it
    /// still holds every change since the first: a position of another
    /// epoch's change it never had, or one past what it has committed,
    /// gets the state again (`missed` is `None`, and `applied` is where
    /// that state stands).
    pub fn resume(&self, applied: Position, after: Option<Position>) -> Resume {
        let vouched = after.filter(|&at| {
            let Position { epoch, seq } = at;
            let by_seq_only = self.mutation == Some(Mutation::ResumeBySeqOnly);
            at == self.committed
                || (at == Position::ZERO && self.forgotten_upto == 0)
                || (seq > self.forgotten_upto
                    && self
                        .recent
                        .iter()
                        .any(|e| e.seq == seq && (e.epoch == epoch || by_seq_only)))
        });
        let missed = vouched.map(|Position { seq: after, .. }| {
            self.recent
                .iter()
                .filter(|e| e.seq > after && !self.no_ops.contains(&e.seq))
                .cloned()
                .collect()
        });
        Resume {
            position: if missed.is_some() {
                self.committed
            } else {
                applied
            },
            committed: self.committed,
            missed,
        }
    }
}

#[cfg(test)]
mod tests {
    use duet_interactions::change::{Actor, Change};

    use super::*;

    fn entry(epoch: u64, seq: u64) -> Arc<Entry<Command>> {
        Arc::new(Entry {
            epoch,
            seq,
            change: Command {
                client: format!("c{seq}"),
                at_ms: seq,
                actor: Actor::System,
                change: Change::Takeover {
                    recovery: Default::default(),
                },
            },
        })
    }

    #[test]
    fn a_change_is_shown_only_once_committed() {
        let mut feed = Feed::new(Position::new(3, 0));
        feed.push(entry(3, 1), false);
        feed.push(entry(3, 2), false);
        let shown = feed.commit(1);
        assert_eq!(shown.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
        // A resume from change 1 misses nothing that is not committed.
        let resume = feed.resume(Position::new(3, 2), Some(Position::new(3, 1)));
        assert_eq!(resume.position, Position::new(3, 1));
        assert_eq!(resume.missed.unwrap().len(), 0);
        assert_eq!(
            feed.commit(2).iter().map(|e| e.seq).collect::<Vec<_>>(),
            [2]
        );
    }

    #[test]
    fn a_change_that_changed_nothing_is_kept_but_never_shown() {
        let mut feed = Feed::new(Position::new(3, 0));
        feed.push(entry(3, 1), false);
        feed.push(entry(3, 2), true);
        feed.push(entry(3, 3), false);
        let shown = feed.commit(3);
        assert_eq!(shown.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(feed.recent().count(), 3, "a heal finds all of them");
        let missed = feed
            .resume(Position::new(3, 3), Some(Position::new(3, 1)))
            .missed
            .unwrap();
        assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn a_position_the_node_cannot_vouch_for_gets_the_state_again() {
        let mut feed = Feed::new(Position::new(3, 0));
        for seq in 1..=5 {
            feed.push(entry(3, seq), false);
        }
        feed.commit(5);
        let resumed = feed
            .resume(Position::new(3, 5), Some(Position::new(3, 2)))
            .missed
            .unwrap();
        assert_eq!(resumed.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        // The same number in another epoch (a node that failed showed its
        // own change 4), or past what is committed: the state again.
        assert!(
            feed.resume(Position::new(3, 5), Some(Position::new(2, 4)))
                .missed
                .is_none()
        );
        assert!(
            feed.resume(Position::new(3, 5), Some(Position::new(3, 9)))
                .missed
                .is_none()
        );
        assert_eq!(
            feed.resume(Position::new(3, 5), Some(Position::new(3, 9)))
                .position,
            Position::new(3, 5)
        );
    }

    #[test]
    fn a_reader_from_the_start_gets_every_change_while_all_are_held() {
        let mut feed = Feed::new(Position::ZERO);
        for seq in 1..=3 {
            feed.push(entry(3, seq), false);
        }
        feed.commit(2);
        let resumed = feed.resume(Position::new(3, 3), Some(Position::ZERO));
        let missed = resumed.missed.unwrap();
        assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(resumed.position, Position::new(3, 2));
        // A node started from its rows at change 5 no longer holds the
        // first changes: a gap, and a stream follows on from the last
        // committed change (4 of 6 applied), not from the state's.
        let mut started = Feed::new(Position::new(3, 3));
        for seq in 4..=6 {
            started.push(entry(3, seq), false);
        }
        started.commit(4);
        let gap = started.resume(Position::new(3, 6), Some(Position::ZERO));
        assert!(gap.missed.is_none());
        assert_eq!(gap.position, Position::new(3, 6));
        assert_eq!(gap.committed, Position::new(3, 4));
    }

    #[test]
    fn a_start_keeps_the_changes_before_its_rows_for_a_heal_but_resumes_no_client_there() {
        // The log held changes 1 to 7, the rows stood at 5: 6 and 7 were
        // replayed, 1 to 5 kept (their no-op marks unknown).
        let mut feed = Feed::new(Position::new(0, 5));
        for seq in 1..=7 {
            feed.push(entry(3, seq), false);
        }
        feed.commit(7);
        assert_eq!(feed.recent().count(), 7, "a heal finds all of them");
        assert!(
            feed.resume(Position::new(3, 7), Some(Position::new(3, 4)))
                .missed
                .is_none()
        );
        let resumed = feed
            .resume(Position::new(3, 7), Some(Position::new(3, 6)))
            .missed
            .unwrap();
        assert_eq!(resumed.iter().map(|e| e.seq).collect::<Vec<_>>(), [7]);
        // Forgetting the oldest two never makes a change before the rows
        // resumable.
        let last = 2 + RECENT_MAX as u64;
        for seq in 8..=last {
            feed.push(entry(3, seq), false);
        }
        feed.commit(last);
        assert_eq!(feed.forgotten_upto, 5);
        assert!(
            feed.resume(Position::new(3, last), Some(Position::new(3, 4)))
                .missed
                .is_none()
        );
    }

    #[test]
    fn a_reset_forgets_everything_before_its_position() {
        let mut feed = Feed::new(Position::new(3, 0));
        for seq in 1..=3 {
            feed.push(entry(3, seq), false);
        }
        feed.commit(3);
        assert!(feed.reset(Position::new(4, 10)));
        assert_eq!(feed.recent().count(), 0);
        let resumed = feed.resume(Position::new(4, 10), Some(Position::new(3, 2)));
        assert!(resumed.missed.is_none());
        assert_eq!(resumed.position, Position::new(4, 10));
    }
}

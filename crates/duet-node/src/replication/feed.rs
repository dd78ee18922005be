//! The live feed the API's WebSockets follow: interaction changes shown
//! once committed, kept for clients that resume by position.

use std::sync::Arc;

use duet_interactions::Command;
use duet_rsm::Position;
use duet_stream::Entry;
use tokio::sync::broadcast;

/// Applied interaction changes a slow WebSocket may fall behind by before
/// it is told to resume from the state.
pub const FEED_MAX: usize = 65_536;

/// Applied changes a resuming client can be sent again, at most.
pub const RECENT_MAX: usize = 50_000;

/// Interaction changes for the API's live views. A change is applied
/// first and shown only once it is committed: durable here and, while the
/// backup is in sync, on the backup (the active node: when it may be
/// acknowledged; the backup: once it is durable here), so a client never
/// sees a change the pair may not keep. What is shown goes out on a
/// broadcast and is kept among the most recent, for a client that resumes
/// from the position it last saw, on either node.
pub struct Feed {
    live: broadcast::Sender<Arc<Entry<Command>>>,
    /// Applied, not yet committed, in order.
    pending: std::collections::VecDeque<(Arc<Entry<Command>>, bool)>,
    recent: std::collections::VecDeque<Arc<Entry<Command>>>,
    /// Those of `recent` that changed nothing (a resend of a message id
    /// the transcript holds): kept for a heal, never shown to a client,
    /// which would see the message twice.
    no_ops: std::collections::BTreeSet<u64>,
    /// Every change up to this one is no longer in `recent`.
    forgotten_upto: u64,
    /// The last change committed.
    committed: Position,
}

/// A client's start: where it stands, what it missed (when all of it is
/// still here), and what comes next.
pub struct Follow {
    /// The position the socket's state or resume stands at: later changes
    /// on `feed` are the ones to send.
    pub position: Position,
    pub missed: Option<Vec<Arc<Entry<Command>>>>,
    pub feed: broadcast::Receiver<Arc<Entry<Command>>>,
}

impl Feed {
    /// A feed that holds nothing up to `position` (a start, an install).
    pub fn new(position: Position) -> Feed {
        Feed {
            live: broadcast::channel(FEED_MAX).0,
            pending: Default::default(),
            recent: Default::default(),
            no_ops: Default::default(),
            forgotten_upto: position.seq,
            committed: position,
        }
    }

    /// An applied change, shown once committed; `no_op` when it changed
    /// nothing.
    pub(super) fn push(&mut self, entry: Arc<Entry<Command>>, no_op: bool) {
        self.pending.push_back((entry, no_op));
    }

    /// Every change up to `seq` is committed: show it.
    pub fn commit(&mut self, seq: u64) {
        while self.pending.front().is_some_and(|(e, _)| e.seq <= seq) {
            let Some((entry, no_op)) = self.pending.pop_front() else {
                break;
            };
            self.committed = Position::new(entry.epoch, entry.seq);
            if no_op {
                self.no_ops.insert(entry.seq);
            } else {
                // No receiver is no error: nobody is watching, and the
                // entry is kept in `recent` for a resume.
                if self.live.send(entry.clone()).is_err() {
                    tracing::trace!(seq = entry.seq, "no live follower of the feed");
                }
            }
            self.recent.push_back(entry);
        }
        while self.recent.len() > RECENT_MAX {
            if let Some(old) = self.recent.pop_front() {
                // A start's feed holds logged changes before the rows it
                // cannot vouch for: what it forgets never lowers the mark.
                self.forgotten_upto = self.forgotten_upto.max(old.seq);
                self.no_ops.remove(&old.seq);
            }
        }
    }

    /// The recent changes, oldest first (committed ones, then those
    /// applied and not yet committed: a heal replays both).
    pub fn recent(&self) -> impl Iterator<Item = &Arc<Entry<Command>>> {
        self.recent
            .iter()
            .chain(self.pending.iter().map(|(e, _)| e))
    }

    /// Everything since the state was installed is forgotten, and every
    /// socket following this feed is closed: the state changed under it
    /// without passing through the feed, so its client reconnects and
    /// resumes from its position (vouched for, or the state again) rather
    /// than carry on past changes it never saw.
    pub fn reset(&mut self, position: Position) {
        self.live = broadcast::channel(FEED_MAX).0;
        self.pending.clear();
        self.recent.clear();
        self.no_ops.clear();
        self.forgotten_upto = position.seq;
        self.committed = position;
    }

    /// A client's start. It resumes after `after` only when this node
    /// holds that very change (same epoch at that sequence number) among
    /// its recent committed ones: a position of another epoch's change it
    /// never had, or one past what it has committed, gets the state again
    /// (`missed` is `None`, and `applied` is where that state stands).
    pub(super) fn follow(&self, applied: Position, after: Option<Position>) -> Follow {
        let vouched = after.filter(|&at| {
            let Position { epoch, seq } = at;
            at == self.committed
                || (seq > self.forgotten_upto
                    && self.recent.iter().any(|e| e.seq == seq && e.epoch == epoch))
        });
        let missed = vouched.map(|Position { seq: after, .. }| {
            self.recent
                .iter()
                .filter(|e| e.seq > after && !self.no_ops.contains(&e.seq))
                .cloned()
                .collect()
        });
        Follow {
            position: if missed.is_some() {
                self.committed
            } else {
                applied
            },
            missed,
            feed: self.live.subscribe(),
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
        let mut watching = feed.follow(Position::new(3, 0), None).feed;
        feed.push(entry(3, 1), false);
        feed.push(entry(3, 2), false);
        assert!(watching.try_recv().is_err(), "nothing shown before commit");
        feed.commit(1);
        assert_eq!(watching.try_recv().unwrap().seq, 1);
        assert!(watching.try_recv().is_err());
        // A resume from change 1 misses nothing that is not committed.
        let follow = feed.follow(Position::new(3, 2), Some(Position::new(3, 1)));
        assert_eq!(follow.position, Position::new(3, 1));
        assert_eq!(follow.missed.unwrap().len(), 0);
        feed.commit(2);
        assert_eq!(watching.try_recv().unwrap().seq, 2);
    }

    #[test]
    fn a_position_the_node_cannot_vouch_for_gets_the_state_again() {
        let mut feed = Feed::new(Position::new(3, 0));
        for seq in 1..=5 {
            feed.push(entry(3, seq), false);
        }
        feed.commit(5);
        let resumed = feed
            .follow(Position::new(3, 5), Some(Position::new(3, 2)))
            .missed
            .unwrap();
        assert_eq!(resumed.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        // The same number in another epoch (a node that failed showed its
        // own change 4), or past what is committed: the state again.
        assert!(
            feed.follow(Position::new(3, 5), Some(Position::new(2, 4)))
                .missed
                .is_none()
        );
        assert!(
            feed.follow(Position::new(3, 5), Some(Position::new(3, 9)))
                .missed
                .is_none()
        );
        assert_eq!(
            feed.follow(Position::new(3, 5), Some(Position::new(3, 9)))
                .position,
            Position::new(3, 5)
        );
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
            feed.follow(Position::new(3, 7), Some(Position::new(3, 4)))
                .missed
                .is_none()
        );
        let resumed = feed
            .follow(Position::new(3, 7), Some(Position::new(3, 6)))
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
            feed.follow(Position::new(3, last), Some(Position::new(3, 4)))
                .missed
                .is_none()
        );
    }

    #[test]
    fn a_reset_closes_the_sockets_following_the_feed() {
        let mut feed = Feed::new(Position::new(3, 0));
        let mut watching = feed.follow(Position::new(3, 0), None).feed;
        feed.reset(Position::new(4, 10));
        assert!(matches!(
            watching.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
    }
}

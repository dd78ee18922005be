//! The backup's side of the stream: apply in order, once, and acknowledge.

use duet_rsm::Position;

use crate::Entry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowerCommand<T> {
    /// Apply (and persist) this change to the shadow state.
    Apply(Entry<T>),
    /// Tell the active node everything up to `seq` is applied.
    Ack { seq: u64 },
    /// A gap: ask the active node to send again from after `applied`.
    CatchUp { applied: Position },
}

/// Entries after an unclosed gap before the follower asks again (its
/// first ask, or the resend, may have been dropped on the way).
pub const CATCH_UP_REASK_ENTRIES: u64 = 1_000;

pub struct Follower {
    applied: Position,
    /// The gap asked about (after `applied.seq` then) and the entries seen
    /// since that did not close it: one ask per gap, not one per entry,
    /// since each ask makes the active node send its whole window again.
    asked: Option<(u64, u64)>,
}

impl Follower {
    /// A follower that has applied everything up to `applied`.
    pub fn new(applied: Position) -> Follower {
        Follower {
            applied,
            asked: None,
        }
    }

    pub fn applied(&self) -> Position {
        self.applied
    }

    /// An entry from the active node. Old or repeated entries are ignored;
    /// an entry after a gap asks to catch up instead of being applied,
    /// once per gap (again after [`CATCH_UP_REASK_ENTRIES`] more).
    pub fn receive<T>(&mut self, entry: Entry<T>) -> Vec<FollowerCommand<T>> {
        let seq = self.applied.seq;
        if entry.seq <= seq {
            return Vec::new();
        }
        if entry.seq > seq + 1 {
            match &mut self.asked {
                Some((after, since)) if *after == seq && *since < CATCH_UP_REASK_ENTRIES => {
                    *since += 1;
                    return Vec::new();
                }
                asked => *asked = Some((seq, 0)),
            }
            return vec![FollowerCommand::CatchUp {
                applied: self.applied,
            }];
        }
        self.applied = Position::new(entry.epoch, entry.seq);
        let ack = FollowerCommand::Ack { seq: entry.seq };
        vec![FollowerCommand::Apply(entry), ack]
    }

    /// After a resynchronisation to `upto`, the stream continues from there.
    pub fn resynchronised(&mut self, upto: Position) {
        self.applied = upto;
        self.asked = None;
    }
}

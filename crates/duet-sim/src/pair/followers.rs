//! Clients following a node's live feed, as the WebSockets do: they
//! subscribe with the position they last saw, take what they missed (when
//! the node vouches for that position) or the state again, then each
//! change as it is shown; a reset or a crash of their node drops them, and
//! they follow again, on whichever node serves.

use duet_rsm::{Position, StateMachine};

use super::node::{Core, Node};

/// One client following a feed.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    /// The node and feed generation it follows, while it does.
    pub on: Option<(usize, u64)>,
    /// Where it stands: the last change it saw, or the position of the
    /// state it took, whichever came last (what it resumes from).
    pub at: Option<Position>,
    /// The last change it was shown on this subscription.
    shown: Option<Position>,
}

/// Whether `replica` holds the change at `at` (that epoch at that number).
pub fn holds(replica: &Core, at: Position) -> bool {
    replica.epoch_of(at.seq) == Some(at.epoch)
}

impl Follower {
    /// Follows node `n` again from where it stands. A node resumes a
    /// client only from a change it holds at that very position: any
    /// other would skip what it holds there. A node that is down or
    /// paused takes no subscription: the client tries again later.
    pub fn follow(&mut self, n: usize, node: &Node) -> Result<(), String> {
        let Some(up) = node.up.as_ref().filter(|up| up.pause.is_none()) else {
            return Ok(());
        };
        let replica = &up.replica;
        let feed = &replica.interactions().feed;
        let applied = replica.interactions().state.position();
        let resume = feed.resume(applied, self.at);
        match (resume.missed, self.at) {
            (Some(missed), Some(at)) => {
                // Position zero is no change but the start of every
                // history: a feed vouches for it only while it holds every
                // change since the first, and then shows everything after it.
                if at != Position::ZERO && !holds(replica, at) {
                    return Err(format!(
                        "{} resumed a client from change {at}, which it does not hold: the client skips what it holds there",
                        node.name
                    ));
                }
                self.shown = None;
                for entry in missed {
                    self.see(node, Position::new(entry.epoch, entry.seq))?;
                }
            }
            // The state again: the client starts over from it.
            _ => {
                self.at = Some(resume.position);
                self.shown = None;
            }
        }
        self.on = Some((n, up.feed_generation));
        Ok(())
    }

    /// A change its node's feed shows: sent to the client when it is past
    /// where the client stands (the socket sends only later changes), and
    /// never twice, out of order, or past one the client has not seen:
    /// no interaction change the node's state applied between where it
    /// stands and this one, unless it changed nothing (the feed shows
    /// neither those nor configuration changes).
    pub fn see(&mut self, node: &Node, at: Position) -> Result<(), String> {
        if let Some(last) = self.shown
            && last.seq >= at.seq
        {
            return Err(format!(
                "a client following {} was shown change {at} after {last}",
                node.name
            ));
        }
        let Some(stands) = self.at else {
            return Err(format!(
                "a client was shown change {at} by {} before it followed",
                node.name
            ));
        };
        if at.seq <= stands.seq {
            return Ok(());
        }
        if let Some(up) = node.up.as_ref() {
            let ix = up.replica.interactions();
            let unseen = (stands.seq + 1..at.seq)
                .find(|&seq| ix.state.epoch_of(seq).is_some() && !ix.feed.no_op(seq));
            if let Some(unseen) = unseen {
                return Err(format!(
                    "a client following {} was shown change {at} after {stands}: the feed skipped change {unseen}",
                    node.name
                ));
            }
        }
        self.shown = Some(at);
        self.at = Some(at);
        Ok(())
    }
}

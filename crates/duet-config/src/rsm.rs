//! The tree as a replicated state machine: an [`Edit`] at a position is a
//! [`Change`]; a change of another state passes over the tree.

use duet_rsm::{ClientId, Limits, Position, StateMachine};

use crate::object::OBJECT_MAX_BYTES;
use crate::{Edit, HistoryRecord, Tree, TreeError};

/// History records kept by default (Duet History Retention); the node
/// compacts to the value in effect.
static HISTORY_DEFAULT: std::sync::LazyLock<usize> =
    std::sync::LazyLock::new(|| duet_params::ServerParams::default().history_retention);

impl StateMachine for Tree {
    type Change = Edit;
    type Applied = HistoryRecord;
    type Error = TreeError;

    fn check(&self, edit: &Edit) -> Result<(), TreeError> {
        Tree::check(self, &edit.op)
    }

    fn apply(&mut self, at: Position, edit: &Edit) -> Result<HistoryRecord, TreeError> {
        Tree::apply(self, &edit.clone().into_change(at.epoch, at.seq))
    }

    fn pass(&mut self, at: Position) {
        self.skip(at.epoch, at.seq);
    }

    fn position(&self) -> Position {
        self.last_applied()
    }

    fn epoch_of(&self, seq: u64) -> Option<u64> {
        Tree::epoch_of(self, seq)
    }

    fn recent_clients(&self, n: usize) -> Vec<(ClientId, u64)> {
        Tree::recent_clients(self, n)
    }

    fn limits(&self) -> Limits {
        Limits {
            entries_max: usize::MAX,
            change_bytes_max: OBJECT_MAX_BYTES,
            history_max: *HISTORY_DEFAULT,
        }
    }
}

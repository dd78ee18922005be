//! What a heal could not make as a change: a conflict record.

use serde::{Deserialize, Serialize};

use crate::change::{Actor, Change};

/// A change node `node` acknowledged (as change `seq` of epoch `epoch`)
/// while both nodes served, which the winner's state overrides: the
/// winner's state stands (the side whose history serves keeps who holds
/// an interaction and its state), and this record keeps what was done on
/// the other side, with why it was not made, for people to see and redo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct HealConflict {
    pub node: String,
    pub epoch: u64,
    pub seq: u64,
    pub client: String,
    pub actor: Actor,
    /// When it was done on `node`, unix ms.
    pub at_ms: u64,
    // `Change` holds a `HealConflict`: collecting schemas stops here.
    #[cfg_attr(feature = "schema", schema(no_recursion))]
    pub change: Change,
    /// Why the state here refused it.
    pub why: String,
}

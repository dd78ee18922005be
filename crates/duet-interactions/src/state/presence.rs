//! Whether a chat's customer is still there. The node that serves says
//! when a chat's last customer socket closes (`CustomerPresence`, present
//! false) and when one opens again; the time the customer went is kept
//! in the interaction's attribute [`CUSTOMER_AWAY_SINCE`] (so it travels
//! with the interaction, in snapshots too), moved on by every message the
//! customer sends meanwhile. A queued chat whose customer has been away
//! for the directory's `customer_gone_abandon_ms` is ended by the router
//! as abandoned.

use super::{Applied, Interactions};
use crate::model::InteractionState;

/// The attribute holding when the customer went (unix ms), while gone.
pub const CUSTOMER_AWAY_SINCE: &str = "customer_away_since_ms";

/// How long a queued chat waits for a customer with no socket and no
/// message before it ends as abandoned, unless the settings say otherwise.
pub const ABANDON_AFTER_MS: u64 = 300_000;

impl Interactions {
    pub(crate) fn customer_presence(
        &mut self,
        id: &str,
        present: bool,
        at: u64,
        out: &mut Applied,
    ) {
        let changed = self.edit(id, |ix| {
            if ix.is_closed() {
                return false;
            }
            if present {
                ix.attributes.remove(CUSTOMER_AWAY_SINCE).is_some()
            } else {
                ix.attributes.insert(
                    CUSTOMER_AWAY_SINCE.into(),
                    compact_str::ToCompactString::to_compact_string(&at),
                );
                true
            }
        });
        if changed == Some(true) {
            out.interactions.insert(id.to_string());
        }
    }

    /// A customer's message while away: the clock starts again from it.
    pub(crate) fn customer_said_something(&mut self, id: &str, at: u64) {
        let away = self
            .live
            .interactions
            .get(id)
            .is_some_and(|ix| ix.attributes.contains_key(CUSTOMER_AWAY_SINCE));
        if away {
            self.edit(id, |ix| {
                ix.attributes.insert(
                    CUSTOMER_AWAY_SINCE.into(),
                    compact_str::ToCompactString::to_compact_string(&at),
                );
            });
        }
    }
}

/// When a queued interaction's customer went, if it did.
pub(crate) fn away_since(ix: &crate::model::Interaction) -> Option<u64> {
    if ix.state != InteractionState::Queued {
        return None;
    }
    ix.attributes
        .get(CUSTOMER_AWAY_SINCE)
        .and_then(|at| at.parse().ok())
}

//! Says on the stream when a chat's customer is gone (its last socket on
//! this node closed while the chat waits in its queue) and back (a socket
//! opened while it was gone), so the router can end a chat nobody waits
//! for (`duet_interactions::state::presence`). Only the active node's
//! changes are made; on the backup they are refused and dropped.

use duet_interactions::model::InteractionState;
use duet_interactions::state::presence::CUSTOMER_AWAY_SINCE;
use duet_interactions::{Actor, Change, Interaction};

use super::ask;
use crate::replication::IxRequest;
use crate::shared::Shared;

async fn chat(shared: &Shared, id: &str) -> Option<Interaction> {
    let wanted = id.to_string();
    ask(shared, |reply| IxRequest::Get { id: wanted, reply })
        .await
        .ok()
        .flatten()
}

async fn say(shared: &Shared, id: &str, present: bool) {
    let change = Change::CustomerPresence {
        id: id.to_string(),
        present,
    };
    if let Err(refusal) = super::change(shared, None, Actor::Customer, change).await {
        tracing::debug!(
            "the customer's presence in {id} was not said: {}",
            refusal.message
        );
    }
}

/// A customer socket opened: the customer is back, if it had gone.
pub(super) async fn came_back(shared: &Shared, id: &str) {
    if chat(shared, id)
        .await
        .is_some_and(|ix| ix.attributes.contains_key(CUSTOMER_AWAY_SINCE))
    {
        say(shared, id, true).await;
    }
}

/// The chat's last customer socket closed: gone, if the chat still waits.
pub(super) async fn went(shared: &Shared, id: &str) {
    if chat(shared, id)
        .await
        .is_some_and(|ix| ix.state == InteractionState::Queued)
    {
        say(shared, id, false).await;
    }
}

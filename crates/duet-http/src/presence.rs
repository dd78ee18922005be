//! Presence on the stream, said by the sockets open on this node: an
//! agent's first desktop open attaches its desktop and the last one closed
//! detaches it (its grace period starts); a chat's customer whose last
//! socket closed while the chat waits in its queue is gone, and back when
//! one opens again (the router ends a chat nobody waits for,
//! `duet_interactions::state::presence`). Said on the active node only; on
//! a backup a socket is a view, and a takeover attaches the desktops open
//! there (replication reads them).
//!
//! One task per agent or chat records the presence, and records it until
//! the stream says what this node's sockets are: a busy node (thousands of
//! sockets coming back at once after a switchover) is asked again, never
//! given up on, so no desktop left open is recorded detached (its agent
//! would be logged out at the end of the grace) and no customer who left
//! is kept waiting for. The task records what is wanted when it writes, so
//! a socket closed and opened again is never recorded out of order.

use std::sync::Arc;
use std::time::Duration;

use duet_interactions::model::InteractionState;
use duet_interactions::state::presence::CUSTOMER_AWAY_SINCE;
use duet_interactions::{Actor, Change, Interaction};

use super::{ask, change};
use duet_node::replication::{IxRequest, Present, SocketsHere};
use duet_node::shared::Shared;

/// The first wait before asking a busy node again; each wait doubles up
/// to [`RETRY_MAX_MS`], with up to half as much again at random so the
/// sockets of a burst do not all ask at once.
const RETRY_FIRST_MS: u64 = 100;
const RETRY_MAX_MS: u64 = 1_000;
/// A presence still not recorded is said in the log every so many
/// attempts (about every ten seconds once the waits reach their most).
const WARN_EVERY_ATTEMPTS: u64 = 10;

/// One socket open on this node, for as long as it lives.
pub(super) struct Presence {
    shared: Arc<Shared>,
    who: Present,
}

impl Presence {
    /// Counts the socket open.
    pub(super) fn open(shared: &Arc<Shared>, who: Present) -> Presence {
        changed(shared, &who, |here| here.open += 1);
        Presence {
            shared: shared.clone(),
            who,
        }
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        changed(&self.shared, &self.who, |here| {
            here.open = here.open.saturating_sub(1)
        });
    }
}

/// Counts a socket opened or closed; starts the recording task when none
/// runs.
fn changed(shared: &Arc<Shared>, who: &Present, count: impl FnOnce(&mut SocketsHere)) {
    let start = shared.presences.lock().is_ok_and(|mut presences| {
        let here = presences.entry(who.clone()).or_default();
        count(here);
        !std::mem::replace(&mut here.recording, true)
    });
    if start {
        tokio::spawn(record(shared.clone(), who.clone()));
    }
}

/// Whether `who` has a socket open here: `None` once the stream says what
/// `recorded` says, or once this node is not the active node; the task
/// then ends, and forgets one with no socket open.
fn still_to_record(shared: &Shared, who: &Present, recorded: Option<bool>) -> Option<bool> {
    let mut presences = shared.presences.lock().ok()?;
    let here = presences.get_mut(who)?;
    let present = here.open > 0;
    if recorded != Some(present) && shared.view.holding() {
        return Some(present);
    }
    here.recording = false;
    if here.open == 0 {
        presences.remove(who);
    }
    None
}

/// The change that says `who` is `present`, or `None` when the stream
/// already says so: a customer is said back only when it had gone, and
/// gone only while its chat waits in its queue.
async fn change_saying(shared: &Shared, who: &Present, present: bool) -> Option<Change> {
    match who {
        Present::Desktop(agent) => Some(match present {
            true => Change::DesktopAttached {
                agent: agent.clone(),
            },
            false => Change::DesktopDetached {
                agent: agent.clone(),
            },
        }),
        Present::Customer(id) => {
            let chat = chat(shared, id).await?;
            let to_say = match present {
                true => chat.attributes.contains_key(CUSTOMER_AWAY_SINCE),
                false => chat.state == InteractionState::Queued,
            };
            to_say.then(|| Change::CustomerPresence {
                id: id.clone(),
                present,
            })
        }
    }
}

async fn chat(shared: &Shared, id: &str) -> Option<std::sync::Arc<Interaction>> {
    let wanted = id.to_string();
    ask(shared, |reply| IxRequest::Get { id: wanted, reply })
        .await
        .ok()
        .flatten()
}

/// Records `who`'s presence until the stream says what this node's
/// sockets are, or this node is not the active node.
async fn record(shared: Arc<Shared>, who: Present) {
    let actor = match who {
        Present::Desktop(_) => Actor::System,
        Present::Customer(_) => Actor::Customer,
    };
    let mut recorded = None;
    while let Some(present) = still_to_record(&shared, &who, recorded) {
        // One client id for the change however often it is asked: an
        // answer lost after the change was made is not made twice.
        let client = format!("presence/{}", rand::random::<u64>());
        let mut wait_ms = RETRY_FIRST_MS;
        let mut attempt = 0u64;
        let settled = loop {
            attempt += 1;
            // Asked afresh each attempt: what the stream says may have
            // changed while the node was busy.
            let Some(presence) = change_saying(&shared, &who, present).await else {
                break true;
            };
            match change(
                &shared,
                Some(client.clone()),
                actor.clone(),
                presence.clone(),
            )
            .await
            {
                Ok(_) => break true,
                // Not the active node any more (`still_to_record` ends
                // the task). An active node not serving for a moment (its
                // lease renewing late under load) is asked again.
                Err(_) if !shared.view.holding() => break false,
                // Refused for what it says (an agent no longer in the
                // directory, a chat that ended): asking again would not
                // change that.
                Err(refusal) if !refusal.status.is_server_error() => {
                    tracing::warn!("presence {presence:?} not recorded: {}", refusal.message);
                    break true;
                }
                Err(refusal) => {
                    if attempt.is_multiple_of(WARN_EVERY_ATTEMPTS) {
                        tracing::warn!(
                            "presence {presence:?} not yet recorded after {attempt} attempts: {}",
                            refusal.message
                        );
                    }
                    let jitter_ms = rand::random_range(0..=wait_ms / 2);
                    tokio::time::sleep(Duration::from_millis(wait_ms + jitter_ms)).await;
                    wait_ms = (wait_ms * 2).min(RETRY_MAX_MS);
                }
            }
        };
        if settled {
            recorded = Some(present);
        }
    }
}

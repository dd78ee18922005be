//! An agent's desktops on this node and their presence on the stream: the
//! first desktop open attaches the agent's desktop, the last one closed
//! detaches it (its grace period starts). Said on the active node only;
//! on a node that has lost its active node a desktop stays a view, and
//! the takeover attaches it (replication reads who has one open here).
//!
//! One task per agent records the presence, and records it until the
//! stream says what this node's desktops are: a busy node (thousands of
//! desktops coming back at once after a switchover) is asked again, never
//! given up on, so no desktop left open is recorded detached (its agent
//! would be logged out at the end of the grace). The task records what is
//! wanted when it writes, so a desktop closed and opened again is never
//! recorded out of order.

use std::sync::Arc;
use std::time::Duration;

use duet_interactions::{Actor, Change};

use super::change;
use crate::replication::DesktopsHere;
use crate::shared::Shared;

/// The first wait before asking a busy node again; each wait doubles up
/// to [`RETRY_MAX_MS`], with up to half as much again at random so the
/// desktops of a burst do not all ask at once.
const RETRY_FIRST_MS: u64 = 100;
const RETRY_MAX_MS: u64 = 1_000;
/// A presence still not recorded is said in the log every so many
/// attempts (about every ten seconds once the waits reach their most).
const WARN_EVERY_ATTEMPTS: u64 = 10;

/// One desktop socket open on this node, for as long as it lives.
pub(super) struct Presence {
    shared: Arc<Shared>,
    agent: String,
}

impl Presence {
    /// Counts the desktop open; the active node to move to when this node
    /// is a backup linked to it (the desktop is then told to go there).
    pub(super) fn open(shared: &Arc<Shared>, agent: &str) -> (Presence, Option<String>) {
        changed(shared, agent, |here| here.open += 1);
        let presence = Presence {
            shared: shared.clone(),
            agent: agent.to_string(),
        };
        let moved = linked_backup(shared).then(|| shared.view.status().peer.name);
        (presence, moved)
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        changed(&self.shared, &self.agent, |here| {
            here.open = here.open.saturating_sub(1)
        });
    }
}

/// Counts a desktop of `agent` opened or closed; starts the agent's
/// recording task when none runs.
fn changed(shared: &Arc<Shared>, agent: &str, count: impl FnOnce(&mut DesktopsHere)) {
    let start = shared.desktops.lock().is_ok_and(|mut desktops| {
        let here = desktops.entry(agent.to_string()).or_default();
        count(here);
        !std::mem::replace(&mut here.recording, true)
    });
    if start {
        tokio::spawn(record(shared.clone(), agent.to_string()));
    }
}

/// Whether `agent` has a desktop open here: `None` once the stream says
/// what `recorded` says, or once this node is not the active node (the
/// desktop is a view here, and a takeover attaches it); the task then
/// ends, and forgets an agent with no desktop open.
fn still_to_record(shared: &Shared, agent: &str, recorded: Option<bool>) -> Option<bool> {
    let mut desktops = shared.desktops.lock().ok()?;
    let here = desktops.get_mut(agent)?;
    let attached = here.open > 0;
    if recorded != Some(attached) && shared.view.holding() {
        return Some(attached);
    }
    here.recording = false;
    if here.open == 0 {
        desktops.remove(agent);
    }
    None
}

/// Records `agent`'s presence until the stream says what this node's
/// desktops are, or this node is not the active node.
async fn record(shared: Arc<Shared>, agent: String) {
    let mut recorded = None;
    while let Some(attached) = still_to_record(&shared, &agent, recorded) {
        let presence = match attached {
            true => Change::DesktopAttached {
                agent: agent.clone(),
            },
            false => Change::DesktopDetached {
                agent: agent.clone(),
            },
        };
        // One client id for the change however often it is asked: an
        // answer lost after the change was made is not made twice.
        let client = format!("desktop/{}", rand::random::<u64>());
        let mut wait_ms = RETRY_FIRST_MS;
        let mut attempt = 0u64;
        let settled = loop {
            attempt += 1;
            match change(
                &shared,
                Some(client.clone()),
                Actor::System,
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
                // directory): asking again would not change that.
                Err(refusal) if !refusal.status.is_server_error() => {
                    tracing::warn!(
                        "desktop presence {presence:?} not recorded: {}",
                        refusal.message
                    );
                    break true;
                }
                Err(refusal) => {
                    if attempt.is_multiple_of(WARN_EVERY_ATTEMPTS) {
                        tracing::warn!(
                            "desktop presence {presence:?} not yet recorded after {attempt} attempts: {}",
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
            recorded = Some(attached);
        }
    }
}

/// This node is a backup linked to its active node, which answers it: a
/// desktop here is a view only while the backup cannot reach the active
/// node (one that came during a link outage, while the active node does
/// not answer, or in a switchover's first moments), and belongs there
/// once it can.
pub(super) fn linked_backup(shared: &Shared) -> bool {
    let status = shared.view.status();
    status.role == duet_link::protocol::Role::Backup
        && !status.serving
        && status.main_link_up
        && status.state != duet_switchover::State::Reconnecting
}

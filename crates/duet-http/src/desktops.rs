//! An agent's desktops on this node: each is counted present
//! (`presence.rs` records it on the stream), and one opened on a backup
//! that its active node answers is told to move there.

use std::sync::Arc;

use super::presence::Presence;
use duet_node::replication::Present;
use duet_node::shared::Shared;

/// Counts a desktop of `agent` open for as long as the guard lives; the
/// active node to move to when this node is a backup linked to it (the
/// desktop is then told to go there).
pub(super) fn open(shared: &Arc<Shared>, agent: &str) -> (Presence, Option<String>) {
    let presence = Presence::open(shared, Present::Desktop(agent.to_string()));
    let moved = linked_backup(shared).then(|| shared.view.status().peer.name);
    (presence, moved)
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

//! The rules a simulated pair keeps: as it runs (what a feed shows), and
//! once it is healed and quiet (nothing acknowledged lost or doubled, one
//! state at one position, nothing shown that the pair does not keep).

use duet_interactions::Interaction;
use duet_interactions::model::Content;
use duet_rsm::{Position, StateMachine};

use super::World;
use super::clients::{Op, sim_path};
use super::followers::holds;
use super::node::{Node, Role};

/// A feed shows changes in order, each once, within one generation (a
/// reset starts another: its sockets are closed and resume).
pub fn shown(node: &Node, generation: u64, at: Position) -> Result<(), String> {
    let last = node
        .published
        .iter()
        .rev()
        .find(|(g, _, _)| *g == generation)
        .map(|(_, p, _)| *p);
    match last {
        Some(last) if last.seq >= at.seq => Err(format!(
            "{}'s feed showed change {at} after {last}: a change twice or out of order",
            node.name
        )),
        _ => Ok(()),
    }
}

/// Node `n` acknowledges change `seq`: only while the other node has not
/// taken over after it did and still holds that role (the world's record
/// of takeovers, not what the lease, promise or gate under test believe),
/// or once the other node holds the change (its backup acknowledged it). A
/// later active node that has since crashed or stepped down acknowledges
/// nothing more; what it did acknowledge, the checks after the heal look
/// for.
pub fn acknowledged(nodes: &[Node; 2], n: usize, seq: u64) -> Result<(), String> {
    let (Some(here), Some(other)) = (nodes[n].up.as_ref(), nodes[1 - n].up.as_ref()) else {
        return Ok(());
    };
    // Acknowledging while not active is the clients' check.
    let (Role::Active { epoch }, Role::Active { epoch: later }) = (here.role, other.role) else {
        return Ok(());
    };
    if other.takeover < here.takeover {
        return Ok(());
    }
    let held = here
        .replica
        .epoch_of(seq)
        .is_some_and(|e| holds(&other.replica, Position::new(e, seq)));
    if held {
        return Ok(());
    }
    Err(format!(
        "{} acknowledged change {seq} serving epoch {epoch}, but {} took over after it, in epoch {later}, and does not hold it",
        nodes[n].name,
        nodes[1 - n].name
    ))
}

/// Once the backup caught up on the link now up, every change it applied
/// is the active node's at that number, in the state it belongs to: each
/// state's history on the backup is a prefix of the active node's
/// (checked from where the last step's check ended).
pub fn backup_prefix(world: &mut World) -> Result<(), String> {
    let (Some(from), Some(active)) = (world.link.prefix_checked, world.active()) else {
        return Ok(());
    };
    let backup = 1 - active;
    let (Some(a), Some(b)) = (
        world.nodes[active].up.as_ref(),
        world.nodes[backup].up.as_ref(),
    ) else {
        return Ok(());
    };
    let (ra, rb) = (&a.replica, &b.replica);
    let (ia, ib) = (&ra.interactions().state, &rb.interactions().state);
    let upto = rb.position().seq;
    for seq in from + 1..=upto {
        let differs = |here: Option<u64>, there: Option<u64>| here.is_some() && here != there;
        let (state, here, there) = if differs(rb.tree().epoch_of(seq), ra.tree().epoch_of(seq)) {
            (
                "configuration",
                rb.tree().epoch_of(seq),
                ra.tree().epoch_of(seq),
            )
        } else if differs(ib.epoch_of(seq), ia.epoch_of(seq)) {
            ("interaction", ib.epoch_of(seq), ia.epoch_of(seq))
        } else {
            continue;
        };
        return Err(format!(
            "the backup {} holds {state} change {seq} of epoch {here:?}, and the active node {} of epoch {there:?}: the backup's history is not a prefix of the active's",
            world.nodes[backup].name, world.nodes[active].name,
        ));
    }
    world.link.prefix_checked = Some(upto.max(from));
    Ok(())
}

/// The healed, quiet pair.
pub fn after_heal(world: &mut World) -> Result<(), String> {
    let nodes = &world.nodes;
    let (Some(a), Some(b)) = (nodes[0].up.as_ref(), nodes[1].up.as_ref()) else {
        return Err("a node is down after the heal".into());
    };
    let (ra, rb) = (&a.replica, &b.replica);
    if ra.position() != rb.position() {
        return Err(format!(
            "the nodes stand at {} and {}",
            ra.position(),
            rb.position()
        ));
    }
    let root = |r: &super::node::Core| r.tree().digests().get(duet_config::digest::Bucket::ROOT);
    if root(ra) != root(rb) {
        return Err("the configuration trees differ at one position".into());
    }
    let (ia, ib) = (&ra.interactions().state, &rb.interactions().state);
    if ia.digest() != ib.digest() {
        return Err("the interaction states differ at one position".into());
    }
    for (n, pending) in world.clients.ops.iter().enumerate() {
        if pending.acked.is_none() {
            if pending.refused.is_some() {
                world.report.refused += 1;
            }
            continue;
        }
        world.report.acknowledged += 1;
        for node in nodes {
            let Some(up) = node.up.as_ref() else {
                continue;
            };
            kept(&up.replica, &pending.op, &pending.client).map_err(|e| {
                format!(
                    "acknowledged operation {n} ({:?}) on {}: {e}",
                    pending.op, node.name
                )
            })?;
        }
    }
    // A change a node showed while it served alone may have been made
    // again on the other node by a heal, at another position: kept, under
    // its client id (or the heal's).
    let made: std::collections::BTreeSet<String> = StateMachine::recent_clients(ia, usize::MAX)
        .into_iter()
        .map(|(client, _)| client)
        .collect();
    for node in nodes {
        for (_, at, client) in &node.published {
            if holds(ra, *at) {
                continue;
            }
            let carried = client.as_ref().is_none_or(|client| {
                made.contains(client)
                    || made.contains(&duet_interactions::heal::healed_client(client))
            });
            if !carried {
                return Err(format!(
                    "{}'s feed showed change {at} (client id {client:?}), which the healed pair does not hold",
                    node.name
                ));
            }
        }
    }
    world.report.steps = world.step;
    world.report.position = ra.position();
    Ok(())
}

/// The acknowledged `op` (made under `client`) is in the replica's state,
/// once.
fn kept(replica: &super::node::Core, op: &Op, client: &str) -> Result<(), String> {
    match op {
        Op::Put { name, value } => {
            let object = replica.tree().get(&sim_path(name));
            let held = object.and_then(|o| o.attributes.get("v")).cloned();
            (held == Some(value.to_string()))
                .then_some(())
                .ok_or_else(|| format!("holds {held:?}"))
        }
        Op::Chat { id } => chat(replica, id).map(|_| ()),
        Op::Say {
            chat: id,
            message_id,
            ..
        } => {
            let ix = chat(replica, id)?;
            let Content::Transcript(messages) = &ix.content else {
                return Err("the chat has no transcript".into());
            };
            match messages.iter().filter(|m| &m.id == message_id).count() {
                1 => Ok(()),
                n => Err(format!("its transcript holds the message {n} times")),
            }
        }
        // The file once, and its bytes held whole.
        Op::Share {
            chat: id,
            message_id,
            seed,
        } => {
            let ix = chat(replica, id)?;
            let file_id = format!("{id}/{message_id}");
            let files: Vec<_> = ix.files.iter().filter(|f| f.id == file_id).collect();
            let [file] = files[..] else {
                return Err(format!("it holds the file {} times", files.len()));
            };
            let state = &replica.interactions().state;
            (state.content(&file.content) == Some(super::clients::file_bytes(*seed)))
                .then_some(())
                .ok_or_else(|| "its bytes are not held whole".to_string())
        }
        // The agent's changes: made, or kept as a conflict record where a
        // heal found the state here had moved on (under the heal's client
        // id, which leaves the original free for a retry the agent's
        // desktop still sends: both may stand).
        Op::Login | Op::Accept { .. } | Op::Hangup { .. } => {
            let healed = duet_interactions::heal::healed_client(client);
            let state = &replica.interactions().state;
            StateMachine::recent_clients(state, usize::MAX)
                .into_iter()
                .any(|(c, _)| c == client || c == healed)
                .then_some(())
                .ok_or_else(|| "neither made nor kept as a conflict record".to_string())
        }
    }
}

fn chat<'a>(replica: &'a super::node::Core, id: &str) -> Result<&'a Interaction, String> {
    replica
        .interactions()
        .state
        .get(id)
        .ok_or_else(|| "the chat is gone".to_string())
}

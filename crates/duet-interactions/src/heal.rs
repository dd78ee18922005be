//! The heal of the interaction state: after both nodes served, the
//! changes the other node acknowledged while it served come to the node
//! that serves now, which plans what to make of each (sans-IO; the
//! configuration tree's twin is `duet_config::heal`). Nothing
//! acknowledged is dropped:
//!
//! - a change the state here accepts is made as it was;
//! - a message or file it refuses (the chat moved on here) joins the
//!   transcript as a fact ([`Change::Healed`]), in its place by time;
//! - a routing decision it refuses is passed over: this node routed the
//!   interaction itself;
//! - any other change it refuses (the interaction is held, or ended,
//!   differently here) is kept as a conflict record
//!   ([`Change::HealConflict`]), the state here standing.
//!
//! Each is made once by client id: a fact or a conflict record takes a
//! client id of its own ([`healed_client`]), so a page offered again
//! finds it made, and the original stays free for a retry the other
//! side's client may still send.

use duet_rsm::StateMachine;
use duet_stream::Entry;

use crate::model::HealConflict;
use crate::{Actor, Change, Command, Interactions};

/// The client id a change takes when a heal keeps it as a fact or a
/// conflict record.
pub fn healed_client(client: &str) -> String {
    format!("{client}~healed")
}

/// What a heal makes of one of the other node's changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Made as it was.
    Make(Command),
    /// A message or file the state here refused, made as a fact.
    Fact(Command),
    /// A change the state here overrode, made as a conflict record.
    Conflict(Command, Overridden),
    /// A routing decision passed over.
    PassedOver,
    /// Cannot be kept even as a fact or a conflict record.
    Unkept { client: String, why: String },
}

/// A change the state here overrode, kept as a conflict record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overridden {
    pub client: String,
    pub epoch: u64,
    pub seq: u64,
    pub why: String,
}

/// Decides what to make of `entry`, a change `node` made while both
/// served that this node lacks, against `state` as it stands (after the
/// page's earlier changes: the caller makes each before deciding the
/// next). `known(client)`: a change with that client id was made here.
/// `None`: it is made here already.
pub fn decide(
    state: &Interactions,
    node: &str,
    entry: Entry<Command>,
    known: impl Fn(&str) -> bool,
) -> Option<Decision> {
    // A file is a fact only with its content held here (a heal sends the
    // chunks first; one refused for room leaves it a conflict record).
    let is_fact = |change: &Change| match change {
        Change::Message { .. } => true,
        Change::FileShared { content, .. } => state.holds(content),
        _ => false,
    };
    if known(&healed_client(&entry.change.client)) {
        return None;
    }
    // A chunk held here for a while yet is not stored again.
    if let Change::Chunk { name, .. } = &entry.change.change
        && state.chunk_kept(name, entry.change.at_ms)
    {
        return None;
    }
    // A message or file whose client's retry was made here too still
    // comes, under its healed client id: the copy taken first gives the
    // message its place.
    let retried = known(&entry.change.client);
    if retried && !is_fact(&entry.change.change) {
        return None;
    }
    let mut command = entry.change;
    if retried {
        command.client = healed_client(&command.client);
    }
    let Err(refused) = state.check(&command) else {
        return Some(Decision::Make(command));
    };
    if matches!(command.change, Change::Chunk { .. }) {
        // Content this state has no room for: the change that refers
        // to it is refused in its turn and kept as a conflict.
        return None;
    }
    let why = refused.to_string();
    let mut overridden = None;
    command.change = if is_fact(&command.change) {
        Change::Healed {
            node: node.to_string(),
            fact: Box::new(command.change),
        }
    } else if command.actor == Actor::Router {
        return Some(Decision::PassedOver);
    } else {
        overridden = Some(Overridden {
            client: command.client.clone(),
            epoch: entry.epoch,
            seq: entry.seq,
            why: why.clone(),
        });
        Change::HealConflict(Box::new(HealConflict {
            node: node.to_string(),
            epoch: entry.epoch,
            seq: entry.seq,
            client: command.client.clone(),
            actor: command.actor.clone(),
            at_ms: command.at_ms,
            change: command.change,
            why,
        }))
    };
    if !retried {
        command.client = healed_client(&command.client);
    }
    if let Err(e) = state.check(&command) {
        return Some(Decision::Unkept {
            client: command.client,
            why: e.to_string(),
        });
    }
    Some(match overridden {
        Some(overridden) => Decision::Conflict(command, overridden),
        None => Decision::Fact(command),
    })
}

//! What a heal keeps that a state would refuse as a change: a message
//! taken on the other node joins a transcript that moved on, in its place
//! by time, with a status line; what the state here overrides is a
//! conflict record, in the digest and the snapshot like everything else;
//! and what a heal decides for each change the other node offers.

mod support;

use duet_interactions::heal::{self, Decision};
use duet_interactions::model::{Content, HealConflict, Sender};
use duet_interactions::{Actor, Change, Command, Interactions, MediaType};
use duet_stream::Entry;
use support::*;

fn message(id: &str, message_id: &str, sender: Sender) -> Change {
    Change::Message {
        id: id.into(),
        message_id: message_id.into(),
        sender,
        body: format!("text of {message_id}"),
    }
}

fn transcript(h: &Harness, id: &str) -> Vec<(String, String)> {
    match &h.state.get(id).unwrap().content {
        Content::Transcript(t) => t.iter().map(|m| (m.id.clone(), m.body.clone())).collect(),
        other => panic!("not a chat: {other:?}"),
    }
}

/// ann (and bob) logged in, and a chat connected to ann.
fn chat_with_ann() -> Harness {
    let mut h = Harness::new(directory());
    h.sys(1_000, login("ann"));
    h.sys(1_000, login("bob"));
    h.sys(2_000, create("chat", MediaType::Chat, "user:ann"));
    h.route(2_000);
    h.run(
        2_500,
        Actor::Agent("ann".into()),
        Change::Accept {
            id: "chat".into(),
            agent: "ann".into(),
        },
    )
    .unwrap();
    h
}

#[test]
fn a_message_taken_elsewhere_joins_a_closed_chat_and_an_overridden_change_is_a_record() {
    let mut h = chat_with_ann();
    h.sys(3_000, message("chat", "m1", Sender::Customer));
    h.sys(5_000, Change::Disconnect { id: "chat".into() });
    // As a change, the other node's message is refused here: the chat
    // moved on.
    let late = message("chat", "m2", Sender::Agent("ann".into()));
    assert!(
        h.run(4_000, Actor::Agent("ann".into()), late.clone())
            .is_err()
    );
    // As a fact it joins, before the disconnect it preceded, followed by
    // where it was taken.
    h.run(
        4_000,
        Actor::Agent("ann".into()),
        Change::Healed {
            node: "b".into(),
            fact: Box::new(late),
        },
    )
    .unwrap();
    let lines = transcript(&h, "chat");
    let m2 = lines
        .iter()
        .position(|(id, _)| id == "m2")
        .expect("m2 kept");
    assert!(
        lines[m2 + 1]
            .1
            .contains("taken on b while the nodes were apart")
    );
    assert!(lines.iter().position(|(id, _)| id == "m1").unwrap() < m2);
    // Only messages and files are facts.
    assert!(
        h.run(
            4_100,
            Actor::System,
            Change::Healed {
                node: "b".into(),
                fact: Box::new(Change::Hold { id: "chat".into() }),
            },
        )
        .is_err()
    );
    // An overridden change is kept as a record.
    let before = h.state.digest();
    h.sys(
        6_000,
        Change::HealConflict(Box::new(HealConflict {
            node: "b".into(),
            epoch: 3,
            seq: 40,
            client: "hold-1".into(),
            actor: Actor::Agent("ann".into()),
            at_ms: 4_200,
            change: Change::Hold { id: "chat".into() },
            why: "chat is closed".into(),
        })),
    );
    assert_ne!(before, h.state.digest(), "the record is in the digest");
    assert_eq!(h.state.conflicts().count(), 1);
    // A backup made from a snapshot, or by replay, holds the same.
    let mut shadow = Interactions::new(directory(), duet_interactions::DEFAULT_LIMITS);
    shadow
        .install(
            &h.state.snapshot_pages(256),
            duet_rsm::Position::new(1, h.seq),
        )
        .unwrap();
    assert_eq!(shadow.digest(), h.state.digest());
    assert_eq!(shadow.conflicts().count(), 1);
    let mut replayed = Interactions::new(directory(), duet_interactions::DEFAULT_LIMITS);
    for (at, cmd) in &h.applied {
        use duet_rsm::StateMachine;
        replayed.apply(*at, cmd).unwrap();
    }
    assert_eq!(replayed.digest(), h.state.digest());
}

#[test]
fn a_status_line_from_a_change_taken_earlier_keeps_the_transcript_in_time_order() {
    let mut h = chat_with_ann();
    h.sys(3_000, message("chat", "m1", Sender::Customer));
    h.sys(6_000, message("chat", "m3", Sender::Customer));
    // A heal makes, after m3, a conference bob joined at 4,000 on the
    // other node, then a message taken there at 5,000: both take their
    // place by time.
    h.run(
        4_000,
        Actor::Agent("ann".into()),
        Change::Conference {
            id: "chat".into(),
            agent: "bob".into(),
        },
    )
    .unwrap();
    h.sys(5_000, message("chat", "m2", Sender::Customer));
    let ids: Vec<String> = transcript(&h, "chat")
        .into_iter()
        .filter(|(id, _)| id.starts_with('m'))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["m1", "m2", "m3"]);
    let times: Vec<u64> = match &h.state.get("chat").unwrap().content {
        Content::Transcript(t) => t.iter().map(|m| m.at_ms).collect(),
        _ => unreachable!(),
    };
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

/// A reply one node acknowledged alone, then took again later on the
/// other node (its agent, not finding it there, sent it again with the
/// same id): when the first copy arrives with the heal, the reply stays
/// once, at the time it was first taken, before the replies sent after
/// it was acknowledged; as a fact too, once the chat has closed. A later
/// copy moves nothing.
#[test]
fn a_message_held_already_takes_the_place_of_its_earliest_copy() {
    let mut h = chat_with_ann();
    let ann = || Sender::Agent("ann".into());
    let as_ann = || Actor::Agent("ann".into());
    h.sys(3_000, message("chat", "c1", Sender::Customer));
    h.sys(3_100, message("chat", "c2", Sender::Customer));
    // The retries of r1 and r2, taken after r3 here.
    h.sys(3_500, message("chat", "r3", ann()));
    h.sys(6_000, message("chat", "r1", ann()));
    h.sys(6_100, message("chat", "r2", ann()));
    // The first copy of r1, taken at 3,200 on the other node.
    h.run(3_200, as_ann(), message("chat", "r1", ann()))
        .expect("a repeat by its sender is taken");
    // After the chat closed, r2's first copy comes as a fact.
    h.sys(7_000, Change::Disconnect { id: "chat".into() });
    assert!(
        h.run(3_300, as_ann(), message("chat", "r2", ann()))
            .is_err()
    );
    h.run(
        3_300,
        as_ann(),
        Change::Healed {
            node: "b".into(),
            fact: Box::new(message("chat", "r2", ann())),
        },
    )
    .unwrap();
    let ids: Vec<String> = transcript(&h, "chat")
        .into_iter()
        .filter(|(id, _)| !id.starts_with('~'))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["c1", "c2", "r1", "r2", "r3"]);
    let times: Vec<u64> = match &h.state.get("chat").unwrap().content {
        Content::Transcript(t) => t.iter().map(|m| m.at_ms).collect(),
        _ => unreachable!(),
    };
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // A later copy changes nothing.
    let before = h.state.get("chat").cloned();
    h.run(
        9_000,
        as_ann(),
        Change::Healed {
            node: "b".into(),
            fact: Box::new(message("chat", "r1", ann())),
        },
    )
    .unwrap();
    assert_eq!(h.state.get("chat").cloned(), before);
}

/// A change `b` made while both served, at `(epoch, seq)`, as its heal page
/// carries it.
fn from_b(epoch: u64, seq: u64, client: &str, actor: Actor, change: Change) -> Entry<Command> {
    Entry {
        epoch,
        seq,
        change: Command::new(client, 2_600, actor, change),
    }
}

#[test]
fn a_heal_decides_each_change_against_the_state_here() {
    let h = chat_with_ann();
    let nobody = |_: &str| false;
    // Accepted as it is: made as it was, under its own client id.
    let said = from_b(
        3,
        9,
        "c1",
        Actor::Customer,
        message("chat", "m1", Sender::Customer),
    );
    assert_eq!(
        heal::decide(&h.state, "b", said.clone(), nobody),
        Some(Decision::Make(said.change.clone()))
    );
    // Made here already (a page offered again): nothing.
    let made = |client: &str| client == "c1~healed";
    assert_eq!(heal::decide(&h.state, "b", said, made), None);
    // The router's offer of a chat ann holds here: passed over.
    let offer = from_b(3, 10, "r1", Actor::Router, offer("chat", "bob", 9_000));
    assert_eq!(
        heal::decide(&h.state, "b", offer, nobody),
        Some(Decision::PassedOver)
    );
    // bob's accept of it: a conflict record under a client id of its own.
    let accept = Change::Accept {
        id: "chat".into(),
        agent: "bob".into(),
    };
    let taken = from_b(3, 11, "a1", Actor::Agent("bob".into()), accept);
    match heal::decide(&h.state, "b", taken, nobody) {
        Some(Decision::Conflict(command, lost)) => {
            assert_eq!(command.client, "a1~healed");
            assert!(matches!(command.change, Change::HealConflict(_)));
            assert_eq!((lost.client.as_str(), lost.epoch, lost.seq), ("a1", 3, 11));
        }
        other => panic!("a conflict record, not {other:?}"),
    }
    // A message for a chat this state never had: kept nowhere, said so.
    let stray = from_b(
        3,
        12,
        "c2",
        Actor::Customer,
        message("gone", "m2", Sender::Customer),
    );
    assert!(matches!(
        heal::decide(&h.state, "b", stray, nobody),
        Some(Decision::Unkept { client, .. }) if client == "c2~healed"
    ));
}

#[test]
fn a_message_refused_here_is_made_as_a_fact_and_a_retried_one_under_the_heals_client_id() {
    let mut h = chat_with_ann();
    h.sys(5_000, Change::Disconnect { id: "chat".into() });
    let late = from_b(
        3,
        9,
        "c1",
        Actor::Customer,
        message("chat", "m1", Sender::Customer),
    );
    match heal::decide(&h.state, "b", late.clone(), |_| false) {
        Some(Decision::Fact(command)) => {
            assert_eq!(command.client, "c1~healed");
            assert!(matches!(command.change, Change::Healed { .. }));
        }
        other => panic!("a fact, not {other:?}"),
    }
    // The client retried it here too: the copy taken first still gives the
    // message its place, under the heal's client id.
    match heal::decide(&h.state, "b", late, |client| client == "c1") {
        Some(Decision::Fact(command)) => assert_eq!(command.client, "c1~healed"),
        other => panic!("a fact, not {other:?}"),
    }
}

/// A file the chat here moved on from is a fact only with its content
/// held here (a heal sends its chunks first); without it, it is a
/// conflict record, never a file naming bytes nobody holds.
#[test]
fn a_file_refused_here_is_a_fact_only_with_its_content_held() {
    use duet_interactions::model::FileRef;
    let mut h = chat_with_ann();
    h.sys(5_000, Change::Disconnect { id: "chat".into() });
    let file = |content: duet_interactions::model::Blob| Change::FileShared {
        id: "chat".into(),
        message_id: "f1".into(),
        sender: Sender::Customer,
        file: FileRef {
            file_id: "chat/f1".into(),
            name: "scan.pdf".into(),
            size_bytes: content.size_bytes,
            content_type: "application/pdf".into(),
        },
        content,
    };
    let (missing, _) = duet_interactions::model::blob::split(&b"not stored here"[..].into());
    let offered = from_b(3, 9, "f", Actor::Customer, file(missing));
    assert!(
        matches!(
            heal::decide(&h.state, "b", offered, |_| false),
            Some(Decision::Conflict(..))
        ),
        "a conflict record"
    );
    let held = h.store(5_100, b"stored here");
    let offered = from_b(3, 10, "g", Actor::Customer, file(held));
    assert!(
        matches!(
            heal::decide(&h.state, "b", offered, |_| false),
            Some(Decision::Fact(..))
        ),
        "a fact"
    );
}

use duet_interactions::change::{Actor, Change, Command};
use duet_interactions::model::{MediaType, Recovery};
use proptest::prelude::*;

use super::*;
use crate::database::{AnyStore, Database};
use crate::ingest::Ingest;
use crate::sql::tests::places;
use crate::store::ReportStore;
use crate::testing::{accept, agent, create, disconnect, offer};

/// Applies `(at_ms, actor, change)` in order from seq 1; every row.
fn run(fold: &mut Fold, steps: &[(u64, Actor, Change)]) -> Vec<Row> {
    run_from(fold, 1, steps)
}

/// As [`run`], from seq `first`.
fn run_from(fold: &mut Fold, first: u64, steps: &[(u64, Actor, Change)]) -> Vec<Row> {
    steps
        .iter()
        .enumerate()
        .flat_map(|(i, (at_ms, actor, change))| {
            let command = Command::new("", *at_ms, actor.clone(), change.clone());
            fold.apply(Position::new(1, i as u64 + first), &command)
        })
        .collect()
}

fn events(rows: &[Row]) -> Vec<(QueueEventKind, u64)> {
    rows.iter()
        .filter_map(|r| match r {
            Row::QueueEvent(e) => Some((e.kind, e.duration_ms)),
            _ => None,
        })
        .collect()
}

fn last_summary(rows: &[Row], id: &str) -> Summary {
    rows.iter()
        .rev()
        .find_map(|r| match r {
            Row::Summary(s) if s.id == id => Some((**s).clone()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn a_chat_answered_ended_and_wrapped_up() {
    let mut fold = Fold::default();
    let rows = run(
        &mut fold,
        &[
            (1_000, Actor::System, create("c1", MediaType::Chat)),
            (2_000, Actor::Router, offer("c1", "ann")),
            (4_000, agent("ann"), accept("c1", "ann")),
            (9_000, Actor::Customer, disconnect("c1")),
            (
                12_000,
                agent("ann"),
                Change::WrapUp {
                    id: "c1".into(),
                    code: "sale".into(),
                    notes: "n".into(),
                },
            ),
        ],
    );
    use QueueEventKind::*;
    assert_eq!(
        events(&rows),
        [
            (Offered, 0),
            (Answered, 3_000),
            (Handled, 5_000),
            (Wrapped, 3_000)
        ]
    );
    let agents: Vec<Option<&str>> = rows
        .iter()
        .filter_map(|r| match r {
            Row::QueueEvent(e) => Some(e.agent.as_deref()),
            _ => None,
        })
        .collect();
    assert_eq!(agents, [None, Some("ann"), Some("ann"), Some("ann")]);
    let s = last_summary(&rows, "c1");
    assert_eq!(s.wait_ms, Some(3_000));
    assert_eq!((s.talk_ms, s.wrap_ms), (5_000, 3_000));
    assert_eq!(s.disposition, Some(Disposition::CustomerEnded));
    assert_eq!((s.ended_ms, s.closed_ms), (Some(9_000), Some(12_000)));
    assert_eq!(s.position, Position::new(1, 5));
    let kinds: Vec<&str> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Segment(g) => Some(g.kind.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["queued", "offered", "connected", "wrap_up"]);
    assert!(
        rows.iter()
            .any(|r| matches!(r, Row::WrapUp(w) if w.code == "sale"))
    );
    assert_eq!(
        fold.open().count(),
        0,
        "a closed interaction leaves the fold"
    );
}

#[test]
fn a_customer_who_leaves_while_waiting_abandons() {
    let mut fold = Fold::default();
    let rows = run(
        &mut fold,
        &[
            (1_000, Actor::System, create("c1", MediaType::Chat)),
            (2_000, Actor::Router, offer("c1", "ann")),
            (7_000, Actor::Customer, disconnect("c1")),
            (8_000, Actor::System, create("c2", MediaType::Chat)),
            (9_000, Actor::User("sue".into()), disconnect("c2")),
        ],
    );
    use QueueEventKind::*;
    assert_eq!(
        events(&rows),
        [(Offered, 0), (Abandoned, 6_000), (Offered, 0)]
    );
    assert_eq!(
        last_summary(&rows, "c2").disposition,
        Some(Disposition::EndedInQueue)
    );
}

#[test]
fn a_conferenced_agent_who_disconnects_only_leaves() {
    let mut fold = Fold::default();
    let rows = run(
        &mut fold,
        &[
            (1_000, Actor::System, create("c1", MediaType::Chat)),
            (2_000, Actor::Router, offer("c1", "ann")),
            (3_000, agent("ann"), accept("c1", "ann")),
            (
                4_000,
                agent("ann"),
                Change::Conference {
                    id: "c1".into(),
                    agent: "bob".into(),
                },
            ),
            (5_000, agent("bob"), disconnect("c1")),
        ],
    );
    let s = last_summary(&rows, "c1");
    assert!(s.ended_ms.is_none());
    assert_eq!(s.agents, ["ann", "bob"]);
}

#[test]
fn a_takeover_keeps_what_recovery_keeps_and_ends_the_rest_by_failover() {
    let mut fold = Fold::default();
    let no_chat = Recovery {
        chat: false,
        ..Recovery::default()
    };
    let rows = run(
        &mut fold,
        &[
            (1_000, Actor::System, create("chat", MediaType::Chat)),
            (1_000, Actor::System, create("mail", MediaType::Email)),
            (2_000, Actor::Router, offer("mail", "ann")),
            (3_000, Actor::System, Change::Takeover { recovery: no_chat }),
        ],
    );
    let chat = last_summary(&rows, "chat");
    assert_eq!(chat.disposition, Some(Disposition::EndedByFailover));
    assert_eq!(chat.closed_ms, Some(3_000));
    let mail = last_summary(&rows, "mail");
    assert_eq!(mail.seqno, 1);
    assert_eq!(mail.phase, Phase::Queued, "an offer goes back to the queue");
    assert!(events(&rows).contains(&(QueueEventKind::Lost, 0)));
}

#[test]
fn agent_activity_carries_reason_codes() {
    let mut fold = Fold::default();
    let rows = run(
        &mut fold,
        &[
            (
                1_000,
                agent("ann"),
                Change::AgentLogin {
                    agent: "ann".into(),
                    media: vec![MediaType::Chat],
                },
            ),
            (
                2_000,
                Actor::System,
                Change::AgentLogout {
                    agent: "ann".into(),
                    media: vec![],
                    reason_code: 50002,
                },
            ),
        ],
    );
    let activity: Vec<(String, Option<String>)> = rows
        .iter()
        .filter_map(|r| match r {
            Row::Activity(a) => Some((a.kind.clone(), a.reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        activity,
        [
            ("login".into(), None),
            ("logout".into(), Some("50002".into()))
        ]
    );
}

/// Random traffic over a few interactions and agents: any change, some
/// out of place (the fold ignores what does not fit, as the state
/// refuses it).
pub(crate) fn traffic() -> impl Strategy<Value = Vec<(u64, Actor, Change)>> {
    let ids = prop::sample::select(vec!["i1", "i2", "i3", "i4"]);
    let agents = prop::sample::select(vec!["ann", "bob"]);
    let step = (ids, agents, 0..11u8, 0..3u8).prop_map(|(id, a, kind, who)| {
        let actor = match who {
            0 => Actor::Customer,
            1 => agent(a),
            _ => Actor::Router,
        };
        let change = match kind {
            0 => create(id, MediaType::Chat),
            1 => offer(id, a),
            2 => accept(id, a),
            3 => Change::Reject {
                id: id.into(),
                agent: a.into(),
            },
            4 => disconnect(id),
            5 => Change::WrapUp {
                id: id.into(),
                code: "x".into(),
                notes: String::new(),
            },
            6 => Change::Takeover {
                recovery: Recovery::default(),
            },
            7 => Change::Forget { id: id.into() },
            8 => Change::Message {
                id: id.into(),
                message_id: format!("m{}", a.len() + usize::from(who)),
                sender: duet_interactions::model::Sender::Customer,
                body: format!("from {a} to {id}"),
            },
            9 => Change::Conference {
                id: id.into(),
                agent: a.into(),
            },
            _ => Change::AgentStatus {
                agent: a.into(),
                status: duet_interactions::model::ChosenStatus::Available,
            },
        };
        (actor, change)
    });
    prop::collection::vec(step, 1..60).prop_map(|steps| {
        steps
            .into_iter()
            .enumerate()
            .map(|(i, (actor, change))| (1_000 * i as u64, actor, change))
            .collect()
    })
}

pub(crate) fn frames(steps: &[(u64, Actor, Change)]) -> Vec<crate::frame::Frame> {
    steps
        .iter()
        .enumerate()
        .map(|(i, (at_ms, actor, change))| crate::frame::Frame::Change {
            at: Position::new(1, i as u64 + 1),
            command: Box::new(Command::new("", *at_ms, actor.clone(), change.clone())),
        })
        .collect()
}

/// Every table, as text, to compare two databases.
fn dump(store: &AnyStore) -> Vec<i64> {
    [
        "interactions",
        "segments",
        "wrap_ups",
        "agent_activity",
        "queue_events",
        "archive_headers",
        "archive_entries",
    ]
    .iter()
    .map(|t| store.count(t).unwrap())
    .chain([store.cursor().unwrap().map_or(0, |c| c.seq as i64)])
    .collect()
}

fn ingest_all(database: &Database, frames: &[crate::frame::Frame]) -> Ingest<AnyStore> {
    let mut ingest = Ingest::new(database.open().unwrap()).unwrap();
    ingest.connected("a", 0).unwrap();
    ingest
        .frame(
            crate::frame::Frame::Gap {
                position: Position::new(1, 0),
                at_ms: 0,
            },
            0,
        )
        .unwrap();
    for f in frames {
        ingest.frame(f.clone(), 0).unwrap();
    }
    ingest
}

/// A writer stopped after any change and started again, sent the
/// changes again from any earlier point (a node resends from the
/// position it was given, read in runs of any length), ends with the
/// database a writer that never stopped has: no row twice, none
/// missing, rows equal. On every database.
#[test]
fn a_writer_that_restarts_and_is_sent_changes_again_writes_each_once() {
    for place in places() {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
        let cases = (
            traffic(),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            1..8usize,
        );
        let result = runner.run(&cases, |(steps, stop, back, batch)| {
            let all = frames(&steps);
            let once = ingest_all(&place.fresh(), &all);

            let twice = place.fresh();
            let stop = stop.index(all.len() + 1);
            drop(ingest_all(&twice, &all[..stop]));
            let from = back.index(stop + 1);
            let mut again = Ingest::new(twice.open().unwrap()).unwrap();
            again.connected("b", 1).unwrap();
            again
                .frame(
                    crate::frame::Frame::Resume {
                        position: Position::new(1, stop as u64),
                        at_ms: 0,
                    },
                    1,
                )
                .unwrap();
            // Sent again in runs, as a writer behind reads them.
            for run in all[from..].chunks(batch) {
                again.frames(run.iter().cloned(), 1).unwrap();
            }
            prop_assert_eq!(dump(once.store()), dump(again.store()));
            prop_assert_eq!(
                once.store().queue_events(0, i64::MAX as u64).unwrap(),
                again.store().queue_events(0, i64::MAX as u64).unwrap()
            );
            let mut open_once = once.store().open_interactions().unwrap();
            let mut open_again = again.store().open_interactions().unwrap();
            open_once.sort_by(|a, b| a.id.cmp(&b.id));
            open_again.sort_by(|a, b| a.id.cmp(&b.id));
            prop_assert_eq!(open_once, open_again);
            prop_assert!(
                again.store().gaps().unwrap().is_empty(),
                "a resume is no gap"
            );
            // Every interaction archived alike, whole.
            for id in ["i1", "i2", "i3", "i4"] {
                prop_assert_eq!(
                    once.store().archived(id).unwrap().assemble(),
                    again.store().archived(id).unwrap().assemble()
                );
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}

#[test]
fn a_position_the_node_cannot_vouch_for_is_a_gap_and_a_new_coverage_span() {
    for place in places() {
        a_gap_and_a_new_coverage_span(&place.fresh());
    }
}

fn a_gap_and_a_new_coverage_span(database: &Database) {
    let steps = [(5, Actor::System, create("c1", MediaType::Chat))];
    drop(ingest_all(database, &frames(&steps)));
    let mut ingest = Ingest::new(database.open().unwrap()).unwrap();
    ingest.connected("b", 10).unwrap();
    ingest
        .frame(
            crate::frame::Frame::Gap {
                position: Position::new(2, 40),
                at_ms: 900,
            },
            10,
        )
        .unwrap();
    let store = ingest.store();
    assert_eq!(
        store.gaps().unwrap(),
        [(Position::new(1, 1), Position::new(2, 40))]
    );
    let spans = store.coverage().unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[1].start_ms, 900);
    assert_eq!(store.schema_version().unwrap(), 5);
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions[0].end_reason.as_deref(), Some("writer_lost"));
    assert_eq!(sessions[1].hello.as_deref(), Some("gap"));
    // c1 was open across the gap: what it counts after it is not sure,
    // nor is what an interaction never seen created counts; a message
    // counts nothing.
    let open = store.open_interactions().unwrap();
    assert!(open[0].crossed_gap, "marked in the database too");
    let after = [
        (1_000, Actor::Router, offer("c1", "ann")),
        (
            1_100,
            agent("ann"),
            Change::Message {
                id: "c1".into(),
                message_id: "m1".into(),
                sender: duet_interactions::model::Sender::Customer,
                body: "hi".into(),
            },
        ),
        (1_200, agent("bob"), disconnect("c9")),
        (1_300, Actor::System, create("c2", MediaType::Chat)),
        (1_400, Actor::Router, offer("c2", "bob")),
    ];
    for (i, (at_ms, actor, change)) in after.into_iter().enumerate() {
        let command = Command::new("", at_ms, actor, change);
        ingest
            .frame(
                crate::frame::Frame::Change {
                    at: Position::new(2, 41 + i as u64),
                    command: Box::new(command),
                },
                20,
            )
            .unwrap();
    }
    assert_eq!(ingest.store().uncertain(0, 10_000).unwrap(), [1_000, 1_200]);
}

#[test]
fn a_wrap_up_its_agent_left_is_ended_by_an_administrator_and_a_message_is_a_change() {
    let mut fold = Fold::default();
    let rows = run(
        &mut fold,
        &[
            (1_000, Actor::System, create("c1", MediaType::Chat)),
            (2_000, Actor::Router, offer("c1", "ann")),
            (4_000, agent("ann"), accept("c1", "ann")),
            (
                6_000,
                agent("ann"),
                Change::Message {
                    id: "c1".into(),
                    message_id: "m1".into(),
                    sender: duet_interactions::model::Sender::Agent("ann".into()),
                    body: "Hello".into(),
                },
            ),
        ],
    );
    let s = last_summary(&rows, "c1");
    assert_eq!(
        s.last_change_ms, 6_000,
        "a conversation going on is not stuck"
    );
    assert_eq!(s.position, Position::new(1, 4));
    let steps = [
        (9_000, Actor::Customer, disconnect("c1")),
        // The agent in wrap-up does nothing; an agent's own disconnect
        // does not end it, an administrator's does.
        (50_000, agent("ann"), disconnect("c1")),
        (99_000, Actor::User("admin".into()), disconnect("c1")),
    ];
    let rows = run_from(&mut fold, 5, &steps);
    let s = last_summary(&rows, "c1");
    assert_eq!(s.disposition, Some(Disposition::CustomerEnded));
    assert_eq!((s.ended_ms, s.closed_ms), (Some(9_000), Some(99_000)));
    assert_eq!(s.wrap_ms, 90_000);
    assert_eq!(s.wrap_code, None);
    assert!(fold.open.is_empty(), "closed, it leaves the fold");
    use QueueEventKind::*;
    assert_eq!(events(&rows), [(Handled, 5_000)], "not counted as wrapped");
}

/// A waiting chat whose customer stayed gone past its limit is ended by
/// the router (`presence`): abandoned in the queue's figures, and the
/// seed's 42 (the path went down longer than the task may live) as its
/// disposition; one an agent or a supervisor ends is neither.
#[test]
fn a_waiting_chat_ended_for_its_customer_gone_is_the_seeds_42() {
    let mut fold = Fold::default();
    let rows = run(
        &mut fold,
        &[
            (1_000, Actor::System, create("gone", MediaType::Chat)),
            (1_000, Actor::System, create("moved", MediaType::Chat)),
            (301_000, Actor::Router, disconnect("gone")),
            (302_000, Actor::User("sue".into()), disconnect("moved")),
        ],
    );
    use QueueEventKind::*;
    assert_eq!(
        events(&rows),
        [(Offered, 0), (Offered, 0), (Abandoned, 300_000)]
    );
    let gone = last_summary(&rows, "gone");
    assert_eq!(gone.disposition, Some(Disposition::PathWentDown));
    assert_eq!(gone.disposition.map(Disposition::code), Some(42));
    let moved = last_summary(&rows, "moved");
    assert_eq!(moved.disposition, Some(Disposition::EndedInQueue));
}

//! The queue report over two writers' databases, each through its own
//! failures (killed and resumed, or cut off past what the node can vouch
//! for: a gap), equals the report over an oracle that saw every change
//! once, for every interval it does not mark as a gap; and when one of
//! the two never had a gap, it marks none.

use proptest::prelude::*;

use duet_interactions::change::{Actor, Change};
use duet_interactions::model::MediaType;

use crate::Position;
use crate::fold::tests::{frames, traffic};
use crate::frame::Frame;
use crate::ingest::Ingest;
use crate::queues::{QueueLine, Window, report};
use crate::read::{Reads, sources};
use crate::sqlite::Sqlite;
use crate::testing::create;

/// Changes this far apart, so the traffic spans several one-minute
/// intervals.
const STEP_MS: u64 = 20_000;
const INTERVAL_MS: u64 = 60_000;

/// What befalls a writer after a frame.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Killed, started again, and sent again from `back` changes before
    /// its cursor (a node resends from the position it is given).
    Killed { back: usize },
    /// Cut off for `missed` changes, past what the node keeps: it goes
    /// on with a gap.
    Gap { missed: usize },
}

fn faults(gaps: bool) -> impl Strategy<Value = Vec<(usize, Fault)>> {
    let fault = (0..4usize, 0..6usize, any::<bool>()).prop_map(move |(back, missed, gap)| {
        if gaps && gap {
            Fault::Gap { missed }
        } else {
            Fault::Killed { back }
        }
    });
    prop::collection::vec((0..70usize, fault), 0..4)
}

/// Interactions through whole lives (answered and wrapped up, held on
/// the way, transferred, or abandoned while waiting), their changes
/// interleaved at random: what a stream of a busy queue looks like.
fn lives() -> impl Strategy<Value = Vec<(u64, Actor, Change)>> {
    let life = (0..4u8, prop::sample::select(vec!["ann", "bob"]));
    (
        prop::collection::vec(life, 1..14),
        prop::collection::vec(any::<prop::sample::Index>(), 80),
    )
        .prop_map(|(lives, picks)| {
            let mut queues: Vec<std::collections::VecDeque<(Actor, Change)>> = lives
                .into_iter()
                .enumerate()
                .map(|(i, (path, agent))| {
                    let id = format!("x{i}");
                    let by = Actor::Agent(agent.into());
                    let mut steps = vec![(Actor::System, create(&id, MediaType::Chat))];
                    if path == 0 {
                        steps.push((Actor::Customer, Change::Disconnect { id }));
                        return steps.into();
                    }
                    steps.push((
                        Actor::Router,
                        Change::Offer {
                            id: id.clone(),
                            agent: agent.into(),
                            deadline_ms: u64::MAX,
                        },
                    ));
                    steps.push((
                        by.clone(),
                        Change::Accept {
                            id: id.clone(),
                            agent: agent.into(),
                        },
                    ));
                    if path == 2 {
                        steps.push((by.clone(), Change::Hold { id: id.clone() }));
                        steps.push((by.clone(), Change::Resume { id: id.clone() }));
                    }
                    if path == 3 {
                        steps.push((
                            by.clone(),
                            Change::Transfer {
                                id: id.clone(),
                                to: duet_interactions::change::TransferTarget::Queue(
                                    "Sales".into(),
                                ),
                            },
                        ));
                        steps.push((Actor::Customer, Change::Disconnect { id }));
                        return steps.into();
                    }
                    steps.push((Actor::Customer, Change::Disconnect { id: id.clone() }));
                    steps.push((
                        by,
                        Change::WrapUp {
                            id,
                            code: "sale".into(),
                            notes: String::new(),
                        },
                    ));
                    steps.into()
                })
                .collect();
            let mut out = Vec::new();
            let mut picks = picks.into_iter().cycle();
            while queues.iter().any(|q| !q.is_empty()) {
                let live: Vec<usize> = (0..queues.len())
                    .filter(|&i| !queues[i].is_empty())
                    .collect();
                let i = live[picks.next().map_or(0, |p| p.index(live.len()))];
                if let Some((actor, change)) = queues[i].pop_front() {
                    out.push((1_000 * out.len() as u64, actor, change));
                }
            }
            out
        })
}

fn time_of(frame: &Frame) -> u64 {
    match frame {
        Frame::Change { command, .. } => command.at_ms,
        _ => 0,
    }
}

fn start(path: &std::path::Path, now_ms: u64) -> Ingest<Sqlite> {
    let mut ingest = Ingest::new(Sqlite::open(path).unwrap()).unwrap();
    ingest.connected("node", now_ms).unwrap();
    ingest
}

/// A writer through `faults` (by frame index), caught up at the end.
fn writer(path: &std::path::Path, all: &[Frame], faults: &[(usize, Fault)], end_ms: u64) {
    let mut ingest = start(path, 0);
    let first = Frame::Gap {
        position: Position::new(1, 0),
        at_ms: 0,
    };
    ingest.frame(first, 0).unwrap();
    let mut next = 0;
    let mut faults = faults.to_vec();
    faults.sort_by_key(|(at, _)| *at);
    for (at, fault) in faults {
        let at = at.min(all.len()).max(next);
        for frame in &all[next..at] {
            ingest.frame(frame.clone(), 0).unwrap();
        }
        let last_ms = at.checked_sub(1).map_or(0, |i| time_of(&all[i]));
        drop(ingest);
        ingest = start(path, last_ms);
        match fault {
            Fault::Killed { back } => {
                let cursor = ingest.cursor().unwrap_or(Position::new(1, 0));
                let resume = Frame::Resume {
                    position: cursor,
                    at_ms: last_ms,
                };
                ingest.frame(resume, last_ms).unwrap();
                next = (cursor.seq as usize).saturating_sub(back);
            }
            Fault::Gap { missed } => {
                let resumed = (at + missed).min(all.len());
                let resumed_ms = resumed.checked_sub(1).map_or(0, |i| time_of(&all[i]));
                let gap = Frame::Gap {
                    position: Position::new(1, resumed as u64),
                    at_ms: resumed_ms + 1,
                };
                ingest.frame(gap, resumed_ms).unwrap();
                next = resumed;
            }
        }
    }
    for frame in &all[next..] {
        ingest.frame(frame.clone(), 0).unwrap();
    }
    let caught_up = Frame::Heartbeat {
        position: Position::new(1, all.len() as u64),
        at_ms: end_ms,
    };
    ingest.frame(caught_up, end_ms).unwrap();
}

/// A line with what names its source left out.
fn figures(line: &QueueLine) -> QueueLine {
    QueueLine {
        source: String::new(),
        gap: false,
        ..line.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn two_writers_through_kills_and_gaps_report_what_an_oracle_saw(
        steps in prop_oneof![traffic(), lives()],
        a_faults in faults(true),
        b_faults in faults(true),
        b_gaps in any::<bool>(),
    ) {
        // The node refuses a change to an interaction that is not open,
        // and an id is created once: the stream never has either, so the
        // oracle is sure of every change.
        let mut seen = crate::fold::Fold::default();
        let mut created = std::collections::BTreeSet::new();
        let steps: Vec<_> = steps
            .into_iter()
            .map(|(at_ms, actor, change)| (at_ms / 1_000 * STEP_MS + 1, actor, change))
            .filter(|(_, _, change)| match change {
                duet_interactions::change::Change::Create(new) => created.insert(new.id.clone()),
                _ => true,
            })
            .filter(|(at_ms, actor, change)| {
                let command = duet_interactions::change::Command::new("", *at_ms, actor.clone(), change.clone());
                !seen
                    .apply(Position::new(1, 1), &command)
                    .iter()
                    .any(|r| matches!(r, crate::rows::Row::Uncertain(_)))
            })
            .collect();
        let all = frames(&steps);
        let end_ms = (steps.len() as u64 * STEP_MS).div_ceil(INTERVAL_MS) * INTERVAL_MS;
        let b_faults: Vec<(usize, Fault)> = b_faults
            .into_iter()
            .filter(|(_, f)| b_gaps || matches!(f, Fault::Killed { .. }))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let (oracle, a, b) = (
            dir.path().join("oracle.db"),
            dir.path().join("a.db"),
            dir.path().join("b.db"),
        );
        writer(&oracle, &all, &[], end_ms);
        writer(&a, &all, &a_faults, end_ms);
        writer(&b, &all, &b_faults, end_ms);

        let window = Window {
            from_ms: 0,
            to_ms: end_ms,
            interval_ms: INTERVAL_MS,
            service_level_ms: Some(20_000),
        };
        let truth = report(&window, &sources(&[oracle.into()], &window, Reads::Queues).unwrap()).unwrap();
        let merged = report(&window, &sources(&[a.into(), b.into()], &window, Reads::Queues).unwrap()).unwrap();
        prop_assert!(truth.iter().all(|l| !l.gap));
        for line in &merged {
            let same = truth
                .iter()
                .find(|t| t.start_ms == line.start_ms && t.queue == line.queue);
            if !line.gap {
                prop_assert_eq!(Some(figures(line)), same.map(figures), "{:?}", line);
            }
        }
        if !b_gaps {
            prop_assert!(merged.iter().all(|l| !l.gap), "b had no gap: {:?}", merged);
            prop_assert_eq!(merged.len(), truth.len());
        }
    }
}

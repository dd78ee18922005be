//! Healing after both nodes served (a partition without a witness): the
//! node that lost (it rejoins as backup, its last change unknown to the
//! active node) has changes the winner never saw. Before its copy is
//! replaced by a resynchronisation, they are replayed on the winner as new
//! changes, in their original order, each once by its client id.
//!
//! The loser drives a [`Heal`]: it pages through the winner's history runs
//! (the sync protocol's `HistoryRuns`), and [`orphans`] finds its records
//! the winner does not hold (exactly those the resync would drop) and the
//! fork (the last sequence number both histories agree on). [`pages`] cuts
//! them into frames; the winner turns each page into changes with [`plan`]:
//! a change to a path the winner also changed after the fork is a conflict
//! (the winner's value stands, the loser's is kept as a conflict record,
//! [`Op::Conflict`]); a client id the winner already knows is not applied
//! again. Sans-IO: the caller moves the messages and makes the changes.

use std::collections::{BTreeMap, BTreeSet};

use crate::path::TreePath;
use crate::sync::{ANSWER_OBJECT_BYTES_MAX, Answer, Request, SyncError, decompress, difference};
use crate::tree::{Conflict, Edit, HistoryRecord, Op, Origin, Run, Tree};
use crate::{Object, TreeError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("the active node answered the heal's history request with another kind of answer")]
    Unexpected,
}

/// The loser's changes the winner does not hold, in sequence order, and
/// the fork: the highest sequence number at which both histories agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphans {
    pub fork: u64,
    pub records: Vec<HistoryRecord>,
}

impl Orphans {
    /// Every record the loser keeps, when its history is another than the
    /// winner's (a node whose disk was replaced served alone, numbering
    /// from the start again): positions they share say nothing, and
    /// every change the winner made is after the fork.
    pub fn of_another_history(local: &Tree) -> Orphans {
        Orphans {
            fork: 0,
            records: local.history_range(0, u64::MAX).cloned().collect(),
        }
    }
}

/// The loser's records the winner does not hold: from past the winner's
/// history floor on (older records only the loser holds are kept by a
/// resync; the winner may have dropped its own), those the winner lacks or
/// holds from another epoch. A winner that never had a change (it was away
/// when the loser made it) lacks it whatever its first record.
pub fn orphans(local: &Tree, winner_runs: &[Run], winner_floor: u64) -> Orphans {
    let start = winner_floor.saturating_add(1);
    let own: Vec<Run> = local.history_runs(start, u64::MAX).collect();
    let records: Vec<HistoryRecord> = difference(&own, winner_runs)
        .into_iter()
        .flat_map(|(first, last)| local.history_range(first, last).cloned())
        .collect();
    let fork = records
        .first()
        .map_or(local.last_applied().seq, |r| r.seq.saturating_sub(1));
    Orphans { fork, records }
}

/// What the loser's heal does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealStep {
    /// Send this request to the winner (its answer goes to [`Heal::on_answer`]).
    Ask(Request),
    /// Every run compared: these are to be replayed (none: go straight on
    /// to the resync).
    Replay(Orphans),
}

/// The loser's side of a heal: collects the winner's runs page by page.
#[derive(Debug, Default)]
pub struct Heal {
    runs: Vec<Run>,
    /// The winner's history floor, as its answers say.
    winner_floor: u64,
}

impl Heal {
    /// Starts a heal; the first request.
    pub fn start() -> (Heal, Request) {
        (Heal::default(), Request::HistoryRuns { after: 0 })
    }

    /// Takes the winner's answer (in either form).
    pub fn on_answer(&mut self, local: &Tree, answer: Answer) -> Result<HealStep, HealError> {
        let Answer::HistoryRuns { runs, more, floor } = decompress(answer)? else {
            return Err(HealError::Unexpected);
        };
        self.winner_floor = self.winner_floor.max(floor);
        // A run that does not follow the last one is not taken: the runs
        // stay sorted and disjoint whatever the peer sends.
        let before = self.runs.len();
        for run in runs {
            if self.runs.last().is_none_or(|l| run.first > l.last) && run.first <= run.last {
                self.runs.push(run);
            }
        }
        // A page that adds nothing ends the paging rather than asking the
        // same question forever.
        let progressed = self.runs.len() > before;
        match (more && progressed, self.runs.last()) {
            (true, Some(last)) => Ok(HealStep::Ask(Request::HistoryRuns { after: last.last })),
            _ => Ok(HealStep::Replay(orphans(
                local,
                &self.runs,
                self.winner_floor,
            ))),
        }
    }
}

/// Cuts orphans into pages that fit a link frame. The winner needs only
/// the new object, so each record travels without its old one.
pub fn pages(records: Vec<HistoryRecord>) -> Vec<Vec<HistoryRecord>> {
    let mut out: Vec<Vec<HistoryRecord>> = Vec::new();
    let mut bytes = 0;
    for mut record in records {
        record.old = None;
        let size = crate::sync::wire_bytes(&record);
        match out.last_mut() {
            Some(page) if bytes + size <= ANSWER_OBJECT_BYTES_MAX => page.push(record),
            _ => {
                out.push(vec![record]);
                bytes = 0;
            }
        }
        bytes += size;
    }
    out
}

/// The client id a replayed change goes under: its own, or one derived
/// from where it was first made, so a repeated heal finds it known.
pub fn client_of(record: &HistoryRecord) -> String {
    let origin = Origin::of(record);
    match origin.client.is_empty() {
        true => format!("heal-{}-{}", origin.epoch, origin.seq),
        false => origin.client,
    }
}

/// Why a replayed change makes nothing on the winner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The winner already has a change under this client id (replayed by
    /// an earlier heal, or the client retried it on the winner).
    Known,
    /// A removal of what the winner does not hold: already in effect.
    InEffect,
    /// The winner's checks refuse it (logged; it cannot be made here).
    Refused(TreeError),
}

/// What the winner does with one replayed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Make this change through the stream (a conflict record when its op
    /// is [`Op::Conflict`]).
    Make(Edit),
    Skip {
        client: String,
        why: Skip,
    },
}

/// The winner's last own change to `path` after the fork (a replayed
/// change or a conflict record is not the winner's own).
fn changed_after_fork<'t>(
    winner: &'t Tree,
    path: &TreePath,
    fork: u64,
) -> Option<&'t HistoryRecord> {
    winner
        .history(path)
        .into_iter()
        .rev()
        .take_while(|r| r.seq > fork)
        .find(|r| r.healed_from.is_none())
}

/// The winner's plan for a page of the loser's records, in their order:
/// each becomes a change made now (`now_unix_ms`, as its record's time, so
/// reads as of a time stay in order; the original time is in its
/// `healed_from`), a conflict record, or nothing. `known` says whether the
/// winner's stream already holds a client id.
pub fn plan(
    winner: &Tree,
    fork: u64,
    records: &[HistoryRecord],
    known: impl Fn(&str) -> bool,
    now_unix_ms: u64,
) -> Vec<Replay> {
    // What the planned changes leave at each path, so a removal after a
    // put in the same page is not taken as already in effect.
    let mut planned: BTreeMap<TreePath, Option<Object>> = BTreeMap::new();
    let mut clients: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for record in records {
        let client = client_of(record);
        if known(&client) || !clients.insert(client.clone()) {
            out.push(Replay::Skip {
                client,
                why: Skip::Known,
            });
            continue;
        }
        let path = record.path.clone();
        let lost_to = changed_after_fork(winner, &path, fork);
        let op = match (&record.conflict, lost_to, &record.new) {
            // A conflict record stays one, with the change it lost to.
            (Some(conflict), _, _) => Op::Conflict {
                path,
                conflict: conflict.clone(),
            },
            (None, Some(won), value) => Op::Conflict {
                path,
                conflict: Box::new(Conflict {
                    value: value.clone(),
                    lost_to: Origin::of(won),
                }),
            },
            (None, None, Some(object)) => Op::Put {
                path,
                object: object.clone(),
            },
            (None, None, None) => {
                let present = planned
                    .get(&path)
                    .map_or(winner.get(&path).is_some(), Option::is_some);
                if !present {
                    out.push(Replay::Skip {
                        client,
                        why: Skip::InEffect,
                    });
                    continue;
                }
                Op::Remove { path }
            }
        };
        if let Op::Put { .. } = &op
            && let Err(e) = winner.check(&op)
        {
            out.push(Replay::Skip {
                client,
                why: Skip::Refused(e),
            });
            continue;
        }
        match &op {
            Op::Put { path, object } => planned.insert(path.clone(), Some(object.clone())),
            Op::Remove { path } => planned.insert(path.clone(), None),
            Op::Conflict { .. } => None,
        };
        out.push(Replay::Make(Edit {
            at_unix_ms: now_unix_ms,
            who: record.who.clone(),
            client,
            op,
            healed_from: Some(Origin::of(record)),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::answer;
    use crate::{Change, Class};

    fn path(p: &str) -> TreePath {
        TreePath::parse(p).unwrap()
    }

    fn user(ext: &str) -> Object {
        Object::new(Class::User).with("Extension", ext)
    }

    fn apply(tree: &mut Tree, epoch: u64, seq: u64, client: &str, op: Op) {
        tree.apply(&Change {
            epoch,
            seq,
            at_unix_ms: seq * 1_000,
            who: "admin".into(),
            client: client.into(),
            op,
            healed_from: None,
        })
        .unwrap();
    }

    fn put(tree: &mut Tree, epoch: u64, seq: u64, p: &str, ext: &str, client: &str) {
        let op = Op::Put {
            path: path(p),
            object: user(ext),
        };
        apply(tree, epoch, seq, client, op);
    }

    fn remove(tree: &mut Tree, epoch: u64, seq: u64, p: &str, client: &str) {
        apply(tree, epoch, seq, client, Op::Remove { path: path(p) });
    }

    /// Both nodes share changes 1-2 of epoch 2; then the loser served
    /// epoch 3 (3: bob, 4: carol, 5: alice) and the winner epoch 4
    /// (3: alice, 4: dave).
    fn forked() -> (Tree, Tree) {
        let mut winner = Tree::default();
        put(&mut winner, 2, 1, "/config/Users/alice", "100", "c1");
        put(&mut winner, 2, 2, "/config/Users/bob", "200", "c2");
        let mut loser = winner.clone();
        put(&mut loser, 3, 3, "/config/Users/bob", "201", "l3");
        put(&mut loser, 3, 4, "/config/Users/carol", "300", "");
        put(&mut loser, 3, 5, "/config/Users/alice", "101", "l5");
        put(&mut winner, 4, 3, "/config/Users/alice", "102", "w3");
        put(&mut winner, 4, 4, "/config/Users/dave", "400", "w4");
        (winner, loser)
    }

    fn runs(tree: &Tree) -> Vec<Run> {
        tree.history_runs(0, u64::MAX).collect()
    }

    #[test]
    fn orphans_are_the_losers_records_after_the_fork() {
        let (winner, loser) = forked();
        let found = orphans(&loser, &runs(&winner), 0);
        assert_eq!(found.fork, 2);
        let seqs: Vec<(u64, u64)> = found.records.iter().map(|r| (r.epoch, r.seq)).collect();
        assert_eq!(seqs, vec![(3, 3), (3, 4), (3, 5)]);
    }

    #[test]
    fn a_backup_that_is_only_behind_has_no_orphans() {
        let (winner, _) = forked();
        let mut behind = Tree::default();
        put(&mut behind, 2, 1, "/config/Users/alice", "100", "c1");
        let found = orphans(&behind, &runs(&winner), 0);
        assert_eq!(
            found,
            Orphans {
                fork: 1,
                records: vec![]
            }
        );
    }

    #[test]
    fn records_past_the_winners_position_are_orphans_too() {
        let (_, loser) = forked();
        let mut winner = Tree::default();
        put(&mut winner, 2, 1, "/config/Users/alice", "100", "c1");
        put(&mut winner, 2, 2, "/config/Users/bob", "200", "c2");
        let found = orphans(&loser, &runs(&winner), 0);
        assert_eq!(found.fork, 2);
        assert_eq!(found.records.len(), 3);
    }

    #[test]
    fn a_change_the_winner_never_had_is_an_orphan_whatever_its_first_record() {
        // The winner was away when the loser made changes 1 and 2 (it never
        // had them), then served alone from its empty state: its history
        // starts at its own change 1 of epoch 3.
        let (_, loser) = forked();
        let mut winner = Tree::default();
        put(&mut winner, 3, 1, "/config/Users/erin", "500", "w1");
        let found = orphans(&loser, &runs(&winner), winner.history_floor());
        let seqs: Vec<(u64, u64)> = found.records.iter().map(|r| (r.epoch, r.seq)).collect();
        assert_eq!(seqs, vec![(2, 1), (2, 2), (3, 3), (3, 4), (3, 5)]);
        assert_eq!(found.fork, 0);
    }

    #[test]
    fn records_the_winner_compacted_away_are_not_compared() {
        let (mut winner, loser) = forked();
        winner.compact_history(2);
        assert_eq!(winner.history_floor(), 2);
        let found = orphans(&loser, &runs(&winner), winner.history_floor());
        let seqs: Vec<(u64, u64)> = found.records.iter().map(|r| (r.epoch, r.seq)).collect();
        assert_eq!(
            seqs,
            vec![(3, 3), (3, 4), (3, 5)],
            "changes 1 and 2 are past"
        );
    }

    #[test]
    fn the_heal_pages_through_the_winners_runs() {
        let (winner, loser) = forked();
        let (mut heal, request) = Heal::start();
        assert_eq!(request, Request::HistoryRuns { after: 0 });
        let answer = answer(&winner, request, true).unwrap();
        let HealStep::Replay(found) = heal.on_answer(&loser, answer).unwrap() else {
            panic!("one page holds every run");
        };
        assert_eq!(found, orphans(&loser, &runs(&winner), 0));
        let more = Answer::HistoryRuns {
            runs: vec![Run {
                first: 1,
                last: 2,
                epoch: 2,
            }],
            more: true,
            floor: 0,
        };
        let (mut heal, _) = Heal::start();
        assert_eq!(
            heal.on_answer(&loser, more).unwrap(),
            HealStep::Ask(Request::HistoryRuns { after: 2 })
        );
        assert_eq!(
            heal.on_answer(&loser, Answer::Objects(vec![])),
            Err(HealError::Unexpected)
        );
    }

    #[test]
    fn the_plan_applies_new_paths_and_keeps_conflicts() {
        let (winner, loser) = forked();
        let found = orphans(&loser, &runs(&winner), 0);
        let plan = plan(&winner, found.fork, &found.records, |_| false, 9_000);
        let origin = |seq: u64, client: &str| Origin {
            epoch: 3,
            seq,
            at_unix_ms: seq * 1_000,
            who: "admin".into(),
            client: client.into(),
        };
        let winners_alice = Origin {
            epoch: 4,
            seq: 3,
            at_unix_ms: 3_000,
            who: "admin".into(),
            client: "w3".into(),
        };
        assert_eq!(
            plan,
            vec![
                // bob: the winner did not change it after the fork.
                Replay::Make(Edit {
                    at_unix_ms: 9_000,
                    who: "admin".into(),
                    client: "l3".into(),
                    op: Op::Put {
                        path: path("/config/Users/bob"),
                        object: user("201"),
                    },
                    healed_from: Some(origin(3, "l3")),
                }),
                // carol had no client id: one derived from where it was made.
                Replay::Make(Edit {
                    at_unix_ms: 9_000,
                    who: "admin".into(),
                    client: "heal-3-4".into(),
                    op: Op::Put {
                        path: path("/config/Users/carol"),
                        object: user("300"),
                    },
                    healed_from: Some(origin(4, "")),
                }),
                // alice: the winner changed it too; its value stands.
                Replay::Make(Edit {
                    at_unix_ms: 9_000,
                    who: "admin".into(),
                    client: "l5".into(),
                    op: Op::Conflict {
                        path: path("/config/Users/alice"),
                        conflict: Box::new(Conflict {
                            value: Some(user("101")),
                            lost_to: winners_alice,
                        }),
                    },
                    healed_from: Some(origin(5, "l5")),
                }),
            ]
        );
    }

    #[test]
    fn known_clients_are_skipped_and_a_conflict_record_keeps_the_entry() {
        let (mut winner, loser) = forked();
        let found = orphans(&loser, &runs(&winner), 0);
        let plan = plan(&winner, found.fork, &found.records, |c| c == "l3", 9_000);
        assert_eq!(
            plan[0],
            Replay::Skip {
                client: "l3".into(),
                why: Skip::Known
            }
        );
        let Replay::Make(conflict) = plan[2].clone() else {
            panic!("a conflict record is made");
        };
        let root = winner.digests().get(crate::digest::Bucket::ROOT);
        let record = winner.apply(&conflict.into_change(4, 5)).unwrap();
        assert_eq!(winner.get(&path("/config/Users/alice")), Some(&user("102")));
        assert_eq!(record.old, Some(user("102")));
        assert_eq!(record.new, Some(user("102")));
        assert_eq!(winner.digests().get(crate::digest::Bucket::ROOT), root);
        assert_eq!(winner.conflicts().count(), 1);
        // A replayed change is not the winner's own: a later record of the
        // loser's for the same path is applied, not a conflict.
        let again = plan_for_alice_after_replay(&winner);
        assert!(matches!(
            again,
            Replay::Make(Edit {
                op: Op::Conflict { .. },
                ..
            })
        ));
    }

    /// The loser's next change to alice, planned after the conflict record:
    /// still a conflict with the winner's own change (not with the record).
    fn plan_for_alice_after_replay(winner: &Tree) -> Replay {
        let mut loser = Tree::default();
        put(&mut loser, 3, 6, "/config/Users/alice", "103", "l6");
        let records: Vec<HistoryRecord> = loser.history_range(6, 6).cloned().collect();
        plan(winner, 2, &records, |_| false, 9_500).remove(0)
    }

    #[test]
    fn a_removal_is_in_effect_only_when_nothing_planned_puts_the_path_back() {
        let mut winner = Tree::default();
        put(&mut winner, 2, 1, "/config/Users/erin", "500", "c1");
        let mut loser = winner.clone();
        remove(&mut loser, 3, 2, "/config/Users/erin", "l2");
        put(&mut loser, 3, 3, "/config/Users/erin", "501", "l3");
        remove(&mut loser, 3, 4, "/config/Users/erin", "l4");
        let kinds = |winner: &Tree, records: &[HistoryRecord]| -> Vec<String> {
            plan(winner, 1, records, |_| false, 0)
                .into_iter()
                .map(|r| match r {
                    Replay::Make(Edit {
                        op: Op::Put { .. }, ..
                    }) => "put".to_string(),
                    Replay::Make(Edit {
                        op: Op::Remove { .. },
                        ..
                    }) => "remove".to_string(),
                    Replay::Make(_) => "conflict".to_string(),
                    Replay::Skip { why, .. } => format!("{why:?}"),
                })
                .collect()
        };
        let found = orphans(&loser, &runs(&winner), 1);
        assert_eq!(kinds(&winner, &found.records), ["remove", "put", "remove"]);
        // On a winner without erin, the first removal is already in
        // effect; the last is not, since the put before it is planned.
        let empty = Tree::default();
        assert_eq!(kinds(&empty, &found.records), ["InEffect", "put", "remove"]);
    }

    #[test]
    fn pages_drop_the_old_object_and_stay_within_a_frame() {
        let (_, loser) = forked();
        let records: Vec<HistoryRecord> = loser.history_range(3, 5).cloned().collect();
        assert!(records[0].old.is_some());
        let cut = pages(records);
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0].len(), 3);
        assert!(cut[0].iter().all(|r| r.old.is_none()));
    }
}

//! The configuration tree: changes, history, limits, and resynchronisation
//! by digests (property tests and a cost check).

use duet_config::digest::Bucket;
use duet_config::sync::{
    Answer, DECOMPRESSED_MAX_BYTES, Request, SyncError, answer, compress, decompress,
};
use duet_config::tree::Run;
use duet_config::{Change, Class, HistoryRecord, Object, Op, Tree, TreeError, TreePath};
use duet_rsm::Position;
use proptest::prelude::*;

mod support;
use support::resync_with;

fn path(p: &str) -> TreePath {
    TreePath::parse(p).unwrap()
}

fn change(seq: u64, at: u64, op: Op) -> Change {
    change_in(2, seq, at, op)
}

fn change_in(epoch: u64, seq: u64, at: u64, op: Op) -> Change {
    Change {
        epoch,
        seq,
        at_unix_ms: at,
        who: "admin".into(),
        client: format!("client-{epoch}-{seq}"),
        op,
        healed_from: None,
    }
}

/// Every path's history, as the API shows it.
fn histories(tree: &Tree, paths: &[String]) -> Vec<Vec<HistoryRecord>> {
    paths
        .iter()
        .map(|p| tree.history(&path(p)).into_iter().cloned().collect())
        .collect()
}

fn put(p: &str, object: Object) -> Op {
    Op::Put {
        path: path(p),
        object,
    }
}

#[test]
fn history_keeps_who_when_old_and_new_and_reads_back_as_of_a_time() {
    // The seed (expert-advisor HA): configuration history so events are
    // reported with the configuration in effect at the time.
    let mut tree = Tree::default();
    let alice = |ext: &str| Object::new(Class::User).with("Extension", ext);
    tree.apply(&change(1, 1_000, put("/config/Users/alice", alice("100"))))
        .unwrap();
    tree.apply(&change(2, 2_000, put("/config/Users/alice", alice("200"))))
        .unwrap();
    tree.apply(&change(
        3,
        3_000,
        Op::Remove {
            path: path("/config/Users/alice"),
        },
    ))
    .unwrap();
    let p = path("/config/Users/alice");
    let history = tree.history(&p);
    assert_eq!(history.len(), 3);
    assert_eq!(history[1].who, "admin");
    assert_eq!(history[1].old, Some(alice("100")));
    assert_eq!(history[1].new, Some(alice("200")));
    assert_eq!(tree.as_of(&p, 500), None);
    assert_eq!(tree.as_of(&p, 1_500), Some(alice("100")));
    assert_eq!(tree.as_of(&p, 2_000), Some(alice("200")));
    assert_eq!(tree.as_of(&p, 9_000), None);
    assert_eq!(tree.get(&p), None);
}

#[test]
fn history_compacts_to_its_retention_keeping_the_newest_and_the_entries() {
    let mut tree = Tree::default();
    for seq in 1..=50 {
        let object = Object::new(Class::User).with("Extension", &seq.to_string());
        tree.apply(&change(
            seq,
            seq * 1_000,
            put(&format!("/config/Users/u{}", seq % 5), object),
        ))
        .unwrap();
    }
    assert_eq!(tree.history_len(), 50);
    let dropped = tree.compact_history(10);
    assert_eq!(dropped, (1..=40).collect::<Vec<u64>>());
    assert_eq!(tree.history_len(), 10);
    // The runs follow: one run, 41 to 50.
    let runs: Vec<Run> = tree.history_runs(0, u64::MAX).collect();
    assert_eq!(
        runs,
        vec![Run {
            first: 41,
            last: 50,
            epoch: 2
        }]
    );
    // The entries are the snapshot: every path keeps its latest object, and
    // reads as of a time the kept history covers still work.
    let u0 = path("/config/Users/u0");
    assert_eq!(tree.get(&u0).unwrap().attributes["Extension"], "50");
    assert_eq!(
        tree.as_of(&u0, 46_000).unwrap().attributes["Extension"],
        "45"
    );
    assert_eq!(tree.last_applied(), Position::new(2, 50));
    assert!(tree.compact_history(10).is_empty());
}

#[test]
fn a_change_is_never_applied_twice() {
    let mut tree = Tree::default();
    let c = change(1, 0, put("/config/Roles/Agent", Object::new(Class::Role)));
    tree.apply(&c).unwrap();
    assert_eq!(
        tree.apply(&c),
        Err(TreeError::AlreadyApplied { epoch: 2, seq: 1 })
    );
    assert_eq!(tree.history(&path("/config/Roles/Agent")).len(), 1);
}

#[test]
fn bad_changes_are_refused_and_leave_the_tree_unchanged() {
    let mut tree = Tree::default();
    let bad_param = put(
        "/config/Server Parameters/Switchover TS Timeout",
        Object::new(Class::ServerParameter).with("value", "4"),
    );
    let err = tree.apply(&change(1, 0, bad_param)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Switchover TS Timeout: \"4\" is out of range; allowed: 5-60 s"
    );
    let huge = put(
        "/config/Users/bob",
        Object::new(Class::User).with("Notes", &"x".repeat(70_000)),
    );
    assert!(matches!(
        tree.apply(&change(2, 0, huge)),
        Err(TreeError::TooLarge(_))
    ));
    // Many values within their own limit still make too large an object.
    let mut wide = Object::new(Class::User);
    for i in 0..10 {
        wide = wide.with(&format!("Notes{i}"), &"y".repeat(60_000));
    }
    let wide = Op::Put {
        path: path("/config/Users/wide"),
        object: wide,
    };
    let err = tree.apply(&change(2, 0, wide)).unwrap_err().to_string();
    assert!(err.contains("at most 524288"), "{err}");
    assert!(matches!(
        tree.apply(&change(
            3,
            0,
            Op::Remove {
                path: path("/config/Users/nobody")
            }
        )),
        Err(TreeError::NotFound(_))
    ));
    assert!(tree.is_empty());
    assert_eq!(tree.last_applied(), Position::ZERO);
    assert!(
        Class::parse("Gadget")
            .unwrap_err()
            .to_string()
            .contains("the classes are Folder, User")
    );
    // Named exactly, as the API's document lists them.
    assert_eq!(Class::parse("Workgroup").ok(), Some(Class::Workgroup));
    assert!(Class::parse("workgroup").is_err());
    let ok = put(
        "/config/Server Parameters/Switchover TS Timeout",
        Object::new(Class::ServerParameter).with("value", "20"),
    );
    tree.apply(&change(4, 0, ok)).unwrap();
}

#[test]
fn children_lists_the_next_level() {
    let mut tree = Tree::default();
    for (i, p) in [
        "/config/Users/alice",
        "/config/Users/bob",
        "/config/Workgroups/Sales/Members",
    ]
    .into_iter()
    .enumerate()
    {
        tree.apply(&change(i as u64 + 1, 0, put(p, Object::new(Class::Folder))))
            .unwrap();
    }
    let names: Vec<String> = tree
        .children(&path("/config"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, vec!["Users", "Workgroups"]);
    assert_eq!(tree.children(&path("/config/Users")).len(), 2);
}

fn entries(tree: &Tree, paths: &[String]) -> Vec<Option<Object>> {
    paths.iter().map(|p| tree.get(&path(p)).cloned()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn after_a_resync_the_backup_equals_the_active(
        base in proptest::collection::vec((0u8..60, 0u8..4), 0..80),
        edits in proptest::collection::vec((0u8..60, 0u8..5), 0..40),
        backup_edits in proptest::collection::vec((0u8..60, 0u8..5), 0..20),
    ) {
        let names: Vec<String> = (0..60).map(|i| format!("/config/Users/u{i}")).collect();
        let mut active = Tree::default();
        let mut backup = Tree::default();
        let mut seq = 0;
        let mut apply = |tree: &mut Tree, n: u8, v: u8| {
            seq += 1;
            let p = path(&names[n as usize]);
            let op = if v == 4 {
                if tree.get(&p).is_none() { return; }
                Op::Remove { path: p }
            } else {
                Op::Put { path: p, object: Object::new(Class::User).with("v", &v.to_string()) }
            };
            tree.apply(&change(seq, seq, op)).unwrap();
        };
        for (n, v) in &base {
            apply(&mut active, *n, *v);
        }
        // The backup had the same base, then the active moved on while the
        // backup was away (and the backup has stray local changes too).
        for (n, _) in &base {
            let p = path(&names[*n as usize]);
            backup.install(&p, active.get(&p).cloned());
        }
        for (n, v) in &edits {
            apply(&mut active, *n, *v);
        }
        for (n, v) in &backup_edits {
            apply(&mut backup, *n, *v);
        }
        resync_with(&active, &mut backup, false);
        prop_assert_eq!(entries(&active, &names), entries(&backup, &names));
        prop_assert_eq!(backup.len(), active.len());
        prop_assert_eq!(backup.digests().get(Bucket::ROOT), active.digests().get(Bucket::ROOT));
        prop_assert_eq!(backup.last_applied(), active.last_applied());
    }

    #[test]
    fn after_a_resync_the_backup_has_the_actives_history(
        changes in proptest::collection::vec((0u8..30, 0u8..5), 0..120),
        shared in 0usize..120,
        // Records the backup never got (a resync by an older release).
        lost in proptest::option::of((0usize..120, 0usize..40)),
        // The backup was active in epoch 3 and made changes the active
        // (epoch 4) never had.
        diverged in proptest::collection::vec((0u8..30, 0u8..5), 0..30),
        compressed in any::<bool>(),
    ) {
        let names: Vec<String> = (0..30).map(|i| format!("/config/Users/u{i}")).collect();
        let op = |tree: &Tree, n: u8, v: u8| {
            let p = path(&names[n as usize]);
            if v == 4 {
                tree.get(&p).is_some().then_some(Op::Remove { path: p })
            } else {
                Some(Op::Put { path: p, object: Object::new(Class::User).with("v", &v.to_string()) })
            }
        };
        let mut active = Tree::default();
        let mut backup = Tree::default();
        let shared = shared.min(changes.len());
        let mut seq = 0;
        for (i, (n, v)) in changes.iter().enumerate() {
            let Some(op) = op(&active, *n, *v) else { continue };
            seq += 1;
            let epoch = if i < shared { 2 } else { 4 };
            let record = active.apply(&change_in(epoch, seq, seq * 10, op.clone())).unwrap();
            if i < shared {
                backup.apply(&change_in(epoch, seq, seq * 10, op)).unwrap();
            }
            prop_assert_eq!(record.seq, seq);
        }
        if let Some((from, len)) = lost {
            backup.forget_history(from as u64, (from + len) as u64);
        }
        let mut own = backup.last_applied().seq;
        for (n, v) in &diverged {
            let Some(op) = op(&backup, *n, *v) else { continue };
            own += 1;
            backup.apply(&change_in(3, own, own * 10 + 5, op)).unwrap();
        }
        resync_with(&active, &mut backup, compressed);
        prop_assert_eq!(histories(&backup, &names), histories(&active, &names));
        prop_assert_eq!(entries(&backup, &names), entries(&active, &names));
        prop_assert_eq!(backup.recent_clients(1000), active.recent_clients(1000));
        let all = |t: &Tree| t.history_runs(0, u64::MAX).collect::<Vec<Run>>();
        prop_assert_eq!(all(&backup), all(&active));
        // A second resync finds nothing more to do.
        let before = histories(&backup, &names);
        resync_with(&active, &mut backup, false);
        prop_assert_eq!(histories(&backup, &names), before);
    }
}

#[test]
fn runs_follow_records_in_any_order_and_of_any_epoch() {
    let mut tree = Tree::default();
    let record = |epoch: u64, seq: u64| HistoryRecord {
        epoch,
        seq,
        at_unix_ms: seq,
        who: "admin".into(),
        client: String::new(),
        path: path(&format!("/config/Users/u{}", seq % 3)),
        old: None,
        new: None,
        healed_from: None,
        conflict: None,
    };
    let runs = |tree: &Tree| {
        tree.history_runs(0, u64::MAX)
            .map(|r| (r.first, r.last, r.epoch))
            .collect::<Vec<_>>()
    };
    for seq in [5, 1, 3, 2, 4, 9] {
        tree.install_history(record(2, seq));
    }
    assert_eq!(runs(&tree), vec![(1, 5, 2), (9, 9, 2)]);
    tree.install_history(record(3, 3));
    assert_eq!(
        runs(&tree),
        vec![(1, 2, 2), (3, 3, 3), (4, 5, 2), (9, 9, 2)]
    );
    assert_eq!(tree.forget_history(2, 4), vec![2, 3, 4]);
    assert_eq!(runs(&tree), vec![(1, 1, 2), (5, 5, 2), (9, 9, 2)]);
    let cut: Vec<_> = tree.history_runs(5, 8).map(|r| (r.first, r.last)).collect();
    assert_eq!(cut, vec![(5, 5)]);
    assert_eq!(tree.history(&path("/config/Users/u1")).len(), 1);
}

/// The backup, a former active node, has 1 to 6, its 5 and 6 from an
/// epoch the active never saw; the active's history starts at 3, and it
/// made 5 in a later epoch. `floor`: where the active compacted its
/// history. The backup's 1 and 2, records the active does not hold, and
/// what the backup holds of the active's records of 3 to 5 after a resync.
fn resync_a_former_active(floor: u64) -> Vec<(u64, u64)> {
    let p = "/config/Users/alice";
    let user = |v: &str| Object::new(Class::User).with("v", v);
    let mut active = Tree::default();
    let mut backup = Tree::default();
    for seq in 1..=4 {
        let c = change_in(2, seq, seq, put(p, user(&seq.to_string())));
        active.apply(&c).unwrap();
        backup.apply(&c).unwrap();
    }
    active.forget_history(1, 2);
    active.set_history_floor(floor);
    for seq in 5..=6 {
        backup
            .apply(&change_in(3, seq, seq, put(p, user("stray"))))
            .unwrap();
    }
    active
        .apply(&change_in(4, 5, 50, put(p, user("5"))))
        .unwrap();
    resync_with(&active, &mut backup, false);
    assert_eq!(backup.get(&path(p)), Some(&user("5")));
    // The former active's stray changes (at 5 and 6 ms) are gone.
    assert_eq!(backup.as_of(&path(p), 6), Some(user("4")));
    assert_eq!(backup.as_of(&path(p), 50), Some(user("5")));
    backup
        .history(&path(p))
        .iter()
        .map(|r| (r.epoch, r.seq))
        .collect()
}

#[test]
fn history_below_the_actives_floor_is_kept_and_its_own_wins_above_it() {
    assert_eq!(
        resync_a_former_active(2),
        vec![(2, 1), (2, 2), (2, 3), (2, 4), (4, 5)]
    );
}

/// Past its floor the active holds every record of its history: one only
/// the backup holds there is a change the pair did not keep at that
/// number (the active may hold another state's change there).
#[test]
fn history_above_the_actives_floor_that_it_does_not_hold_is_dropped() {
    assert_eq!(resync_a_former_active(0), vec![(2, 3), (2, 4), (4, 5)]);
}

#[test]
fn a_record_too_large_for_a_frame_travels_without_its_old_object() {
    // Old and new of 400 KB each would not fit one answer together.
    let p = "/config/Users/big";
    let big = |c: char| {
        (0..8).fold(Object::new(Class::User), |o, i| {
            o.with(&format!("Notes{i}"), &c.to_string().repeat(50_000))
        })
    };
    let mut active = Tree::default();
    active.apply(&change(1, 1, put(p, big('a')))).unwrap();
    active.apply(&change(2, 2, put(p, big('b')))).unwrap();
    let history_page =
        |first, last| match answer(&active, Request::History(vec![(first, last)]), false) {
            Ok(Answer::History {
                records,
                old_left_out,
            }) => (records, old_left_out),
            other => panic!("not a history answer: {other:?}"),
        };
    let (records, old_left_out) = history_page(1, 2);
    assert_eq!(records.len(), 1, "one record a page at this size");
    assert!(old_left_out.is_empty());
    let (records, old_left_out) = history_page(2, 2);
    assert_eq!((records[0].old.as_ref(), old_left_out), (None, vec![2]));
    let mut backup = Tree::default();
    resync_with(&active, &mut backup, false);
    let history = backup.history(&path(p));
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].old, Some(big('a')));
    assert_eq!(history[1].new, Some(big('b')));
}

#[test]
fn a_page_of_many_small_records_fits_a_link_frame() {
    // Pages are bounded by what the records take on the wire, encoding
    // included: tens of thousands of empty folders must not make an answer
    // larger than the link carries.
    let mut active = Tree::default();
    for seq in 1..=40_000u64 {
        let op = put(&format!("/config/F{seq}"), Object::new(Class::Folder));
        active.apply(&change(seq, seq, op)).unwrap();
    }
    let request = Request::History(vec![(1, 40_000)]);
    let page = answer(&active, request, false).unwrap();
    let Answer::History { records, .. } = &page else {
        panic!("not a history answer");
    };
    assert!(records.len() < 40_000, "cut into pages");
    let wire = postcard::to_allocvec(&page).unwrap().len();
    assert!(wire <= DECOMPRESSED_MAX_BYTES, "{wire} bytes in one answer");
}

#[test]
fn compressed_sync_messages_round_trip_and_a_bomb_is_refused() {
    let request = Request::HistoryRuns { after: 7 };
    let answer = Answer::HistoryRuns {
        runs: (0..200)
            .map(|i| Run {
                first: i * 10,
                last: i * 10 + 5,
                epoch: 2,
            })
            .collect(),
        more: false,
        floor: 3,
    };
    let packed = compress(answer.clone());
    assert!(matches!(packed, Answer::Compressed(_)));
    assert_eq!(decompress(packed.clone()).unwrap(), answer);
    // Plain messages pass through; a tiny one is not worth compressing.
    assert_eq!(decompress(answer.clone()).unwrap(), answer);
    assert_eq!(compress(request.clone()), request);
    // Corrupt, nested and oversize forms are errors, never panics.
    assert!(matches!(
        decompress(Answer::Compressed(vec![1, 2, 3, 4, 5])),
        Err(SyncError::Decompress(_))
    ));
    let nested = postcard::to_allocvec(&packed).unwrap();
    let nested = Answer::Compressed(zstd::bulk::compress(&nested, 3).unwrap());
    assert_eq!(decompress(nested), Err(SyncError::Nested));
    let garbage = zstd::bulk::compress(&[0xff; 64], 3).unwrap();
    assert!(matches!(
        decompress(Request::Compressed(garbage)),
        Err(SyncError::Malformed(_))
    ));
    let bomb = zstd::bulk::compress(&vec![0u8; 16 * DECOMPRESSED_MAX_BYTES], 1).unwrap();
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    assert!(matches!(
        decompress(Answer::Compressed(bomb)),
        Err(SyncError::Decompress(_))
    ));
}

#[test]
fn a_resync_after_ten_changes_costs_what_changed_not_the_size_of_the_tree() {
    // 100,000 entries here (the benchmark uses 1,000,000); 10 changes made
    // while the backup was away.
    // Each entry was made by a change, so the history holds 100,000 records.
    let mut active = Tree::default();
    for i in 0..100_000u64 {
        let op = put(
            &format!("/config/Users/user{i}"),
            Object::new(Class::User).with("Extension", &i.to_string()),
        );
        active.apply(&change(i + 1, 0, op)).unwrap();
    }
    let mut backup = active.clone();
    for i in 0..10u64 {
        let op = put(
            &format!("/config/Users/user{}", i * 7919),
            Object::new(Class::User).with("Extension", "changed"),
        );
        active.apply(&change(100_001 + i, 0, op)).unwrap();
    }
    let (_, bytes) = resync_with(&active, &mut backup, false);
    eprintln!("resync of 10 changes in 100,000 entries: {bytes} bytes");
    assert!(bytes < 64 * 1024, "{bytes} bytes");
    assert_eq!(
        backup.history(&path("/config/Users/user7919")).len(),
        active.history(&path("/config/Users/user7919")).len()
    );
    assert_eq!(
        backup.digests().get(Bucket::ROOT),
        active.digests().get(Bucket::ROOT)
    );
    assert_eq!(
        backup
            .get(&path("/config/Users/user7919"))
            .unwrap()
            .attributes["Extension"],
        "changed"
    );
}

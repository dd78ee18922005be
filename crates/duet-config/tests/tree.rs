//! The configuration tree: changes, history, limits, and resynchronisation
//! by digests (property tests and a cost check).

use duet_config::digest::Bucket;
use duet_config::{Change, Class, Object, Op, Tree, TreeError, TreePath};
use proptest::prelude::*;

mod support;
use support::resync;

fn path(p: &str) -> TreePath {
    TreePath::parse(p).unwrap()
}

fn change(seq: u64, at: u64, op: Op) -> Change {
    Change {
        epoch: 2,
        seq,
        at_unix_ms: at,
        who: "admin".into(),
        client: String::new(),
        op,
    }
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
    assert_eq!(tree.last_applied(), (0, 0));
    assert!(
        Class::parse("Gadget")
            .unwrap_err()
            .to_string()
            .contains("the classes are Folder, User")
    );
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
        resync(&active, &mut backup);
        prop_assert_eq!(entries(&active, &names), entries(&backup, &names));
        prop_assert_eq!(backup.len(), active.len());
        prop_assert_eq!(backup.digests().get(Bucket::ROOT), active.digests().get(Bucket::ROOT));
        prop_assert_eq!(backup.last_applied(), active.last_applied());
    }
}

#[test]
fn a_resync_after_ten_changes_costs_what_changed_not_the_size_of_the_tree() {
    // 100,000 entries here (the benchmark uses 1,000,000); 10 changes made
    // while the backup was away.
    let mut active = Tree::default();
    for i in 0..100_000u64 {
        active.install(
            &path(&format!("/config/Users/user{i}")),
            Some(Object::new(Class::User).with("Extension", &i.to_string())),
        );
    }
    let mut backup = active.clone();
    for i in 0..10u64 {
        let op = put(
            &format!("/config/Users/user{}", i * 7919),
            Object::new(Class::User).with("Extension", "changed"),
        );
        active.apply(&change(i + 1, 0, op)).unwrap();
    }
    let (_, bytes) = resync(&active, &mut backup);
    eprintln!("resync of 10 changes in 100,000 entries: {bytes} bytes");
    assert!(bytes < 64 * 1024, "{bytes} bytes");
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

//! Healing after both nodes served: two trees forked from a common prefix,
//! random changes on both sides; after the heal every change of the loser's
//! is on the winner once (applied, or kept as a conflict record), and the
//! resync leaves both trees with one digest and one history.

use std::collections::{BTreeMap, BTreeSet};

use duet_config::digest::Bucket;
use duet_config::heal::{Heal, HealStep, Orphans, Replay, pages, plan};
use duet_config::sync::answer;
use duet_config::{Change, Class, HistoryRecord, Object, Op, Tree, TreePath};
use proptest::prelude::*;

mod support;
use support::resync_with;

const PATHS: u8 = 12;

fn path(n: u8) -> TreePath {
    TreePath::parse(&format!("/config/Users/u{n}")).unwrap()
}

/// Applies a put (`v` < 4) or a removal (`v` = 4, when there is something
/// to remove) as the next change of `epoch`.
fn edit(tree: &mut Tree, epoch: u64, n: u8, v: u8, client: String) -> Option<HistoryRecord> {
    let p = path(n);
    let op = match v {
        4 if tree.get(&p).is_none() => return None,
        4 => Op::Remove { path: p },
        _ => Op::Put {
            path: p,
            object: Object::new(Class::User).with("v", &format!("{epoch}.{v}")),
        },
    };
    let seq = tree.last_applied().seq + 1;
    let change = Change {
        epoch,
        seq,
        at_unix_ms: seq,
        who: "admin".into(),
        client,
        op,
        healed_from: None,
    };
    Some(tree.apply(&change).unwrap())
}

/// The loser's side of the heal against `winner`, in memory: the orphans.
fn find_orphans(winner: &Tree, loser: &Tree) -> Orphans {
    let (mut heal, mut request) = Heal::start();
    loop {
        let a = answer(winner, request, false).unwrap();
        match heal.on_answer(loser, a).unwrap() {
            HealStep::Ask(next) => request = next,
            HealStep::Replay(orphans) => return orphans,
        }
    }
}

/// The winner's side: replays the orphans page by page as its own changes
/// (epoch 5), as its stream would; returns the plans.
fn replay(winner: &mut Tree, orphans: &Orphans) -> Vec<Replay> {
    let mut all = Vec::new();
    for page in pages(orphans.records.clone()) {
        let known: BTreeSet<String> = winner
            .recent_clients(usize::MAX)
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        let planned = plan(
            winner,
            orphans.fork,
            &page,
            |c| known.contains(c),
            1_000_000,
        );
        for step in &planned {
            if let Replay::Make(edit) = step {
                let seq = winner.last_applied().seq + 1;
                winner.apply(&edit.clone().into_change(5, seq)).unwrap();
            }
        }
        all.extend(planned);
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn after_a_heal_every_losers_change_is_on_both_nodes_once(
        base in proptest::collection::vec((0..PATHS, 0u8..4), 0..20),
        loser_edits in proptest::collection::vec((0..PATHS, 0u8..5, any::<bool>()), 0..20),
        winner_edits in proptest::collection::vec((0..PATHS, 0u8..5), 0..20),
        retried in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let mut winner = Tree::default();
        for (i, (n, v)) in base.iter().enumerate() {
            edit(&mut winner, 2, *n, *v, format!("base-{i}"));
        }
        let mut loser = winner.clone();
        let fork = winner.last_applied().seq;
        let mut theirs = Vec::new();
        for (i, (n, v, with_id)) in loser_edits.iter().enumerate() {
            let client = if *with_id { format!("loser-{i}") } else { String::new() };
            theirs.extend(edit(&mut loser, 3, *n, *v, client));
        }
        let mut winner_own: BTreeSet<TreePath> = BTreeSet::new();
        for (i, (n, v)) in winner_edits.iter().enumerate() {
            if edit(&mut winner, 5, *n, *v, format!("winner-{i}")).is_some() {
                winner_own.insert(path(*n));
            }
        }
        // Some clients retried on the winner, with the same id, while the
        // loser had already acknowledged them.
        let with_ids: Vec<&HistoryRecord> = theirs.iter().filter(|r| !r.client.is_empty()).collect();
        let mut retried_ids = BTreeSet::new();
        for index in &retried {
            if with_ids.is_empty() { break; }
            let r = with_ids[index.index(with_ids.len())];
            if retried_ids.contains(&r.client) { continue; }
            let seq = winner.last_applied().seq + 1;
            let op = match &r.new {
                Some(object) => Op::Put { path: r.path.clone(), object: object.clone() },
                None if winner.get(&r.path).is_some() => Op::Remove { path: r.path.clone() },
                None => continue,
            };
            winner.apply(&Change {
                epoch: 5, seq, at_unix_ms: seq, who: "admin".into(),
                client: r.client.clone(), op, healed_from: None,
            }).unwrap();
            retried_ids.insert(r.client.clone());
            winner_own.insert(r.path.clone());
        }

        let orphans = find_orphans(&winner, &loser);
        prop_assert_eq!(orphans.records.len(), theirs.len());
        if !theirs.is_empty() {
            prop_assert_eq!(orphans.fork, fork);
        }
        replay(&mut winner, &orphans);

        // Every change of the loser's is on the winner exactly once, under
        // its client id (its own or the derived one).
        let mut by_client: BTreeMap<String, Vec<HistoryRecord>> = BTreeMap::new();
        for n in 0..PATHS {
            for r in winner.history(&path(n)) {
                by_client.entry(r.client.clone()).or_default().push(r.clone());
            }
        }
        for r in &theirs {
            let client = duet_config::heal::client_of(r);
            let found = by_client.get(&client).map_or(0, Vec::len);
            prop_assert_eq!(found, 1, "{} is on the winner {} times", client, found);
            let made = &by_client[&client][0];
            if retried_ids.contains(&client) {
                continue;
            }
            let origin = made.healed_from.as_ref().unwrap();
            prop_assert_eq!((origin.epoch, origin.seq), (r.epoch, r.seq));
            // A path the winner changed after the fork keeps the winner's
            // value; the loser's is a conflict record.
            prop_assert_eq!(made.conflict.is_some(), winner_own.contains(&r.path));
            if let Some(conflict) = &made.conflict {
                prop_assert_eq!(&conflict.value, &r.new);
            }
        }
        for n in 0..PATHS {
            let p = path(n);
            let last_theirs = theirs.iter().rev().find(|r| r.path == p);
            if let (false, Some(r)) = (winner_own.contains(&p), last_theirs) {
                prop_assert_eq!(winner.get(&p), r.new.as_ref());
            }
        }

        // A repeated heal (the loser stopped before its resync) makes nothing.
        let before = winner.last_applied();
        let again = replay(&mut winner, &orphans);
        prop_assert_eq!(winner.last_applied(), before);
        let made_again = again.iter().filter(|s| matches!(s, Replay::Make(_))).count();
        prop_assert_eq!(made_again, 0);

        // Then the resync: one digest, one history, and nothing left to heal.
        resync_with(&winner, &mut loser, false);
        prop_assert_eq!(
            loser.digests().get(Bucket::ROOT),
            winner.digests().get(Bucket::ROOT)
        );
        for n in 0..PATHS {
            prop_assert_eq!(loser.history(&path(n)), winner.history(&path(n)));
        }
        prop_assert!(find_orphans(&winner, &loser).records.is_empty());
    }
}

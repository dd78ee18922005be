//! The change stream's rules, and a property test of the leader and the
//! follower under random writes, retries, losses and reconnections.

use std::collections::{BTreeMap, VecDeque};

use duet_stream::{
    CATCH_UP_REASK_ENTRIES, Entry, Follower, FollowerCommand, Leader, LeaderCommand, Limits,
    Position, Replication,
};
use proptest::prelude::*;

type L = Leader<String>;

fn acks(cmds: &[LeaderCommand<String>]) -> Vec<(String, u64)> {
    cmds.iter()
        .filter_map(|c| match c {
            LeaderCommand::AckClient { client, seq } => Some((client.clone(), *seq)),
            _ => None,
        })
        .collect()
}

fn in_sync_leader() -> L {
    let mut leader = L::new(2, 0, Limits::default());
    leader.backup_connected(Position::new(2, 0));
    assert_eq!(leader.state(), Replication::InSync);
    leader
}

#[test]
fn in_sync_a_write_is_acknowledged_only_once_the_backup_has_it() {
    let mut leader = in_sync_leader();
    let out = leader.write(0, "c1".into(), "put /config/Users/alice".into());
    let entry = Entry {
        epoch: 2,
        seq: 1,
        change: "put /config/Users/alice".to_string(),
    };
    assert_eq!(
        out,
        vec![
            LeaderCommand::Persist(entry.clone()),
            LeaderCommand::Send(entry)
        ]
    );
    assert!(
        acks(&leader.persisted(1)).is_empty(),
        "persisted locally is not enough"
    );
    assert_eq!(acks(&leader.backup_ack(1)), vec![("c1".to_string(), 1)]);
}

#[test]
fn alone_a_write_is_acknowledged_once_persisted() {
    let mut leader = L::new(2, 0, Limits::default());
    let out = leader.write(0, "c1".into(), "x".into());
    assert_eq!(out.len(), 1, "nothing to send without a backup");
    assert_eq!(acks(&leader.persisted(1)), vec![("c1".to_string(), 1)]);
}

#[test]
fn a_backup_falling_behind_is_no_longer_waited_for_until_it_catches_up() {
    let limits = Limits {
        ack_wait_max_ms: 500,
        ..Limits::default()
    };
    let mut leader = L::new(2, 0, limits);
    leader.backup_connected(Position::new(2, 0));
    leader.write(0, "c1".into(), "x".into());
    leader.persisted(1);
    assert!(leader.tick(400).is_empty());
    assert_eq!(leader.next_deadline(), Some(501));
    let out = leader.tick(501);
    assert!(matches!(
        &out[0],
        LeaderCommand::Replication { state: Replication::CatchingUp, why } if why.contains("fell behind")
    ));
    assert_eq!(acks(&out), vec![("c1".to_string(), 1)]);
    assert_eq!(leader.state(), Replication::CatchingUp);
    // Still connected: changes keep streaming, and once the backup has
    // them all it is waited for again.
    let out = leader.write(600, "c2".into(), "y".into());
    assert!(out.iter().any(|c| matches!(c, LeaderCommand::Send(_))));
    leader.persisted(2);
    leader.backup_ack(2);
    assert_eq!(leader.state(), Replication::InSync);
}

#[test]
fn more_changes_waiting_than_the_limit_asks_for_a_tick_at_once() {
    let limits = Limits {
        unacked_max: 2,
        ..Limits::default()
    };
    let mut leader = L::new(2, 0, limits);
    leader.backup_connected(Position::new(2, 0));
    for (n, client) in ["c1", "c2"].into_iter().enumerate() {
        leader.write(n as u64, client.into(), "x".into());
    }
    assert_ne!(leader.next_deadline(), Some(0), "at the limit, not past it");
    leader.write(2, "c3".into(), "x".into());
    assert_eq!(leader.next_deadline(), Some(0));
    let out = leader.tick(3);
    assert!(matches!(
        &out[0],
        LeaderCommand::Replication {
            state: Replication::CatchingUp,
            ..
        }
    ));
    assert_eq!(
        leader.next_deadline(),
        None,
        "no longer waiting for the backup"
    );
}

#[test]
fn a_retried_write_is_applied_once() {
    let mut leader = in_sync_leader();
    leader.write(0, "c1".into(), "x".into());
    assert!(
        leader.write(1, "c1".into(), "x".into()).is_empty(),
        "still under way"
    );
    leader.persisted(1);
    leader.backup_ack(1);
    assert_eq!(
        leader.write(2, "c1".into(), "x".into()),
        vec![LeaderCommand::AckClient {
            client: "c1".into(),
            seq: 1
        }]
    );
    assert_eq!(leader.last_seq(), 1);
}

#[test]
fn a_returning_backup_catches_up_from_the_retained_changes_or_resyncs() {
    let mut leader = L::new(
        2,
        0,
        Limits {
            retained_max: 3,
            ..Limits::default()
        },
    );
    for i in 0..5 {
        leader.write(i, format!("c{i}"), format!("change {i}"));
        leader.persisted(i + 1);
    }
    // Retained: 3, 4, 5. A backup at 2 catches up by resending 3-5.
    let out = leader.backup_connected(Position::new(2, 2));
    let sent: Vec<u64> = out
        .iter()
        .filter_map(|c| match c {
            LeaderCommand::Send(e) => Some(e.seq),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![3, 4, 5]);
    assert_eq!(leader.state(), Replication::CatchingUp);
    leader.backup_ack(5);
    assert_eq!(leader.state(), Replication::InSync);
    // A backup at 1 is too far behind: it needs a resynchronisation.
    leader.backup_lost("test");
    let out = leader.backup_connected(Position::new(2, 1));
    assert!(
        out.contains(&LeaderCommand::Resync {
            upto: Position::new(2, 5)
        }),
        "{out:?}"
    );
    // Behind until it says hello again at the resynchronised position.
    assert_eq!(leader.state(), Replication::CatchingUp);
    leader.backup_connected(Position::new(2, 5));
    assert_eq!(leader.state(), Replication::InSync);
}

/// Large content pushes the oldest retained changes out by its bytes
/// (the `Weight` of a change: a `String`'s length here), however few.
#[test]
fn the_retained_changes_are_bounded_by_the_bytes_they_carry_too() {
    let limits = Limits {
        retained_bytes_max: 1_000,
        ..Limits::default()
    };
    let mut leader = L::new(2, 0, limits);
    for i in 0..4u64 {
        leader.write(i, format!("c{i}"), "x".repeat(400));
        leader.persisted(i + 1);
    }
    // Retained: 3 and 4 (800 bytes); a backup at 2 catches up.
    let out = leader.backup_connected(Position::new(2, 2));
    assert!(
        out.iter()
            .any(|c| matches!(c, LeaderCommand::Send(e) if e.seq == 3)),
        "{out:?}"
    );
    // One at 1 resynchronises.
    leader.backup_lost("test");
    let out = leader.backup_connected(Position::new(2, 1));
    assert!(
        out.iter()
            .any(|c| matches!(c, LeaderCommand::Resync { .. })),
        "{out:?}"
    );
}

/// Content is sent ahead of the backup's acknowledgements only up to
/// `sent_ahead_bytes_max` (at least one change), so the link's pings never
/// wait behind a whole upload; the rest goes as the backup acknowledges.
#[test]
fn content_sent_ahead_of_the_acknowledgements_is_bounded_by_its_bytes() {
    let limits = Limits {
        sent_ahead_bytes_max: 1_000,
        ..Limits::default()
    };
    let mut leader = L::new(2, 0, limits);
    leader.backup_connected(Position::new(2, 0));
    let sent = |out: &[LeaderCommand<String>]| -> Vec<u64> {
        out.iter()
            .filter_map(|c| match c {
                LeaderCommand::Send(e) => Some(e.seq),
                _ => None,
            })
            .collect()
    };
    let mut went = Vec::new();
    for i in 0..5u64 {
        went.extend(sent(&leader.write(i, format!("c{i}"), "x".repeat(400))));
    }
    assert_eq!(went, [1, 2], "800 bytes ahead; a third would be 1,200");
    assert_eq!(sent(&leader.backup_ack(1)), [3]);
    assert_eq!(sent(&leader.backup_ack(3)), [4, 5]);
    // One change larger than the bound still goes, alone.
    assert_eq!(
        sent(&leader.write(9, "big".into(), "y".repeat(5_000))),
        Vec::<u64>::new()
    );
    assert_eq!(sent(&leader.backup_ack(5)), [6]);
}

/// A backup thousands of changes behind (one that resynchronised under
/// full write load, while the active node moved on) catches up from the
/// retained changes in windows of `sent_ahead_max` as it acknowledges them,
/// new changes waiting their turn, rather than resynchronising again and
/// again (at 1,850 changes a second, a resync always ended more than 200
/// behind, and started over).
#[test]
fn a_backup_far_behind_catches_up_in_windows_and_new_changes_wait_their_turn() {
    let limits = Limits::default();
    let mut leader = L::new(2, 0, limits);
    for i in 0..1_000u64 {
        leader.write(i, format!("c{i}"), format!("change {i}"));
        leader.persisted(i + 1);
    }
    let sent = |out: &[LeaderCommand<String>]| -> Vec<u64> {
        out.iter()
            .filter_map(|c| match c {
                LeaderCommand::Send(e) => Some(e.seq),
                LeaderCommand::Resync { .. } => panic!("resynchronised again: {c:?}"),
                _ => None,
            })
            .collect()
    };
    let window = limits.sent_ahead_max as u64;
    let first = sent(&leader.backup_connected(Position::new(2, 100)));
    assert_eq!(first, (101..=100 + window).collect::<Vec<_>>());
    assert_eq!(leader.state(), Replication::CatchingUp);
    // A new change while it catches up is not sent out of turn.
    assert!(sent(&leader.write(5_000, "new".into(), "new".into())).is_empty());
    let mut acked = 100 + window;
    let mut received = first;
    while leader.state() != Replication::InSync {
        let next = sent(&leader.backup_ack(acked));
        assert!(next.len() as u64 <= window, "a window is at most {window}");
        received.extend(&next);
        acked = received.last().copied().unwrap_or(acked);
        if next.is_empty() {
            leader.backup_ack(acked);
        }
    }
    assert_eq!(received, (101..=1_001).collect::<Vec<_>>());
    // In sync again: a new change goes at once.
    assert_eq!(
        sent(&leader.write(6_000, "later".into(), "later".into())),
        vec![1_002]
    );
}

/// In sync, a burst of changes faster than the backup acknowledges them
/// (2,000 desktops coming back at once after a switchover) is sent a
/// window at a time: the link's outbox holds 256 frames, and the whole
/// burst at once overflowed it and closed the link.
#[test]
fn in_sync_a_burst_is_sent_a_window_at_a_time_and_every_write_is_acknowledged() {
    let limits = Limits::default();
    let window = limits.sent_ahead_max as u64;
    let mut leader = in_sync_leader();
    let mut sent = Vec::new();
    for i in 0..2_000u64 {
        for command in leader.write(i, format!("c{i}"), format!("presence {i}")) {
            if let LeaderCommand::Send(e) = command {
                sent.push(e.seq);
            }
        }
        assert!(
            acks(&leader.persisted(i + 1)).is_empty(),
            "not on the backup"
        );
    }
    assert_eq!(sent, (1..=window).collect::<Vec<_>>(), "one window ahead");
    let mut acknowledged = Vec::new();
    let mut acked = 0;
    while acked < 2_000 {
        acked = *sent.last().expect("something sent");
        for command in leader.backup_ack(acked) {
            match command {
                LeaderCommand::Send(e) => sent.push(e.seq),
                LeaderCommand::AckClient { seq, .. } => acknowledged.push(seq),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(sent.len() as u64 <= acked + window, "past the window");
    }
    assert_eq!(sent, (1..=2_000).collect::<Vec<_>>(), "each once, in order");
    assert_eq!(acknowledged, (1..=2_000).collect::<Vec<_>>());
    assert_eq!(leader.state(), Replication::InSync);
}

#[test]
fn the_follower_applies_in_order_once_and_asks_to_catch_up_after_a_gap() {
    let mut follower = Follower::new(Position::new(2, 0));
    let e = |seq| Entry {
        epoch: 2,
        seq,
        change: (),
    };
    assert_eq!(follower.receive(e(1)).len(), 2);
    assert!(follower.receive(e(1)).is_empty(), "a repeat is ignored");
    assert_eq!(
        follower.receive(e(3)),
        vec![FollowerCommand::CatchUp {
            applied: Position::new(2, 1)
        }]
    );
    assert_eq!(follower.applied(), Position::new(2, 1));
    // The entries after it wait for the resend: one ask per gap, since
    // each ask makes the active node send its window again ...
    for seq in 4..4 + CATCH_UP_REASK_ENTRIES {
        assert!(follower.receive(e(seq)).is_empty(), "entry {seq}");
    }
    // ... until so many came that the ask (or the resend) was lost.
    assert_eq!(
        follower.receive(e(5_000)),
        vec![FollowerCommand::CatchUp {
            applied: Position::new(2, 1)
        }]
    );
    // The resend closes the gap; a new gap is asked about at once.
    assert_eq!(follower.receive(e(2)).len(), 2);
    assert_eq!(
        follower.receive(e(9)),
        vec![FollowerCommand::CatchUp {
            applied: Position::new(2, 2)
        }]
    );
}

#[derive(Debug, Clone)]
enum Step {
    Write(u8),
    Persist,
    Deliver,
    DeliverAck,
    Disconnect,
    Reconnect,
    Tick(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..20).prop_map(Step::Write),
        3 => Just(Step::Persist),
        4 => Just(Step::Deliver),
        3 => Just(Step::DeliverAck),
        1 => Just(Step::Disconnect),
        1 => Just(Step::Reconnect),
        1 => (0u16..2000).prop_map(Step::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_stream_keeps_its_invariants(steps in proptest::collection::vec(step(), 1..200)) {
        let limits = Limits { retained_max: 8, ack_wait_max_ms: 1000, ..Limits::default() };
        let mut leader: L = Leader::new(2, 0, limits);
        let mut follower = Follower::new(Position::new(2, 0));
        let mut log: BTreeMap<u64, String> = BTreeMap::new(); // the active's changes
        let mut shadow: Vec<(u64, String)> = Vec::new(); // what the backup applied
        let mut to_persist: VecDeque<u64> = VecDeque::new();
        let mut wire: VecDeque<Entry<String>> = VecDeque::new();
        let mut acks_wire: VecDeque<u64> = VecDeque::new();
        let mut connected = false;
        let mut client_seqs: BTreeMap<String, u64> = BTreeMap::new();
        let mut now = 0u64;
        for s in steps {
            now += 10;
            let mut out = match s {
                Step::Write(c) => leader.write(now, format!("client{c}"), format!("change by {c} at {now}")),
                Step::Persist => match to_persist.pop_front() { Some(seq) => leader.persisted(seq), None => vec![] },
                Step::Deliver => {
                    if let Some(entry) = wire.pop_front() {
                        for cmd in follower.receive(entry) {
                            match cmd {
                                FollowerCommand::Apply(e) => shadow.push((e.seq, e.change)),
                                FollowerCommand::Ack { seq } => acks_wire.push_back(seq),
                                FollowerCommand::CatchUp { .. } => {}
                            }
                        }
                    }
                    vec![]
                }
                Step::DeliverAck => match acks_wire.pop_front() { Some(seq) if connected => leader.backup_ack(seq), _ => vec![] },
                Step::Disconnect => {
                    connected = false;
                    wire.clear();
                    acks_wire.clear();
                    leader.backup_lost("link down")
                }
                Step::Reconnect if !connected => {
                    connected = true;
                    leader.backup_connected(follower.applied())
                }
                Step::Reconnect => vec![],
                Step::Tick(extra) => { now += u64::from(extra); leader.tick(now) }
            };
            while let Some(cmd) = out.pop() {
                match cmd {
                    LeaderCommand::Persist(e) => {
                        prop_assert!(log.insert(e.seq, e.change).is_none(), "seq {} used twice", e.seq);
                        to_persist.push_back(e.seq);
                    }
                    LeaderCommand::Send(e) => if connected { wire.push_back(e) },
                    LeaderCommand::Resync { upto } => {
                        // The resync installs the active's state up to `upto`.
                        shadow = log.range(..=upto.seq).map(|(s, c)| (*s, c.clone())).collect();
                        follower.resynchronised(upto);
                        wire.clear();
                    }
                    LeaderCommand::AckClient { client, seq } => {
                        // Retries get the same number.
                        let first_time = !client_seqs.contains_key(&client);
                        let first = *client_seqs.entry(client.clone()).or_insert(seq);
                        prop_assert_eq!(first, seq);
                        prop_assert!(log.contains_key(&seq));
                        // Acknowledged in sync: the backup already has it
                        // (a retry may be answered in sync for a change
                        // first acknowledged while the backup caught up).
                        if first_time && leader.state() == Replication::InSync {
                            prop_assert!(follower.applied().seq >= seq, "seq {} acknowledged but not on the backup", seq);
                        }
                    }
                    LeaderCommand::Replication { .. } => {}
                }
            }
            // The backup's shadow is a prefix of the active's log, in order, each once.
            let expected: Vec<(u64, String)> = log.range(..=follower.applied().seq).map(|(s, c)| (*s, c.clone())).collect();
            prop_assert_eq!(&shadow, &expected);
        }
    }
}

/// A leader that made `changes` alone (each stored), and a backup that
/// connects having none of them.
fn backup_returning_behind(changes: u64) -> L {
    let mut leader = L::new(2, 0, Limits::default());
    for n in 1..=changes {
        leader.write(0, format!("c{n}"), "x".into());
        leader.persisted(n);
    }
    leader.backup_connected(Position::new(2, 0));
    leader
}

/// A backup that reconnects behind while clients keep writing: each of its
/// acknowledgements comes with a write more in flight, so one covering
/// every change never comes. Once it acknowledges what there was when its
/// previous acknowledgement came, it keeps pace and the pair is in sync:
/// from then on a write (one already in flight too) waits for it.
#[test]
fn a_backup_that_keeps_pace_under_steady_writes_is_in_sync() {
    let mut leader = backup_returning_behind(3);
    assert_eq!(leader.state(), Replication::CatchingUp);
    // It acknowledges 3 (the last when it connected) with 4 in flight.
    leader.write(0, "c4".into(), "x".into());
    leader.backup_ack(3);
    assert_eq!(leader.state(), Replication::InSync);
    // Change 4, in flight, waits for the backup, as a new write does.
    assert!(acks(&leader.persisted(4)).is_empty());
    leader.write(0, "c5".into(), "x".into());
    assert!(acks(&leader.persisted(5)).is_empty());
    assert_eq!(acks(&leader.backup_ack(4)), vec![("c4".to_string(), 4)]);
    assert_eq!(leader.state(), Replication::InSync);
}

/// A backup that falls further behind with every acknowledgement does
/// not keep pace: it stays catching up, and clients are not kept waiting.
#[test]
fn a_backup_that_falls_behind_stays_catching_up() {
    let mut leader = backup_returning_behind(4);
    let mut last = 4;
    for acked in [1, 3, 5] {
        for _ in 0..3 {
            last += 1;
            leader.write(0, format!("c{last}"), "x".into());
        }
        leader.backup_ack(acked);
        assert_eq!(leader.state(), Replication::CatchingUp, "after {acked}");
    }
    assert_eq!(acks(&leader.persisted(5)), vec![("c5".to_string(), 5)]);
}

/// A resynchronising backup is sent the changes made past the resync's
/// position as they come, and acknowledges them before it holds those up
/// to it: those acknowledgements do not make it in sync (it would then be
/// held out as holding every change, a takeover's guard among those it
/// tells). Its hello after the resync does, from where it stands.
#[test]
fn a_resynchronising_backup_is_in_sync_only_after_its_hello() {
    let mut leader = backup_returning_behind(3);
    leader.backup_diverged();
    assert_eq!(leader.state(), Replication::CatchingUp);
    leader.write(0, "c4".into(), "x".into());
    leader.persisted(4);
    for acked in [4, 4] {
        leader.backup_ack(acked);
        assert_eq!(leader.state(), Replication::CatchingUp);
    }
    leader.backup_connected(Position::new(2, 4));
    assert_eq!(leader.state(), Replication::InSync);
}

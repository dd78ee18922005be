//! Random sequences of changes (legal and not) mixed with router
//! decisions; after every step the state's invariants hold, and replaying
//! the applied changes on a shadow (the backup) gives the same digest;
//! the rows taken now and then, stored in a model store, load as a state
//! equal to the live one.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use duet_interactions::model::{
    Blob, ChosenStatus, Content, Delivery, FileRef, HealConflict, InteractionState, Recovery,
    Sender, UNREFERENCED_CHUNK_KEEP_MS, chunk_name,
};
use duet_interactions::state::{RowKey, Rows};
use duet_interactions::{
    Actor, Change, DEFAULT_LIMITS, Interactions, MediaType, PageItem, TransferTarget,
};
use duet_rsm::{Limits, StateMachine};
use proptest::prelude::*;
use support::*;

const IDS: [&str; 6] = ["i0", "i1", "i2", "i3", "i4", "i5"];
const WHO: [&str; 4] = ["ann", "bob", "cat", "zed"];
const QUEUES: [&str; 4] = ["sales", "support", "user:bob", "nowhere"];
const MEDIA: [MediaType; 5] = [
    MediaType::Call,
    MediaType::Chat,
    MediaType::Email,
    MediaType::Sms,
    MediaType::Callback,
];

#[derive(Debug, Clone)]
enum Op {
    Create(usize, usize, usize, i32),
    Offer(usize, usize),
    Accept(usize, usize),
    /// Accepted by whoever it is offered to (if anyone).
    AcceptOffered(usize),
    Reject(usize, usize),
    Message(usize, u8, usize),
    Delivery(usize, u8),
    Hold(usize),
    Resume(usize),
    Transfer(usize, usize),
    Conference(usize, usize),
    Disconnect(usize, usize),
    WrapUp(usize, bool),
    Login(usize),
    Logout(usize),
    Status(usize, u8),
    Route,
    StartInterval,
    /// A takeover recovering the media whose bits are set.
    Takeover(u8),
    Forget(usize),
    /// A heal's conflict record.
    Conflict(usize),
    /// A chunk of content (one of a few), stored.
    Chunk(u8),
    /// A file shared in a transcript, of one of the few chunks (held or
    /// not).
    File(usize, u8, u8),
    /// An hour passes (chunks nobody refers to go).
    Later,
    /// The node takes the changed rows into its store.
    Persist,
    /// The state is replaced by a snapshot of itself (as a resync would):
    /// the store takes every row again and drops the rest.
    Reinstall,
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0..IDS.len();
    let w = 0..WHO.len();
    prop_oneof![
        3 => (i.clone(), 0..MEDIA.len(), 0..QUEUES.len(), -2..3i32)
            .prop_map(|(a, b, c, d)| Op::Create(a, b, c, d)),
        2 => (i.clone(), w.clone()).prop_map(|(a, b)| Op::Offer(a, b)),
        1 => (i.clone(), w.clone()).prop_map(|(a, b)| Op::Accept(a, b)),
        6 => i.clone().prop_map(Op::AcceptOffered),
        1 => (i.clone(), w.clone()).prop_map(|(a, b)| Op::Reject(a, b)),
        3 => (i.clone(), 0..4u8, 0..WHO.len() + 1).prop_map(|(a, b, c)| Op::Message(a, b, c)),
        1 => (i.clone(), 0..3u8).prop_map(|(a, b)| Op::Delivery(a, b)),
        1 => i.clone().prop_map(Op::Hold),
        1 => i.clone().prop_map(Op::Resume),
        1 => (i.clone(), 0..QUEUES.len() + 1).prop_map(|(a, b)| Op::Transfer(a, b)),
        1 => (i.clone(), w.clone()).prop_map(|(a, b)| Op::Conference(a, b)),
        2 => (i.clone(), 0..WHO.len() + 1).prop_map(|(a, b)| Op::Disconnect(a, b)),
        2 => (i.clone(), any::<bool>()).prop_map(|(a, b)| Op::WrapUp(a, b)),
        2 => w.clone().prop_map(Op::Login),
        1 => w.clone().prop_map(Op::Logout),
        1 => (w, 0..4u8).prop_map(|(a, b)| Op::Status(a, b)),
        4 => Just(Op::Route),
        1 => Just(Op::StartInterval),
        1 => any::<u8>().prop_map(Op::Takeover),
        1 => i.clone().prop_map(Op::Forget),
        1 => (0..3usize).prop_map(Op::Conflict),
        2 => (0..4u8).prop_map(Op::Chunk),
        2 => (i.clone(), 0..4u8, 0..4u8).prop_map(|(a, b, c)| Op::File(a, b, c)),
        1 => Just(Op::Later),
        3 => Just(Op::Persist),
        1 => Just(Op::Reinstall),
    ]
}

fn sender(n: usize) -> Sender {
    WHO.get(n)
        .map_or(Sender::Customer, |w| Sender::Agent(w.to_string()))
}

fn actor(n: usize) -> Actor {
    WHO.get(n)
        .map_or(Actor::Customer, |w| Actor::Agent(w.to_string()))
}

fn change(op: &Op, state: &Interactions) -> Option<(Actor, Change)> {
    // Mostly an interaction that exists (so changes reach deep states),
    // sometimes any id.
    let live: Vec<String> = state.interactions().map(|ix| ix.id.to_string()).collect();
    let id = |i: usize| match live.get(i % live.len().max(1)) {
        Some(id) if i < 4 => id.clone(),
        _ => IDS[i].to_string(),
    };
    let who = |w: usize| WHO[w].to_string();
    Some(match *op {
        Op::Create(i, m, q, p) => {
            let mut c = create(IDS[i], MEDIA[m], QUEUES[q]);
            if let Change::Create(new) = &mut c {
                new.priority = p;
            }
            (Actor::System, c)
        }
        Op::Offer(i, w) => (Actor::Router, offer(IDS[i], WHO[w], u64::MAX / 2)),
        Op::Accept(i, w) => (
            Actor::Agent(who(w)),
            Change::Accept {
                id: id(i),
                agent: who(w),
            },
        ),
        Op::AcceptOffered(i) => {
            let offered: Vec<(String, String)> = state
                .interactions()
                .filter_map(|ix| match &ix.state {
                    InteractionState::Offered { agent, .. } => {
                        Some((ix.id.to_string(), agent.clone()))
                    }
                    _ => None,
                })
                .collect();
            let (id, agent) = offered
                .get(i % offered.len().max(1))
                .cloned()
                .unwrap_or_else(|| (IDS[i].to_string(), "ann".into()));
            (Actor::Agent(agent.clone()), Change::Accept { id, agent })
        }
        Op::Reject(i, w) => (
            Actor::Agent(who(w)),
            Change::Reject {
                id: id(i),
                agent: who(w),
            },
        ),
        Op::Message(i, m, s) => (
            actor(s),
            Change::Message {
                id: id(i),
                message_id: format!("m{m}"),
                sender: sender(s),
                body: format!("body {m}"),
            },
        ),
        Op::Delivery(i, d) => (
            Actor::System,
            Change::MessageDelivery {
                id: id(i),
                message_id: format!("m{d}"),
                delivery: [Delivery::Accepted, Delivery::Delivered, Delivery::Read][d as usize],
            },
        ),
        Op::Hold(i) => (Actor::System, Change::Hold { id: id(i) }),
        Op::Resume(i) => (Actor::System, Change::Resume { id: id(i) }),
        Op::Transfer(i, q) => (
            Actor::System,
            Change::Transfer {
                id: id(i),
                to: match QUEUES.get(q) {
                    Some(q) => TransferTarget::Queue(q.to_string()),
                    None => TransferTarget::Agent("cat".into()),
                },
            },
        ),
        Op::Conference(i, w) => (
            Actor::System,
            Change::Conference {
                id: id(i),
                agent: who(w),
            },
        ),
        Op::Disconnect(i, a) => (actor(a), Change::Disconnect { id: id(i) }),
        Op::WrapUp(i, good) => (
            Actor::System,
            Change::WrapUp {
                id: id(i),
                code: if good { "resolved" } else { "bogus" }.into(),
                notes: String::new(),
            },
        ),
        Op::Login(w) => (Actor::Agent(who(w)), login(WHO[w])),
        Op::Logout(w) => (
            Actor::Agent(who(w)),
            Change::AgentLogout {
                agent: who(w),
                media: vec![],
                reason_code: 50002,
            },
        ),
        Op::Status(w, s) => (
            Actor::Agent(who(w)),
            Change::AgentStatus {
                agent: who(w),
                status: match s {
                    0 => ChosenStatus::Available,
                    1 => ChosenStatus::NotReady {
                        reason: "break".into(),
                    },
                    2 => ChosenStatus::NonAcd {
                        name: "Away".into(),
                    },
                    _ => ChosenStatus::NonAcd {
                        name: "Napping".into(),
                    },
                },
            },
        ),
        Op::StartInterval => (Actor::System, Change::StartInterval),
        Op::Takeover(bits) => {
            let on = |bit: u8| bits & (1 << bit) != 0;
            let recovery = Recovery {
                mail: on(0),
                mail_filter: on(1),
                chat: on(2),
                callback: on(3),
                sms: on(4),
                social_conversation: on(5),
                direct_message: on(6),
            };
            (Actor::System, Change::Takeover { recovery })
        }
        Op::Forget(i) => (Actor::Router, Change::Forget { id: id(i) }),
        Op::Conflict(n) => (
            Actor::System,
            Change::HealConflict(Box::new(HealConflict {
                node: "b".into(),
                epoch: 1,
                seq: n as u64,
                client: format!("lost-{n}"),
                actor: Actor::System,
                at_ms: 1,
                change: Change::Hold { id: id(n) },
                why: "closed here".into(),
            })),
        ),
        Op::Chunk(k) => (
            Actor::Customer,
            Change::Chunk {
                name: chunk_name(&chunk_bytes(k)),
                bytes: chunk_bytes(k).into(),
            },
        ),
        Op::File(i, m, k) => (
            Actor::Customer,
            Change::FileShared {
                id: id(i),
                message_id: format!("f{m}"),
                sender: Sender::Customer,
                file: FileRef {
                    file_id: format!("{}/f{m}", id(i)),
                    name: "f".into(),
                    size_bytes: chunk_bytes(k).len() as u64,
                    content_type: "text/plain".into(),
                },
                content: Blob {
                    size_bytes: chunk_bytes(k).len() as u64,
                    chunks: vec![chunk_name(&chunk_bytes(k))],
                },
            },
        ),
        Op::Route | Op::Persist | Op::Reinstall | Op::Later => return None,
    })
}

fn chunk_bytes(k: u8) -> Vec<u8> {
    vec![k; usize::from(k) + 1]
}

/// A model of the node's store: rows by key.
type Store = BTreeMap<RowKey, PageItem>;

fn persist(store: &mut Store, rows: Rows) {
    if rows.whole {
        store.clear();
    }
    for (key, item) in rows.changed {
        match item {
            Some(item) => store.insert(key, item),
            None => store.remove(&key),
        };
    }
}

/// What the test knows must be true, tracked alongside the state.
#[derive(Default)]
struct Expect {
    created_at: BTreeMap<String, u64>,
    messages: BTreeMap<String, BTreeSet<String>>,
}

fn check_invariants(state: &Interactions, expect: &Expect) {
    let directory = state.directory();
    // Assignments agree both ways.
    let mut held = 0;
    for ix in state.interactions() {
        if let Some(owner) = ix.state.owner() {
            assert!(!ix.parties.conference.contains(owner), "{ix:?}");
        }
        for agent in ix.agents() {
            held += 1;
            let a = state.agent(agent).expect("holder is a live agent");
            assert!(
                a.assigned
                    .get(&ix.media)
                    .is_some_and(|s| s.contains(ix.id.as_str())),
                "{} not in {agent}'s assigned set",
                ix.id
            );
        }
        // Segments contiguous, only the last open.
        for pair in ix.segments.windows(2) {
            assert_eq!(pair[0].end_ms, Some(pair[1].start_ms), "{:?}", ix.segments);
        }
        if ix.is_closed() {
            assert!(ix.segments.iter().all(|s| s.end_ms.is_some()));
        }
        assert_eq!(
            Some(&ix.created_at_ms),
            expect.created_at.get(ix.id.as_str())
        );
        // Every file's content is held.
        for f in &ix.files {
            for name in &f.content.chunks {
                assert!(state.chunk(name).is_some(), "{name} of {} not held", ix.id);
            }
        }
        if let Content::Transcript(t) = &ix.content {
            let ids: BTreeSet<_> = t.iter().map(|m| m.id.clone()).collect();
            assert_eq!(ids.len(), t.len(), "a message id twice");
            for m in expect.messages.get(ix.id.as_str()).into_iter().flatten() {
                assert!(ids.contains(m), "accepted message {m} missing");
            }
        }
    }
    let mut assigned = 0;
    for agent in state.agents() {
        for (media, ids) in &agent.assigned {
            assigned += ids.len();
            let capacity = directory
                .agents
                .get(&agent.name)
                .map_or(0, |c| c.capacity(*media));
            assert!(ids.len() <= capacity, "{} over capacity", agent.name);
            for id in ids {
                let ix = state.get(id).expect("assigned interaction is live");
                assert_eq!(ix.media, *media);
                assert!(ix.has_agent(&agent.name));
            }
        }
    }
    assert_eq!(held, assigned);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_a_shadow_replaying_the_changes_is_equal(
        ops in prop::collection::vec((op(), 0..20_000u64), 1..80),
    ) {
        let mut h = Harness::new(directory());
        // A short history, so its rows are dropped too.
        let limits = Limits { history_max: 16, ..DEFAULT_LIMITS };
        h.state = Interactions::new(directory(), limits);
        let mut store = Store::new();
        let mut expect = Expect::default();
        let mut now = 1_000;
        for (op, step) in &ops {
            now += step;
            if matches!(op, Op::Later) {
                now += UNREFERENCED_CHUNK_KEEP_MS;
            }
            match change(op, &h.state) {
                None if matches!(op, Op::Persist) => persist(&mut store, h.state.take_rows()),
                None if matches!(op, Op::Reinstall) => {
                    let pages = h.state.snapshot_pages(1024);
                    let position = h.state.position();
                    h.state.install(&pages, position).unwrap();
                }
                None => {
                    // The indexes routing reads, kept as the state
                    // changed, decide as ones built afresh from it.
                    let mut rebuilt = Interactions::new(directory(), h.state.limits());
                    rebuilt.install(&h.state.snapshot_pages(1024), h.state.position()).unwrap();
                    prop_assert_eq!(h.router.decide(&rebuilt, now), h.router.decide(&h.state, now));
                    // So do the counts the metrics and queue figures read.
                    prop_assert_eq!(rebuilt.census(), h.state.census());
                    prop_assert_eq!(rebuilt.chunk_bytes(), h.state.chunk_bytes());
                    for queue in QUEUES {
                        prop_assert_eq!(
                            rebuilt.queue_figures(queue, now),
                            h.state.queue_figures(queue, now)
                        );
                    }
                    h.route(now);
                }
                Some((actor, change)) => {
                    let result = h.run(now, actor, change.clone());
                    if result.is_ok() {
                        match &change {
                            Change::Create(new) => {
                                expect.created_at.insert(new.id.clone(), now);
                                expect.messages.insert(new.id.clone(), BTreeSet::new());
                            }
                            Change::Message { id, message_id, .. } => {
                                expect.messages.entry(id.clone()).or_default().insert(message_id.clone());
                            }
                            // An email a takeover did not recover is
                            // requeued as a new one, created now.
                            Change::Takeover { .. } => {
                                for ix in h.state.interactions() {
                                    expect.created_at.entry(ix.id.to_string()).or_insert(now);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            for forgotten in expect.created_at.keys().filter(|id| h.state.get(id).is_none()).cloned().collect::<Vec<_>>() {
                expect.created_at.remove(&forgotten);
                expect.messages.remove(&forgotten);
            }
            check_invariants(&h.state, &expect);
        }
        // The backup's shadow: the same commands at the same positions.
        let mut shadow = Interactions::new(directory(), h.state.limits());
        for (at, cmd) in &h.applied {
            prop_assert!(shadow.apply(*at, cmd).is_ok());
        }
        prop_assert_eq!(shadow.digest(), h.state.digest());
        // And a snapshot makes an empty node equal too.
        let mut fresh = Interactions::new(directory(), h.state.limits());
        fresh.install(&h.state.snapshot_pages(1024), h.state.position()).unwrap();
        prop_assert_eq!(fresh.digest(), h.state.digest());
        prop_assert_eq!(fresh.waiting("sales").collect::<Vec<_>>(), h.state.waiting("sales").collect::<Vec<_>>());
        // And the rows stored a few at a time load as the live state.
        persist(&mut store, h.state.take_rows());
        let mut loaded = Interactions::from_rows(directory(), limits, store.clone(), h.state.position()).unwrap();
        prop_assert_eq!(loaded.digest(), h.state.digest());
        prop_assert!(loaded == h.state, "the history and every item");
        prop_assert_eq!(loaded.waiting("sales").collect::<Vec<_>>(), h.state.waiting("sales").collect::<Vec<_>>());
        prop_assert_eq!(loaded.take_rows(), Rows::default(), "what was loaded is stored");
    }
}

//! The router: exact decisions for each strategy, timeouts, no-answer
//! handling, after call work, capacity, skills and user queues.

mod support;

use std::collections::BTreeMap;

use duet_interactions::model::{
    AgentStatus, ChosenStatus, InteractionState, QueueMember, Strategy,
};
use duet_interactions::{Actor, Change, Error, MediaType, NewInteraction};
use support::*;

fn harness_with(strategy: Strategy) -> Harness {
    let mut dir = directory();
    if let Some(q) = dir.queues.get_mut("sales") {
        q.strategy = strategy;
    }
    let mut h = Harness::new(dir);
    for (i, agent) in AGENTS.iter().enumerate() {
        h.sys(1_000 * (i as u64 + 1), login(agent));
    }
    h
}

fn accept(id: &str, agent: &str) -> Change {
    Change::Accept {
        id: id.into(),
        agent: agent.into(),
    }
}

fn hang_up(h: &mut Harness, at: u64, id: &str) {
    h.run(at, Actor::Customer, Change::Disconnect { id: id.into() })
        .unwrap();
}

#[test]
fn longest_idle_offers_to_the_agent_idle_longest() {
    let mut h = harness_with(Strategy::LongestIdle);
    h.sys(4_000, create("c1", MediaType::Call, "sales"));
    assert_eq!(h.decide(4_000), vec![offer("c1", "ann", 14_000)]);
    // Ann becomes idle again later than bob: bob is next.
    h.route(4_000);
    h.sys(5_000, accept("c1", "ann"));
    hang_up(&mut h, 6_000, "c1");
    h.sys(7_000, create("c2", MediaType::Call, "sales"));
    assert_eq!(h.decide(7_000), vec![offer("c2", "bob", 17_000)]);
}

#[test]
fn round_robin_continues_after_the_last_agent_offered() {
    let mut h = harness_with(Strategy::RoundRobin);
    let mut offered = Vec::new();
    for (n, at) in (0..4).map(|n| (n, 10_000 + n * 1_000)) {
        let id = format!("c{n}");
        h.sys(at, create(&id, MediaType::Call, "sales"));
        let decided = h.route(at);
        let Some(Change::Offer { agent, .. }) = decided.first() else {
            panic!("no offer: {decided:?}");
        };
        offered.push(agent.clone());
        h.sys(at, accept(&id, agent));
        hang_up(&mut h, at + 500, &id);
    }
    assert_eq!(offered, ["ann", "bob", "cat", "ann"]);
    // The cursor is state, so a new active node continues from it.
    let cursor = h
        .state
        .queue_live("sales")
        .and_then(|q| q.rr_cursor.clone());
    assert_eq!(cursor.as_deref(), Some("ann"));
}

#[test]
fn least_occupied_prefers_the_agent_holding_fewest() {
    let mut h = harness_with(Strategy::LeastOccupied);
    for (id, agent) in [("x1", "ann"), ("x2", "ann"), ("x3", "bob")] {
        h.sys(5_000, create(id, MediaType::Chat, "sales"));
        h.run(5_000, Actor::Router, offer(id, agent, 20_000))
            .unwrap();
        h.sys(5_000, accept(id, agent));
    }
    h.sys(6_000, create("y", MediaType::Chat, "sales"));
    assert_eq!(h.decide(6_000), vec![offer("y", "cat", 16_000)]);
}

#[test]
fn skills_with_levels_filter_by_minimum_and_prefer_higher_levels() {
    let mut dir = directory();
    if let Some(q) = dir.queues.get_mut("sales") {
        q.strategy = Strategy::BestSkilled;
    }
    for (agent, level) in [("ann", 2), ("bob", 5), ("cat", 1)] {
        if let Some(a) = dir.agents.get_mut(agent) {
            a.skills.insert("billing".into(), level);
        }
    }
    let mut h = Harness::new(dir);
    for agent in AGENTS {
        h.sys(1_000, login(agent));
    }
    let wanting = |id: &str, level: u32| {
        Change::Create(Box::new(NewInteraction {
            skills: BTreeMap::from([("billing".to_string(), level)]),
            ..match create(id, MediaType::Email, "sales") {
                Change::Create(new) => *new,
                _ => unreachable!(),
            }
        }))
    };
    h.sys(2_000, wanting("e1", 2));
    assert_eq!(h.decide(2_000), vec![offer("e1", "bob", 12_000)]);
    h.route(2_000);
    // Nobody has billing 6: it waits.
    h.sys(3_000, wanting("e2", 6));
    assert_eq!(h.decide(3_000), vec![]);
    // An offer to an agent below the minimum is refused.
    assert!(matches!(
        h.run(3_000, Actor::Router, offer("e2", "bob", 9_000)),
        Err(Error::SkillsNotMet { .. })
    ));
}

#[test]
fn priority_rises_with_waiting_time() {
    let mut h = Harness::new(directory());
    let with_priority = |id: &str, priority: i32| {
        Change::Create(Box::new(NewInteraction {
            priority,
            ..match create(id, MediaType::Email, "sales") {
                Change::Create(new) => *new,
                _ => unreachable!(),
            }
        }))
    };
    // weight 60 s a point: i2 (priority 1, 30 s later) goes before i1;
    // i3 (priority 1, 100 s later) after it.
    h.sys(0, with_priority("i1", 0));
    h.sys(30_000, with_priority("i2", 1));
    h.sys(100_000, with_priority("i3", 1));
    assert_eq!(
        h.state.waiting("sales").collect::<Vec<_>>(),
        ["i2", "i1", "i3"]
    );
    h.sys(200_000, login("ann"));
    let offers = h.decide(200_000);
    let ids: Vec<_> = offers
        .iter()
        .filter_map(|c| match c {
            Change::Offer { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["i2", "i1", "i3"]);
}

#[test]
fn queues_sharing_agents_are_served_by_how_long_each_interaction_waited_not_by_name() {
    // "sales" comes before "support" by name. Ann alone takes calls (one
    // at a time) and serves both; the call waiting longest goes first,
    // whatever its queue, then the next oldest once she is free.
    let mut dir = directory();
    if let Some(support) = dir.queues.get_mut("support") {
        support.acw_ms = 0;
        support.wrap_up_codes.clear();
    }
    let mut h = Harness::new(dir);
    h.sys(1_000, create("s1", MediaType::Call, "support"));
    h.sys(2_000, create("a1", MediaType::Call, "sales"));
    h.sys(3_000, create("s2", MediaType::Call, "support"));
    h.sys(
        4_000,
        Change::AgentLogin {
            agent: "ann".into(),
            media: vec![MediaType::Call],
        },
    );
    let mut served = Vec::new();
    for at in [5_000, 8_000, 11_000] {
        let decided = h.route(at);
        let Some(Change::Offer { id, .. }) =
            decided.iter().find(|c| matches!(c, Change::Offer { .. }))
        else {
            panic!("no offer at {at}: {decided:?}");
        };
        served.push(id.clone());
        h.sys(at + 1_000, accept(id, "ann"));
        hang_up(&mut h, at + 2_000, id);
    }
    assert_eq!(served, ["s1", "a1", "s2"]);
}

#[test]
fn between_queues_priority_counts_as_waiting_time_in_its_own_queue() {
    // s1 (support, priority 1 at its 60 s a point) came 30 s after a1
    // (sales, priority 0): it counts as having waited 30 s longer, and
    // Ann's one call goes to it.
    let mut h = Harness::new(directory());
    let call = |id: &str, queue: &str, priority: i32| {
        Change::Create(Box::new(NewInteraction {
            priority,
            ..match create(id, MediaType::Call, queue) {
                Change::Create(new) => *new,
                _ => unreachable!(),
            }
        }))
    };
    h.sys(0, call("a1", "sales", 0));
    h.sys(30_000, call("s1", "support", 1));
    h.sys(
        40_000,
        Change::AgentLogin {
            agent: "ann".into(),
            media: vec![MediaType::Call],
        },
    );
    let offered: Vec<_> = h
        .decide(40_000)
        .into_iter()
        .filter_map(|c| match c {
            Change::Offer { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(offered, ["s1"]);
}

#[test]
fn an_offer_that_times_out_goes_to_the_next_agent() {
    let mut h = harness_with(Strategy::LongestIdle);
    h.sys(4_000, create("c1", MediaType::Call, "sales"));
    h.route(4_000);
    assert_eq!(h.decide(13_999), vec![]);
    assert_eq!(
        h.decide(14_000),
        vec![Change::OfferTimedOut {
            id: "c1".into(),
            agent: "ann".into()
        }]
    );
    let decided = h.route(14_000);
    assert_eq!(
        decided,
        vec![
            Change::OfferTimedOut {
                id: "c1".into(),
                agent: "ann".into()
            },
            offer("c1", "bob", 24_000),
        ]
    );
    let ix = h.state.get("c1").unwrap();
    assert!(ix.visit.declined_by.contains("ann"));
    assert_eq!(h.state.agent("ann").unwrap().no_answers, 1);
}

#[test]
fn repeated_no_answers_set_the_agent_not_ready_with_the_reason() {
    let mut dir = directory();
    if let Some(q) = dir.queues.get_mut("sales") {
        q.members = BTreeMap::from([("ann".to_string(), QueueMember::default())]);
    }
    let mut h = Harness::new(dir);
    h.sys(1_000, login("ann"));
    h.sys(2_000, create("c1", MediaType::Call, "sales"));
    h.route(2_000);
    assert_eq!(
        h.route(12_000),
        vec![
            Change::OfferTimedOut {
                id: "c1".into(),
                agent: "ann".into()
            },
            offer("c1", "ann", 22_000),
        ]
    );
    assert_eq!(
        h.route(22_000),
        vec![
            Change::OfferTimedOut {
                id: "c1".into(),
                agent: "ann".into()
            },
            Change::AgentStatus {
                agent: "ann".into(),
                status: ChosenStatus::NotReady {
                    reason: "missed offers".into()
                }
            },
        ]
    );
    let ann = h.state.agent("ann").unwrap();
    assert_eq!(
        ann.status,
        AgentStatus::NotReady {
            reason: "missed offers".into()
        }
    );
    assert_eq!(h.state.get("c1").unwrap().state, InteractionState::Queued);
}

#[test]
fn after_call_work_expires_to_available_or_to_the_chosen_status() {
    let mut h = harness_with(Strategy::LongestIdle);
    h.sys(4_000, create("s1", MediaType::Chat, "support"));
    h.route(4_000);
    h.sys(5_000, accept("s1", "ann"));
    hang_up(&mut h, 10_000, "s1");
    assert_eq!(
        h.state.agent("ann").unwrap().status,
        AgentStatus::AfterCallWork {
            until_ms: 40_000,
            then: ChosenStatus::Available
        }
    );
    assert_eq!(h.decide(39_999), vec![]);
    assert_eq!(
        h.route(40_000),
        vec![Change::AcwExpired {
            agent: "ann".into()
        }]
    );
    assert_eq!(h.state.agent("ann").unwrap().status, AgentStatus::Available);
    // Support wants a wrap-up code: the chat stays in wrap-up until given.
    assert!(matches!(
        h.state.get("s1").unwrap().state,
        InteractionState::WrapUp { .. }
    ));

    // A status chosen during the work follows it.
    h.sys(50_000, create("s2", MediaType::Chat, "support"));
    h.route(50_000);
    let agent = match &h.state.get("s2").unwrap().state {
        InteractionState::Offered { agent, .. } => agent.clone(),
        other => panic!("{other:?}"),
    };
    h.sys(51_000, accept("s2", &agent));
    hang_up(&mut h, 52_000, "s2");
    let brb = ChosenStatus::NotReady {
        reason: "break".into(),
    };
    h.sys(
        53_000,
        Change::AgentStatus {
            agent: agent.clone(),
            status: brb.clone(),
        },
    );
    h.route(82_000);
    assert_eq!(h.state.agent(&agent).unwrap().status, brb.into());
}

#[test]
fn an_agent_in_a_non_acd_status_is_never_offered() {
    let mut h = harness_with(Strategy::LongestIdle);
    h.sys(
        2_000,
        Change::AgentStatus {
            agent: "ann".into(),
            status: ChosenStatus::NonAcd {
                name: "Away".into(),
            },
        },
    );
    h.sys(4_000, create("c1", MediaType::Call, "sales"));
    assert_eq!(h.decide(4_000), vec![offer("c1", "bob", 14_000)]);
    assert!(matches!(
        h.run(4_000, Actor::Router, offer("c1", "ann", 14_000)),
        Err(Error::NonAcdStatus { .. })
    ));
    // A status that is not configured is refused.
    assert!(matches!(
        h.run(
            4_000,
            Actor::Agent("bob".into()),
            Change::AgentStatus {
                agent: "bob".into(),
                status: ChosenStatus::NonAcd {
                    name: "Napping".into()
                }
            }
        ),
        Err(Error::UnknownStatus { .. })
    ));
}

#[test]
fn an_agent_full_until_a_directory_change_raises_their_capacity_is_offered_then() {
    let mut dir = directory();
    if let Some(q) = dir.queues.get_mut("sales") {
        q.members = BTreeMap::from([("ann".to_string(), QueueMember::default())]);
    }
    let mut h = Harness::new(dir.clone());
    // Logged in for chat alone: full there, she has room nowhere.
    h.sys(
        1_000,
        Change::AgentLogin {
            agent: "ann".into(),
            media: vec![MediaType::Chat],
        },
    );
    for n in 0..4 {
        h.sys(
            2_000 + n,
            create(&format!("x{n}"), MediaType::Chat, "sales"),
        );
    }
    assert_eq!(h.route(3_000).len(), 3, "three chats fill ann");
    assert_eq!(h.decide(3_000), Vec::new());
    if let Some(ann) = dir.agents.get_mut("ann") {
        ann.capacity.insert(MediaType::Chat, 4);
    }
    h.state.set_directory(dir.clone());
    assert_eq!(h.decide(3_500), vec![offer("x3", "ann", 13_500)]);
    // Lowered again below her load: nobody to offer to.
    if let Some(ann) = dir.agents.get_mut("ann") {
        ann.capacity.insert(MediaType::Chat, 1);
    }
    h.state.set_directory(dir);
    assert_eq!(h.decide(3_500), Vec::new());
}

#[test]
fn capacity_is_respected() {
    let mut dir = directory();
    if let Some(q) = dir.queues.get_mut("sales") {
        q.members = BTreeMap::from([("ann".to_string(), QueueMember::default())]);
    }
    let mut h = Harness::new(dir);
    h.sys(1_000, login("ann"));
    for n in 0..5 {
        h.sys(
            2_000 + n,
            create(&format!("x{n}"), MediaType::Chat, "sales"),
        );
    }
    let decided = h.route(3_000);
    assert_eq!(
        decided,
        vec![
            offer("x0", "ann", 13_000),
            offer("x1", "ann", 13_000),
            offer("x2", "ann", 13_000)
        ]
    );
    assert!(matches!(
        h.run(3_000, Actor::Router, offer("x3", "ann", 13_000)),
        Err(Error::CapacityExceeded { capacity: 3, .. })
    ));
}

#[test]
fn a_decision_makes_at_most_offers_max_offers_and_the_next_continues() {
    let mut dir = directory();
    if let Some(q) = dir.queues.get_mut("sales") {
        q.members = BTreeMap::from([("ann".to_string(), QueueMember::default())]);
    }
    let mut h = Harness::new(dir);
    h.router.offers_max = 2;
    h.sys(1_000, login("ann"));
    for n in 0..3 {
        h.sys(
            2_000 + n,
            create(&format!("x{n}"), MediaType::Chat, "sales"),
        );
    }
    assert_eq!(
        h.decide(3_000),
        vec![offer("x0", "ann", 13_000), offer("x1", "ann", 13_000)]
    );
    // Routing to the end makes the third offer too.
    assert_eq!(h.route(3_000).len(), 3);
}

#[test]
fn a_callback_is_offered_only_once_its_window_opens() {
    use duet_interactions::model::{Callback, CallbackWindow, Content, Party};
    let mut h = harness_with(Strategy::LongestIdle);
    h.sys(
        4_000,
        Change::Create(Box::new(NewInteraction {
            id: "cb1".into(),
            media: MediaType::Callback,
            queue: "sales".into(),
            priority: 0,
            skills: BTreeMap::new(),
            attributes: BTreeMap::new(),
            customer: Party::default(),
            content: Content::Callback(Box::new(Callback {
                number: "+15550100".into(),
                window: CallbackWindow {
                    from_ms: 60_000,
                    to_ms: 120_000,
                },
                attempts: Vec::new(),
            })),
        })),
    );
    assert_eq!(h.decide(59_999), vec![]);
    assert_eq!(h.decide(60_000), vec![offer("cb1", "ann", 70_000)]);
}

#[test]
fn a_lost_desktop_logs_the_agent_out_with_50002_after_the_grace_unless_it_comes_back() {
    let mut dir = directory();
    dir.settings.desktop_grace_ms = 10_000;
    let mut h = Harness::new(dir);
    h.sys(1_000, login("ann"));
    h.sys(1_000, login("bob"));
    for agent in ["ann", "bob"] {
        h.sys(
            1_100,
            Change::DesktopAttached {
                agent: agent.into(),
            },
        );
    }
    // A switchover: every attached desktop's connection is gone.
    h.sys(
        2_000,
        Change::Takeover {
            recovery: Default::default(),
        },
    );
    // ann's desktop reconnects within the grace; bob's does not.
    h.sys(
        5_000,
        Change::DesktopAttached {
            agent: "ann".into(),
        },
    );
    assert_eq!(h.decide(11_999), vec![]);
    assert_eq!(
        h.decide(12_000),
        vec![Change::AgentLogout {
            agent: "bob".into(),
            media: Vec::new(),
            reason_code: 50002
        }]
    );
    h.route(12_000);
    assert_eq!(
        h.state.agent("bob").unwrap().status,
        AgentStatus::LoggedOut { reason_code: 50002 }
    );
    assert_eq!(h.state.agent("ann").unwrap().status, AgentStatus::Available);
    // Nothing more to time but the statistics interval's end.
    assert_eq!(h.decide(60_000), vec![]);
    assert_eq!(h.router.next_deadline(&h.state), Some(1_800_000));
}

#[test]
fn user_queue_interactions_go_only_to_their_agent() {
    let mut h = harness_with(Strategy::LongestIdle);
    h.sys(
        1_500,
        Change::AgentStatus {
            agent: "bob".into(),
            status: ChosenStatus::NotReady {
                reason: "busy".into(),
            },
        },
    );
    h.sys(4_000, create("d1", MediaType::Email, "user:bob"));
    assert_eq!(h.decide(4_000), vec![offer("d1", "bob", 19_000)]);
    assert!(matches!(
        h.run(4_000, Actor::Router, offer("d1", "ann", 19_000)),
        Err(Error::NotAMember { .. })
    ));
}

#[test]
fn closed_interactions_are_forgotten_after_retention() {
    let mut h = harness_with(Strategy::LongestIdle);
    h.sys(4_000, create("c1", MediaType::Call, "sales"));
    hang_up(&mut h, 5_000, "c1");
    let retention = h.state.directory().settings.closed_retention_ms;
    assert_eq!(h.router.next_deadline(&h.state), Some(5_000 + retention));
    assert_eq!(h.decide(5_000 + retention - 1), vec![]);
    assert_eq!(
        h.route(5_000 + retention),
        vec![Change::Forget { id: "c1".into() }]
    );
    assert!(h.state.get("c1").is_none());
}

#[test]
fn queue_figures_count_answers_service_level_and_abandons() {
    let mut h = harness_with(Strategy::LongestIdle);
    h.sys(10_000, create("c1", MediaType::Call, "sales"));
    h.route(10_000);
    h.sys(15_000, accept("c1", "ann"));
    hang_up(&mut h, 75_000, "c1");
    h.sys(80_000, create("c2", MediaType::Call, "sales"));
    hang_up(&mut h, 90_000, "c2");
    h.sys(95_000, create("c3", MediaType::Call, "sales"));
    let f = h.state.queue_figures("sales", 100_000).unwrap();
    assert_eq!(f.waiting, 1);
    assert_eq!(f.longest_wait_ms, 5_000);
    assert_eq!(f.totals.answered, 1);
    assert_eq!(f.abandoned, 1);
    assert_eq!(f.asa_ms, Some(5_000));
    assert_eq!(f.aht_ms, Some(60_000));
    assert_eq!(f.service_level_pct, Some(50.0));
    assert_eq!(f.agents_by_status.get("available"), Some(&3));
    assert!(h.state.queue_figures("nowhere", 0).is_none());
}

#[test]
fn a_queued_chat_whose_customer_is_gone_ends_as_abandoned() {
    use duet_interactions::model::{InteractionState, Sender};
    // The setting, not its default (300 s).
    const ABANDON_AFTER_MS: u64 = 60_000;
    let mut dir = directory();
    dir.settings.customer_gone_abandon_ms = ABANDON_AFTER_MS;
    let mut h = Harness::new(dir);
    for id in ["w1", "w2", "w3"] {
        h.run(1_000, Actor::Customer, create(id, MediaType::Chat, "sales"))
            .unwrap();
    }
    let presence = |id: &str, present: bool| Change::CustomerPresence {
        id: id.into(),
        present,
    };
    h.sys(10_000, presence("w1", false));
    h.sys(10_000, presence("w2", false));
    // w2's customer says something: its clock starts again.
    h.run(
        100_000,
        Actor::Customer,
        Change::Message {
            id: "w2".into(),
            message_id: "m1".into(),
            sender: Sender::Customer,
            body: "still here".into(),
        },
    )
    .unwrap();
    // w3's customer never went: no socket said so.
    assert_eq!(
        h.router.next_deadline(&h.state),
        Some(10_000 + ABANDON_AFTER_MS)
    );
    assert!(h.route(10_000 + ABANDON_AFTER_MS - 1).is_empty());
    assert_eq!(
        h.route(10_000 + ABANDON_AFTER_MS),
        [Change::Disconnect { id: "w1".into() }]
    );
    let state = |h: &Harness, id: &str| h.state.get(id).map(|ix| ix.state.clone());
    assert!(matches!(
        state(&h, "w1"),
        Some(InteractionState::Closed { .. })
    ));
    let figures = h
        .state
        .queue_figures("sales", 10_000 + ABANDON_AFTER_MS)
        .unwrap();
    assert_eq!(figures.abandoned, 1);
    // w2's customer comes back before its time: it keeps waiting.
    h.sys(200_000, presence("w2", true));
    assert!(h.route(100_000 + ABANDON_AFTER_MS + 1).is_empty());
    assert_eq!(state(&h, "w2"), Some(InteractionState::Queued));
    assert_eq!(state(&h, "w3"), Some(InteractionState::Queued));
}

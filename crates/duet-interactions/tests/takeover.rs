//! A takeover by a new active node: seed 004's rules for what carries on,
//! what duet keeps where the seed lists a loss, the seed's losses when a
//! media's recovery is turned off, and statistics intervals split in two.

mod support;

use duet_interactions::model::{
    AgentStatus, Content, EmailReply, InteractionState, Recovery, ReplyState, SegmentKind, Sender,
};
use duet_interactions::state::{IntervalEnd, LOST_AT_SWITCHOVER, START_AGAIN};
use duet_interactions::{Actor, Change, MediaType};
use support::*;

fn takeover(recovery: Recovery) -> Change {
    Change::Takeover { recovery }
}

fn accept(h: &mut Harness, at: u64, id: &str, agent: &str) {
    h.run(
        at,
        Actor::Agent(agent.into()),
        Change::Accept {
            id: id.into(),
            agent: agent.into(),
        },
    )
    .unwrap();
}

fn say(h: &mut Harness, at: u64, id: &str, message_id: &str, sender: Sender) {
    h.sys(
        at,
        Change::Message {
            id: id.into(),
            message_id: message_id.into(),
            sender,
            body: format!("text of {message_id}"),
        },
    );
}

fn draft(h: &mut Harness, at: u64, id: &str, agent: &str) {
    h.sys(
        at,
        Change::EmailDraft {
            id: id.into(),
            reply_id: "r1".into(),
            agent: agent.into(),
            html: "<p>Dear customer, <b>yes</b></p>".into(),
            text: "Dear customer, yes".into(),
            attachments: vec![],
        },
    );
}

fn replies(h: &Harness, id: &str) -> Vec<EmailReply> {
    match &h.state.get(id).unwrap().content {
        Content::Email(email) => email.replies.clone(),
        other => panic!("not an email: {other:?}"),
    }
}

/// ann and bob logged in; a chat connected to ann on her user queue with
/// two messages and a status line; an email connected to an agent with a
/// draft; an email and a callback offered on "sales".
fn busy_pair() -> Harness {
    let mut h = Harness::new(directory());
    h.sys(1_000, login("ann"));
    h.sys(1_000, login("bob"));
    h.sys(2_000, create("chat", MediaType::Chat, "user:ann"));
    h.route(2_000);
    accept(&mut h, 2_500, "chat", "ann");
    say(&mut h, 3_000, "chat", "m1", Sender::Customer);
    say(&mut h, 3_100, "chat", "m2", Sender::Agent("ann".into()));
    h.sys(4_000, create("mail", MediaType::Email, "sales"));
    let offered = h.route(4_000);
    let [Change::Offer { agent, .. }] = offered.as_slice() else {
        panic!("{offered:?}")
    };
    let agent = agent.clone();
    accept(&mut h, 4_500, "mail", &agent);
    draft(&mut h, 5_000, "mail", &agent);
    h.sys(6_000, create("mail2", MediaType::Email, "sales"));
    h.sys(6_000, create("cb", MediaType::Callback, "sales"));
    h.route(6_000);
    assert!(matches!(
        h.state.get("mail2").unwrap().state,
        InteractionState::Offered { .. }
    ));
    h
}

#[test]
fn connected_work_carries_on_and_offers_are_routed_again() {
    let mut h = busy_pair();
    let chat_before = h.state.get("chat").unwrap().clone();
    let order_before = h.state.get("mail2").unwrap().visit.order_key;
    h.sys(10_000, takeover(Recovery::default()));

    // Connected on a user queue: stays with its agent, nothing lost.
    let chat = h.state.get("chat").unwrap();
    assert_eq!(
        chat.state,
        InteractionState::Connected {
            agent: "ann".into()
        }
    );
    assert_eq!(chat.created_at_ms, chat_before.created_at_ms);
    assert_eq!(
        chat.content, chat_before.content,
        "messages and status lines kept"
    );
    assert_eq!(chat.seqno, 1);
    // The records written after the switchover carry seqno 1 (the open
    // segment's is written when it ends); durations run on from creation.
    let last = chat.segments.last().unwrap();
    assert_eq!(
        (last.kind, last.start_ms, last.end_ms, last.seqno),
        (SegmentKind::Connected, 2_500, None, 1)
    );
    assert!(
        chat.segments[..chat.segments.len() - 1]
            .iter()
            .all(|s| s.seqno == 0)
    );
    assert_eq!(chat.age_ms(12_000), 10_000);

    // The email's draft, HTML and id survive.
    assert_eq!(
        replies(&h, "mail")[0].html,
        "<p>Dear customer, <b>yes</b></p>"
    );
    assert_eq!(replies(&h, "mail")[0].state, ReplyState::Draft);

    // Offering on a workgroup queue: routed again, keeping its place.
    let mail2 = h.state.get("mail2").unwrap();
    assert_eq!(mail2.state, InteractionState::Queued);
    assert_eq!(mail2.visit.order_key, order_before);
    assert!(mail2.visit.declined_by.is_empty(), "not a missed offer");
    let again = h.route(10_000);
    assert!(
        again
            .iter()
            .any(|c| matches!(c, Change::Offer { id, .. } if id == "mail2")),
        "{again:?}"
    );
    // Wrap-up records after the switchover carry seqno 1 too.
    h.run(
        12_000,
        Actor::Customer,
        Change::Disconnect { id: "chat".into() },
    )
    .unwrap();
    assert!(h.state.get("chat").unwrap().is_closed());
}

#[test]
fn after_call_work_timers_keep_running_across_a_takeover() {
    let mut h = Harness::new(directory());
    h.sys(1_000, login("ann"));
    h.sys(2_000, create("s1", MediaType::Chat, "support"));
    h.route(2_000);
    accept(&mut h, 2_500, "s1", "ann");
    h.run(
        3_000,
        Actor::Customer,
        Change::Disconnect { id: "s1".into() },
    )
    .unwrap();
    // 30 s of after call work from 3 s.
    h.sys(
        3_000,
        Change::WrapUp {
            id: "s1".into(),
            code: "resolved".into(),
            notes: String::new(),
        },
    );
    assert!(matches!(
        h.state.agent("ann").unwrap().status,
        AgentStatus::AfterCallWork { .. }
    ));
    h.sys(20_000, takeover(Recovery::default()));
    assert!(matches!(
        h.state.agent("ann").unwrap().status,
        AgentStatus::AfterCallWork { .. }
    ));
    assert_eq!(h.router.next_deadline(&h.state), Some(33_000));
    h.route(33_000);
    assert_eq!(h.state.agent("ann").unwrap().status, AgentStatus::Available);
    let wrap = h.state.get("s1").unwrap().wrap_up.clone().unwrap();
    assert_eq!((wrap.code.as_str(), wrap.seqno), ("resolved", 0));
}

#[test]
fn recovery_off_gives_the_seeds_losses_so_the_difference_shows() {
    let mut h = busy_pair();
    let off = Recovery {
        mail: false,
        mail_filter: false,
        chat: false,
        callback: false,
        sms: false,
        social_conversation: false,
        direct_message: false,
    };
    h.sys(10_000, takeover(off));

    // "chat users had to reconnect and be requeued to an agent"
    let chat = h.state.get("chat").unwrap();
    assert!(chat.is_closed());
    let Content::Transcript(t) = &chat.content else {
        panic!()
    };
    assert_eq!(t.last().unwrap().body, START_AGAIN);
    assert!(chat.attributes.contains_key(LOST_AT_SWITCHOVER));
    assert!(
        h.state
            .agent("ann")
            .unwrap()
            .assigned
            .values()
            .all(|s| s.is_empty())
    );

    // "email interactions were requeued as new interactions": a new id and
    // creation time, the agent's draft gone, the customer's email kept.
    let mail = h.state.get("mail").unwrap();
    assert!(mail.is_closed());
    assert_eq!(mail.attributes.get(LOST_AT_SWITCHOVER).unwrap(), "mail~1");
    let requeued = h.state.get("mail~1").unwrap();
    assert_eq!(requeued.created_at_ms, 10_000);
    assert_eq!(requeued.state, InteractionState::Queued);
    assert_eq!(requeued.routing.queue, "sales");
    assert!(replies(&h, "mail~1").is_empty());

    // "callbacks were lost with no method for recovery"
    assert!(h.state.get("cb").unwrap().is_closed());
    let sales = h.state.queue_figures("sales", 10_000).unwrap();
    assert_eq!(sales.totals.lost_at_switchover, 3, "mail, mail2, cb");
}

#[test]
fn the_mail_filter_recovers_only_emails_assigned_to_an_agent() {
    let mut h = busy_pair();
    // mail2 was offered to an agent: assigned. A new one never was.
    h.sys(7_000, create("mail3", MediaType::Email, "sales"));
    let filtered = Recovery {
        mail_filter: true,
        ..Recovery::default()
    };
    h.sys(10_000, takeover(filtered));
    assert!(!h.state.get("mail").unwrap().is_closed());
    assert!(!h.state.get("mail2").unwrap().is_closed());
    assert!(h.state.get("mail3").unwrap().is_closed());
    assert!(
        h.state.get("mail3~1").is_some(),
        "requeued from the mailbox"
    );
    assert!(!h.state.get("chat").unwrap().is_closed());
}

#[test]
fn an_interval_in_progress_at_a_takeover_is_split_into_two_records() {
    let mut dir = directory();
    dir.settings.closed_retention_ms = u64::MAX / 4;
    let mut h = Harness::new(dir);
    let interval = h.state.directory().settings.statistics_interval_ms;
    assert_eq!(interval, 1_800_000, "the seed's 1800 s log records");
    let t0 = 10 * interval;
    h.sys(t0 + 1_000, login("ann"));
    let answer = |h: &mut Harness, at: u64, id: &str| {
        h.sys(at, create(id, MediaType::Chat, "sales"));
        h.route(at);
        accept(h, at + 1_000, id, "ann");
        h.run(
            at + 2_000,
            Actor::Customer,
            Change::Disconnect { id: id.into() },
        )
        .unwrap();
    };
    answer(&mut h, t0 + 10_000, "a");
    answer(&mut h, t0 + 20_000, "b");
    // A switchover 15 minutes into the interval.
    h.sys(t0 + 900_000, takeover(Recovery::default()));
    answer(&mut h, t0 + 1_000_000, "c");
    assert_eq!(h.router.next_deadline(&h.state), Some(t0 + interval));
    h.route(t0 + interval + 5);
    let records: Vec<_> = h.state.intervals().cloned().collect();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].start_ms, records[0].end_ms, records[0].ended_by),
        (t0, t0 + 900_000, IntervalEnd::Takeover)
    );
    assert_eq!(
        (records[1].start_ms, records[1].end_ms, records[1].ended_by),
        (t0 + 900_000, t0 + interval, IntervalEnd::Boundary)
    );
    // Nothing missing, nothing counted twice.
    assert_eq!(
        (
            records[0].totals.entered,
            records[0].totals.answered,
            records[0].totals.handled
        ),
        (2, 2, 2)
    );
    assert_eq!(
        (
            records[1].totals.entered,
            records[1].totals.answered,
            records[1].totals.handled
        ),
        (1, 1, 1)
    );
    assert_eq!((records[0].takeovers, records[1].takeovers), (0, 1));
    assert_eq!(h.state.reporting().interval_start_ms, t0 + interval);
}

#[test]
fn a_message_made_later_by_a_heal_takes_its_place_by_the_time_it_was_taken() {
    let mut h = Harness::new(directory());
    h.sys(1_000, create("c", MediaType::Chat, "sales"));
    say(&mut h, 2_000, "c", "m1", Sender::Customer);
    say(&mut h, 4_000, "c", "m3", Sender::Customer);
    // m2 was taken at 3 s by a node serving alone; the heal makes it here
    // after m3.
    say(&mut h, 3_000, "c", "m2", Sender::Customer);
    let Content::Transcript(t) = &h.state.get("c").unwrap().content else {
        panic!()
    };
    let ids: Vec<&str> = t.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m1", "m2", "m3"]);
}

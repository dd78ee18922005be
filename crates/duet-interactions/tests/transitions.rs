//! Changes that must be refused (with the right error, changing nothing:
//! the harness checks the digest on every failure), and the ones that
//! must be no-ops; transcripts, email replies, snapshots, history.

mod support;

use duet_interactions::model::{
    CallSignal, Content, Delivery, FileRef, InteractionState, ReplyState, SegmentKind, Sender,
};
use duet_interactions::{Actor, Change, Error, Interactions, MediaType, TransferTarget};
use duet_rsm::{Position, StateMachine};
use support::*;

fn connected_chat(h: &mut Harness, id: &str, agent: &str) {
    h.sys(1_000, login(agent));
    h.sys(2_000, create(id, MediaType::Chat, "sales"));
    h.run(2_000, Actor::Router, offer(id, agent, 12_000))
        .unwrap();
    h.sys(
        3_000,
        Change::Accept {
            id: id.into(),
            agent: agent.into(),
        },
    );
}

fn message(id: &str, message_id: &str, sender: Sender, body: &str) -> Change {
    Change::Message {
        id: id.into(),
        message_id: message_id.into(),
        sender,
        body: body.into(),
    }
}

fn transcript(h: &Harness, id: &str) -> Vec<(String, String)> {
    match &h.state.get(id).unwrap().content {
        Content::Transcript(t) => t.iter().map(|m| (m.id.clone(), m.body.clone())).collect(),
        _ => vec![],
    }
}

#[test]
fn accepting_what_was_not_offered_is_refused() {
    let mut h = Harness::new(directory());
    h.sys(1_000, login("ann"));
    h.sys(1_000, login("bob"));
    h.sys(2_000, create("c1", MediaType::Call, "sales"));
    let accept = |agent: &str| Change::Accept {
        id: "c1".into(),
        agent: agent.into(),
    };
    assert!(matches!(
        h.run(2_500, Actor::Agent("ann".into()), accept("ann")),
        Err(Error::IllegalTransition { ref from, .. }) if from == "queued"
    ));
    h.run(2_600, Actor::Router, offer("c1", "ann", 12_000))
        .unwrap();
    assert!(matches!(
        h.run(2_700, Actor::Agent("bob".into()), accept("bob")),
        Err(Error::IllegalTransition { .. })
    ));
    // Offering it twice is refused too.
    assert!(matches!(
        h.run(2_700, Actor::Router, offer("c1", "bob", 12_000)),
        Err(Error::IllegalTransition { .. })
    ));
    assert!(matches!(
        h.run(2_800, Actor::Agent("ann".into()), accept("x")),
        Err(Error::IllegalTransition { .. })
    ));
}

#[test]
fn replying_to_a_closed_chat_is_refused() {
    let mut h = Harness::new(directory());
    connected_chat(&mut h, "chat1", "ann");
    h.run(
        4_000,
        Actor::Customer,
        Change::Disconnect { id: "chat1".into() },
    )
    .unwrap();
    assert!(h.state.get("chat1").unwrap().is_closed());
    assert!(matches!(
        h.run(
            5_000,
            Actor::Agent("ann".into()),
            message("chat1", "m9", Sender::Agent("ann".into()), "still there?")
        ),
        Err(Error::Closed { .. })
    ));
    // "customer left" went into the transcript by itself.
    assert!(
        transcript(&h, "chat1")
            .iter()
            .any(|(_, body)| body == "customer left")
    );
}

/// Email s1 in support (which asks a wrap-up code), accepted by ann.
fn accepted_support_email(h: &mut Harness) {
    h.sys(1_000, login("ann"));
    h.sys(2_000, create("s1", MediaType::Email, "support"));
    h.run(2_000, Actor::Router, offer("s1", "ann", 12_000))
        .unwrap();
    h.sys(
        3_000,
        Change::Accept {
            id: "s1".into(),
            agent: "ann".into(),
        },
    );
}

#[test]
fn a_wrap_up_code_must_be_one_of_the_queues() {
    let mut h = Harness::new(directory());
    accepted_support_email(&mut h);
    let wrap = |code: &str| Change::WrapUp {
        id: "s1".into(),
        code: code.into(),
        notes: "ok".into(),
    };
    // Not in wrap-up yet.
    assert!(matches!(
        h.run(3_500, Actor::Agent("ann".into()), wrap("resolved")),
        Err(Error::IllegalTransition { .. })
    ));
    h.run(
        4_000,
        Actor::Agent("ann".into()),
        Change::Disconnect { id: "s1".into() },
    )
    .unwrap();
    assert!(matches!(
        h.run(5_000, Actor::Agent("ann".into()), wrap("lunch")),
        Err(Error::InvalidWrapUpCode { .. })
    ));
    h.run(5_000, Actor::Agent("ann".into()), wrap("resolved"))
        .unwrap();
    let ix = h.state.get("s1").unwrap();
    assert_eq!(ix.state, InteractionState::Closed { at_ms: 5_000 });
    assert_eq!(ix.wrap_up.as_ref().unwrap().code, "resolved");
    assert_eq!(h.state.agent("ann").unwrap().total_load(), 0);
    let kinds: Vec<_> = ix.segments.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            SegmentKind::Queued,
            SegmentKind::Offered,
            SegmentKind::Connected,
            SegmentKind::WrapUp,
            SegmentKind::Disconnected
        ]
    );
}

#[test]
fn unknown_queues_agents_and_interactions_are_named() {
    let mut h = Harness::new(directory());
    assert!(matches!(
        h.run(1, Actor::System, create("x", MediaType::Chat, "nowhere")),
        Err(Error::UnknownQueue { .. })
    ));
    assert!(matches!(
        h.run(1, Actor::System, login("zed")),
        Err(Error::UnknownAgent { .. })
    ));
    assert!(matches!(
        h.run(1, Actor::System, Change::Hold { id: "nope".into() }),
        Err(Error::UnknownInteraction { .. })
    ));
    h.sys(1, create("x", MediaType::Chat, "sales"));
    assert!(matches!(
        h.run(2, Actor::System, create("x", MediaType::Chat, "sales")),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        h.run(
            2,
            Actor::System,
            Change::Transfer {
                id: "x".into(),
                to: TransferTarget::Queue("nowhere".into())
            }
        ),
        Err(Error::UnknownQueue { .. })
    ));
    // An offer to a logged-out agent.
    assert!(matches!(
        h.run(2, Actor::Router, offer("x", "ann", 10)),
        Err(Error::LoggedOut { .. })
    ));
}

#[test]
fn a_repeated_message_id_is_a_no_op_and_delivery_only_moves_forward() {
    let mut h = Harness::new(directory());
    connected_chat(&mut h, "chat1", "ann");
    h.run(
        4_000,
        Actor::Customer,
        message("chat1", "m1", Sender::Customer, "hi"),
    )
    .unwrap();
    let again = h
        .run(
            4_500,
            Actor::Customer,
            message("chat1", "m1", Sender::Customer, "hi"),
        )
        .unwrap();
    assert!(again.is_empty());
    let ids: Vec<_> = transcript(&h, "chat1")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.iter().filter(|id| *id == "m1").count(), 1);
    let delivery = |d| Change::MessageDelivery {
        id: "chat1".into(),
        message_id: "m1".into(),
        delivery: d,
    };
    h.sys(5_000, delivery(Delivery::Read));
    assert!(h.sys(5_100, delivery(Delivery::Delivered)).is_empty());
    let Content::Transcript(t) = &h.state.get("chat1").unwrap().content else {
        panic!()
    };
    assert_eq!(
        t.iter().find(|m| m.id == "m1").unwrap().delivery,
        Delivery::Read
    );
    // A file's metadata joins the transcript; its bytes are chunks
    // stored before it.
    let content = h.store(6_000, b"%PDF");
    h.sys(
        6_000,
        Change::FileShared {
            id: "chat1".into(),
            message_id: "f1".into(),
            sender: Sender::Customer,
            file: FileRef {
                file_id: "blob-1".into(),
                name: "receipt.pdf".into(),
                size_bytes: 4,
                content_type: "application/pdf".into(),
            },
            content: content.clone(),
        },
    );
    assert!(transcript(&h, "chat1").iter().any(|(id, _)| id == "f1"));
    let files = &h.state.get("chat1").unwrap().files;
    assert_eq!((files.len(), &files[0].content), (1, &content));
    let chunk = h.state.chunk(&content.chunks[0]).unwrap();
    assert_eq!(chunk.bytes[..], b"%PDF"[..]);
    // An agent not on the chat cannot write in it.
    h.sys(6_000, login("bob"));
    assert!(matches!(
        h.run(
            6_500,
            Actor::Agent("bob".into()),
            message("chat1", "m2", Sender::Agent("bob".into()), "hello")
        ),
        Err(Error::NotOnInteraction { .. })
    ));
}

#[test]
fn conferences_only_where_the_media_allows() {
    let mut h = Harness::new(directory());
    h.sys(1_000, login("ann"));
    h.sys(1_000, login("bob"));
    h.sys(2_000, create("e1", MediaType::Email, "sales"));
    h.run(2_000, Actor::Router, offer("e1", "ann", 12_000))
        .unwrap();
    h.sys(
        3_000,
        Change::Accept {
            id: "e1".into(),
            agent: "ann".into(),
        },
    );
    let conf = |id: &str| Change::Conference {
        id: id.into(),
        agent: "bob".into(),
    };
    assert!(matches!(
        h.run(4_000, Actor::Agent("ann".into()), conf("e1")),
        Err(Error::WrongMedia { .. })
    ));
    connected_chat(&mut h, "chat1", "ann");
    h.run(4_000, Actor::Agent("ann".into()), conf("chat1"))
        .unwrap();
    assert_eq!(h.state.agent("bob").unwrap().load(MediaType::Chat), 1);
    // bob leaves; the chat stays with ann.
    h.run(
        5_000,
        Actor::Agent("bob".into()),
        Change::Disconnect { id: "chat1".into() },
    )
    .unwrap();
    assert_eq!(h.state.agent("bob").unwrap().load(MediaType::Chat), 0);
    assert!(matches!(
        h.state.get("chat1").unwrap().state,
        InteractionState::Connected { .. }
    ));
}

#[test]
fn email_replies_keep_html_and_attachments_and_are_sent_once() {
    let mut h = Harness::new(directory());
    h.sys(1_000, login("ann"));
    h.sys(2_000, create("e1", MediaType::Email, "sales"));
    h.run(2_000, Actor::Router, offer("e1", "ann", 12_000))
        .unwrap();
    h.sys(
        3_000,
        Change::Accept {
            id: "e1".into(),
            agent: "ann".into(),
        },
    );
    let draft = Change::EmailDraft {
        id: "e1".into(),
        reply_id: "r1".into(),
        agent: "ann".into(),
        html: "<b>thanks</b>".into(),
        text: "thanks".into(),
        attachments: vec![duet_interactions::model::Attachment {
            id: "a1".into(),
            name: "form.pdf".into(),
            content_type: "application/pdf".into(),
            content: h.store(4_000, &[1, 2, 3]),
        }],
    };
    h.run(4_000, Actor::Agent("ann".into()), draft.clone())
        .unwrap();
    let send = Change::EmailSend {
        id: "e1".into(),
        reply_id: "r1".into(),
    };
    h.run(5_000, Actor::Agent("ann".into()), send.clone())
        .unwrap();
    assert!(matches!(
        h.run(5_500, Actor::Agent("ann".into()), send),
        Err(Error::IllegalTransition { .. })
    ));
    assert!(matches!(
        h.run(5_600, Actor::Agent("ann".into()), draft),
        Err(Error::IllegalTransition { .. })
    ));
    let Content::Email(email) = &h.state.get("e1").unwrap().content else {
        panic!()
    };
    assert_eq!(email.replies[0].state, ReplyState::Sent);
    assert_eq!(email.replies[0].html, "<b>thanks</b>");
    let chunks = &email.replies[0].attachments[0].content.chunks;
    assert_eq!(h.state.chunk(&chunks[0]).unwrap().bytes[..], [1, 2, 3]);
    assert_eq!(email.replies[0].relayed, None);
    // The relay takes it once; a draft is never relayed.
    let relayed = |reply_id: &str| Change::EmailRelayed {
        id: "e1".into(),
        reply_id: reply_id.into(),
        message_id: "<r1@duet>".into(),
    };
    h.run(6_000, Actor::System, relayed("r1")).unwrap();
    assert!(matches!(
        h.run(6_100, Actor::System, relayed("r1")),
        Err(Error::IllegalTransition { .. })
    ));
    assert!(matches!(
        h.run(6_200, Actor::System, relayed("r9")),
        Err(Error::UnknownItem { .. })
    ));
    let Content::Email(email) = &h.state.get("e1").unwrap().content else {
        panic!()
    };
    assert_eq!(email.replies[0].relayed.as_deref(), Some("<r1@duet>"));
}

#[test]
fn calls_follow_signalling_and_hold_keeps_durations() {
    let mut h = Harness::new(directory());
    h.sys(1_000, login("ann"));
    h.sys(2_000, create("c1", MediaType::Call, "sales"));
    h.run(2_000, Actor::Router, offer("c1", "ann", 12_000))
        .unwrap();
    h.sys(
        3_000,
        Change::Accept {
            id: "c1".into(),
            agent: "ann".into(),
        },
    );
    h.sys(4_000, Change::Hold { id: "c1".into() });
    let signal = |h: &Harness| match &h.state.get("c1").unwrap().content {
        Content::Call(c) => c.signal,
        _ => panic!(),
    };
    assert_eq!(signal(&h), CallSignal::Held);
    assert!(matches!(
        h.run(4_500, Actor::System, Change::Hold { id: "c1".into() }),
        Err(Error::IllegalTransition { .. })
    ));
    h.sys(6_000, Change::Resume { id: "c1".into() });
    h.run(
        9_000,
        Actor::Customer,
        Change::Disconnect { id: "c1".into() },
    )
    .unwrap();
    assert_eq!(signal(&h), CallSignal::Ended);
    let ix = h.state.get("c1").unwrap();
    assert_eq!(ix.created_at_ms, 2_000);
    assert_eq!(ix.time_in_ms(SegmentKind::Held, 99_999), 2_000);
    assert_eq!(ix.time_in_ms(SegmentKind::Connected, 99_999), 4_000);
    assert_eq!(ix.time_in_ms(SegmentKind::Alerting, 99_999), 1_000);
}

#[test]
fn a_change_too_large_for_a_frame_is_refused() {
    let mut h = Harness::new(directory());
    h.sys(1_000, create("chat1", MediaType::Chat, "sales"));
    let body = "x".repeat(800 * 1024);
    assert!(matches!(
        h.run(
            2_000,
            Actor::Customer,
            message("chat1", "m1", Sender::Customer, &body)
        ),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn a_snapshot_installed_on_a_diverged_backup_makes_it_equal() {
    let mut h = Harness::new(directory());
    connected_chat(&mut h, "chat1", "ann");
    h.sys(4_000, create("e1", MediaType::Email, "support"));
    let mut backup = Interactions::new(directory(), h.state.limits());
    backup
        .apply(
            Position::new(0, 1),
            &duet_interactions::Command::new(
                "other",
                1,
                Actor::System,
                create("z", MediaType::Sms, "sales"),
            ),
        )
        .unwrap();
    let pages = h.state.snapshot_pages(256);
    assert!(pages.len() > 1, "small pages split the state");
    backup.install(&pages, h.state.position()).unwrap();
    assert_eq!(backup.digest(), h.state.digest());
    assert_eq!(backup.waiting("support").collect::<Vec<_>>(), ["e1"]);
    // A page missing is noticed.
    assert!(matches!(
        backup.install(&pages[1..], h.state.position()),
        Err(Error::BadSnapshot(_))
    ));
    assert_eq!(backup.digest(), h.state.digest());
}

#[test]
fn history_answers_epochs_and_recent_clients_and_refuses_old_positions() {
    let mut h = Harness::new(directory());
    h.sys(1, create("a", MediaType::Chat, "sales"));
    h.state.pass(Position::new(1, 2));
    h.seq = 2;
    h.sys(2, create("b", MediaType::Chat, "sales"));
    assert_eq!(h.state.position(), Position::new(1, 3));
    assert_eq!(h.state.epoch_of(1), Some(1));
    assert_eq!(h.state.epoch_of(2), None);
    assert_eq!(h.state.epoch_of(3), Some(1));
    assert_eq!(h.state.recent_clients(1), vec![("client-3".to_string(), 3)]);
    let cmd = duet_interactions::Command::new(
        "late",
        3,
        Actor::System,
        create("c", MediaType::Chat, "sales"),
    );
    assert!(matches!(
        h.state.apply(Position::new(1, 3), &cmd),
        Err(Error::OutOfOrder(..))
    ));
}

#[test]
fn an_agent_changes_only_what_it_is_offered_or_holds() {
    let mut h = Harness::new(directory());
    h.sys(1_000, login("bob"));
    connected_chat(&mut h, "chat1", "ann");
    for change in [
        Change::Hold { id: "chat1".into() },
        Change::Disconnect { id: "chat1".into() },
        Change::Transfer {
            id: "chat1".into(),
            to: duet_interactions::TransferTarget::Agent("bob".into()),
        },
    ] {
        assert!(
            matches!(
                h.run(4_000, Actor::Agent("bob".into()), change.clone()),
                Err(Error::NotOnInteraction { ref agent, .. }) if agent == "bob"
            ),
            "{change:?}"
        );
    }
    h.run(
        4_100,
        Actor::Agent("ann".into()),
        Change::Hold { id: "chat1".into() },
    )
    .unwrap();
}

#[test]
fn a_supervisor_listens_in_unseen_barges_in_visibly_and_leaves_without_ending_it() {
    let mut h = Harness::new(directory());
    connected_chat(&mut h, "chat1", "ann");
    let supervise = |barge| Change::Supervise {
        id: "chat1".into(),
        user: "sue".into(),
        barge,
    };
    // Only as itself, a user: not as an agent, not for another.
    assert!(matches!(
        h.run(4_000, Actor::Agent("ann".into()), supervise(false)),
        Err(Error::Invalid { .. })
    ));
    let lines = |h: &Harness| match &h.state.get("chat1").unwrap().content {
        duet_interactions::model::Content::Transcript(t) => t.len(),
        _ => 0,
    };
    let before = lines(&h);
    h.run(4_100, Actor::User("sue".into()), supervise(false))
        .unwrap();
    let ix = h.state.get("chat1").unwrap();
    assert_eq!(
        ix.parties.supervisors.get("sue"),
        Some(&duet_interactions::model::Supervision::Silent)
    );
    assert_eq!(
        lines(&h),
        before,
        "listening in adds nothing to the transcript"
    );
    // Silent: may not speak; barged: may.
    let say = |id: &str| message("chat1", id, Sender::Agent("sue".into()), "hello");
    assert!(h.run(4_200, Actor::User("sue".into()), say("s1")).is_err());
    h.run(4_300, Actor::User("sue".into()), supervise(true))
        .unwrap();
    h.run(4_400, Actor::User("sue".into()), say("s2")).unwrap();
    // Leaving stops the supervision only.
    h.run(
        4_500,
        Actor::User("sue".into()),
        Change::Disconnect { id: "chat1".into() },
    )
    .unwrap();
    let ix = h.state.get("chat1").unwrap();
    assert!(ix.parties.supervisors.is_empty());
    assert!(!ix.is_closed());
}

#[test]
fn customers_and_intake_fill_the_live_state_only_to_their_share() {
    let mut directory = directory();
    directory.settings.live_interactions_max = 20;
    let mut h = Harness::new(directory);
    for n in 0..19 {
        let actor = if n % 2 == 0 {
            Actor::Customer
        } else {
            Actor::System
        };
        h.run(
            1_000,
            actor,
            create(&format!("c{n}"), MediaType::Chat, "sales"),
        )
        .expect("within the customers' share");
    }
    for actor in [Actor::Customer, Actor::System] {
        assert!(matches!(
            h.run(1_000, actor, create("c19", MediaType::Chat, "sales")),
            Err(Error::Full { max: 19 })
        ));
    }
    // The reserve is there for agents' and users' own work.
    h.run(
        1_000,
        Actor::User("sue".into()),
        create("u1", MediaType::Chat, "sales"),
    )
    .expect("the reserve takes a user's interaction");
    assert!(matches!(
        h.run(
            1_000,
            Actor::Agent("ann".into()),
            create("u2", MediaType::Chat, "sales")
        ),
        Err(Error::Full { max: 20 })
    ));
}

#[test]
fn a_wrap_up_its_agent_left_is_ended_by_an_administrator_not_by_its_agent() {
    let mut h = Harness::new(directory());
    accepted_support_email(&mut h);
    let end = Change::Disconnect { id: "s1".into() };
    h.run(4_000, Actor::Agent("ann".into()), end.clone())
        .unwrap();
    // In wrap-up (the queue asks a code): its agent wraps up, it does not
    // disconnect again.
    assert!(matches!(
        h.run(5_000, Actor::Agent("ann".into()), end.clone()),
        Err(Error::IllegalTransition { .. })
    ));
    h.run(9_000, Actor::User("admin".into()), end.clone())
        .unwrap();
    let ix = h.state.get("s1").unwrap();
    assert_eq!(ix.state, InteractionState::Closed { at_ms: 9_000 });
    assert!(ix.wrap_up.is_none());
    assert!(
        h.state.agent("ann").unwrap().assigned.is_empty(),
        "the agent is free again"
    );
    assert!(matches!(
        h.run(9_500, Actor::User("admin".into()), end),
        Err(Error::Closed { .. } | Error::IllegalTransition { .. })
    ));
}

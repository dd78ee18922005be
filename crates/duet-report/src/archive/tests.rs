use duet_interactions::change::{Actor, Change, Command, NewInteraction};
use duet_interactions::model::{Attachment, Content, Email, InteractionState, Party, Sender};

use super::view::Content as Kept;
use super::*;
use serde_json::json;

use crate::database::{AnyStore, Database};
use crate::frame::Frame;
use crate::ingest::Ingest;
use crate::sql::tests::places;

fn create(id: &str, media: MediaType, queue: &str, customer: (&str, &str)) -> Change {
    let content = match media {
        MediaType::Email => Content::Email(Box::new(Email {
            mime: duet_interactions::model::blob::split(&b"MIME"[..].into()).0,
            subject: "Quote".into(),
            from: customer.0.into(),
            to: vec!["sales@example.test".into()],
            text: "Please quote".into(),
            html: "<p>Please quote</p>".into(),
            attachments: vec![Attachment {
                id: "att1".into(),
                name: "spec.pdf".into(),
                content_type: "application/pdf".into(),
                content: duet_interactions::model::blob::split(&b"%PDF"[..].into()).0,
            }],
            replies: Vec::new(),
        })),
        _ => Content::Transcript(Default::default()),
    };
    let mut attributes = std::collections::BTreeMap::new();
    if media == MediaType::Email {
        attributes.insert("message_id".to_string(), format!("{id}@customer.test"));
    }
    Change::Create(Box::new(NewInteraction {
        id: id.into(),
        media,
        queue: queue.into(),
        priority: 0,
        skills: Default::default(),
        attributes,
        customer: Party {
            address: customer.0.into(),
            name: customer.1.into(),
        },
        content,
    }))
}

fn message(id: &str, message_id: &str, sender: Sender, body: &str) -> Change {
    Change::Message {
        id: id.into(),
        message_id: message_id.into(),
        sender,
        body: body.into(),
    }
}

fn agent(a: &str) -> Actor {
    Actor::Agent(a.into())
}

/// A chat answered by `a`, a few messages (the last long), ended by the
/// customer and wrapped up.
fn chat(id: &str, queue: &str, a: &str, at_ms: u64) -> Vec<(u64, Actor, Change)> {
    vec![
        (
            at_ms,
            Actor::Customer,
            create(
                id,
                MediaType::Chat,
                queue,
                ("carol@example.test", "Carol Day"),
            ),
        ),
        (
            at_ms + 1,
            Actor::Router,
            Change::Offer {
                id: id.into(),
                agent: a.into(),
                deadline_ms: u64::MAX,
            },
        ),
        (
            at_ms + 2,
            agent(a),
            Change::Accept {
                id: id.into(),
                agent: a.into(),
            },
        ),
        (
            at_ms + 3,
            Actor::Customer,
            message(id, "c1", Sender::Customer, "hello"),
        ),
        (
            at_ms + 4,
            agent(a),
            message(id, "a1", Sender::Agent(a.into()), &"x".repeat(20_000)),
        ),
        (
            at_ms + 5,
            Actor::Customer,
            message(id, "c1", Sender::Customer, "hello"),
        ),
        (
            at_ms + 6,
            Actor::Customer,
            Change::Disconnect { id: id.into() },
        ),
        (
            at_ms + 7,
            agent(a),
            Change::WrapUp {
                id: id.into(),
                code: "sale".into(),
                notes: "ok".into(),
            },
        ),
    ]
}

fn ingest(database: &Database, steps: &[(u64, Actor, Change)]) -> Ingest<AnyStore> {
    let mut ingest = Ingest::new(database.open().unwrap()).unwrap();
    ingest.connected("a", 0).unwrap();
    ingest
        .frame(
            Frame::Gap {
                position: Position::new(1, 0),
                at_ms: 0,
            },
            0,
        )
        .unwrap();
    for (i, (at_ms, actor, change)) in steps.iter().enumerate() {
        let command = Command::new("", *at_ms, actor.clone(), change.clone());
        ingest
            .frame(
                Frame::Change {
                    at: Position::new(1, i as u64 + 1),
                    command: Box::new(command),
                },
                0,
            )
            .unwrap();
    }
    ingest
}

fn search(asked: Asked, scope: Scope) -> Search {
    Search::new(&asked, scope).unwrap()
}

fn admin() -> Scope {
    Scope {
        every_queue: true,
        ..Scope::default()
    }
}

fn ids(page: &Page) -> Vec<&str> {
    page.interactions.iter().map(|h| h.id.as_str()).collect()
}

#[test]
fn a_closed_chat_is_kept_whole_each_message_once() {
    for place in places() {
        let path = place.fresh();
        drop(ingest(&path, &chat("c1", "Sales", "ann", 1_000)));
        let ix = read::fetch(&[path], "c1").unwrap().unwrap();
        assert_eq!(
            ix.state,
            duet_interactions::model::InteractionState::Closed { at_ms: 1_007 }
        );
        assert_eq!(ix.parties.customer.name, "Carol Day");
        assert_eq!(ix.parties.joined, ["ann"]);
        assert_eq!(ix.archive.disposition, Some(Disposition::CustomerEnded));
        assert_eq!(ix.wrap_up.as_ref().unwrap().code, "sale");
        assert!(!ix.segments.is_empty());
        let Some(Kept::Transcript(lines)) = &ix.content else {
            panic!("{ix:?}");
        };
        let said: Vec<(&str, usize)> = lines
            .iter()
            .map(|l| (l.body.as_str(), l.body.len()))
            .collect();
        assert_eq!(said[0], ("agent ann joined", 16));
        assert_eq!(said[1], ("hello", 5));
        assert_eq!(said[2].1, 20_000);
        assert_eq!(said[3], ("customer left", 13));
        assert_eq!(lines.len(), 4, "{said:?}");
    }
}

#[test]
fn an_email_keeps_its_headers_attachment_references_and_replies() {
    for place in places() {
        let path = place.fresh();
        let steps = vec![
            (
                10,
                Actor::System,
                create(
                    "e1",
                    MediaType::Email,
                    "Sales",
                    ("dave@customer.test", "Dave"),
                ),
            ),
            (
                11,
                agent("ann"),
                Change::EmailDraft {
                    id: "e1".into(),
                    reply_id: "r1".into(),
                    agent: "ann".into(),
                    html: "<p>first</p>".into(),
                    text: "first".into(),
                    attachments: Vec::new(),
                },
            ),
            (
                12,
                agent("ann"),
                Change::EmailDraft {
                    id: "e1".into(),
                    reply_id: "r1".into(),
                    agent: "ann".into(),
                    html: "<p>Our quote</p>".into(),
                    text: "Our quote".into(),
                    attachments: vec![Attachment {
                        id: "q".into(),
                        name: "quote.txt".into(),
                        content_type: "text/plain".into(),
                        content: duet_interactions::model::blob::split(&b"42"[..].into()).0,
                    }],
                },
            ),
            (
                13,
                agent("ann"),
                Change::EmailSend {
                    id: "e1".into(),
                    reply_id: "r1".into(),
                },
            ),
            (
                14,
                Actor::System,
                Change::EmailRelayed {
                    id: "e1".into(),
                    reply_id: "r1".into(),
                    message_id: "out-1@duet".into(),
                },
            ),
        ];
        drop(ingest(&path, &steps));
        let ix = read::fetch(std::slice::from_ref(&path), "e1")
            .unwrap()
            .unwrap();
        let Some(Kept::Email(email)) = &ix.content else {
            panic!("{ix:?}");
        };
        assert_eq!(email.head.message_id.as_deref(), Some("e1@customer.test"));
        assert_eq!(email.head.subject, "Quote");
        assert_eq!(email.head.html, "<p>Please quote</p>");
        let att = &email.head.attachments[0];
        assert_eq!((att.name.as_str(), att.size_bytes), ("spec.pdf", 4));
        assert_eq!(att.chunks, [duet_interactions::model::chunk_name(b"%PDF")]);
        assert_eq!(email.replies.len(), 1);
        let reply = &email.replies[0];
        assert_eq!(reply.text, "Our quote");
        assert_eq!(reply.state, duet_interactions::model::ReplyState::Sent);
        assert_eq!(reply.relayed.as_deref(), Some("out-1@duet"));
        assert_eq!(reply.attachments[0].size_bytes, 2);
        // Found by its Message-ID, with or without angle brackets.
        for m in ["e1@customer.test", "<e1@customer.test>"] {
            let asked = Asked {
                message_id: Some(m.into()),
                ..Asked::default()
            };
            let page = read::page(std::slice::from_ref(&path), &search(asked, admin())).unwrap();
            assert_eq!(ids(&page), ["e1"]);
        }
    }
}

/// Chats in two queues by two agents, one abandoned.
fn traffic() -> Vec<(u64, Actor, Change)> {
    let mut steps = Vec::new();
    for (i, (queue, a)) in [
        ("Sales", "ann"),
        ("Support", "bob"),
        ("Sales", "bob"),
        ("Sales", "ann"),
    ]
    .into_iter()
    .enumerate()
    {
        steps.extend(chat(&format!("c{i}"), queue, a, 1_000 * (i as u64 + 1)));
    }
    steps.push((
        9_000,
        Actor::Customer,
        create("gone", MediaType::Chat, "Support", ("eve@x.test", "Eve")),
    ));
    steps.push((
        9_001,
        Actor::Customer,
        Change::Disconnect { id: "gone".into() },
    ));
    steps
}

#[test]
fn searches_by_each_field_for_whom_may_see_them_a_page_at_a_time() {
    for place in places() {
        let path = place.fresh();
        drop(ingest(&path, &traffic()));
        let paths = [path];
        let support = Scope {
            queues: ["Support".to_string()].into(),
            ..Scope::default()
        };
        let bob = Scope {
            agent: Some("bob".into()),
            ..Scope::default()
        };
        let capital_bob = Scope {
            agent: Some("Bob".into()),
            ..Scope::default()
        };
        for (query, scope, wanted) in [
            (json!({}), admin(), vec!["gone", "c3", "c2", "c1", "c0"]),
            (json!({"queue": "Sales"}), admin(), vec!["c3", "c2", "c0"]),
            (json!({"agent": "bob"}), admin(), vec!["c2", "c1"]),
            (json!({"customer": "EVE"}), admin(), vec!["gone"]),
            (
                json!({"customer": "example.test"}),
                admin(),
                vec!["c3", "c2", "c1", "c0"],
            ),
            (json!({"disposition": "abandoned"}), admin(), vec!["gone"]),
            // `%` and `_` are themselves, not wildcards.
            (json!({"customer": "c_rol"}), admin(), vec![]),
            (json!({"agent": "%"}), admin(), vec![]),
            // A name matches only itself, letter case too.
            (json!({"agent": "BOB"}), admin(), vec![]),
            (json!({"media": "email"}), admin(), vec![]),
            (
                json!({"from": "2000", "to": "4000"}),
                admin(),
                vec!["c2", "c1"],
            ),
            // A supervisor of Support; an agent (bob): what it handled;
            // someone related to nothing.
            (json!({}), support, vec!["gone", "c1"]),
            (json!({}), bob, vec!["c2", "c1"]),
            (json!({}), capital_bob, vec![]),
            (json!({}), Scope::default(), vec![]),
        ] {
            let asked: Asked = serde_json::from_value(query.clone()).unwrap();
            let page = read::page(&paths, &search(asked, scope)).unwrap();
            assert_eq!(ids(&page), wanted, "{query}");
        }
        // Two at a time: every one once, in order.
        let mut all = Vec::new();
        let mut next = None;
        loop {
            let asked = Asked {
                limit: Some("2".into()),
                next: next.clone(),
                ..Asked::default()
            };
            let page = read::page(&paths, &search(asked, admin())).unwrap();
            assert!(page.interactions.len() <= 2);
            all.extend(ids(&page).into_iter().map(String::from));
            match page.next {
                Some(n) => next = Some(n),
                None => break,
            }
        }
        assert_eq!(all, ["gone", "c3", "c2", "c1", "c0"]);
    }
}

#[test]
fn two_databases_give_one_result_per_interaction_the_most_complete() {
    for place in places() {
        let (one, two) = (place.fresh(), place.fresh());
        let steps = chat("c1", "Sales", "ann", 1_000);
        drop(ingest(&one, &steps));
        // The other writer stopped before the chat closed.
        drop(ingest(&two, &steps[..4]));
        let paths = [two, one];
        let page = read::page(&paths, &search(Asked::default(), admin())).unwrap();
        assert_eq!(ids(&page), ["c1"]);
        assert!(page.interactions[0].closed_ms.is_some());
        let ix = read::fetch(&paths, "c1").unwrap().unwrap();
        assert!(ix.is_closed());
    }
}

fn hit(id: &str, created_ms: u64, found: Found, closed: bool, seq: u64) -> Hit {
    Hit {
        id: id.into(),
        media: MediaType::Chat,
        queue: "Sales".into(),
        created_ms,
        closed_ms: closed.then_some(created_ms + 1),
        agents: Vec::new(),
        customer: Party::default(),
        disposition: None,
        message_id: None,
        found,
        position: Position::new(1, seq),
    }
}

#[test]
fn a_merge_keeps_the_live_copy_then_the_closed_then_the_later_and_pages_newest_first() {
    let live = vec![hit("b", 20, Found::Live, false, 0)];
    let one = vec![
        hit("b", 20, Found::Archive, true, 9),
        hit("a", 10, Found::Archive, false, 5),
    ];
    let two = vec![
        hit("c", 30, Found::Archive, false, 3),
        hit("a", 10, Found::Archive, true, 4),
    ];
    let page = merge([live, one, two], 2);
    assert_eq!(ids(&page), ["c", "b"]);
    assert_eq!(page.interactions[1].found, Found::Live);
    let next = Cursor::from_token(page.next.as_deref().unwrap()).unwrap();
    assert_eq!(
        next,
        Cursor {
            created_ms: 20,
            id: "b".into()
        }
    );
    let rest = merge(
        [
            vec![hit("a", 10, Found::Archive, false, 5)],
            vec![hit("a", 10, Found::Archive, true, 4)],
        ],
        2,
    );
    assert_eq!(rest.interactions.len(), 1);
    assert!(
        rest.interactions[0].closed_ms.is_some(),
        "closed beats a later open copy"
    );
    assert_eq!(rest.next, None);
}

#[test]
fn a_search_is_bounded_and_says_what_is_wrong() {
    let long = "x".repeat(321);
    for (field, value, says) in [
        ("limit", "101", "limit is 1 to 100"),
        ("limit", "0", "limit is 1 to 100"),
        (
            "customer",
            long.as_str(),
            "customer is 321 bytes long; at most 320",
        ),
        ("media", "fax", "media \"fax\" is none of"),
        ("disposition", "won", "disposition \"won\" is none of"),
        (
            "from",
            "yesterday",
            "from \"yesterday\" is neither RFC 3339",
        ),
        ("next", "zz", "start again without it"),
        ("next", "abc", "start again without it"),
    ] {
        let asked: Asked = serde_json::from_value(serde_json::json!({ field: value })).unwrap();
        let error = Search::new(&asked, admin()).unwrap_err().to_string();
        assert!(error.contains(says), "{field}={value}: {error}");
    }
    let ok = Search::new(&Asked::default(), admin()).unwrap();
    assert_eq!(ok.limit, LIMIT_DEFAULT);
    let cursor = Cursor {
        created_ms: 7,
        id: "x.y".into(),
    };
    assert_eq!(Cursor::from_token(&cursor.token()).unwrap(), cursor);
}

/// The transcript's bodies of `id` as archived in `database`.
fn bodies(database: &Database, id: &str) -> Vec<String> {
    match read::fetch(std::slice::from_ref(database), id)
        .unwrap()
        .unwrap()
        .content
    {
        Some(Kept::Transcript(lines)) => lines.into_iter().map(|l| l.body).collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn status_lines_follow_the_state_and_a_healed_message_joins_a_closed_chat() {
    for place in places() {
        let path = place.fresh();
        let mut steps = chat("c1", "Sales", "ann", 1_000);
        // A conferenced agent joins and leaves before the customer does.
        steps.insert(
            3,
            (
                1_002,
                agent("ann"),
                Change::Conference {
                    id: "c1".into(),
                    agent: "bob".into(),
                },
            ),
        );
        steps.insert(
            4,
            (1_002, agent("bob"), Change::Disconnect { id: "c1".into() }),
        );
        steps.push((
            2_000,
            Actor::System,
            Change::Healed {
                node: "b".into(),
                fact: Box::new(message("c1", "late", Sender::Customer, "said on b")),
            },
        ));
        // A chat a takeover could not keep.
        steps.push((
            3_000,
            Actor::Customer,
            create("c2", MediaType::Chat, "Sales", ("x@y.test", "X")),
        ));
        steps.push((
            4_000,
            Actor::System,
            Change::Takeover {
                recovery: duet_interactions::model::Recovery {
                    chat: false,
                    ..Default::default()
                },
            },
        ));
        drop(ingest(&path, &steps));
        let c1 = bodies(&path, "c1");
        assert_eq!(
            [c1[0].as_str(), c1[1].as_str(), c1[2].as_str()],
            ["agent ann joined", "agent bob joined", "agent bob left"]
        );
        assert_eq!(c1.last().map(String::as_str), Some("said on b"), "{c1:?}");
        assert_eq!(bodies(&path, "c2"), [duet_interactions::state::START_AGAIN]);
    }
}

fn live(
    id: &str,
    created_ms: u64,
    queue: &str,
    state: InteractionState,
    joined: &[&str],
) -> Interaction {
    use duet_interactions::model::{Parties, QueueVisit, Routing};
    Interaction {
        id: id.into(),
        media: MediaType::Chat,
        created_at_ms: created_ms,
        routing: Routing {
            queue: queue.into(),
            ..Routing::default()
        },
        attributes: Default::default(),
        parties: Parties {
            customer: Party {
                address: format!("{id}@example.test").into(),
                name: format!("Customer {id}").into(),
            },
            joined: joined.iter().map(|a| a.to_string()).collect(),
            ..Parties::default()
        },
        state,
        segments: Default::default(),
        content: Content::Transcript(Default::default()),
        files: Default::default(),
        wrap_up: None,
        visit: QueueVisit::default(),
        seqno: 0,
    }
}

#[test]
fn the_live_page_shows_an_agent_what_it_holds_and_what_it_handled_once_closed() {
    let connected = |a: &str| InteractionState::Connected { agent: a.into() };
    let all = [
        live("l1", 10, "Sales", connected("ann"), &["bob", "ann"]),
        live(
            "l2",
            20,
            "Sales",
            InteractionState::Closed { at_ms: 25 },
            &["bob"],
        ),
        live("l3", 30, "Support", InteractionState::Queued, &[]),
        live("l4", 40, "Sales", InteractionState::Queued, &[]),
    ];
    let page = |asked: serde_json::Value, scope: Scope| -> Vec<String> {
        let asked: Asked = serde_json::from_value(asked).unwrap();
        live_page(all.iter(), &search(asked, scope))
            .into_iter()
            .map(|h| h.id)
            .collect()
    };
    let agent = |a: &str| Scope {
        agent: Some(a.into()),
        ..Scope::default()
    };
    // ann holds l1; bob handled l2 (closed), and left l1 to ann.
    assert_eq!(page(json!({}), agent("ann")), ["l1"]);
    assert_eq!(page(json!({}), agent("bob")), ["l2"]);
    let support = Scope {
        queues: ["Support".to_string()].into(),
        ..Scope::default()
    };
    assert_eq!(page(json!({}), support), ["l3"]);
    assert_eq!(page(json!({"agent": "bob"}), admin()), ["l2", "l1"]);
    assert_eq!(page(json!({"customer": "L3@EXAMPLE"}), admin()), ["l3"]);
    assert_eq!(
        page(json!({"disposition": "abandoned"}), admin()),
        Vec::<String>::new()
    );
    // One more than a page, after the cursor.
    let next = Cursor {
        created_ms: 40,
        id: "l4".into(),
    }
    .token();
    assert_eq!(
        page(json!({"limit": "1", "next": next}), admin()),
        ["l3", "l2"]
    );
}

/// `GET /api/interactions/{id}` answers a live interaction or its archived
/// copy; a reader tells them apart by their fields (as the document's
/// `oneOf` does) and gets back the one it was.
#[test]
fn a_whole_reads_back_as_the_live_interaction_or_the_archived_copy_it_was() {
    use super::view::Whole;
    let live = Whole::Live(Box::new(live(
        "c1",
        1_000,
        "Sales",
        InteractionState::Queued,
        &[],
    )));
    let place = places().remove(0);
    let path = place.fresh();
    drop(ingest(&path, &chat("c1", "Sales", "ann", 1_000)));
    let archived = Whole::Archived(Box::new(read::fetch(&[path], "c1").unwrap().unwrap()));
    for whole in [live, archived] {
        let json = serde_json::to_string(&whole).unwrap();
        assert_eq!(
            serde_json::from_str::<Whole>(&json).unwrap(),
            whole,
            "{json}"
        );
    }
}

//! Each answer and frame against its JSON, byte for byte: what the pages,
//! the docs and older clients read.

use duet_interactions::model::Delivery;
use duet_interactions::{Actor, Change, MediaType};
use duet_rsm::Position;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;
use crate::frames::Resumed;

/// `value` is written as `json` and read back from it as itself.
#[track_caller]
fn wire<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T, json: &str) {
    assert_eq!(serde_json::to_string(&value).unwrap(), json);
    assert_eq!(serde_json::from_str::<T>(json).unwrap(), value);
}

fn chat() -> ChatView {
    ChatView {
        id: "chat-1".into(),
        media: MediaType::Chat,
        created_at_ms: 5,
        closed: false,
        status: ChatStatus::Connected,
        agent: Some("Alex".into()),
        transcript: vec![MessageView {
            id: "m1".into(),
            sender: SenderView::Agent("Alex".into()),
            at_ms: 6,
            body: "hello".into(),
            kind: KindView::Text,
            delivery: Delivery::Read,
        }],
    }
}

const CHAT: &str = r#"{"id":"chat-1","media":"chat","created_at_ms":5,"closed":false,"status":"connected","agent":"Alex","transcript":[{"id":"m1","sender":{"Agent":"Alex"},"at_ms":6,"body":"hello","kind":"Text","delivery":"Read"}]}"#;

#[test]
fn answers_keep_their_json() {
    wire(Changed { seq: 7 }, r#"{"seq":7}"#);
    wire(
        Created {
            id: "chat-1".into(),
            token: "t".into(),
            seq: 3,
        },
        r#"{"id":"chat-1","token":"t","seq":3}"#,
    );
    wire(
        Taken {
            id: "sms-1".into(),
            seq: 4,
        },
        r#"{"id":"sms-1","seq":4}"#,
    );
    wire(
        Session {
            token: "t".into(),
            user: "ann".into(),
            roles: vec!["agent".into()],
            expires_at_unix_s: 9,
        },
        r#"{"token":"t","user":"ann","roles":["agent"],"expires_at_unix_s":9}"#,
    );
    wire(
        RoleAnswer {
            node: "b".into(),
            role: NodeRole::Backup,
            backup: true,
            active: Some("a".into()),
            epoch: 2,
        },
        r#"{"node":"b","role":"Backup","backup":true,"active":"a","epoch":2}"#,
    );
    wire(Switching { switching: true }, r#"{"switching":true}"#);
    wire(
        Injected {
            injected: ModuleFault::Hang,
        },
        r#"{"injected":"hang"}"#,
    );
    wire(
        Pair {
            node: "a".into(),
            nodes: vec![PairNode {
                name: "a".into(),
                url: "http://127.0.0.1:8080".into(),
            }],
        },
        r#"{"node":"a","nodes":[{"name":"a","url":"http://127.0.0.1:8080"}]}"#,
    );
    wire(
        AgentState::default(),
        r#"{"agent":null,"interactions":[],"wrap_up_codes":{}}"#,
    );
    wire(
        Shadow {
            position: Position::new(2, 9),
            digest: "ab".into(),
            live_interactions: 1,
            agents: 2,
        },
        r#"{"position":[2,9],"digest":"ab","live_interactions":1,"agents":2}"#,
    );
    wire(
        ErrorBody::new(503, "b is the backup"),
        r#"{"error":"b is the backup","status":503}"#,
    );
    wire(chat(), CHAT);
}

#[test]
fn frames_keep_their_json() {
    let at = Position::new(2, 9);
    wire(
        Frame::State(StateFrame::Chat {
            position: at,
            chat: Box::new(chat()),
        }),
        &format!(r#"{{"type":"state","position":[2,9],"chat":{CHAT}}}"#),
    );
    wire(
        Frame::State(StateFrame::Agent {
            position: at,
            agent: None,
        }),
        r#"{"type":"state","position":[2,9],"agent":null}"#,
    );
    wire(
        Frame::State(StateFrame::Agent {
            position: at,
            agent: Some(Box::default()),
        }),
        r#"{"type":"state","position":[2,9],"agent":{"agent":null,"interactions":[],"wrap_up_codes":{}}}"#,
    );
    wire(
        Frame::Resume(Resumed {
            after: Some(Position::new(2, 3)),
            position: at,
            at_ms: None,
        }),
        r#"{"type":"resume","after":[2,3],"position":[2,9]}"#,
    );
    wire(
        Frame::Gap(Resumed {
            after: None,
            position: at,
            at_ms: Some(11),
        }),
        r#"{"type":"gap","after":null,"position":[2,9],"at_ms":11}"#,
    );
    wire(
        Frame::Change(ChangeFrame::Committed {
            seq: 9,
            epoch: 2,
            at_ms: 11,
            actor: Actor::System,
            change: Box::new(Change::Hold {
                id: "chat-1".into(),
            }),
            media: None,
        }),
        r#"{"type":"change","seq":9,"epoch":2,"at_ms":11,"actor":"System","change":{"Hold":{"id":"chat-1"}}}"#,
    );
    wire(
        Frame::Change(ChangeFrame::Committed {
            seq: 10,
            epoch: 2,
            at_ms: 12,
            actor: Actor::Router,
            change: Box::new(Change::Offer {
                id: "chat-1".into(),
                agent: "ann".into(),
                deadline_ms: 30_012,
            }),
            media: Some(duet_interactions::MediaType::Chat),
        }),
        r#"{"type":"change","seq":10,"epoch":2,"at_ms":12,"actor":"Router","change":{"Offer":{"id":"chat-1","agent":"ann","deadline_ms":30012}},"media":"chat"}"#,
    );
    wire(
        Frame::Change(ChangeFrame::Told {
            seq: 9,
            epoch: 2,
            at_ms: 11,
            change: CustomerChange::Status {
                status: ChatStatus::OnHold,
                agent: Some("Alex".into()),
                line: None,
            },
        }),
        r#"{"type":"change","seq":9,"epoch":2,"at_ms":11,"change":{"Status":{"status":"on_hold","agent":"Alex","line":null}}}"#,
    );
    wire(
        Frame::Heartbeat {
            position: at,
            at_ms: 11,
        },
        r#"{"type":"heartbeat","position":[2,9],"at_ms":11}"#,
    );
    wire(
        Frame::Ack {
            message_id: "m1".into(),
            seq: 9,
        },
        r#"{"type":"ack","message_id":"m1","seq":9}"#,
    );
    wire(
        Frame::Error {
            message_id: Some("m1".into()),
            error: "b is the backup".into(),
            status: 503,
            active: Some("a".into()),
        },
        r#"{"type":"error","message_id":"m1","error":"b is the backup","status":503,"active":"a"}"#,
    );
    wire(
        Frame::error(404, "no live conversation"),
        r#"{"type":"error","error":"no live conversation","status":404}"#,
    );
    wire(
        Frame::Moved { active: "a".into() },
        r#"{"type":"moved","active":"a"}"#,
    );
    wire(
        Frame::Resync {
            why: "behind".into(),
        },
        r#"{"type":"resync","why":"behind"}"#,
    );
}

#[test]
fn requests_read_as_clients_write_them() {
    let said: Said = serde_json::from_str(r#"{"message_id":"m1","body":"hi"}"#).unwrap();
    assert_eq!(said.message_id, "m1");
    assert_eq!(said.delivery, None);
    let callback: CallbackRequest =
        serde_json::from_str(r#"{"queue":"q","number":"+1","client_id":"c","client_secret":"s"}"#)
            .unwrap();
    assert_eq!(callback.start.queue, "q");
    assert_eq!(callback.start.client_id.as_deref(), Some("c"));
    let media: Media = serde_json::from_str(r#"{"media":["chat"],"client_id":"c"}"#).unwrap();
    assert_eq!(media.media, vec![MediaType::Chat]);
    wire(
        CustomerSays {
            message_id: "m1".into(),
            body: "hi".into(),
        },
        r#"{"message_id":"m1","body":"hi"}"#,
    );
}

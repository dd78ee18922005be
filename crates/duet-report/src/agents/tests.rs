use super::*;
use crate::Position;
use crate::rows::{QueueEventRow, SegmentRow};
use crate::store::Span;

const S: u64 = 1000;

fn activity(
    agent: &str,
    at_s: u64,
    kind: &str,
    status: Option<&str>,
    reason: Option<&str>,
) -> ActivityRow {
    ActivityRow {
        position: Position::new(1, at_s),
        agent: agent.into(),
        at_ms: at_s * S,
        kind: kind.into(),
        status: status.map(str::to_string),
        reason: reason.map(str::to_string),
        media: Vec::new(),
    }
}

fn segment(kind: &str, from_s: u64, to_s: u64) -> SegmentRow {
    SegmentRow {
        position: Position::new(1, to_s),
        interaction: format!("i{from_s}"),
        kind: kind.into(),
        agent: Some("alice".into()),
        queue: "Sales".into(),
        start_ms: from_s * S,
        end_ms: to_s * S,
        seqno: 0,
    }
}

fn event(kind: QueueEventKind, at_s: u64) -> QueueEventRow {
    QueueEventRow {
        position: Position::new(1, at_s),
        interaction: format!("i{at_s}"),
        queue: "Sales".into(),
        media: "chat".into(),
        at_ms: at_s * S,
        kind,
        duration_ms: 0,
        agent: Some("alice".into()),
    }
}

/// Alice over two half hours, by hand:
/// logged in 0 s to 2400 s, not ready (`break`) 600 s to 900 s;
/// talk 100-400, hold 400-460, talk 460-500, wrap-up 500-560;
/// talk 1000-1200 and a chat at once 1100-1300, wrap-up 1200-1230;
/// talk 1700-1900 across the boundary, transferred at 1900.
/// Bob logs in at 3000 s only.
fn source() -> Source {
    use QueueEventKind::*;
    Source {
        name: "a".into(),
        coverage: vec![Span {
            start_ms: 0,
            end_ms: 3600 * S,
        }],
        activity: vec![
            activity("alice", 0, "login", None, None),
            activity("alice", 600, "status", Some("not_ready"), Some("break")),
            activity("alice", 900, "status", Some("available"), None),
            activity("alice", 2400, "logout", Some("logged_out"), Some("0")),
            activity("bob", 3000, "login", None, None),
        ],
        segments: vec![
            segment("connected", 100, 400),
            segment("held", 400, 460),
            segment("connected", 460, 500),
            segment("wrap_up", 500, 560),
            segment("connected", 1000, 1200),
            segment("connected", 1100, 1300),
            segment("wrap_up", 1200, 1230),
            segment("connected", 1700, 1900),
        ],
        events: vec![
            event(Answered, 100),
            event(Handled, 500),
            event(Answered, 1000),
            event(Answered, 1100),
            event(Handled, 1200),
            event(Handled, 1300),
            event(Answered, 1700),
            event(Transferred, 1900),
        ],
        config: vec![crate::config::ConfigVersion {
            path: "/config/Users/alice".into(),
            kind: crate::config::ConfigKind::User,
            name: "alice".into(),
            epoch: 1,
            seq: 4,
            valid_from_ms: 1000 * S,
            valid_to_ms: None,
            attributes: Some([("display_name".to_string(), "Alice".to_string())].into()),
        }],
        uncertain: Vec::new(),
    }
}

fn window() -> Window {
    Window {
        from_ms: 0,
        to_ms: 3600 * S,
        interval_ms: 1800 * S,
        service_level_ms: None,
    }
}

#[test]
fn an_agents_half_hours_by_hand() {
    let lines = report(&window(), &[source()]).unwrap();
    let who: Vec<(u64, &str)> = lines
        .iter()
        .map(|l| (l.start_ms / S, l.agent.as_str()))
        .collect();
    assert_eq!(who, [(0, "alice"), (1800, "alice"), (1800, "bob")]);

    let first = &lines[0];
    // Named from 1000 s on: not at the first interval's start.
    assert_eq!(first.display_name, "");
    assert_eq!(lines[1].display_name, "Alice");
    assert_eq!(first.logged_in_s, 1800.0);
    assert_eq!(first.not_ready_s, 300.0);
    assert_eq!(
        first.not_ready_by_reason_s,
        BTreeMap::from([("break".to_string(), 300.0)])
    );
    assert_eq!(first.ready_s, 1500.0);
    // 300 + 40 + 200 + 200 + the first 100 of 1700-1900.
    assert_eq!(first.talk_s, 840.0);
    assert_eq!(first.hold_s, 60.0);
    assert_eq!(first.wrap_up_s, 90.0);
    assert_eq!((first.answered, first.handled, first.transfers), (4, 3, 0));
    // (840 + 60 + 90) / 3.
    assert_eq!(first.aht_s, Some(330.0));
    // Busy: 100-560, 1000-1300, 1700-1800 = 860 s, all while ready;
    // idle = 1500 - 860 = 640; 860 / (860 + 640).
    assert_eq!(first.occupancy, Some(860.0 / 1500.0));

    let second = &lines[1];
    assert_eq!(second.logged_in_s, 600.0);
    assert_eq!(second.talk_s, 100.0);
    assert_eq!((second.handled, second.transfers), (0, 1));
    assert_eq!(second.aht_s, None);
    // Busy 100 s of 600 s ready.
    assert_eq!(second.occupancy, Some(100.0 / 600.0));

    // Bob: logged in at 3000 s, covered to 3600 s.
    assert_eq!(lines[2].logged_in_s, 600.0);
    assert_eq!(lines[2].occupancy, Some(0.0));
}

#[test]
fn an_interval_is_taken_from_a_database_that_covers_it() {
    let partial = Source {
        name: "b".into(),
        coverage: vec![Span {
            start_ms: 0,
            end_ms: 1000 * S,
        }],
        ..source()
    };
    let lines = report(&window(), &[partial, source()]).unwrap();
    assert!(lines.iter().all(|l| l.source == "a" && !l.gap));
    let alone = report(
        &window(),
        &[Source {
            name: "b".into(),
            coverage: vec![Span {
                start_ms: 0,
                end_ms: 1000 * S,
            }],
            ..source()
        }],
    )
    .unwrap();
    assert!(alone.iter().all(|l| l.gap));
    // Its states stop where its coverage does.
    assert_eq!(alone[0].logged_in_s, 1000.0);
}

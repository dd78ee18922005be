//! An agent's states over time, from its activity rows, and the measure
//! of stretches of time (their union, their overlap with an interval).

use std::collections::BTreeSet;

use crate::rows::ActivityRow;

/// What an agent is doing for the ACD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    LoggedOut,
    Available,
    /// Not ready, with its reason; a non-ACD status (`Away`) counts here
    /// under its name.
    NotReady(String),
}

/// `[start_ms, end_ms)` in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stretch {
    pub start_ms: u64,
    pub end_ms: u64,
    pub state: State,
}

/// A log-in that named no media logs in to all the agent's: a log-out
/// must then name none to end it.
const ALL_MEDIA: &str = "*";

/// The states of one agent from its rows (in stream order) up to
/// `until_ms` (what the database covers). Before its first row the agent is taken as logged out.
/// A log-in logs in to its media and makes a logged-out agent available;
/// a log-out leaves its media (none named: all) and the agent is logged
/// out when none is left; a status change while logged in is the state
/// from its time (one chosen during after-call work is counted from the
/// time it was chosen).
pub fn stretches(rows: &[&ActivityRow], until_ms: u64) -> Vec<Stretch> {
    let mut media: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<Stretch> = Vec::new();
    let mut state = State::LoggedOut;
    let mut since_ms = 0u64;
    // What came after what the database covers is not counted.
    for row in rows.iter().take_while(|r| r.at_ms < until_ms) {
        let next = match row.kind.as_str() {
            "login" => {
                if row.media.is_empty() {
                    media.insert(ALL_MEDIA.to_string());
                }
                media.extend(row.media.iter().cloned());
                match state {
                    State::LoggedOut => State::Available,
                    ref other => other.clone(),
                }
            }
            "logout" => {
                if row.media.is_empty() {
                    media.clear();
                }
                for m in &row.media {
                    media.remove(m);
                }
                match media.is_empty() {
                    true => State::LoggedOut,
                    false => state.clone(),
                }
            }
            "status" if state != State::LoggedOut => match row.status.as_deref() {
                Some("available") => State::Available,
                _ => State::NotReady(row.reason.clone().unwrap_or_default()),
            },
            _ => continue,
        };
        if next != state {
            let at_ms = row.at_ms.max(since_ms);
            if state != State::LoggedOut && at_ms > since_ms {
                out.push(Stretch {
                    start_ms: since_ms,
                    end_ms: at_ms,
                    state: state.clone(),
                });
            }
            state = next;
            since_ms = at_ms;
        }
    }
    if state != State::LoggedOut && until_ms > since_ms {
        out.push(Stretch {
            start_ms: since_ms,
            end_ms: until_ms,
            state,
        });
    }
    out
}

/// How much of `[start_ms, end_ms)` lies in `[from_ms, to_ms)`.
pub fn overlap_ms(start_ms: u64, end_ms: u64, from_ms: u64, to_ms: u64) -> u64 {
    end_ms.min(to_ms).saturating_sub(start_ms.max(from_ms))
}

/// The union of stretches as disjoint ones, in order.
pub fn union(mut spans: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    spans.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (start, end) in spans {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The time two sets of disjoint, ordered stretches share.
pub fn shared_ms(a: &[(u64, u64)], b: &[(u64, u64)]) -> u64 {
    let (mut i, mut j, mut total) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        total += overlap_ms(a[i].0, a[i].1, b[j].0, b[j].1);
        if a[i].1 <= b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Position;

    fn row(at_ms: u64, kind: &str, status: Option<&str>, reason: Option<&str>) -> ActivityRow {
        ActivityRow {
            position: Position::new(1, at_ms),
            agent: "alice".into(),
            at_ms,
            kind: kind.into(),
            status: status.map(str::to_string),
            reason: reason.map(str::to_string),
            media: Vec::new(),
        }
    }

    #[test]
    fn log_in_statuses_and_log_out_make_stretches() {
        let rows = [
            row(100, "login", None, None),
            row(300, "status", Some("not_ready"), Some("lunch")),
            row(600, "status", Some("available"), None),
            row(700, "acw_expired", None, None),
            row(900, "logout", Some("logged_out"), Some("0")),
            // Not logged in: no state.
            row(950, "status", Some("available"), None),
        ];
        let rows: Vec<&ActivityRow> = rows.iter().collect();
        let s = stretches(&rows, 2_000);
        let plain: Vec<(u64, u64, State)> = s
            .into_iter()
            .map(|s| (s.start_ms, s.end_ms, s.state))
            .collect();
        assert_eq!(
            plain,
            [
                (100, 300, State::Available),
                (300, 600, State::NotReady("lunch".into())),
                (600, 900, State::Available),
            ]
        );
    }

    #[test]
    fn a_log_out_of_one_media_keeps_the_agent_logged_in_to_the_other() {
        let media = |at_ms, kind, m: &[&str]| ActivityRow {
            media: m.iter().map(|m| m.to_string()).collect(),
            ..row(at_ms, kind, None, None)
        };
        let rows = [
            media(0, "login", &["chat", "email"]),
            media(10, "logout", &["chat"]),
            media(30, "logout", &["email"]),
        ];
        let rows: Vec<&ActivityRow> = rows.iter().collect();
        let s = stretches(&rows, 100);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].start_ms, s[0].end_ms), (0, 30));
    }

    #[test]
    fn unions_and_shared_time() {
        assert_eq!(
            union(vec![(5, 10), (0, 3), (2, 6), (20, 30)]),
            [(0, 10), (20, 30)]
        );
        // [0,10) and [20,30) against [5,25): 5 + 5.
        assert_eq!(shared_ms(&[(0, 10), (20, 30)], &[(5, 25)]), 10);
        assert_eq!(overlap_ms(0, 10, 10, 20), 0);
    }
}

//! Stuck interactions (seed 002: "Stuck interactions", "Interactions
//! deleted at unknown times"): open in a reporting database with no
//! change for longer than their media allows. Either the pair holds one
//! that nobody works (end it: `duet ctl end-interaction ID`), or its end
//! fell in a gap of that database. Pure: the databases are read by the
//! caller.

use std::collections::{BTreeMap, BTreeSet};

use duet_interactions::MediaType;
use serde::Serialize;

use crate::rows::Summary;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// How long each media may stand still before it counts as stuck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits(BTreeMap<MediaType, u64>);

impl Default for Limits {
    /// A call or a chat still for 2 hours; an SMS or social conversation
    /// for 3 days (customers answer late); a callback for 7 days (its
    /// window may open days ahead); an email for 14 days (emails wait
    /// for days).
    fn default() -> Self {
        Limits(BTreeMap::from([
            (MediaType::Call, 2 * HOUR_MS),
            (MediaType::Chat, 2 * HOUR_MS),
            (MediaType::Sms, 3 * DAY_MS),
            (MediaType::SocialConversation, 3 * DAY_MS),
            (MediaType::SocialDirectMessage, 3 * DAY_MS),
            (MediaType::Callback, 7 * DAY_MS),
            (MediaType::Email, 14 * DAY_MS),
        ]))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LimitError {
    #[error("{0:?}: write MEDIA=DURATION, e.g. chat=30m or email=7days")]
    Shape(String),
    #[error(
        "{0:?}: the media are call, chat, email, callback, sms, social_conversation, social_direct_message"
    )]
    Media(String),
    #[error("{0:?}: a duration such as 90m, 12h or 3days")]
    Duration(String),
}

impl Limits {
    pub fn set(&mut self, media: MediaType, ms: u64) {
        self.0.insert(media, ms);
    }

    /// Sets one limit from `MEDIA=DURATION` (`chat=30m`).
    pub fn set_from(&mut self, entry: &str) -> Result<(), LimitError> {
        let (media, duration) = entry
            .split_once('=')
            .ok_or_else(|| LimitError::Shape(entry.to_string()))?;
        let media = MediaType::ALL
            .into_iter()
            .find(|m| m.name() == media.trim())
            .ok_or_else(|| LimitError::Media(entry.to_string()))?;
        let duration = humantime::parse_duration(duration.trim())
            .map_err(|_| LimitError::Duration(entry.to_string()))?;
        self.set(media, duration.as_millis() as u64);
        Ok(())
    }

    pub fn of(&self, media: MediaType) -> u64 {
        self.0.get(&media).copied().unwrap_or(u64::MAX)
    }
}

/// An interaction open with no change for longer than its media allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stuck {
    pub id: String,
    pub media: MediaType,
    pub queue: String,
    /// `queued`, `offered`, `connected`, `held` or `wrap_up`.
    pub phase: &'static str,
    pub agent: Option<String>,
    pub created_ms: u64,
    pub last_change_ms: u64,
    pub still_ms: u64,
    /// The databases that hold it open (by name).
    pub open_in: Vec<String>,
}

/// Open interactions of each database (by name) still past their limit
/// at `now_ms`, less those `closed` (closed in some database: its end is
/// known), newest record first per id; oldest change first.
pub fn find(
    databases: &[(String, Vec<Summary>)],
    closed: &BTreeSet<String>,
    now_ms: u64,
    limits: &Limits,
) -> Vec<Stuck> {
    let mut by_id: BTreeMap<&str, (&Summary, Vec<String>)> = BTreeMap::new();
    for (name, open) in databases {
        for s in open {
            let entry = by_id.entry(&s.id).or_insert((s, Vec::new()));
            if s.position > entry.0.position {
                entry.0 = s;
            }
            entry.1.push(name.clone());
        }
    }
    let mut stuck: Vec<Stuck> = by_id
        .into_values()
        .filter(|(s, _)| !closed.contains(&s.id))
        .filter_map(|(s, open_in)| {
            // Rows written before the last change time was kept carry 0:
            // their phase's start is the best known.
            let last_change_ms = s.last_change_ms.max(s.phase_since_ms);
            let still_ms = now_ms.saturating_sub(last_change_ms);
            (still_ms > limits.of(s.media)).then(|| Stuck {
                id: s.id.clone(),
                media: s.media,
                queue: s.queue.clone(),
                phase: s.phase.segment_kind(),
                agent: s.phase.agent().map(str::to_string),
                created_ms: s.created_ms,
                last_change_ms,
                still_ms,
                open_in,
            })
        })
        .collect();
    stuck.sort_by(|a, b| (a.last_change_ms, &a.id).cmp(&(b.last_change_ms, &b.id)));
    stuck
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Position;
    use crate::fold::Fold;
    use crate::rows::Row;
    use duet_interactions::change::{Actor, Command};

    /// The open summaries after creating `ids` of `media` at `at_ms`.
    fn opened(ids: &[(&str, MediaType, u64)]) -> Vec<Summary> {
        let mut fold = Fold::default();
        let mut open = BTreeMap::new();
        for (i, (id, media, at_ms)) in ids.iter().enumerate() {
            let change = crate::testing::create(id, *media);
            let command = Command::new("", *at_ms, Actor::System, change);
            for row in fold.apply(Position::new(1, i as u64 + 1), &command) {
                if let Row::Summary(s) = row {
                    open.insert(s.id.clone(), *s);
                }
            }
        }
        open.into_values().collect()
    }

    #[test]
    fn an_interaction_still_past_its_media_limit_is_stuck_once_with_the_databases_holding_it() {
        let now = 30 * DAY_MS;
        let a = opened(&[
            ("chat-old", MediaType::Chat, now - 3 * HOUR_MS),
            ("chat-new", MediaType::Chat, now - HOUR_MS),
            ("mail-week", MediaType::Email, now - 7 * DAY_MS),
            ("mail-month", MediaType::Email, now - 20 * DAY_MS),
            ("closed-in-b", MediaType::Chat, now - 5 * HOUR_MS),
        ]);
        let b = opened(&[("chat-old", MediaType::Chat, now - 3 * HOUR_MS)]);
        let databases = [("a.db".to_string(), a), ("b.db".to_string(), b)];
        let closed = BTreeSet::from(["closed-in-b".to_string()]);
        let stuck = find(&databases, &closed, now, &Limits::default());
        let ids: Vec<&str> = stuck.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["mail-month", "chat-old"], "oldest change first");
        assert_eq!(stuck[1].open_in, ["a.db", "b.db"]);
        assert_eq!(stuck[1].still_ms, 3 * HOUR_MS);
        assert_eq!(stuck[1].phase, "queued");
        // A tighter limit for email.
        let mut limits = Limits::default();
        limits.set_from("email=5days").unwrap();
        assert_eq!(limits.of(MediaType::Email), 5 * DAY_MS);
        assert!(matches!(
            limits.set_from("fax=1h"),
            Err(LimitError::Media(_))
        ));
        assert!(matches!(
            limits.set_from("chat=soon"),
            Err(LimitError::Duration(_))
        ));
        assert!(matches!(limits.set_from("chat"), Err(LimitError::Shape(_))));
        let stuck = find(&databases, &closed, now, &limits);
        assert_eq!(stuck.len(), 3);
    }
}

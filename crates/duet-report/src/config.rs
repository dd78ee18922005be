//! The configuration in effect: each version of the agents, queues and
//! interaction settings (reason codes, non-ACD statuses) with the time it
//! held from and to, so a report shows the names and settings of its own
//! time. The committed interaction stream does not carry configuration:
//! the writer reads the tree as the node serves it (`GET /api/config`:
//! an object with its history) and [`versions`] turns each object's
//! history into versions. Pure; the writer does the reading.

use std::collections::BTreeMap;

use duet_config::{Class, HistoryRecord, Object};
use serde::{Deserialize, Serialize};

/// Users (agents among them), each `USERS/<name>`.
pub const USERS: &str = "/config/Users";
/// Workgroup queues, each `QUEUES/<name>`.
pub const QUEUES: &str = "/config/Workgroups";
/// The folders whose children are recorded, and what each child is.
pub const FOLDERS: [(&str, ConfigKind); 2] =
    [(USERS, ConfigKind::User), (QUEUES, ConfigKind::Queue)];
/// The interaction settings, one object.
pub const SETTINGS: &str = "/config/Interactions";

/// What a configuration object is, for a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    /// An agent, supervisor or administrator (`/config/Users/<name>`).
    User,
    /// A workgroup queue (`/config/Workgroups/<name>`).
    Queue,
    /// The interaction settings (`/config/Interactions`).
    Settings,
}

impl ConfigKind {
    pub fn name(self) -> &'static str {
        match self {
            ConfigKind::User => "user",
            ConfigKind::Queue => "queue",
            ConfigKind::Settings => "settings",
        }
    }

    pub fn from_name(name: &str) -> Option<ConfigKind> {
        [ConfigKind::User, ConfigKind::Queue, ConfigKind::Settings]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// An object, its children and its history, as `GET /api/config` answers.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfigView {
    pub path: String,
    #[serde(default)]
    pub object: Option<Object>,
    #[serde(default)]
    pub children: Vec<(String, Option<Class>)>,
    #[serde(default)]
    pub history: Vec<HistoryRecord>,
}

/// One version of an object: what it was from `valid_from_ms` until
/// `valid_to_ms` (`None`: still). Keyed by its path and the sequence
/// number of the change that made it; 0 for the version that stood
/// before the oldest change the node still keeps in its history (from
/// the beginning of time, as far as this database knows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigVersion {
    pub path: String,
    pub kind: ConfigKind,
    pub name: String,
    pub epoch: u64,
    pub seq: u64,
    pub valid_from_ms: u64,
    pub valid_to_ms: Option<u64>,
    /// `None`: removed.
    pub attributes: Option<BTreeMap<String, String>>,
}

/// What a path is: a user, a queue or the settings (else not recorded).
pub fn kind_of(path: &str) -> Option<(ConfigKind, String)> {
    if path == SETTINGS {
        return Some((ConfigKind::Settings, String::new()));
    }
    FOLDERS.iter().find_map(|(folder, kind)| {
        let name = path.strip_prefix(folder)?.strip_prefix('/')?;
        (!name.is_empty() && !name.contains('/')).then(|| (*kind, name.to_string()))
    })
}

/// The versions an object's view shows: one per change in its history
/// (a conflict record changes nothing and makes none), and the one
/// before the oldest change kept, if that change found one (or if no
/// history is kept at all but the object stands).
pub fn versions(view: &ConfigView) -> Vec<ConfigVersion> {
    let Some((kind, name)) = kind_of(&view.path) else {
        return Vec::new();
    };
    let version = |epoch, seq, valid_from_ms, object: Option<&Object>| ConfigVersion {
        path: view.path.clone(),
        kind,
        name: name.clone(),
        epoch,
        seq,
        valid_from_ms,
        valid_to_ms: None,
        attributes: object.map(|o| o.attributes.clone()),
    };
    let mut records: Vec<&HistoryRecord> = view
        .history
        .iter()
        .filter(|r| r.conflict.is_none())
        .collect();
    records.sort_by_key(|r| r.seq);
    let mut out = Vec::new();
    match records.first() {
        Some(first) if first.old.is_some() => out.push(version(0, 0, 0, first.old.as_ref())),
        None if view.object.is_some() => out.push(version(0, 0, 0, view.object.as_ref())),
        _ => {}
    }
    out.extend(
        records
            .iter()
            .map(|r| version(r.epoch, r.seq, r.at_unix_ms, r.new.as_ref())),
    );
    let starts: Vec<u64> = out.iter().skip(1).map(|v| v.valid_from_ms).collect();
    for (v, next) in out.iter_mut().zip(starts) {
        v.valid_to_ms = Some(next);
    }
    out
}

/// The version of `path` in effect at `at_ms`, of `versions` (any order).
pub fn in_effect<'a>(
    versions: &'a [ConfigVersion],
    path: &str,
    at_ms: u64,
) -> Option<&'a ConfigVersion> {
    versions
        .iter()
        .filter(|v| v.path == path && v.valid_from_ms <= at_ms)
        .filter(|v| v.valid_to_ms.is_none_or(|to| to > at_ms))
        .max_by_key(|v| v.seq)
}

/// The queues whose `members` in effect at `at_ms` name `agent`
/// (`alice,bob:1`: names with an optional priority).
pub fn queues_of<'a>(
    versions: &'a [ConfigVersion],
    agent: &'a str,
    at_ms: u64,
) -> impl Iterator<Item = &'a str> + 'a {
    let queues: std::collections::BTreeSet<&str> = versions
        .iter()
        .filter(|v| v.kind == ConfigKind::Queue)
        .map(|v| v.path.as_str())
        .collect();
    queues.into_iter().filter_map(move |path| {
        let version = in_effect(versions, path, at_ms)?;
        let members = version.attributes.as_ref()?.get("members")?;
        members
            .split(',')
            .any(|m| m.split(':').next().map(str::trim) == Some(agent))
            .then_some(version.name.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_config::TreePath;

    fn record(seq: u64, at_unix_ms: u64, old: Option<&str>, new: Option<&str>) -> HistoryRecord {
        let user = |display: &str| Object::new(Class::User).with("display_name", display);
        HistoryRecord {
            epoch: 1,
            seq,
            at_unix_ms,
            who: "admin".into(),
            client: String::new(),
            path: TreePath::parse("/config/Users/alice").unwrap(),
            old: old.map(user),
            new: new.map(user),
            healed_from: None,
            conflict: None,
        }
    }

    fn view(history: Vec<HistoryRecord>) -> ConfigView {
        ConfigView {
            path: "/config/Users/alice".into(),
            object: None,
            children: Vec::new(),
            history,
        }
    }

    #[test]
    fn each_change_is_a_version_until_the_next() {
        let v = versions(&view(vec![
            record(7, 1_000, None, Some("Alice")),
            record(9, 5_000, Some("Alice"), Some("Alicia")),
            record(12, 8_000, Some("Alicia"), None),
        ]));
        let plain: Vec<(u64, u64, Option<u64>, Option<&str>)> = v
            .iter()
            .map(|v| {
                let name = v.attributes.as_ref().map(|a| a["display_name"].as_str());
                (v.seq, v.valid_from_ms, v.valid_to_ms, name)
            })
            .collect();
        assert_eq!(
            plain,
            [
                (7, 1_000, Some(5_000), Some("Alice")),
                (9, 5_000, Some(8_000), Some("Alicia")),
                (12, 8_000, None, None),
            ]
        );
        assert_eq!((v[0].kind, v[0].name.as_str()), (ConfigKind::User, "alice"));
        let name_at = |at| {
            in_effect(&v, "/config/Users/alice", at)
                .and_then(|v| v.attributes.as_ref())
                .map(|a| a["display_name"].clone())
        };
        assert_eq!(name_at(999), None);
        assert_eq!(name_at(4_999).as_deref(), Some("Alice"));
        assert_eq!(name_at(5_000).as_deref(), Some("Alicia"));
        assert_eq!(name_at(9_000), None, "removed");
    }

    #[test]
    fn the_version_before_the_oldest_change_kept_holds_from_the_start() {
        let v = versions(&view(vec![record(9, 5_000, Some("Alice"), Some("Alicia"))]));
        assert_eq!(
            (v[0].seq, v[0].valid_from_ms, v[0].valid_to_ms),
            (0, 0, Some(5_000))
        );
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn an_agents_queues_are_those_whose_members_named_it_then() {
        let queue = |name: &str, seq, from, to, members: &str| ConfigVersion {
            path: format!("{QUEUES}/{name}"),
            kind: ConfigKind::Queue,
            name: name.into(),
            epoch: 1,
            seq,
            valid_from_ms: from,
            valid_to_ms: to,
            attributes: Some([("members".to_string(), members.to_string())].into()),
        };
        let v = [
            queue("Sales", 1, 0, Some(100), "alice, bob:1"),
            queue("Sales", 2, 100, None, "bob"),
            queue("Support", 3, 0, None, "carol,alice:2"),
        ];
        let of = |agent, at| queues_of(&v, agent, at).collect::<Vec<_>>();
        assert_eq!(of("alice", 50), ["Sales", "Support"]);
        assert_eq!(of("alice", 100), ["Support"]);
        assert_eq!(of("bob", 150), ["Sales"]);
        assert!(of("al", 50).is_empty());
    }

    #[test]
    fn only_users_queues_and_settings_are_recorded() {
        assert_eq!(
            kind_of("/config/Workgroups/Sales"),
            Some((ConfigKind::Queue, "Sales".into()))
        );
        assert_eq!(
            kind_of(SETTINGS),
            Some((ConfigKind::Settings, String::new()))
        );
        assert_eq!(kind_of("/config/Users"), None);
        assert_eq!(kind_of("/config/Users/a/b"), None);
        assert_eq!(kind_of("/config/Server"), None);
    }
}

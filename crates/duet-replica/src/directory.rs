//! The contact center's directory in the configuration tree: agents and
//! supervisors under `/config/Users`, workgroup queues under
//! `/config/Workgroups`, and the interaction settings at
//! `/config/Interactions`. [`from_tree`] derives the interaction state's
//! [`duet_interactions::Directory`] from them; [`check`] refuses an object that would not
//! parse, before it is written, so the derived directory never guesses.
//!
//! A user's attributes: `roles` (`agent`, `supervisor`, `admin`, comma
//! separated), `password_hash` (argon2; the API hashes a `password` given
//! in plain text), `skills` (`sales:5,billing:3`), `capacity`
//! (`call:1,chat:3,email:5`; absent media take none), `user_queue`
//! (default: the user's name), `display_name` (what customers see of the
//! agent; default `Agent`: customers never see user names), `supervises`
//! (a supervisor's workgroups, comma separated, or `*` for every queue;
//! default `*`, so a directory written before the relation existed keeps
//! its supervisors' reach; list the workgroups to narrow it).
//!
//! A workgroup's: `strategy` (`longest_idle`, `round_robin`,
//! `least_occupied`, `best_skilled`), `alerting_timeout_s`,
//! `max_no_answer`, `no_answer_reason`, `acw_s`, `wrap_up_codes`,
//! `service_level_s`, `priority_weight_s`, `members` (`alice,bob:1`: a
//! name with an optional priority, lower first), `addresses` (email
//! addresses delivered to this queue).
//!
//! The interaction settings: `non_acd_statuses` (`Away,At lunch`),
//! `reason_codes` (`50002:desktop connection lost`), `closed_retention_s`,
//! `desktop_grace_s` (an agent whose desktop connection is lost keeps its
//! state and interactions this long, then is logged out with 50002),
//! `customer_gone_abandon_s` (300: a queued chat whose customer has had no
//! socket and sent nothing this long ends as abandoned),
//! `statistics_interval_s` (1800: queue totals become an interval record
//! at each boundary, and at a takeover; 0: no intervals),
//! `live_interactions_max` (100000: the most interactions the live state
//! holds; memory follows it, about 1 KiB each), `content_bytes_max`
//! (26214400: the largest email or shared file, in bytes),
//! `content_held_bytes_max` (2147483648: the most bytes of content the
//! live state holds in memory, on each node), `unreferenced_chunk_keep_s`
//! (3600: how long a chunk of content nobody refers to is kept after it
//! was last stored),
//! `smtp_relay` (`host:port`, the outbound relay for email replies),
//! `smtp_relay_tls` (`true`: STARTTLS required), `email_from` (the
//! address replies come from), `outbound_webhook` (where agents' SMS and
//! social messages are posted, signed with the webhook secret).

use std::collections::{BTreeMap, BTreeSet};

use duet_config::{Class, Object, Tree, TreePath};
use duet_interactions::MediaType;
use duet_interactions::model::{AgentConfig, QueueConfig, QueueMember, Strategy};

pub const USERS: &str = "/config/Users";
pub const WORKGROUPS: &str = "/config/Workgroups";
pub const SETTINGS: &str = "/config/Interactions";

/// The reason code a lost desktop connection logs an agent out with (the
/// seed's 50002), as the router uses it.
pub use duet_interactions::routing::DESKTOP_LOST_REASON as REASON_CONNECTION_LOST;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: attribute {attribute}: {why}")]
pub struct DirectoryError {
    pub path: String,
    pub attribute: String,
    pub why: String,
}

/// Whether a change at `path` may change the directory.
pub fn affects(path: &TreePath) -> bool {
    [USERS, WORKGROUPS, SETTINGS]
        .iter()
        .filter_map(|p| TreePath::parse(p).ok())
        .any(|folder| path.starts_with(&folder) || folder.starts_with(path))
}

/// The roles a user holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserRole {
    Agent,
    Supervisor,
    Admin,
}

impl UserRole {
    fn parse(text: &str) -> Option<UserRole> {
        match text.trim().to_ascii_lowercase().as_str() {
            "agent" => Some(UserRole::Agent),
            "supervisor" => Some(UserRole::Supervisor),
            "admin" | "administrator" => Some(UserRole::Admin),
            _ => None,
        }
    }
}

/// The queues a supervisor reads and acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supervises {
    Every,
    Only(BTreeSet<String>),
}

impl Supervises {
    pub fn covers(&self, queue: &str) -> bool {
        match self {
            Supervises::Every => true,
            Supervises::Only(queues) => queues.contains(queue),
        }
    }
}

/// What customers see of an agent who set no `display_name`.
pub const DEFAULT_DISPLAY_NAME: &str = "Agent";

/// A user of the contact center as the API authenticates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUser {
    pub name: String,
    pub roles: BTreeSet<UserRole>,
    pub password_hash: Option<String>,
    pub supervises: Supervises,
    pub display_name: String,
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

struct Reader<'a> {
    path: &'a TreePath,
    object: &'a Object,
}

impl Reader<'_> {
    fn error(&self, attribute: &str, why: impl Into<String>) -> DirectoryError {
        DirectoryError {
            path: self.path.to_string(),
            attribute: attribute.to_string(),
            why: why.into(),
        }
    }

    fn get(&self, attribute: &str) -> Option<&str> {
        self.object.attributes.get(attribute).map(String::as_str)
    }

    fn number(&self, attribute: &str, default: u64) -> Result<u64, DirectoryError> {
        match self.get(attribute) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| self.error(attribute, format!("{v:?} is not a whole number"))),
        }
    }

    /// `number:text` pairs (`50002:desktop connection lost`).
    fn codes(&self, attribute: &str) -> Result<BTreeMap<u32, String>, DirectoryError> {
        let mut out = BTreeMap::new();
        for item in list(self.get(attribute).unwrap_or_default()) {
            let (code, text) = item
                .split_once(':')
                .ok_or_else(|| self.error(attribute, format!("{item:?} is not code:text")))?;
            let code = code.trim().parse().map_err(|_| {
                self.error(
                    attribute,
                    format!("{item:?}: the code is not a whole number"),
                )
            })?;
            out.insert(code, text.trim().to_string());
        }
        Ok(out)
    }

    /// `name:number` pairs (`sales:5`).
    fn pairs(&self, attribute: &str) -> Result<BTreeMap<String, u32>, DirectoryError> {
        let mut out = BTreeMap::new();
        for item in list(self.get(attribute).unwrap_or_default()) {
            let (name, number) = item
                .split_once(':')
                .ok_or_else(|| self.error(attribute, format!("{item:?} is not name:number")))?;
            let number = number
                .trim()
                .parse()
                .map_err(|_| self.error(attribute, format!("{item:?}: not a whole number")))?;
            out.insert(name.trim().to_string(), number);
        }
        Ok(out)
    }
}

fn media(name: &str) -> Option<MediaType> {
    MediaType::ALL
        .into_iter()
        .find(|m| m.name().eq_ignore_ascii_case(name.trim()))
}

fn agent(r: &Reader, name: &str) -> Result<AgentConfig, DirectoryError> {
    let skills = r.pairs("skills")?;
    let mut capacity = BTreeMap::new();
    for (m, n) in r.pairs("capacity")? {
        let known = MediaType::ALL.map(MediaType::name).join(", ");
        let m = media(&m).ok_or_else(|| {
            r.error(
                "capacity",
                format!("unknown media {m:?}; the media are {known}"),
            )
        })?;
        capacity.insert(m, n);
    }
    Ok(AgentConfig {
        skills,
        capacity,
        user_queue: r.get("user_queue").unwrap_or(name).trim().to_string(),
    })
}

fn roles(r: &Reader) -> Result<BTreeSet<UserRole>, DirectoryError> {
    list(r.get("roles").unwrap_or("agent"))
        .map(|role| {
            UserRole::parse(role).ok_or_else(|| {
                r.error(
                    "roles",
                    format!("unknown role {role:?}; the roles are agent, supervisor, admin"),
                )
            })
        })
        .collect()
}

fn supervises(r: &Reader) -> Supervises {
    match r.get("supervises").map(str::trim) {
        None | Some("*") => Supervises::Every,
        Some(list_) => Supervises::Only(list(list_).map(String::from).collect()),
    }
}

fn queue(r: &Reader) -> Result<QueueConfig, DirectoryError> {
    let default = QueueConfig::default();
    let strategy = match r.get("strategy").map(|s| s.trim().to_ascii_lowercase()) {
        None => default.strategy,
        Some(s) => match s.as_str() {
            "longest_idle" => Strategy::LongestIdle,
            "round_robin" => Strategy::RoundRobin,
            "least_occupied" => Strategy::LeastOccupied,
            "best_skilled" => Strategy::BestSkilled,
            other => {
                return Err(r.error(
                    "strategy",
                    format!("{other:?}; the strategies are longest_idle, round_robin, least_occupied, best_skilled"),
                ));
            }
        },
    };
    let mut members = BTreeMap::new();
    for item in list(r.get("members").unwrap_or_default()) {
        let (name, priority) = match item.split_once(':') {
            Some((name, p)) => {
                let p = p.trim().parse().map_err(|_| {
                    r.error(
                        "members",
                        format!("{item:?}: the priority is not a whole number"),
                    )
                })?;
                (name.trim(), Some(p))
            }
            None => (item, None),
        };
        members.insert(name.to_string(), QueueMember { priority });
    }
    let secs = |attribute: &str, default_ms: u64| -> Result<u64, DirectoryError> {
        Ok(r.number(attribute, default_ms / 1000)?.saturating_mul(1000))
    };
    Ok(QueueConfig {
        strategy,
        alerting_timeout_ms: secs("alerting_timeout_s", default.alerting_timeout_ms)?,
        max_no_answer: r.number("max_no_answer", u64::from(default.max_no_answer))? as u32,
        no_answer_reason: r
            .get("no_answer_reason")
            .map_or(default.no_answer_reason, |s| s.trim().to_string()),
        acw_ms: secs("acw_s", default.acw_ms)?,
        wrap_up_codes: list(r.get("wrap_up_codes").unwrap_or_default())
            .map(String::from)
            .collect(),
        service_level_ms: secs("service_level_s", default.service_level_ms)?,
        priority_weight_ms: secs("priority_weight_s", default.priority_weight_ms)?,
        members,
    })
}

/// Checks an object about to be put at `path`; what is outside the
/// directory's folders passes.
pub fn check(path: &TreePath, object: &Object) -> Result<(), DirectoryError> {
    let r = Reader { path, object };
    let parent = |folder: &str| {
        TreePath::parse(folder)
            .is_ok_and(|f| path.starts_with(&f) && path.segments().len() == f.segments().len() + 1)
    };
    if object.class == Class::User && parent(USERS) {
        agent(&r, path.name().unwrap_or_default())?;
        roles(&r)?;
    } else if object.class == Class::Workgroup && parent(WORKGROUPS) {
        queue(&r)?;
    } else if TreePath::parse(SETTINGS).is_ok_and(|s| &s == path) {
        r.number("closed_retention_s", 0)?;
        r.number("desktop_grace_s", 0)?;
        r.number("customer_gone_abandon_s", 1)?;
        r.number("statistics_interval_s", 0)?;
        r.number("live_interactions_max", 1)?;
        r.number("content_bytes_max", 1)?;
        r.number("content_held_bytes_max", 1)?;
        r.number("unreferenced_chunk_keep_s", 1)?;
        r.codes("reason_codes")?;
        if let Some(relay) = r.get("smtp_relay")
            && !relay
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.trim().is_empty() && p.trim().parse::<u16>().is_ok())
        {
            return Err(r.error("smtp_relay", format!("{relay:?} is not host:port")));
        }
    }
    Ok(())
}

fn children<'a>(tree: &'a Tree, folder: &str, class: Class) -> Vec<(String, TreePath, &'a Object)> {
    let Ok(folder) = TreePath::parse(folder) else {
        return Vec::new();
    };
    tree.children(&folder)
        .into_iter()
        .filter_map(|(name, _)| {
            let path = folder.join(&name).ok()?;
            let object = tree.get(&path)?;
            (object.class == class).then_some((name, path, object))
        })
        .collect()
}

/// The users who may sign in to the contact center's API.
/// A workgroup's wrap-up codes in the order its administrator wrote them.
pub fn wrap_up_codes(tree: &Tree, queue: &str) -> Option<Vec<String>> {
    let path = TreePath::parse(WORKGROUPS).ok()?.join(queue).ok()?;
    let object = tree.get(&path).filter(|o| o.class == Class::Workgroup)?;
    let codes = object.attributes.get("wrap_up_codes")?;
    Some(list(codes).map(String::from).collect())
}

pub fn user(tree: &Tree, name: &str) -> Option<ContactUser> {
    let path = TreePath::parse(USERS).ok()?.join(name).ok()?;
    let object = tree.get(&path).filter(|o| o.class == Class::User)?;
    let r = Reader {
        path: &path,
        object,
    };
    Some(ContactUser {
        name: name.to_string(),
        roles: roles(&r).ok()?,
        password_hash: r.get("password_hash").map(String::from),
        supervises: supervises(&r),
        display_name: r
            .get("display_name")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_DISPLAY_NAME)
            .to_string(),
    })
}

/// The directory the interaction state is checked against. Objects that
/// do not parse (written before a check existed) are left out and logged.
pub fn from_tree(tree: &Tree) -> duet_interactions::Directory {
    let mut directory = duet_interactions::Directory::default();
    for (name, path, object) in children(tree, USERS, Class::User) {
        let r = Reader {
            path: &path,
            object,
        };
        match (agent(&r, &name), roles(&r)) {
            (Ok(a), Ok(roles)) if roles.contains(&UserRole::Agent) => {
                directory.agents.insert(name, a);
            }
            (Ok(_), Ok(_)) => {}
            (Err(e), _) | (_, Err(e)) => tracing::warn!("directory: {e}; the user is left out"),
        }
    }
    for (name, path, object) in children(tree, WORKGROUPS, Class::Workgroup) {
        match queue(&Reader {
            path: &path,
            object,
        }) {
            Ok(q) => {
                directory.queues.insert(name, q);
            }
            Err(e) => tracing::warn!("directory: {e}; the workgroup is left out"),
        }
    }
    if let Ok(path) = TreePath::parse(SETTINGS)
        && let Some(object) = tree.get(&path)
    {
        let r = Reader {
            path: &path,
            object,
        };
        directory.non_acd_statuses = list(r.get("non_acd_statuses").unwrap_or_default())
            .map(String::from)
            .collect();
        if let Ok(codes) = r.codes("reason_codes") {
            directory.reason_codes = codes;
        }
        if let Ok(s) = r.number(
            "closed_retention_s",
            directory.settings.closed_retention_ms / 1000,
        ) {
            directory.settings.closed_retention_ms = s.saturating_mul(1000);
        }
        if let Ok(s) = r.number(
            "desktop_grace_s",
            directory.settings.desktop_grace_ms / 1000,
        ) {
            directory.settings.desktop_grace_ms = s.saturating_mul(1000);
        }
        if let Ok(s) = r.number(
            "customer_gone_abandon_s",
            directory.settings.customer_gone_abandon_ms / 1000,
        ) {
            directory.settings.customer_gone_abandon_ms = s.saturating_mul(1000);
        }
        if let Ok(s) = r.number(
            "statistics_interval_s",
            directory.settings.statistics_interval_ms / 1000,
        ) {
            directory.settings.statistics_interval_ms = s.saturating_mul(1000);
        }
        if let Ok(n) = r.number(
            "live_interactions_max",
            directory.settings.live_interactions_max as u64,
        ) {
            directory.settings.live_interactions_max = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Ok(n) = r.number("content_bytes_max", directory.settings.content_bytes_max) {
            directory.settings.content_bytes_max = n;
        }
        if let Ok(n) = r.number(
            "content_held_bytes_max",
            directory.settings.content_held_bytes_max,
        ) {
            directory.settings.content_held_bytes_max = n;
        }
        if let Ok(s) = r.number(
            "unreferenced_chunk_keep_s",
            directory.settings.unreferenced_chunk_keep_ms / 1000,
        ) {
            directory.settings.unreferenced_chunk_keep_ms = s.max(1).saturating_mul(1000);
        }
    }
    directory
        .reason_codes
        .entry(REASON_CONNECTION_LOST)
        .or_insert_with(|| "desktop connection lost".into());
    directory
}

/// Every email address a workgroup lists (lower case), with its queue.
pub fn mail_queues(tree: &Tree) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, _, object) in children(tree, WORKGROUPS, Class::Workgroup) {
        for address in list(
            object
                .attributes
                .get("addresses")
                .map_or("", String::as_str),
        ) {
            out.insert(address.to_ascii_lowercase(), name.clone());
        }
    }
    out
}

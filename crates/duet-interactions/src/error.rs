//! Why a change cannot be made, in words a person can act on.

use crate::model::MediaType;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("no interaction {id:?} in the live state (closed and forgotten, or never created)")]
    UnknownInteraction { id: String },
    #[error("interaction {id:?} already exists; ids are stable for life, pick a new one")]
    AlreadyExists { id: String },
    #[error("no queue {queue:?} in the configuration; add it, or use an agent's user queue")]
    UnknownQueue { queue: String },
    #[error("no agent {agent:?} in the configuration")]
    UnknownAgent { agent: String },
    #[error("interaction {id:?} is {from}: cannot {action}")]
    IllegalTransition {
        id: String,
        from: String,
        action: String,
    },
    #[error("interaction {id:?} is closed: cannot {action}")]
    Closed { id: String, action: String },
    #[error("agent {agent:?} already holds {capacity} {media} interaction(s), their capacity")]
    CapacityExceeded {
        agent: String,
        media: MediaType,
        capacity: usize,
    },
    #[error("agent {agent:?} is logged out; log in first")]
    LoggedOut { agent: String },
    #[error("agent {agent:?} is not logged in for {media}")]
    NotLoggedIn { agent: String, media: MediaType },
    #[error("agent {agent:?} is in the non-ACD status {status:?} and takes no ACD offers")]
    NonAcdStatus { agent: String, status: String },
    #[error("agent {agent:?} is {status}, not available for ACD offers")]
    NotAvailable { agent: String, status: String },
    #[error("agent {agent:?} is not a member of queue {queue:?}")]
    NotAMember { agent: String, queue: String },
    #[error("agent {agent:?} lacks skill {skill:?} at level {level} or above")]
    SkillsNotMet {
        agent: String,
        skill: String,
        level: u32,
    },
    #[error("agent {agent:?} is not on interaction {id:?}")]
    NotOnInteraction { agent: String, id: String },
    #[error("wrap-up code {code:?} is not one of queue {queue:?}'s: {allowed}")]
    InvalidWrapUpCode {
        code: String,
        queue: String,
        allowed: String,
    },
    #[error("{status:?} is not a configured non-ACD status; the configured ones are: {known}")]
    UnknownStatus { status: String, known: String },
    #[error("a {media} interaction cannot {action}")]
    WrongMedia { media: MediaType, action: String },
    #[error("no {what} {id:?} on interaction {interaction:?}")]
    UnknownItem {
        interaction: String,
        what: &'static str,
        id: String,
    },
    #[error(
        "the change is {bytes} bytes, over the {max} a change may carry; send large files separately"
    )]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "the live state holds {max} interactions, its limit; close or forget some, or raise live_interactions_max"
    )]
    Full { max: usize },
    #[error("the content is {bytes} bytes, over the {max} allowed (the setting content_bytes_max)")]
    ContentTooLarge { bytes: u64, max: u64 },
    #[error(
        "the live state holds {held} bytes of content, near its limit {max}; try again once some interactions are forgotten, or raise content_held_bytes_max"
    )]
    ContentFull { held: u64, max: u64 },
    #[error(
        "chunk {chunk} of the content is not held here (let go, or never stored); store the content again, then retry"
    )]
    ContentMissing { chunk: String },
    #[error("{what} is invalid: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("change at ({0}, {1}) is not after the position ({2}, {3})")]
    OutOfOrder(u64, u64, u64, u64),
    #[error("the snapshot cannot be installed: {0}")]
    BadSnapshot(String),
    #[error("a stored row of the interaction state is damaged: {0}")]
    BadRow(String),
}

pub type Result<T> = std::result::Result<T, Error>;

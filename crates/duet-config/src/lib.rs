//! The configuration tree: typed objects at paths ([`path`], [`object`]),
//! changed by applying changes in order with their history kept ([`tree`]),
//! and digests that let a backup resynchronise by walking only what differs
//! ([`digest`], [`sync`]). Sans-IO: no storage or network here.

pub mod digest;
pub mod heal;
pub mod object;
pub mod path;
mod rsm;
pub mod scope;
pub mod sync;
pub mod tree;

pub use object::{Class, Object};
pub use path::TreePath;
pub use tree::{Change, Conflict, Edit, HistoryRecord, Op, Origin, Tree};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    #[error("invalid path {path:?}: {why}")]
    InvalidPath { path: String, why: String },
    #[error("unknown object class {class:?}; the classes are {known}")]
    UnknownClass { class: String, known: String },
    #[error("value too large: {0}")]
    TooLarge(String),
    #[error("{message}")]
    BadParameter { message: String },
    #[error("nothing at {0} to remove")]
    NotFound(String),
    #[error("change ({epoch}, {seq}) was already applied")]
    AlreadyApplied { epoch: u64, seq: u64 },
}

//! What can go wrong talking to a pair.

/// A request that did not get the answer it wanted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A node answered with a final refusal (4xx other than 404, or any
    /// status a retry cannot change): the request is wrong, not the pair.
    #[error("{what}: refused with {status}: {message}")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },
    /// Neither node acknowledged the request before its deadline; it may
    /// or may not have been made (a resend with the same client id is
    /// still applied once).
    #[error("{what}: no node acknowledged it within {deadline_ms} ms (last: {last})")]
    GaveUp {
        what: String,
        deadline_ms: u64,
        last: String,
    },
    /// An answer that is not what the API documents.
    #[error("{what}: unexpected answer: {answer}")]
    BadAnswer { what: String, answer: String },
    /// A request body that cannot be written as JSON.
    #[error("{what}: cannot write the request: {why}")]
    BadRequest { what: String, why: String },
    /// A node URL or address that cannot be used.
    #[error("bad node address {0:?}: give http://host:port")]
    BadAddress(String),
    /// Email could not be handed to either node.
    #[error("email: {0}")]
    Smtp(String),
}

impl Error {
    /// The HTTP status of a final refusal, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

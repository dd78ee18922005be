//! A refusal's body, on every route.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A refused request: `{"error": "...", "status": N}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What was wrong and what to do, in words for people.
    pub error: String,
    /// The answer's HTTP status, so a client decides without reading the
    /// words: 503 try the other node (or again: `x-duet-active` names the
    /// active node when known), 429 again after `Retry-After`, 400 the
    /// request is invalid, 409 not in the current state, 404 unknown,
    /// 401/403 credentials or rights, 413 too large; none of 4xx is
    /// changed by a retry.
    pub status: u16,
}

impl ErrorBody {
    pub fn new(status: u16, error: impl Into<String>) -> ErrorBody {
        ErrorBody {
            error: error.into(),
            status,
        }
    }
}

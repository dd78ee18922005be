//! The pair's secrets as the node holds them: the session key (API
//! sessions, customers' tokens, keyed interaction ids) and the webhook key
//! (SMS and social webhooks' signatures, the outbound webhook's).

/// Each `None` when the bootstrap file names none; what needs it is refused.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Signs API sessions and customers' tokens (the pair's session key).
    pub session_key: Option<ring::hmac::Key>,
    /// Checks SMS and social webhooks' signatures.
    pub webhook_key: Option<ring::hmac::Key>,
}

//! Webhook signatures. The current scheme signs the route and a time:
//! `x-duet-timestamp: <unix seconds>` and `x-duet-signature: v2=<hex
//! HMAC-SHA256 of "v2\n<kind>\n<timestamp>\n<body>">` with the pair's
//! webhook secret, accepted within [`WINDOW_S`] of the node's clock; so a
//! body signed for `/sms` is refused at `/social`, and an old request is
//! refused once its time is out. Within the window a replay is harmless:
//! each message carries the provider's `message_id` and is kept once.
//!
//! The first scheme (`sha256=<hex HMAC of the body>`) is still accepted
//! while providers move, unless the bootstrap's `[contact_center]
//! webhook_body_only_signatures = false` turns it off.

use axum::http::{HeaderMap, StatusCode};
use ring::hmac;

use super::Refusal;
use duet_node::shared::Shared;

/// How far a signed timestamp may be from the node's clock, either way.
pub const WINDOW_S: u64 = 300;

/// Why a signature was not accepted; the text goes to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejected {
    Missing,
    Malformed,
    OutsideWindow,
    Mismatch,
    BodyOnlyOff,
}

impl Rejected {
    fn message(self) -> String {
        match self {
            Rejected::Missing => "no signature: send x-duet-timestamp: <unix seconds> and x-duet-signature: v2=<hex HMAC-SHA256 of \"v2\\n<kind>\\n<timestamp>\\n<body>\">".into(),
            Rejected::Malformed => "a malformed x-duet-signature or x-duet-timestamp".into(),
            Rejected::OutsideWindow => format!("x-duet-timestamp is more than {WINDOW_S} s from this node's clock; sign the request again with the current time"),
            Rejected::Mismatch => "the webhook's signature does not match its route, time and body".into(),
            Rejected::BodyOnlyOff => "signatures of the body alone (sha256=) are turned off here; sign with v2 (route, time and body)".into(),
        }
    }
}

fn signed_text(kind: &str, timestamp_s: u64, body: &[u8]) -> Vec<u8> {
    let mut text = format!("v2\n{kind}\n{timestamp_s}\n").into_bytes();
    text.extend_from_slice(body);
    text
}

/// Checks a request's signature; sans-IO (the clock comes in `now_s`).
pub(super) fn check(
    key: &hmac::Key,
    kind: &str,
    headers: &HeaderMap,
    body: &[u8],
    now_s: u64,
    body_only_accepted: bool,
) -> Result<(), Rejected> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = header("x-duet-signature").ok_or(Rejected::Missing)?;
    if let Some(hex) = signature.strip_prefix("v2=") {
        let timestamp_s: u64 = header("x-duet-timestamp")
            .ok_or(Rejected::Missing)?
            .trim()
            .parse()
            .map_err(|_| Rejected::Malformed)?;
        if now_s.abs_diff(timestamp_s) > WINDOW_S {
            return Err(Rejected::OutsideWindow);
        }
        let tag = hex::decode(hex).map_err(|_| Rejected::Malformed)?;
        return hmac::verify(key, &signed_text(kind, timestamp_s, body), &tag)
            .map_err(|_| Rejected::Mismatch);
    }
    if let Some(hex) = signature.strip_prefix("sha256=") {
        if !body_only_accepted {
            return Err(Rejected::BodyOnlyOff);
        }
        let tag = hex::decode(hex).map_err(|_| Rejected::Malformed)?;
        return hmac::verify(key, body, &tag).map_err(|_| Rejected::Mismatch);
    }
    Err(Rejected::Malformed)
}

/// Checks a webhook request to `/api/webhooks/{kind}` on this node.
pub(super) fn verify(
    shared: &Shared,
    kind: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refusal> {
    let key = shared.secrets.webhook_key.as_ref().ok_or_else(|| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node has no webhook secret: set [contact_center] webhook_secret in its bootstrap file",
        )
    })?;
    let body_only = shared.boot.contact_center.webhook_body_only_signatures;
    let now_s = duet_node::events::unix_ms() / 1000;
    check(key, kind, headers, body, now_s, body_only)
        .map_err(|why| Refusal::new(StatusCode::UNAUTHORIZED, why.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The v2 signature of a request, as a provider makes it.
    fn sign_v2(key: &hmac::Key, kind: &str, timestamp_s: u64, body: &[u8]) -> String {
        let tag = hmac::sign(key, &signed_text(kind, timestamp_s, body));
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("v2={hex}")
    }

    fn key() -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, b"the pair's webhook secret")
    }

    fn headers(signature: &str, timestamp_s: Option<u64>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-duet-signature", signature.parse().unwrap());
        if let Some(t) = timestamp_s {
            headers.insert("x-duet-timestamp", t.to_string().parse().unwrap());
        }
        headers
    }

    const NOW_S: u64 = 1_800_000_000;
    const BODY: &[u8] = br#"{"text": "hello"}"#;

    #[test]
    fn a_v2_signature_holds_for_its_route_within_the_window_only() {
        let signed = sign_v2(&key(), "sms", NOW_S, BODY);
        let h = headers(&signed, Some(NOW_S));
        assert_eq!(check(&key(), "sms", &h, BODY, NOW_S + 299, true), Ok(()));
        assert_eq!(check(&key(), "sms", &h, BODY, NOW_S, false), Ok(()));
        assert_eq!(
            check(&key(), "social", &h, BODY, NOW_S, true),
            Err(Rejected::Mismatch)
        );
        assert_eq!(
            check(&key(), "sms", &h, b"{}", NOW_S, true),
            Err(Rejected::Mismatch)
        );
        assert_eq!(
            check(&key(), "sms", &h, BODY, NOW_S + WINDOW_S + 1, true),
            Err(Rejected::OutsideWindow)
        );
        assert_eq!(
            check(&key(), "sms", &h, BODY, NOW_S - WINDOW_S - 1, true),
            Err(Rejected::OutsideWindow)
        );
        // The time is signed: moving it breaks the signature.
        let moved = headers(&signed, Some(NOW_S + 1));
        assert_eq!(
            check(&key(), "sms", &moved, BODY, NOW_S, true),
            Err(Rejected::Mismatch)
        );
        assert_eq!(
            check(&key(), "sms", &headers(&signed, None), BODY, NOW_S, true),
            Err(Rejected::Missing)
        );
    }

    #[test]
    fn the_body_only_scheme_is_accepted_until_turned_off() {
        let tag = hmac::sign(&key(), BODY);
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let h = headers(&format!("sha256={hex}"), None);
        assert_eq!(check(&key(), "sms", &h, BODY, NOW_S, true), Ok(()));
        assert_eq!(
            check(&key(), "sms", &h, BODY, NOW_S, false),
            Err(Rejected::BodyOnlyOff)
        );
        assert_eq!(
            check(&key(), "sms", &headers("md5=00", None), BODY, NOW_S, true),
            Err(Rejected::Malformed)
        );
    }
}

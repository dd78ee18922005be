//! Interaction ids nobody can guess. An interaction created for a key
//! (a provider's message, an email's Message-ID with its envelope, a
//! call's id, a caller's scoped client id) is named by the HMAC of that
//! key under the pair's session key: a retry on either node names the
//! same interaction, so it is created once, and without the key nobody
//! can derive the id. One without a key gets a random id. The key's parts
//! stay on the interaction as attributes where people look them up
//! (`message_id`, `call_id`, the conversation).

use base64::Engine as _;

/// The id of an interaction created for `key`, under the pair's session
/// key (a node without one, which cannot serve customers, falls back to
/// a plain hash: a stable id, but not a secret one).
pub fn keyed(session_key: Option<&ring::hmac::Key>, prefix: &str, key: &str) -> String {
    let tag = match session_key {
        Some(secret) => ring::hmac::sign(secret, key.as_bytes()).as_ref().to_vec(),
        None => ring::digest::digest(&ring::digest::SHA256, key.as_bytes())
            .as_ref()
            .to_vec(),
    };
    named(prefix, &tag[..16])
}

/// A fresh random id (128 bits from the runtime's generator).
pub fn random(prefix: &str) -> String {
    named(prefix, &rand::random::<[u8; 16]>())
}

fn named(prefix: &str, bytes: &[u8]) -> String {
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!("{prefix}-{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_one_id_per_session_key_and_another_key_another() {
        let secret = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"pair secret");
        let other = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"another secret");
        let id = keyed(Some(&secret), "email", "m1\nfrom\nto");
        assert_eq!(id, keyed(Some(&secret), "email", "m1\nfrom\nto"));
        assert_ne!(id, keyed(Some(&secret), "email", "m1\nother\nto"));
        assert_ne!(id, keyed(Some(&other), "email", "m1\nfrom\nto"));
        assert!(id.starts_with("email-") && id.len() == "email-".len() + 22);
        assert_ne!(random("chat"), random("chat"));
    }
}

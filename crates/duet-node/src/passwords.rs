//! Passwords: argon2id hashes, checked so that nothing about the answer's
//! timing tells a known user from an unknown one or a right password from
//! a wrong one, and with at most a few checks running at once (each takes
//! about 19 MiB and a few tens of milliseconds by design).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PasswordError {
    #[error("the password could not be hashed: {0}")]
    Hash(argon2::password_hash::Error),
}

/// Hashes a password (argon2id, random salt), in the PHC form the
/// configuration tree and the bootstrap file keep.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(PasswordError::Hash)?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(PasswordError::Hash)?
        .to_string())
}

/// Whether a stored password is a hash (else it is plain text, from an
/// older bootstrap file).
pub fn is_hash(stored: &str) -> bool {
    stored.starts_with("$argon2")
}

/// A hash of nothing anyone knows, checked against when there is no user
/// or no hash, so that answer takes as long as a wrong password.
fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        let text: String = random.iter().map(|b| format!("{b:02x}")).collect();
        // Hashing a random text cannot fail on its length or salt; should it
        // fail, a malformed decoy still costs no less than a parse.
        hash(&text).unwrap_or_default()
    })
}

fn argon2_matches(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Whether `given` is the password `stored` keeps (an argon2 hash, or a
/// plain password compared in constant time). `None` (no such user, or
/// no password set) runs the same argon2 check against a decoy and says
/// no, so it takes as long as a wrong password. Blocking: call it off the
/// async threads.
pub fn matches(given: &str, stored: Option<&str>) -> bool {
    match stored {
        Some(stored) if is_hash(stored) => argon2_matches(given, stored),
        Some(plain) => {
            // The same slow check as a hash, so a plain password is not
            // told apart from an unknown user by its speed.
            let _ = argon2_matches(given, decoy());
            // HMAC verification compares in constant time.
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &rand::random::<[u8; 32]>());
            let tag = ring::hmac::sign(&key, plain.as_bytes());
            ring::hmac::verify(&key, given.as_bytes(), tag.as_ref()).is_ok()
        }
        None => {
            let _ = argon2_matches(given, decoy());
            false
        }
    }
}

/// At most this many password checks run at once; the rest wait, so a
/// flood of sign-ins costs bounded memory (about 19 MiB each) and leaves
/// cores for the rest of the node.
pub const CHECKS_AT_ONCE: usize = 2;

/// Runs [`matches`] on the blocking pool, at most [`CHECKS_AT_ONCE`] at a
/// time.
pub async fn check(given: String, stored: Option<String>) -> bool {
    static PERMITS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CHECKS_AT_ONCE);
    let Ok(_permit) = PERMITS.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || matches(&given, stored.as_deref()))
        .await
        .unwrap_or(false)
}

/// How long a bootstrap user's right credentials are taken again without
/// a new argon2 check: scripts and `duet ctl` send them with every call,
/// and a slow check each time would take the node's cores.
pub const REMEMBERED_MS: u64 = 60_000;

/// Credentials that passed the check lately, one entry per user (its
/// password's HMAC under a key of this process only), so at most as many
/// as the bootstrap file has users. Only right answers are remembered:
/// a wrong password always pays the full check.
pub struct Remembered {
    key: ring::hmac::Key,
    passed: std::sync::Mutex<std::collections::HashMap<String, (ring::hmac::Tag, u64)>>,
}

impl Default for Remembered {
    fn default() -> Remembered {
        Remembered {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &rand::random::<[u8; 32]>()),
            passed: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl Remembered {
    fn text(user: &str, password: &str) -> String {
        format!("{user}\n{password}")
    }

    /// Whether `user` passed with `password` within [`REMEMBERED_MS`] of
    /// `now_ms`.
    pub fn knows(&self, user: &str, password: &str, now_ms: u64) -> bool {
        let passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        passed.get(user).is_some_and(|(tag, at_ms)| {
            now_ms.saturating_sub(*at_ms) < REMEMBERED_MS
                && ring::hmac::verify(
                    &self.key,
                    Self::text(user, password).as_bytes(),
                    tag.as_ref(),
                )
                .is_ok()
        })
    }

    /// Notes that `user` passed with `password` at `now_ms`.
    pub fn remember(&self, user: &str, password: &str, now_ms: u64) {
        let tag = ring::hmac::sign(&self.key, Self::text(user, password).as_bytes());
        let mut passed = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        passed.insert(user.to_string(), (tag, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn right_credentials_are_remembered_for_a_while_and_wrong_ones_never() {
        let remembered = Remembered::default();
        assert!(!remembered.knows("admin", "right", 0));
        remembered.remember("admin", "right", 1_000);
        assert!(remembered.knows("admin", "right", 1_000 + REMEMBERED_MS - 1));
        assert!(!remembered.knows("admin", "wrong", 1_000));
        assert!(!remembered.knows("other", "right", 1_000));
        assert!(!remembered.knows("admin", "right", 1_000 + REMEMBERED_MS));
    }

    #[test]
    fn a_hash_matches_its_password_only() {
        let stored = hash("correct horse").unwrap();
        assert!(is_hash(&stored));
        assert!(matches("correct horse", Some(&stored)));
        assert!(!matches("correct horsf", Some(&stored)));
    }

    #[test]
    fn a_plain_password_still_matches() {
        assert!(matches("plain-pass", Some("plain-pass")));
        assert!(!matches("plain-pasx", Some("plain-pass")));
        assert!(!matches("", Some("plain-pass")));
    }

    #[test]
    fn an_unknown_user_costs_as_much_as_a_known_one() {
        let stored = hash("correct horse").unwrap();
        // Warm the decoy first: it is made once.
        let _ = matches("x", None);
        // The fastest of a few checks of each, taken in turns so that
        // other work on the machine (which only ever makes one slower)
        // falls on all three alike.
        let kinds = [Some(stored.as_str()), None, Some("plain-pass")];
        let mut fastest = [f64::MAX; 3];
        for _ in 0..7 {
            for (kind, best) in kinds.iter().zip(&mut fastest) {
                let started = Instant::now();
                assert!(!matches("wrong", *kind));
                *best = best.min(started.elapsed().as_secs_f64());
            }
        }
        let [known, unknown, plain] = fastest;
        for (what, t) in [("unknown", unknown), ("plain", plain)] {
            assert!(
                t > known / 3.0 && t < known * 3.0,
                "{what}: {t:.4} s against {known:.4} s for a known user"
            );
        }
    }
}

//! Per-source limits on what anyone on the internet can start: token
//! buckets keyed by the caller's address (a GCRA: one "theoretical arrival
//! time" per key), with a bound on how many sources are tracked. Sans-IO:
//! time arrives as `now_ms`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The `[limits]` table of the bootstrap file. Each rate is a burst and
/// the time one more request is earned back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Chats and callbacks one address may start at once...
    pub creations_burst: u32,
    /// ...and then one more per this long.
    pub creation_interval_ms: u64,
    /// Failed sign-ins (`POST /api/sessions`, Basic credentials) one
    /// address may make at once, then one more per interval.
    pub sign_in_failures_per_address_burst: u32,
    pub sign_in_failure_per_address_interval_ms: u64,
    /// Failed sign-ins as one user (from anywhere), then one per interval.
    pub sign_in_failures_per_user_burst: u32,
    pub sign_in_failure_per_user_interval_ms: u64,
    /// What one address may send as customers' shared files, in MiB
    /// (each started MiB of a request's length counts), at once...
    pub uploads_per_source_burst_mib: u32,
    /// ...and then one MiB more per this long.
    pub upload_mib_interval_ms: u64,
    /// The most sources (and user names) each limit tracks; memory is about
    /// 64 bytes per source, so 4 limits × 10,000 sources stay under 3 MiB.
    pub tracked_sources_max: usize,
    /// HTTP connections open at once on this node, plain or TLS, counted
    /// from the moment one is accepted (before its handshake or first
    /// request) until it closes, WebSockets included; one more is
    /// answered 503 (plain HTTP) or closed (TLS) at once.
    pub http_connections_max: usize,
    /// WebSockets open at once on this node (agents' desktops,
    /// customers' chats, the change stream); one more is refused 503.
    pub websockets_max: usize,
    /// WebSockets open at once from one source address (IPv6 by its
    /// /64); one more is refused 429.
    pub websockets_per_source_max: usize,
    /// API requests waiting at once for the replication task's answer (a
    /// write until it is acknowledged, a read of the state); one more is
    /// answered 503 with `Retry-After` at once.
    pub answers_waiting_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            creations_burst: 20,
            creation_interval_ms: 3_000,
            sign_in_failures_per_address_burst: 10,
            sign_in_failure_per_address_interval_ms: 30_000,
            sign_in_failures_per_user_burst: 5,
            sign_in_failure_per_user_interval_ms: 60_000,
            uploads_per_source_burst_mib: 64,
            upload_mib_interval_ms: 1_000,
            tracked_sources_max: 10_000,
            http_connections_max: 4_096,
            websockets_max: 2_048,
            websockets_per_source_max: 512,
            answers_waiting_max: 1_024,
        }
    }
}

impl Limits {
    /// Everything wrong with the table, each with what to do about it.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, burst) in [
            ("creations_burst", self.creations_burst),
            (
                "sign_in_failures_per_address_burst",
                self.sign_in_failures_per_address_burst,
            ),
            (
                "sign_in_failures_per_user_burst",
                self.sign_in_failures_per_user_burst,
            ),
            (
                "uploads_per_source_burst_mib",
                self.uploads_per_source_burst_mib,
            ),
        ] {
            if burst == 0 {
                problems.push(format!(
                    "limits.{name} is 0, which refuses everything; give at least 1"
                ));
            }
        }
        for (name, max, example) in [
            ("tracked_sources_max", self.tracked_sources_max, 10_000),
            ("http_connections_max", self.http_connections_max, 4_096),
            ("websockets_max", self.websockets_max, 2_048),
            (
                "websockets_per_source_max",
                self.websockets_per_source_max,
                512,
            ),
            ("answers_waiting_max", self.answers_waiting_max, 1_024),
        ] {
            if max == 0 {
                problems.push(format!(
                    "limits.{name} is 0, which refuses everything; give at least 1 (e.g. {example})"
                ));
            }
        }
        problems
    }
}

/// One rate: `burst` at once, then one per `interval_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub interval_ms: u64,
}

/// Token buckets by key, at most `max_keys` of them.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: Rate,
    max_keys: usize,
    /// When each key's bucket is full again (its theoretical arrival time).
    full_at_ms: HashMap<K, u64>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    pub fn new(rate: Rate, max_keys: usize) -> Buckets<K> {
        Buckets {
            rate,
            max_keys: max_keys.max(1),
            full_at_ms: HashMap::new(),
        }
    }

    /// How far ahead of now a full bucket's time may run before a request
    /// is refused.
    fn allowance_ms(&self) -> u64 {
        u64::from(self.rate.burst.saturating_sub(1)) * self.rate.interval_ms
    }

    /// Takes one request for `key`: `Ok`, or how long to wait (ms).
    pub fn take(&mut self, key: &K, now_ms: u64) -> Result<(), u64> {
        self.take_n(key, 1, now_ms)
    }

    /// Takes `n` at once for `key` (a request that counts as many, such
    /// as an upload by the MiB): all of them, or none and how long to
    /// wait (ms). More than the burst never fits.
    pub fn take_n(&mut self, key: &K, n: u32, now_ms: u64) -> Result<(), u64> {
        let Some(more) = n.checked_sub(1) else {
            return Ok(());
        };
        if n > self.rate.burst {
            return Err(u64::from(n) * self.rate.interval_ms.max(1));
        }
        let full_at = self.full_at_ms.get(key).copied().unwrap_or(0).max(now_ms);
        // The last of them must be within the allowance, as one would.
        let ahead = full_at + u64::from(more) * self.rate.interval_ms - now_ms;
        let allowance = self.allowance_ms();
        if ahead > allowance {
            return Err(ahead - allowance);
        }
        if !self.full_at_ms.contains_key(key) {
            self.make_room(now_ms);
        }
        self.full_at_ms
            .insert(key.clone(), full_at + u64::from(n) * self.rate.interval_ms);
        Ok(())
    }

    /// Whether `key` may make a request now, without taking it: `Ok`, or
    /// how long to wait (ms).
    pub fn check(&self, key: &K, now_ms: u64) -> Result<(), u64> {
        let full_at = self.full_at_ms.get(key).copied().unwrap_or(0).max(now_ms);
        let ahead = full_at - now_ms;
        let allowance = self.allowance_ms();
        if self.rate.burst == 0 {
            return Err(self.rate.interval_ms.max(1));
        }
        if ahead > allowance {
            return Err(ahead - allowance);
        }
        Ok(())
    }

    /// Gives back a request taken for `key` (it turned out not to count).
    pub fn give_back(&mut self, key: &K) {
        if let Some(full_at) = self.full_at_ms.get_mut(key) {
            *full_at = full_at.saturating_sub(self.rate.interval_ms);
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.full_at_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.full_at_ms.is_empty()
    }

    /// Makes room for one more key: first forgets every full bucket (they
    /// know nothing a new one would not), then, if every tracked source
    /// is still in debt, the one nearest to full.
    fn make_room(&mut self, now_ms: u64) {
        if self.full_at_ms.len() < self.max_keys {
            return;
        }
        self.full_at_ms.retain(|_, full_at| *full_at > now_ms);
        if self.full_at_ms.len() >= self.max_keys
            && let Some(nearest) = self
                .full_at_ms
                .iter()
                .min_by_key(|(_, full_at)| **full_at)
                .map(|(k, _)| k.clone())
        {
            self.full_at_ms.remove(&nearest);
        }
    }
}

/// The key for an address: IPv6 by its /64, since one host holds a whole
/// /64 and could otherwise spread itself over endless keys.
pub fn source_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address.to_canonical(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(burst: u32, interval_ms: u64, max_keys: usize) -> Buckets<u32> {
        Buckets::new(Rate { burst, interval_ms }, max_keys)
    }

    #[test]
    fn a_burst_is_allowed_then_one_per_interval() {
        let mut b = buckets(3, 1_000, 10);
        for _ in 0..3 {
            assert_eq!(b.take(&1, 0), Ok(()));
        }
        assert_eq!(b.take(&1, 0), Err(1_000));
        assert_eq!(b.take(&1, 400), Err(600));
        assert_eq!(b.take(&1, 1_000), Ok(()));
        assert!(b.take(&1, 1_000).is_err());
        // Another key has its own bucket.
        assert_eq!(b.take(&2, 1_000), Ok(()));
    }

    #[test]
    fn many_taken_at_once_are_all_or_none() {
        let mut b = buckets(10, 100, 8);
        assert_eq!(b.take_n(&1, 6, 0), Ok(()));
        // 4 left: 5 more would wait for one to come back.
        assert_eq!(b.take_n(&1, 5, 0), Err(100));
        assert_eq!(b.take_n(&1, 4, 0), Ok(()));
        assert!(b.take(&1, 0).is_err(), "none left");
        // More than the burst never fits; none is nothing.
        assert!(b.take_n(&2, 11, 0).is_err());
        assert_eq!(b.take_n(&2, 0, 0), Ok(()));
        assert_eq!(b.take_n(&2, 10, 0), Ok(()));
    }

    #[test]
    fn check_says_what_take_would_without_taking() {
        let mut b = buckets(2, 1_000, 10);
        assert_eq!(b.check(&1, 0), Ok(()));
        b.take(&1, 0).unwrap();
        assert_eq!(b.check(&1, 0), Ok(()));
        b.take(&1, 0).unwrap();
        assert_eq!(b.check(&1, 0), Err(1_000));
        assert_eq!(b.check(&1, 0), b.take(&1, 0));
    }

    #[test]
    fn a_request_given_back_does_not_count() {
        let mut b = buckets(1, 60_000, 10);
        b.take(&1, 0).unwrap();
        b.give_back(&1);
        assert_eq!(b.take(&1, 0), Ok(()));
        assert!(b.take(&1, 0).is_err());
    }

    #[test]
    fn the_tracked_sources_stay_bounded_and_a_flooder_stays_limited() {
        let mut b = buckets(2, 1_000_000, 100);
        b.take(&0, 0).unwrap();
        b.take(&0, 0).unwrap();
        // Many other sources come, one request each.
        for key in 1..10_000 {
            let _ = b.take(&key, 1);
            assert!(b.len() <= 100);
        }
        // Source 0 owes the most and is the last to be forgotten.
        assert!(b.take(&0, 2).is_err());
    }

    #[test]
    fn full_buckets_are_forgotten_first() {
        let mut b = buckets(1, 1_000, 2);
        b.take(&1, 0).unwrap();
        b.take(&2, 0).unwrap();
        // Both are full again by 5 s: a newcomer forgets them.
        b.take(&3, 5_000).unwrap();
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn an_ipv6_host_is_one_source_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(source_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}

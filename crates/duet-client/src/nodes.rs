//! Which node a request goes to, in what order, and for how long a client
//! keeps trying. Pure decisions, so they are tested without a pair.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::Error;

/// The two nodes of a pair and the one that answered last.
#[derive(Debug)]
pub struct Nodes {
    urls: [String; 2],
    /// The node that acknowledged the last request: the first to try.
    current: AtomicUsize,
    /// The node every change is tried on first, whichever answered last
    /// (none: changes follow `current` as reads do).
    changes_first: Option<usize>,
}

impl Nodes {
    /// Both nodes' base URLs (`http://host:port`), the first tried first.
    pub fn new(urls: [String; 2]) -> Result<Nodes, Error> {
        for url in &urls {
            host_port(url)?;
        }
        let urls = urls.map(|u| u.trim_end_matches('/').to_string());
        Ok(Nodes {
            urls,
            current: AtomicUsize::new(0),
            changes_first: None,
        })
    }

    /// As [`Nodes::new`], but every change is tried on `node` first: a
    /// client that, when the nodes are apart and both serve, acts on
    /// that one (a customer or agent the split left on the lone node).
    pub fn changes_first_on(urls: [String; 2], node: usize) -> Result<Nodes, Error> {
        Ok(Nodes {
            changes_first: Some(node % 2),
            ..Nodes::new(urls)?
        })
    }

    /// The node a request starts on: a change's own first node if set,
    /// else the node used most recently.
    pub fn first_for(&self, change: bool) -> usize {
        match (change, self.changes_first) {
            (true, Some(node)) => node,
            _ => self.current(),
        }
    }

    pub fn url(&self, node: usize) -> &str {
        &self.urls[node % 2]
    }

    pub fn urls(&self) -> &[String; 2] {
        &self.urls
    }

    /// The node used most recently; requests start there.
    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    /// `node` answered: it is tried first from now on.
    pub fn answered(&self, node: usize) {
        self.current.store(node % 2, Ordering::Relaxed);
    }
}

/// `host:port` of an `http://host:port` base URL (for sockets).
pub fn host_port(url: &str) -> Result<String, Error> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::BadAddress(url.to_string()))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || !host.contains(':') {
        return Err(Error::BadAddress(url.to_string()));
    }
    Ok(host.to_string())
}

/// How an attempt on one node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The node answered with this HTTP status.
    Status(u16),
    /// No answer: refused, reset or timed out (the node may be gone,
    /// paused or cut off).
    NoAnswer,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Acknowledged: done.
    Done,
    /// Try again on the other node (after the backoff).
    Other,
    /// A final answer: retrying cannot change it.
    Final,
}

/// The one rule for following the active node: 2xx is done; 503 (the
/// backup, or a node too busy to answer), 404 (a change made on a node
/// that was cut off, not here until it heals; the retry is bounded by the
/// deadline) and no answer go to the other node; anything else is the
/// pair's final word on the request.
pub fn step(attempt: Attempt) -> Step {
    match attempt {
        Attempt::Status(s) if (200..300).contains(&s) => Step::Done,
        Attempt::Status(503 | 404 | 502 | 504) | Attempt::NoAnswer => Step::Other,
        Attempt::Status(_) => Step::Final,
    }
}

/// The bounded retry loop's settings.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// A node that does not answer within this is taken for gone.
    pub answer_wait_ms: u64,
    /// A request no node acknowledged within this is given up.
    pub deadline_ms: u64,
    /// The pause after a round where both nodes failed, doubling each
    /// round up to `backoff_max_ms`.
    pub backoff_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for Retry {
    /// Long enough for a switchover of the default parameters' fast
    /// profile and a heal; short enough that a client gives up on a pair
    /// that is gone.
    fn default() -> Retry {
        Retry {
            answer_wait_ms: 2_000,
            deadline_ms: 20_000,
            backoff_ms: 20,
            backoff_max_ms: 500,
        }
    }
}

impl Retry {
    /// The pause before attempt `n` (0-based) of a request: none when
    /// moving to the other node for the first time in a round, so a
    /// switchover costs one round trip; then doubling per full round.
    pub fn pause(&self, n: u32) -> Duration {
        if n == 0 || !n.is_multiple_of(2) {
            return Duration::ZERO;
        }
        let rounds = (n / 2).min(16);
        let ms = self
            .backoff_ms
            .saturating_mul(1u64 << (rounds - 1))
            .min(self.backoff_max_ms);
        Duration::from_millis(ms)
    }

    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    pub fn answer_wait(&self) -> Duration {
        Duration::from_millis(self.answer_wait_ms)
    }
}

/// The node for attempt `n` of a request that started at `first`:
/// alternating, the most recently used one first.
pub fn node_for(first: usize, n: u32) -> usize {
    (first + n as usize) % 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_splitting_client_makes_changes_on_its_node_first_and_reads_where_it_last_did() {
        let urls = || ["http://a:1".to_string(), "http://b:2".to_string()];
        let following = Nodes::new(urls()).unwrap();
        following.answered(1);
        assert_eq!(
            (following.first_for(true), following.first_for(false)),
            (1, 1)
        );
        let splitting = Nodes::changes_first_on(urls(), 1).unwrap();
        splitting.answered(0);
        assert_eq!(
            (splitting.first_for(true), splitting.first_for(false)),
            (1, 0)
        );
    }

    #[test]
    fn acknowledged_is_done_and_refusals_are_final() {
        assert_eq!(step(Attempt::Status(200)), Step::Done);
        assert_eq!(step(Attempt::Status(204)), Step::Done);
        for final_status in [400, 401, 403, 409, 413, 500] {
            assert_eq!(step(Attempt::Status(final_status)), Step::Final);
        }
    }

    #[test]
    fn the_backup_no_answer_and_not_yet_healed_go_to_the_other_node() {
        assert_eq!(step(Attempt::Status(503)), Step::Other);
        assert_eq!(step(Attempt::Status(404)), Step::Other);
        assert_eq!(step(Attempt::NoAnswer), Step::Other);
    }

    #[test]
    fn the_most_recently_used_node_is_tried_first_then_the_other() {
        let nodes = Nodes::new(["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()])
            .expect("two nodes");
        assert_eq!(nodes.current(), 0);
        assert_eq!(node_for(nodes.current(), 0), 0);
        assert_eq!(node_for(nodes.current(), 1), 1);
        nodes.answered(1);
        assert_eq!(node_for(nodes.current(), 0), 1);
        assert_eq!(node_for(nodes.current(), 1), 0);
        assert_eq!(node_for(nodes.current(), 2), 1);
    }

    #[test]
    fn the_first_switch_is_immediate_and_later_rounds_back_off_to_the_cap() {
        let retry = Retry {
            backoff_ms: 20,
            backoff_max_ms: 100,
            ..Retry::default()
        };
        let pauses: Vec<u64> = (0..10).map(|n| retry.pause(n).as_millis() as u64).collect();
        assert_eq!(pauses, [0, 0, 20, 0, 40, 0, 80, 0, 100, 0]);
        // Far past any real count: no overflow, still the cap.
        assert_eq!(retry.pause(u32::MAX - 1), Duration::from_millis(100));
    }

    #[test]
    fn addresses_must_be_http_urls_with_a_port() {
        assert_eq!(
            host_port("http://127.0.0.1:8080/").expect("valid"),
            "127.0.0.1:8080"
        );
        assert!(host_port("127.0.0.1:8080").is_err());
        assert!(host_port("http://localhost").is_err());
        assert!(Nodes::new(["http://a:1".into(), "ftp://b:2".into()]).is_err());
    }
}

//! The node's metrics (prometheus-client), for an operator to graph:
//! HTTP requests by route, method and status with their durations,
//! WebSocket connections, acknowledged changes and their latency,
//! replication lag, store commit (fsync) time, link round trips,
//! interactions created, offers, no-answers and queue waits, and, read at
//! scrape time, interactions by media and state, queue waiting and the
//! node's role. One registry per node, in `Shared`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn seconds_histogram() -> Histogram {
    // 0.1 ms to about 26 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<Labels, Counter>,
    pub http_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    pub websockets: Family<Labels, Gauge>,
    pub changes_acknowledged: Family<Labels, Counter>,
    pub change_ack_seconds: Histogram,
    pub replication_lag_changes: Gauge,
    /// How late the replication task's regular tick came: what held up
    /// every acknowledgement meanwhile.
    pub replication_stall_seconds: Histogram,
    pub replication_longest_stall_ms: Gauge,
    /// Each step of the replication task by its kind: what a stall was.
    pub replication_step_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    pub store_commit_seconds: Histogram,
    pub link_round_trip_seconds: Histogram,
    pub interactions_created: Family<Labels, Counter>,
    pub offers: Family<Labels, Counter>,
    pub no_answers: Family<Labels, Counter>,
    pub queue_wait_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    /// Notifier pings sent and not yet answered: (id, sent at ms).
    pings: std::sync::Mutex<std::collections::VecDeque<(u64, u64)>>,
    /// Set at scrape time from the state and the status.
    pub snapshot: Snapshot,
    pub link: LinkMetrics,
}

/// The link's troubles, counted rather than ignored.
#[derive(Default)]
pub struct LinkMetrics {
    /// Messages that could not be sent (the connection then closes), by
    /// message kind and reason.
    pub send_failures: Family<Labels, Counter>,
    /// Connections to the link and arbiter ports closed before any
    /// handshake, by port and reason (not the peer's address, no slot).
    pub refused_connections: Family<Labels, Counter>,
}

/// Gauges read when scraped.
#[derive(Default)]
pub struct Snapshot {
    pub interactions: Family<Labels, Gauge>,
    pub queue_waiting: Family<Labels, Gauge>,
    pub queue_longest_wait_seconds: Family<Labels, Gauge>,
    pub agents: Family<Labels, Gauge>,
    pub serving: Gauge,
    pub epoch: Gauge,
    pub main_link_up: Gauge,
    pub aux_link_up: Gauge,
    pub peer_reachable: Gauge,
    pub switchovers: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("duet");
        let m = Metrics {
            http_requests: Family::default(),
            http_seconds: Family::new_with_constructor(seconds_histogram),
            websockets: Family::default(),
            changes_acknowledged: Family::default(),
            change_ack_seconds: seconds_histogram(),
            replication_lag_changes: Gauge::default(),
            replication_stall_seconds: seconds_histogram(),
            replication_step_seconds: Family::new_with_constructor(seconds_histogram),
            replication_longest_stall_ms: Gauge::default(),
            store_commit_seconds: seconds_histogram(),
            link_round_trip_seconds: seconds_histogram(),
            interactions_created: Family::default(),
            offers: Family::default(),
            no_answers: Family::default(),
            queue_wait_seconds: Family::new_with_constructor(seconds_histogram),
            pings: Default::default(),
            snapshot: Snapshot::default(),
            link: LinkMetrics::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests by route, method and status",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "HTTP request durations by route",
            m.http_seconds.clone(),
        );
        r.register(
            "websocket_connections",
            "Open WebSocket connections by kind",
            m.websockets.clone(),
        );
        r.register(
            "changes_acknowledged",
            "Changes acknowledged to clients, by state",
            m.changes_acknowledged.clone(),
        );
        r.register(
            "change_ack_seconds",
            "From a change's write to its acknowledgement (the backup has it while in sync)",
            m.change_ack_seconds.clone(),
        );
        r.register(
            "replication_lag_changes",
            "Changes the backup has not yet acknowledged (active node)",
            m.replication_lag_changes.clone(),
        );
        r.register(
            "replication_stall_seconds",
            "How late the replication task's regular tick came (what held up acknowledgements meanwhile)",
            m.replication_stall_seconds.clone(),
        );
        r.register(
            "replication_step_seconds",
            "Each step of the replication task (an inbox message by kind, a durable round, a tick, routing)",
            m.replication_step_seconds.clone(),
        );
        r.register(
            "replication_longest_stall_ms",
            "The longest replication stall since the node started",
            m.replication_longest_stall_ms.clone(),
        );
        r.register(
            "store_commit_seconds",
            "Store transactions (group commits) including their sync",
            m.store_commit_seconds.clone(),
        );
        r.register(
            "link_round_trip_seconds",
            "Notifier ping round trips on the link (backup)",
            m.link_round_trip_seconds.clone(),
        );
        r.register(
            "interactions_created",
            "Interactions created, by media",
            m.interactions_created.clone(),
        );
        r.register("offers", "ACD offers made, by queue", m.offers.clone());
        r.register(
            "no_answers",
            "Offers not answered (timed out or rejected), by queue",
            m.no_answers.clone(),
        );
        r.register(
            "queue_wait_seconds",
            "From entering a queue to being accepted, by queue",
            m.queue_wait_seconds.clone(),
        );
        r.register(
            "link_send_failures",
            "Link messages that could not be sent, by kind and reason; each closed its connection",
            m.link.send_failures.clone(),
        );
        r.register(
            "link_refused_connections",
            "Connections to the link and arbiter ports closed before a handshake, by port and reason",
            m.link.refused_connections.clone(),
        );
        let s = &m.snapshot;
        r.register(
            "interactions",
            "Live interactions by media and state",
            s.interactions.clone(),
        );
        r.register(
            "queue_waiting",
            "Interactions waiting, by queue",
            s.queue_waiting.clone(),
        );
        r.register(
            "queue_longest_wait_seconds",
            "The longest wait now, by queue",
            s.queue_longest_wait_seconds.clone(),
        );
        r.register("agents", "Agents by status", s.agents.clone());
        r.register(
            "serving",
            "1 while this node serves as the active node",
            s.serving.clone(),
        );
        r.register(
            "epoch",
            "The fencing epoch this node holds",
            s.epoch.clone(),
        );
        r.register(
            "main_link_up",
            "1 while the main link connection is up (backup)",
            s.main_link_up.clone(),
        );
        r.register(
            "aux_link_up",
            "1 while the auxiliary link connection is up (backup)",
            s.aux_link_up.clone(),
        );
        r.register(
            "peer_reachable",
            "1 while the peer answers role queries",
            s.peer_reachable.clone(),
        );
        r.register(
            "switchovers",
            "Switchovers this node made since it started",
            s.switchovers.clone(),
        );
        Metrics { registry, ..m }
    }
}

/// Pings remembered for their round trip; an older one is never answered.
const PINGS_MAX: usize = 32;

impl Metrics {
    /// Counts what the replica reported.
    pub fn replica(&self, metric: duet_replica::Metric) {
        use duet_replica::Metric;
        match metric {
            Metric::Acknowledged { state, latency_ms } => {
                self.changes_acknowledged
                    .get_or_create(&label("state", state))
                    .inc();
                self.change_ack_seconds.observe(latency_ms as f64 / 1000.0);
            }
            Metric::Created { media } => {
                self.interactions_created
                    .get_or_create(&label("media", media))
                    .inc();
            }
            Metric::Offered { queue } => {
                self.offers.get_or_create(&label("queue", queue)).inc();
            }
            Metric::NoAnswer { queue } => {
                self.no_answers.get_or_create(&label("queue", queue)).inc();
            }
            Metric::QueueWait { queue, waited_ms } => {
                self.queue_wait_seconds
                    .get_or_create(&label("queue", queue))
                    .observe(waited_ms as f64 / 1000.0);
            }
        }
    }

    /// A notifier ping `id` went out at `now_ms`.
    pub fn ping_sent(&self, id: u64, now_ms: u64) {
        if let Ok(mut pings) = self.pings.lock() {
            pings.push_back((id, now_ms));
            while pings.len() > PINGS_MAX {
                pings.pop_front();
            }
        }
    }

    /// Its answer came at `now_ms`.
    pub fn pong(&self, id: u64, now_ms: u64) {
        if let Ok(mut pings) = self.pings.lock()
            && let Some(i) = pings.iter().position(|(p, _)| *p == id)
            && let Some((_, sent)) = pings.remove(i)
        {
            self.link_round_trip_seconds
                .observe(now_ms.saturating_sub(sent) as f64 / 1000.0);
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// One label.
pub fn label(name: &'static str, value: impl Into<String>) -> Labels {
    vec![(name, value.into())]
}

//! The etcd witness task against a real etcd: two tasks (nodes a and b)
//! for one key, on one clock, as the driver would see their reports.
//! Built with the `witness` feature (scripts/test.sh turns it on).
#![cfg(feature = "witness")]

mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_node::witness::{WitnessConfig, WitnessHandle, WitnessReport, WitnessSink, spawn_with};
use harness::etcd::Etcd;
use tokio::sync::mpsc;

const TTL_S: u64 = 2;
const TTL_MS: u64 = TTL_S * 1000;

/// A clock shared by both tasks and a channel of what each reported, with
/// the moment it reported it.
#[derive(Clone)]
struct Sink {
    clock: Arc<Instant>,
    tx: mpsc::UnboundedSender<(u64, WitnessReport)>,
}

impl WitnessSink for Sink {
    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn report(&self, report: WitnessReport) {
        let _ = self.tx.send((self.now_ms(), report));
    }
}

struct Task {
    name: &'static str,
    handle: WitnessHandle,
    reports: mpsc::UnboundedReceiver<(u64, WitnessReport)>,
    /// The last `Held` seen: (sent_ms, ttl_ms).
    last_held: Option<(u64, u64)>,
}

impl Task {
    fn new(clock: &Arc<Instant>, name: &'static str, config: &WitnessConfig) -> Task {
        let (tx, reports) = mpsc::unbounded_channel();
        let sink = Sink {
            clock: clock.clone(),
            tx,
        };
        Task {
            name,
            handle: spawn_with(sink, name.to_string(), config.clone()),
            reports,
            last_held: None,
        }
    }

    /// Waits up to `within` for a report `matching`; returns when it came.
    async fn expect(
        &mut self,
        within: Duration,
        what: &str,
        matching: impl Fn(&WitnessReport) -> bool,
    ) -> (u64, WitnessReport) {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.reports.recv()).await {
                Ok(Some((at, report))) => {
                    if let WitnessReport::Held {
                        sent_ms, ttl_ms, ..
                    } = report
                    {
                        self.last_held = Some((sent_ms, ttl_ms));
                    }
                    if matching(&report) {
                        return (at, report);
                    }
                    seen.push((at, report));
                }
                Ok(None) => panic!("{}: the witness task ended; saw {seen:?}", self.name),
                Err(_) => panic!("{}: no {what} within {within:?}; saw {seen:?}", self.name),
            }
        }
    }

    /// Reads what was reported so far without waiting.
    fn drain(&mut self) -> Vec<(u64, WitnessReport)> {
        let mut out = Vec::new();
        while let Ok((at, report)) = self.reports.try_recv() {
            if let WitnessReport::Held {
                sent_ms, ttl_ms, ..
            } = report
            {
                self.last_held = Some((sent_ms, ttl_ms));
            }
            out.push((at, report));
        }
        out
    }
}

fn held(r: &WitnessReport) -> bool {
    matches!(r, WitnessReport::Held { .. })
}

fn held_by(name: &'static str) -> impl Fn(&WitnessReport) -> bool {
    move |r| matches!(r, WitnessReport::HeldByPeer { holder } if holder == name)
}

fn config(url: &str, key: &str) -> WitnessConfig {
    WitnessConfig {
        endpoints: vec![url.to_string()],
        key: key.to_string(),
        ttl_s: TTL_S,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_one_key() {
    let mut etcd = match Etcd::start() {
        Ok(etcd) => etcd,
        Err(why) => {
            harness::environment_missing("DUET_SKIP_ETCD", &why);
            return;
        }
    };
    let clock = Arc::new(Instant::now());
    let config = config(&etcd.url, "duet/a-b/active");
    let mut a = Task::new(&clock, "a", &config);
    let mut b = Task::new(&clock, "b", &config);
    let step = Duration::from_millis(TTL_MS);

    // Not wanted yet: each says it holds nothing.
    a.expect(step, "Released", |r| *r == WitnessReport::Released)
        .await;
    b.expect(step, "Released", |r| *r == WitnessReport::Released)
        .await;

    // a takes the key; its lease is renewed every third of the TTL.
    a.handle.want(true);
    let (_, first) = a.expect(2 * step, "Held", held).await;
    let WitnessReport::Held {
        ttl_ms, revision, ..
    } = first
    else {
        unreachable!()
    };
    assert!(ttl_ms >= TTL_MS, "granted {ttl_ms} ms");
    assert!(revision > 0);
    let (_, renewed) = a.expect(step, "a renewal", held).await;
    assert!(
        matches!(renewed, WitnessReport::Held { revision: r, .. } if r == revision),
        "a renewal keeps the create revision: {renewed:?}"
    );

    // b finds it taken.
    b.handle.want(true);
    b.expect(step, "HeldByPeer a", held_by("a")).await;

    // a lets go: it revokes its lease, and b takes the key within a TTL.
    a.handle.want(false);
    a.expect(step, "Released", |r| *r == WitnessReport::Released)
        .await;
    let (_, b_held) = b.expect(step, "Held by b", held).await;
    let WitnessReport::Held {
        revision: b_revision,
        ..
    } = b_held
    else {
        unreachable!()
    };
    assert!(
        b_revision > revision,
        "a new holder, a newer create revision"
    );
    assert!(
        a.drain().iter().all(|(_, r)| *r == WitnessReport::Released),
        "a reports Released once and nothing after"
    );

    // a wants it back and finds b holding it.
    a.handle.want(true);
    a.expect(step, "HeldByPeer b", held_by("b")).await;

    // b dies without revoking: a gets the key only once b's lease has run
    // out, and not long after.
    b.expect(step, "a renewal by b", held).await;
    b.handle.abort();
    let aborted_ms = clock.elapsed().as_millis() as u64;
    b.drain();
    let (b_sent, b_ttl) = b.last_held.expect("b held the key");
    let (a_at, _) = a
        .expect(step * 3, "Held by a after b's lease ran out", held)
        .await;
    assert!(
        a_at >= b_sent + b_ttl,
        "a held the key at {a_at} ms, before b's lease (renewed at {b_sent} ms for {b_ttl} ms) could have run out"
    );
    assert!(
        a_at <= aborted_ms + b_ttl + 2_000,
        "a took {} ms after b died to hold the key (TTL {b_ttl} ms)",
        a_at - aborted_ms
    );

    eprintln!(
        "b died at {aborted_ms} ms (last renewal sent at {b_sent} ms, TTL {b_ttl} ms); a held the key at {a_at} ms"
    );

    // etcd goes away: a says so.
    etcd.stop();
    let (_, down) = a
        .expect(step * 2, "Unreachable", |r| {
            matches!(r, WitnessReport::Unreachable { .. })
        })
        .await;
    eprintln!("with etcd stopped: {down:?}");
}

/// The helper the network-namespace tests use: etcd in the lab's gateway
/// namespace, reachable from both nodes' namespaces.
#[test]
fn etcd_in_the_gateway_namespace() {
    if let Err(why) = harness::etcd::available() {
        harness::environment_missing("DUET_SKIP_ETCD", &why);
        return;
    }
    let lab = match harness::netns::Lab::create() {
        Ok(lab) => lab,
        Err(why) => {
            harness::environment_missing(
                "DUET_SKIP_NETNS",
                &format!("cannot create network namespaces ({why}); run as root"),
            );
            return;
        }
    };
    let etcd = Etcd::start_in_netns(&lab.gw, harness::netns::GATEWAY).expect("etcd in the lab");
    assert_eq!(etcd.url, format!("http://{}:2379", harness::netns::GATEWAY));
    for ns in &lab.ns {
        let connect = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "bash", "-c"])
            .arg(format!("exec 3<>/dev/tcp/{}/2379", harness::netns::GATEWAY))
            .status()
            .expect("ip netns exec");
        assert!(connect.success(), "{ns} cannot reach etcd");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_answers() {
    let Ok([port]) = duet_node::local_pair::free_ports::<1>("127.0.0.1".parse().unwrap()) else {
        panic!("no free port on 127.0.0.1");
    };
    let clock = Arc::new(Instant::now());
    let mut a = Task::new(
        &clock,
        "a",
        &config(&format!("http://127.0.0.1:{port}"), "duet/a-b/active"),
    );
    a.handle.want(true);
    a.expect(Duration::from_secs(3), "Unreachable", |r| {
        matches!(r, WitnessReport::Unreachable { .. })
    })
    .await;
    // Letting go with nothing to revoke is immediate.
    a.handle.want(false);
    a.expect(Duration::from_secs(3), "Released", |r| {
        *r == WitnessReport::Released
    })
    .await;
}

/// A pair whose bootstrap files name a witness starts its witness tasks
/// (the right to serve does not use them yet) and serves as before.
#[test]
fn a_witnessed_pair_starts_its_witness_tasks() {
    let etcd = match Etcd::start() {
        Ok(etcd) => etcd,
        Err(why) => {
            harness::environment_missing("DUET_SKIP_ETCD", &why);
            return;
        }
    };
    let mut pair = harness::Pair::loopback(harness::Setup {
        params: format!("{}\n\"Duet Witness TTL s\" = 3\n", harness::fast_params()),
        witness: Some(duet_node::bootstrap::Witness {
            endpoints: vec![etcd.url.clone()],
            key: None,
        }),
        ..harness::Setup::default()
    });
    pair.start();
    for node in &pair.nodes {
        let log = node.log();
        assert!(
            log.contains(&format!(
                "witness: etcd at {}, key \"duet/a-b/active\", lease TTL 3 s",
                etcd.url
            )),
            "{}:\n{log}",
            node.name
        );
    }
    pair.assert_invariants();
}

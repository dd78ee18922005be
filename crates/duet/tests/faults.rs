//! A fault schedule against a real pair in network namespaces, under writes
//! from several clients that follow the active node: `kill -9` of either
//! node, SIGSTOP/SIGCONT of the active, the active cut off (clients still
//! reach it over the control network), the link between the two nodes cut
//! (clients reach both), backup restarts. After healing: every acknowledged
//! write is on both nodes with its value, both trees have one digest, and no
//! sample shows two nodes serving except while the nodes were cut from each
//! other with both own-network checks passing (the documented window, which
//! the heal repairs).
//!
//! The schedule comes from a seed, printed first; `DUET_FAULT_SEED=N`
//! replays one, `DUET_FAULT_ROUNDS=N` makes a longer run:
//! `DUET_FAULT_ROUNDS=40 cargo test -p duet --test faults -- --nocapture`.
//! Needs root (to create namespaces); skips with a message otherwise.

mod harness;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::netns::{Lab, NET_TEST};
use harness::{Pair, Setup, basic_auth, fast_params, serving};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const WRITERS: usize = 3;
/// A write not acknowledged within this is given up (it may or may not
/// have been made; it was never acknowledged).
const WRITE_GIVE_UP: Duration = Duration::from_secs(12);

#[derive(Debug, Clone, Copy)]
enum Fault {
    KillActive,
    KillBackup,
    PauseActive(Duration),
    CutActive(Duration),
    CutBetween(Duration),
}

impl Fault {
    fn pick(rng: &mut ChaCha8Rng) -> Fault {
        let ms = |rng: &mut ChaCha8Rng, lo, hi| Duration::from_millis(rng.random_range(lo..hi));
        match rng.random_range(0..5) {
            0 => Fault::KillActive,
            1 => Fault::KillBackup,
            2 => Fault::PauseActive(ms(rng, 300, 2_000)),
            3 => Fault::CutActive(ms(rng, 1_000, 4_000)),
            _ => Fault::CutBetween(ms(rng, 1_000, 4_000)),
        }
    }
}

/// A write a client was told is done.
#[derive(Debug, Clone)]
struct Acked {
    path: String,
    value: String,
}

/// One client: writes a new entry after another, each with its own client
/// id, to the node it believes active (the `x-duet-active` hint, else the
/// other node), retrying the same id until it is acknowledged.
fn writer(
    k: usize,
    urls: [String; 2],
    names: [String; 2],
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(3)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut target = 0;
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let path = format!("/config/Faults/w{k}-{n}");
        let value = format!("value {k}-{n}");
        let body = serde_json::json!({
            "path": path, "class": "Folder",
            "attributes": {"value": value}, "client_id": format!("w{k}-{n}"),
        });
        let started = Instant::now();
        while started.elapsed() < WRITE_GIVE_UP {
            let answer = agent
                .put(&format!("{}/api/config", urls[target]))
                .header("authorization", &basic_auth())
                .send_json(&body);
            match answer {
                Ok(r) if r.status().as_u16() == 200 => {
                    acked.lock().unwrap().push(Acked {
                        path: path.clone(),
                        value: value.clone(),
                    });
                    break;
                }
                Ok(r) if r.status().as_u16() == 503 => {
                    let hint = r
                        .headers()
                        .get("x-duet-active")
                        .and_then(|h| h.to_str().ok())
                        .and_then(|name| names.iter().position(|n| n == name));
                    target = hint.unwrap_or(1 - target);
                }
                Ok(mut r) => panic!(
                    "write {path} refused with {}: {}",
                    r.status(),
                    r.body_mut().read_to_string().unwrap_or_default()
                ),
                Err(_) => target = 1 - target,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        n += 1;
    }
}

/// One node serves, the other is its backup with both links up, in sync.
fn healthy(p: &Pair) -> bool {
    let (a, b) = (p.nodes[0].status(), p.nodes[1].status());
    let (Some(a), Some(b)) = (a, b) else {
        return false;
    };
    let (active, backup) = if a.serving { (a, b) } else { (b, a) };
    active.serving
        && !backup.serving
        && backup.main_link_up
        && backup.aux_link_up
        && active.replication == duet_stream::Replication::InSync
}

fn active_index(p: &Pair) -> usize {
    if serving(&p.nodes[0].status()) { 0 } else { 1 }
}

#[test]
fn a_random_fault_schedule_loses_no_acknowledged_write_and_never_serves_twice() {
    let lab = match Lab::create() {
        Ok(lab) => lab,
        Err(why) => {
            eprintln!(
                "skipping: cannot create network namespaces ({why}); run as root with iproute2"
            );
            return;
        }
    };
    let seed: u64 = std::env::var("DUET_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let rounds: usize = std::env::var("DUET_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    println!("fault schedule: DUET_FAULT_SEED={seed} DUET_FAULT_ROUNDS={rounds}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // NetTest on both nodes: an isolated node's own-network check fails.
    let mut pair = Pair::new(
        lab.placements(),
        Setup {
            params: format!(
                "{}\n\"Switchover NetTest A\" = \"{NET_TEST}\"\n\"Switchover NetTest B\" = \"{NET_TEST}\"\n",
                fast_params()
            ),
            ..Setup::default()
        },
    );
    pair.start();
    let urls = [pair.nodes[0].url(), pair.nodes[1].url()];
    let names = [pair.nodes[0].name.clone(), pair.nodes[1].name.clone()];
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..WRITERS)
        .map(|k| {
            let (urls, names, stop, acked) =
                (urls.clone(), names.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || writer(k, urls, names, stop, acked))
        })
        .collect();
    // Where two nodes may serve at once: the link between them cut, both
    // passing their own-network checks, until the heal (with slack).
    let mut allowed: Vec<(Instant, Instant)> = Vec::new();
    let mut faults: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..rounds {
        pair.wait_until(Duration::from_secs(40), "a healthy pair", healthy);
        std::thread::sleep(Duration::from_millis(rng.random_range(200..800)));
        let active = active_index(&pair);
        let fault = Fault::pick(&mut rng);
        println!("round {round}: {fault:?} (active: {})", names[active]);
        *faults
            .entry(format!("{fault:?}").split('(').next().unwrap().to_string())
            .or_default() += 1;
        match fault {
            Fault::KillActive | Fault::KillBackup => {
                let victim = if matches!(fault, Fault::KillActive) {
                    active
                } else {
                    1 - active
                };
                pair.nodes[victim].kill9();
                std::thread::sleep(Duration::from_millis(rng.random_range(300..1_500)));
                pair.nodes[victim].start(&[]);
            }
            Fault::PauseActive(length) => {
                pair.nodes[active].signal("STOP");
                std::thread::sleep(length);
                pair.nodes[active].signal("CONT");
            }
            Fault::CutActive(length) => {
                lab.cut(active);
                std::thread::sleep(length);
                lab.repair(active);
            }
            Fault::CutBetween(length) => {
                let from = Instant::now();
                lab.cut_between();
                std::thread::sleep(length);
                lab.repair_between();
                allowed.push((from, Instant::now() + Duration::from_secs(3)));
            }
        }
    }
    pair.wait_until(Duration::from_secs(40), "a healthy pair", healthy);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("a writer panicked");
    }
    pair.wait_until(
        Duration::from_secs(40),
        "both trees at one position with one digest",
        |p| {
            healthy(p)
                && match (p.nodes[0].status(), p.nodes[1].status()) {
                    (Some(a), Some(b)) => {
                        a.config_applied == b.config_applied && a.config_digest == b.config_digest
                    }
                    _ => false,
                }
        },
    );
    let acked = acked.lock().unwrap().clone();
    println!("faults: {faults:?}; acknowledged writes: {}", acked.len());
    assert!(
        acked.len() > 50,
        "too few writes were acknowledged: {}",
        acked.len()
    );

    // Every acknowledged write, on both nodes, with its value (a heal
    // replays what the older epoch acknowledged while both served).
    let mut missing = Vec::new();
    for (node, name) in names.iter().enumerate() {
        for write in &acked {
            let value = pair.config_attribute(node, &write.path, "value");
            if value.as_deref() != Some(write.value.as_str()) {
                missing.push(format!(
                    "{name}: {} is {value:?}, acknowledged {:?}",
                    write.path, write.value
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "acknowledged writes lost (seed {seed}): {missing:#?}\n{}",
        pair.logs()
    );

    // Never two serving outside the documented window.
    let samples = pair.sampler.as_ref().expect("sampling").samples();
    let mut both = Vec::new();
    for round in samples.chunks(2) {
        if let [x, y] = round
            && serving(&x.status)
            && serving(&y.status)
            && !allowed
                .iter()
                .any(|(from, to)| x.at >= *from && x.at <= *to)
        {
            both.push(x.at);
        }
    }
    assert!(
        both.is_empty(),
        "two nodes served at {} samples outside a cut between them (seed {seed})\n{}",
        both.len(),
        pair.logs()
    );
    pair.assert_invariants();
}

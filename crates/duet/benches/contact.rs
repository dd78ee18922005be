//! The contact center through a real pair on loopback (seed-default
//! parameters), backup in sync: every change is acknowledged only once the
//! backup has applied it.
//!
//! a. Acknowledged interaction changes per second: concurrent customers
//!    (one thread each, one kept-alive HTTP connection each) start a chat
//!    (`POST /api/chats`) and then send messages into it
//!    (`POST /api/chats/{id}/messages`, a unique `message_id` each) as fast
//!    as they are acknowledged (a new chat after 900, under a chat's limit
//!    of 1,000 customer messages), for `--seconds` with 1, 8 and `--clients`
//!    customers. Nobody takes these chats: they stay queued. Prints
//!    changes/s, latency p50/p99 and the CPU the two duet processes and
//!    this bench used meanwhile.
//! b. Message latency from customer to agent: `--agents` agents with chat
//!    capacity enough for all, each following its agent WebSocket; `--chats`
//!    chats are started, offered, and accepted over REST; then `--rounds`
//!    times every chat's customer sends a message over REST (from
//!    `--senders` threads) and the time runs from just before the POST to
//!    the agent's socket receiving the `Message` change.
//!
//! With `--writers W`, W reporting writers (`duet report writer`, SQLite
//! each) follow the pair through (a): every 100 ms each one's lag (the
//! interaction state's position less its database's cursor, in changes)
//! is sampled; printed after the table with the time each took to catch
//! up once the clients stopped. Run with and without to see whether the
//! writers slow the pair.
//!
//! cargo bench -p duet --bench contact -- [--clients C] [--seconds S] [--chats N] [--agents A] [--rounds R] [--senders T] [--writers W]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use harness::contact::{AGENT_PASSWORD, Api, Socket, post_json, set_up_directory};
use harness::{Pair, Setup, bench_number as number, percentile};
use serde_json::json;

/// A client of its own (one kept-alive connection per thread).
fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A process's user + system CPU time in clock ticks (100 a second).
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces): state is field 3.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

/// CPU use of the active node, the backup and this bench, as % of one core.
struct Cpu {
    pids: [String; 3],
    start: [u64; 3],
    at: Instant,
}

impl Cpu {
    fn start(pair: &Pair) -> Cpu {
        let pids = [
            pair.nodes[0].pid().to_string(),
            pair.nodes[1].pid().to_string(),
            "self".to_string(),
        ];
        let start = [0, 1, 2].map(|i| cpu_ticks(&pids[i]));
        Cpu {
            pids,
            start,
            at: Instant::now(),
        }
    }

    fn percent(&self) -> [f64; 3] {
        let seconds = self.at.elapsed().as_secs_f64();
        [0, 1, 2].map(|i| (cpu_ticks(&self.pids[i]) - self.start[i]) as f64 / seconds)
    }
}

/// Messages a customer sends into one chat before starting another.
const PER_CHAT: usize = 900;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn in_sync(pair: &Pair) -> bool {
    pair.nodes[0]
        .status()
        .is_some_and(|s| s.replication == duet_stream::Replication::InSync)
}

/// The interaction state's sequence number on the active node.
fn state_seq(agent: &ureq::Agent, url: &str) -> Option<u64> {
    let mut answer = agent.get(&format!("{url}/api/shadow")).call().ok()?;
    let shadow: serde_json::Value = answer.body_mut().read_json().ok()?;
    shadow["position"][1].as_u64()
}

/// The sequence number of the last change a writer's database holds.
fn cursor_seq(database: &duet_report::Database) -> Option<u64> {
    use duet_report::ReportStore;
    let store = database.open_read_only().ok()?;
    Some(store.cursor().ok()??.seq)
}

/// Reporting writers following the pair, and their lag sampled.
struct Writers {
    databases: Vec<duet_report::Database>,
    _running: Vec<harness::report_writer::Writer>,
    lags: Arc<Mutex<Vec<f64>>>,
    sampling: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

impl Writers {
    fn start(pair: &Pair, count: usize) -> Writers {
        let dir = tempfile::tempdir().unwrap();
        let dbs: Vec<_> = (0..count)
            .map(|i| harness::report_writer::Db::sqlite(dir.path(), &format!("writer-{i}")))
            .collect();
        let running = dbs
            .iter()
            .enumerate()
            .map(|(i, db)| {
                harness::report_writer::Writer(harness::report_writer::writer(pair, i % 2, db))
            })
            .collect();
        let writers = Writers {
            databases: dbs.into_iter().map(|db| db.database).collect(),
            _running: running,
            lags: Default::default(),
            sampling: Arc::new(AtomicBool::new(true)),
            _dir: dir,
        };
        writers.caught_up(pair, Duration::from_secs(60));
        let (url, databases, lags, sampling) = (
            pair.nodes[0].url(),
            writers.databases.clone(),
            writers.lags.clone(),
            writers.sampling.clone(),
        );
        std::thread::spawn(move || {
            let agent = http();
            while sampling.load(Ordering::Relaxed) {
                if let Some(seq) = state_seq(&agent, &url) {
                    for db in &databases {
                        let behind = seq.saturating_sub(cursor_seq(db).unwrap_or(0));
                        lags.lock().unwrap().push(behind as f64);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        writers
    }

    /// Waits until every writer holds what the pair has; how long it took.
    fn caught_up(&self, pair: &Pair, limit: Duration) -> Duration {
        let agent = http();
        let started = Instant::now();
        let url = pair.nodes[0].url();
        loop {
            let seq = state_seq(&agent, &url).unwrap_or(u64::MAX);
            if self
                .databases
                .iter()
                .all(|db| cursor_seq(db).is_some_and(|c| c >= seq))
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < limit,
                "the writers did not catch up within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn report(&self, pair: &Pair) {
        let behind = self.caught_up(pair, Duration::from_secs(600));
        self.sampling.store(false, Ordering::Relaxed);
        let mut lags = self.lags.lock().unwrap().clone();
        lags.sort_by(f64::total_cmp);
        println!(
            "{} writers: lag p50 {:.0}, p99 {:.0}, max {:.0} changes over {} samples; caught up {:.1} s after the clients stopped\n",
            self.databases.len(),
            percentile(&lags, 50.0),
            percentile(&lags, 99.0),
            lags.last().copied().unwrap_or(0.0),
            lags.len(),
            behind.as_secs_f64()
        );
    }
}

fn changes_per_second(pair: &Pair, clients: usize, seconds: f64) {
    let url = pair.nodes[0].url();
    println!("### a. Acknowledged interaction changes\n");
    println!(
        "| clients | seconds | changes | changes/s | p50 ms | p99 ms | CPU active % | CPU backup % | CPU bench % |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for concurrency in [1, 8, clients] {
        let barrier = Arc::new(Barrier::new(concurrency + 1));
        let threads: Vec<_> = (0..concurrency)
            .map(|c| {
                let (url, barrier) = (url.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let agent = http();
                    let mut latencies = Vec::new();
                    barrier.wait();
                    let until = Instant::now() + Duration::from_secs_f64(seconds);
                    // A chat takes at most 1,000 messages from its
                    // customer: a new chat after every `PER_CHAT`.
                    let mut i = 0;
                    while Instant::now() < until {
                        let t = Instant::now();
                        let (code, started) = post_json(
                            &agent,
                            &format!("{url}/api/chats"),
                            json!({"queue": "Sales", "name": format!("Customer {c}"),
                                   "client_id": format!("bench-a-{concurrency}-{c}-{i}"), "client_secret": "bench-client-secret-1"}),
                            &[],
                        );
                        assert_eq!(code, 200, "start a chat: {started}");
                        latencies.push(ms(t.elapsed()));
                        let id = started["id"].as_str().expect("an id").to_string();
                        let token = started["token"].as_str().expect("a token").to_string();
                        let messages = format!("{url}/api/chats/{id}/messages");
                        for _ in 0..PER_CHAT {
                            if Instant::now() >= until {
                                break;
                            }
                            let t = Instant::now();
                            let (code, body) = post_json(
                                &agent,
                                &messages,
                                json!({"message_id": format!("m{i}"), "body": "Hello, is anyone there? I would like to ask about my order."}),
                                &[("x-duet-token", &token)],
                            );
                            assert_eq!(code, 200, "a message: {body}");
                            latencies.push(ms(t.elapsed()));
                            i += 1;
                        }
                    }
                    latencies
                })
            })
            .collect();
        barrier.wait();
        let cpu = Cpu::start(pair);
        let started = Instant::now();
        let mut latencies: Vec<f64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("a client"))
            .collect();
        let elapsed = started.elapsed().as_secs_f64();
        let [active, backup, bench] = cpu.percent();
        latencies.sort_by(|a, b| a.total_cmp(b));
        println!(
            "| {concurrency} | {elapsed:.1} | {} | {:.0} | {:.2} | {:.2} | {active:.0} | {backup:.0} | {bench:.0} |",
            latencies.len(),
            latencies.len() as f64 / elapsed,
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
        );
    }
    println!();
    assert!(in_sync(pair), "the backup stayed in sync");
}

/// What the agents' sockets saw: message id -> when.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

fn message_latency(pair: &Pair, chats: usize, agents: usize, rounds: usize, senders: usize) {
    let base = pair.nodes[0].url();
    let capacity = chats.div_ceil(agents).max(1000);
    let names: Vec<String> = (0..agents).map(|a| format!("bench{a}")).collect();
    for name in &names {
        let (code, body) = pair.config_put(
            0,
            &format!("/config/Users/{name}"),
            "User",
            json!({"roles": "agent", "password": AGENT_PASSWORD, "skills": "support:5",
                   "capacity": format!("chat:{capacity}")}),
            None,
        );
        assert_eq!(code, 200, "{name}: {body}");
    }
    let (code, body) = pair.config_put(
        0,
        "/config/Workgroups/Support",
        "Workgroup",
        json!({"strategy": "least_occupied", "alerting_timeout_s": "3600", "max_no_answer": "0",
               "members": names.join(",")}),
        None,
    );
    assert_eq!(code, 200, "Support: {body}");

    // The agents sign in, follow their sockets, and take chat.
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let offered = Arc::new(Mutex::new(Vec::<(usize, String)>::new()));
    let apis: Vec<Api> = names
        .iter()
        .map(|n| Api::login(&base, n, AGENT_PASSWORD))
        .collect();
    let readers: Vec<_> = apis
        .iter()
        .enumerate()
        .map(|(a, api)| {
            let url = format!(
                "{}/api/agent/ws?token={}",
                base.replace("http://", "ws://"),
                api.token.clone().expect("a token")
            );
            let mut socket = Socket::connect(&url);
            let hello = socket.next(Duration::from_secs(10)).expect("the state");
            assert_eq!(hello["type"], "state", "{hello}");
            let (stop, seen, offered) = (stop.clone(), seen.clone(), offered.clone());
            std::thread::spawn(move || {
                let mut messages = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let Some(m) = socket.next(Duration::from_millis(100)) else {
                        continue;
                    };
                    let at = Instant::now();
                    if m["type"] == "resync" {
                        panic!("agent {a}'s socket fell behind: {m}");
                    }
                    let change = &m["change"];
                    if let Some(id) = change["Message"]["message_id"].as_str() {
                        seen.lock().unwrap().insert(id.to_string(), at);
                        messages += 1;
                    } else if let Some(id) = change["Offer"]["id"].as_str() {
                        offered.lock().unwrap().push((a, id.to_string()));
                    }
                }
                messages
            })
        })
        .collect();
    for api in &apis {
        let (code, body) = api.post("/api/agent/login", json!({"media": ["chat"]}));
        assert_eq!(code, 200, "{body}");
    }

    // Customers start their chats.
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let starters: Vec<_> = (0..senders.min(chats))
        .map(|_| {
            let (base, next) = (base.clone(), next.clone());
            std::thread::spawn(move || {
                let agent = http();
                let mut mine = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= chats {
                        return mine;
                    }
                    let (code, started) = post_json(
                        &agent,
                        &format!("{base}/api/chats"),
                        json!({"queue": "Support", "name": format!("Visitor {n}"),
                               "client_id": format!("bench-b-{n}"), "client_secret": "bench-client-secret-1"}),
                        &[],
                    );
                    assert_eq!(code, 200, "start a chat: {started}");
                    mine.push((
                        started["id"].as_str().unwrap().to_string(),
                        started["token"].as_str().unwrap().to_string(),
                    ));
                }
            })
        })
        .collect();
    let customers: Vec<(String, String)> = starters
        .into_iter()
        .flat_map(|t| t.join().expect("a starter"))
        .collect();
    let start_time = started.elapsed();

    // Every chat is offered; the agents accept over REST.
    let t = Instant::now();
    while offered.lock().unwrap().len() < chats {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "only {} of {chats} chats offered",
            offered.lock().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let offer_time = t.elapsed();
    let t = Instant::now();
    let offers = Arc::new(std::mem::take(&mut *offered.lock().unwrap()));
    let next = Arc::new(AtomicUsize::new(0));
    let acceptors: Vec<_> = (0..senders.min(chats))
        .map(|_| {
            let (offers, next) = (offers.clone(), next.clone());
            let tokens: Vec<String> = apis.iter().map(|a| a.token.clone().unwrap()).collect();
            let base = base.clone();
            std::thread::spawn(move || {
                let agent = http();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some((a, id)) = offers.get(n) else {
                        return;
                    };
                    let (code, body) = post_json(
                        &agent,
                        &format!("{base}/api/interactions/{id}/accept"),
                        json!({}),
                        &[("authorization", &format!("Bearer {}", tokens[*a]))],
                    );
                    assert_eq!(code, 200, "accept {id}: {body}");
                }
            })
        })
        .collect();
    for t in acceptors {
        t.join().expect("an acceptor");
    }
    let accept_time = t.elapsed();

    // Every customer sends `rounds` messages; the agents' sockets see them.
    let customers = Arc::new(customers);
    let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let t = Instant::now();
    for round in 0..rounds {
        let next = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..senders.min(chats))
            .map(|_| {
                let (customers, next, sent, base) =
                    (customers.clone(), next.clone(), sent.clone(), base.clone());
                std::thread::spawn(move || {
                    let agent = http();
                    let mut mine = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let Some((id, token)) = customers.get(n) else {
                            break;
                        };
                        let message_id = format!("r{round}-c{n}");
                        let at = Instant::now();
                        let (code, body) = post_json(
                            &agent,
                            &format!("{base}/api/chats/{id}/messages"),
                            json!({"message_id": message_id, "body": "Hello, is anyone there? I would like to ask about my order."}),
                            &[("x-duet-token", token)],
                        );
                        assert_eq!(code, 200, "a message: {body}");
                        mine.push((message_id, at));
                    }
                    sent.lock().unwrap().extend(mine);
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a sender");
        }
    }
    let send_time = t.elapsed();
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let t = Instant::now();
    while seen.lock().unwrap().len() < sent.len() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a socket reader");
    }
    let seen = seen.lock().unwrap();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(id, at)| {
            seen.get(id)
                .map(|got| ms(got.saturating_duration_since(*at)))
        })
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!("### b. Message latency, customer to agent\n");
    println!(
        "{chats} chats started in {:.1} s, all offered {:.1} s later, accepted over REST in {:.1} s; {agents} agents (chat capacity {capacity})\n",
        start_time.as_secs_f64(),
        offer_time.as_secs_f64(),
        accept_time.as_secs_f64()
    );
    println!(
        "| chats | messages sent | seen on agent sockets | messages/s | p50 ms | p99 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {chats} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |",
        sent.len(),
        latencies.len(),
        sent.len() as f64 / send_time.as_secs_f64(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    assert_eq!(
        latencies.len(),
        sent.len(),
        "every message reached its agent"
    );
    assert!(in_sync(pair), "the backup stayed in sync");
}

fn main() {
    let clients = number("--clients", 64);
    let seconds = number("--seconds", 5.0);
    let chats = number("--chats", 1000);
    let agents = number("--agents", 4);
    let rounds = number("--rounds", 3);
    let senders = number("--senders", 32);
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    set_up_directory(&pair, 0);
    pair.wait_until(Duration::from_secs(10), "replication in sync", in_sync);
    println!(
        "pair on loopback (seed defaults), active pid {}, backup pid {}\n",
        pair.nodes[0].pid(),
        pair.nodes[1].pid()
    );
    if chats > 0 {
        // b first, so its routing does not wade through a's queued chats.
        message_latency(&pair, chats, agents, rounds, senders);
        println!();
    }
    if clients > 0 {
        let writers =
            (number("--writers", 0) > 0).then(|| Writers::start(&pair, number("--writers", 0)));
        changes_per_second(&pair, clients, seconds);
        if let Some(writers) = writers {
            writers.report(&pair);
        }
    }
    pair.assert_invariants();
}

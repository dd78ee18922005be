//! Runs a real pair of `duet serve` processes for tests, on loopback or in
//! network namespaces of its own, samples both nodes' status every 50 ms and
//! checks the fencing invariants on every sample. Everything it creates is
//! removed when it is dropped; every wait is bounded.

#![allow(dead_code)]

pub mod contact;
pub mod content;
pub mod etcd;
pub mod netns;
pub mod report_writer;
pub mod traffic;
pub mod writers;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use duet_node::status::NodeStatus;

pub const DUET: &str = env!("CARGO_BIN_EXE_duet");
pub const USER: &str = "admin";
pub const PASSWORD: &str = "correct-horse";

/// Where a node runs and how the test reaches it.
#[derive(Clone, Debug)]
pub struct Placement {
    /// The node's switchover address (pair network).
    pub address: String,
    /// The address the test uses for the node's HTTP API.
    pub control: String,
    pub arbiter_port: u16,
    pub link_port: u16,
    pub http_port: u16,
    pub smtp_port: u16,
    /// The namespace the process runs in, if any.
    pub netns: Option<String>,
}

pub struct Node {
    pub name: String,
    pub config: PathBuf,
    pub placement: Placement,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!(
            "http://{}:{}",
            self.placement.control, self.placement.http_port
        )
    }

    pub fn start(&mut self, modes: &[&str]) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("node log");
        let mut command = match &self.placement.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, DUET]);
                c
            }
            None => Command::new(DUET),
        };
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .args(modes)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(command.spawn().expect("start duet serve"));
    }

    /// Waits up to `limit` for the process to end by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// `kill -9`: the process dies without a word.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn status(&self) -> Option<NodeStatus> {
        self.status_or_why().ok()
    }

    /// The node's status, or why it could not be read (for a failing
    /// test's message).
    pub fn status_or_why(&self) -> Result<NodeStatus, String> {
        let url = format!("{}/api/status", self.url());
        let mut answer = agent(Duration::from_millis(400))
            .get(&url)
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?;
        if answer.status() != 200 {
            return Err(format!("GET {url}: {}", answer.status()));
        }
        answer
            .body_mut()
            .read_json()
            .map_err(|e| format!("GET {url}: the answer is not a status: {e}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POSTs JSON to the node's API with the test credentials (or none);
    /// returns the status code and body.
    pub fn post(
        &self,
        path: &str,
        body: serde_json::Value,
        credentials: Option<(&str, &str)>,
    ) -> (u16, String) {
        let mut request = agent(Duration::from_secs(5)).post(&format!("{}{path}", self.url()));
        if let Some((user, password)) = credentials {
            request = request.header("authorization", &basic_auth_for(user, password));
        }
        let mut response = request.send_json(body).expect("HTTP request");
        let code = response.status().as_u16();
        (
            code,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    pub fn fault(&self, module: &str, fault: &str) {
        let (code, body) = self.post(
            "/api/fault",
            serde_json::json!({"module": module, "fault": fault}),
            Some((USER, PASSWORD)),
        );
        assert_eq!(code, 202, "fault injection on {}: {body}", self.name);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
        }
        self.kill9();
    }
}

#[derive(Clone, Debug)]
pub struct Sample {
    /// When the round began (the same for both nodes' samples).
    pub at: Instant,
    pub node: usize,
    pub status: Option<NodeStatus>,
    /// When this node was asked, and when it answered: the two nodes are
    /// asked at once, so two answers whose spans overlap describe the same
    /// moment.
    pub asked: Instant,
    pub answered: Instant,
}

impl Sample {
    /// Both samples say their node serves, and were taken at the same time.
    pub fn both_serving(&self, other: &Sample) -> bool {
        let serving = |s: &Sample| s.status.as_ref().is_some_and(|s| s.serving);
        serving(self)
            && serving(other)
            && self.asked <= other.answered
            && other.asked <= self.answered
    }
}

/// Polls both nodes every 50 ms and checks, on every sample: no two nodes
/// serve in the same epoch, and no node serves an epoch older than one it
/// has already reported.
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    violations: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(urls: [String; 2], names: [String; 2]) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let violations = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, violations, stop) = (samples.clone(), violations.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = agent(Duration::from_millis(300));
                let get = |url: &str| -> Option<NodeStatus> {
                    agent
                        .get(&format!("{url}/api/status"))
                        .call()
                        .ok()?
                        .body_mut()
                        .read_json()
                        .ok()
                };
                let mut highest_known = [0u64; 2];
                let mut last_serving: [Option<u64>; 2] = [None, None];
                while !stop.load(Ordering::SeqCst) {
                    let now = Instant::now();
                    // Both nodes at once, so their answers describe one moment.
                    let answers: Vec<(Option<NodeStatus>, Instant, Instant)> =
                        std::thread::scope(|scope| {
                            let asks: Vec<_> = urls
                                .iter()
                                .map(|url| {
                                    scope.spawn(|| {
                                        let asked = Instant::now();
                                        let status = get(url);
                                        (status, asked, Instant::now())
                                    })
                                })
                                .collect();
                            asks.into_iter()
                                .map(|a| a.join().unwrap_or((None, now, now)))
                                .collect()
                        });
                    for (i, (status, asked, answered)) in answers.into_iter().enumerate() {
                        if let Some(s) = &status {
                            if s.serving && s.epoch < highest_known[i] {
                                violations.lock().unwrap().push(format!(
                                    "{} serves epoch {} after reporting epoch {}",
                                    names[i], s.epoch, highest_known[i]
                                ));
                            }
                            if s.serving && s.peer.epoch.is_some_and(|e| e > s.epoch) {
                                violations.lock().unwrap().push(format!(
                                    "{} serves epoch {} while it knows its peer holds epoch {:?}",
                                    names[i], s.epoch, s.peer.epoch
                                ));
                            }
                            highest_known[i] = highest_known[i].max(s.epoch);
                            last_serving[i] = s.serving.then_some(s.epoch);
                        } else {
                            last_serving[i] = None;
                        }
                        samples.lock().unwrap().push(Sample {
                            at: now,
                            node: i,
                            status,
                            asked,
                            answered,
                        });
                    }
                    if let (Some(x), Some(y)) = (last_serving[0], last_serving[1])
                        && x == y
                    {
                        violations
                            .lock()
                            .unwrap()
                            .push(format!("both nodes serve as active in epoch {x}"));
                    }
                    std::thread::sleep(Duration::from_millis(50).saturating_sub(now.elapsed()));
                }
            })
        };
        Sampler {
            samples,
            violations,
            stop,
            thread: Some(thread),
        }
    }

    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Pair {
    pub dir: tempfile::TempDir,
    pub nodes: [Node; 2],
    pub sampler: Option<Sampler>,
}

/// Settings for one test's pair.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Server parameters (TOML lines) for both nodes.
    pub params: String,
    /// Releases per node (a, b); the program's version when empty.
    pub releases: [String; 2],
    pub hooks: duet_node::bootstrap::Hooks,
    /// An etcd witness for both nodes.
    pub witness: Option<duet_node::bootstrap::Witness>,
    /// The `[limits]` table; `None`: limits wide enough for the tests'
    /// traffic, which all comes from one address.
    pub limits: Option<duet_node::limits::Limits>,
    /// The reporting databases both nodes read (`GET /api/reports/...`).
    pub reporting_databases: Vec<duet_report::Database>,
}

/// A test whose environment is missing (root, `ip`, etcd, the witness
/// feature) fails, saying what to install, unless `skip_var` (such as
/// `DUET_SKIP_NETNS`) is set to 1: then it says it was skipped. The caller
/// returns after it.
#[allow(dead_code)]
pub fn environment_missing(skip_var: &str, why: &str) {
    if std::env::var(skip_var).is_ok_and(|v| v == "1") {
        eprintln!("skipped ({skip_var}=1): {why}");
    } else {
        panic!(
            "cannot run this test: {why}. scripts/test.sh installs what the tests need (run it as root), or set {skip_var}=1 to skip it"
        );
    }
}

/// The fast profile, for tests that want switches in well under a second.
pub fn fast_params() -> String {
    duet_params::FAST_PROFILE_TOML.to_string()
}

/// A pair on loopback with the fast profile, started.
pub fn fast_pair() -> Pair {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    pair
}

impl Pair {
    pub fn new(placements: [Placement; 2], setup: Setup) -> Pair {
        use duet_node::bootstrap::User;
        use duet_node::local_pair::{NodeSpec, PairSpec, write};
        let dir = tempfile::tempdir().expect("temp dir");
        let names = ["a", "b"];
        let spec = PairSpec {
            nodes: [0, 1].map(|i| {
                let p = &placements[i];
                NodeSpec {
                    name: names[i].to_string(),
                    address: p.address.parse().expect("an IP address"),
                    arbiter_port: p.arbiter_port,
                    link_port: p.link_port,
                    http_port: p.http_port,
                    smtp_port: p.smtp_port,
                    http_listen: p.netns.as_ref().map(|_| "0.0.0.0".parse().unwrap()),
                    release: Some(setup.releases[i].clone()).filter(|r| !r.is_empty()),
                }
            }),
            params_toml: setup.params.clone(),
            users: vec![
                User {
                    name: USER.into(),
                    password: PASSWORD.into(),
                    remote_control: true,
                    master: true,
                },
                User {
                    name: "viewer".into(),
                    password: "just-looking".into(),
                    remote_control: false,
                    master: false,
                },
            ],
            fault_injection: true,
            hooks: setup.hooks.clone(),
            witness: setup.witness.clone(),
            limits: setup
                .limits
                .clone()
                .unwrap_or_else(|| duet_node::limits::Limits {
                    creations_burst: 1_000_000,
                    creation_interval_ms: 1,
                    sign_in_failures_per_address_burst: 1_000_000,
                    sign_in_failure_per_address_interval_ms: 1,
                    sign_in_failures_per_user_burst: 1_000_000,
                    sign_in_failure_per_user_interval_ms: 1,
                    websockets_per_source_max: 100_000,
                    ..Default::default()
                }),
            reporting_databases: setup.reporting_databases.clone(),
        };
        let configs = write(dir.path(), &spec).expect("write the pair's files");
        let nodes = [0, 1].map(|i| Node {
            name: names[i].to_string(),
            config: configs[i].clone(),
            placement: placements[i].clone(),
            log: dir.path().join(format!("{}.log", names[i])),
            child: None,
        });
        Pair {
            dir,
            nodes,
            sampler: None,
        }
    }

    /// A pair on 127.0.0.1 with free ports.
    pub fn loopback(setup: Setup) -> Pair {
        let ports: [u16; 8] =
            duet_node::local_pair::free_ports([127, 0, 0, 1].into()).expect("free ports");
        let placement = |p: &[u16]| Placement {
            address: "127.0.0.1".into(),
            control: "127.0.0.1".into(),
            arbiter_port: p[0],
            link_port: p[1],
            http_port: p[2],
            smtp_port: p[3],
            netns: None,
        };
        Pair::new([placement(&ports[..4]), placement(&ports[4..])], setup)
    }

    pub fn start_sampling(&mut self) {
        self.sampler = Some(Sampler::start(
            [self.nodes[0].url(), self.nodes[1].url()],
            [self.nodes[0].name.clone(), self.nodes[1].name.clone()],
        ));
    }

    /// Starts a, then b, and waits until a is active and b is backup with
    /// both links up.
    pub fn start(&mut self) {
        self.nodes[0].start(&[]);
        self.nodes[1].start(&[]);
        self.wait_until(Duration::from_secs(20), "a active, b backup with both links up", |p| {
            let (a, b) = (p.nodes[0].status(), p.nodes[1].status());
            matches!((a, b), (Some(a), Some(b)) if a.serving && !b.serving && b.main_link_up && b.aux_link_up
                && b.peer.role == Some(duet_link::protocol::Role::Active))
        });
        self.start_sampling();
    }

    /// Waits for `what`, failing the test with both logs after `limit`.
    pub fn wait_until(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&Pair) -> bool,
    ) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if done(self) {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out after {limit:?} waiting for: {what}\n{}",
            self.logs()
        );
    }

    /// Checks that `what` stays true for `period`.
    pub fn holds_for(&self, period: Duration, what: &str, ok: impl Fn(&Pair) -> bool) {
        let start = Instant::now();
        while start.elapsed() < period {
            assert!(ok(self), "no longer true: {what}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn logs(&self) -> String {
        let status = |node: &Node| match node.status_or_why() {
            Ok(status) => format!(
                "serving {}, main link {}, auxiliary link {}, peer {:?}",
                status.serving, status.main_link_up, status.aux_link_up, status.peer.role
            ),
            Err(why) => why,
        };
        format!(
            "--- status now: a: {}; b: {}\n--- a.log ---\n{}\n--- b.log ---\n{}",
            status(&self.nodes[0]),
            status(&self.nodes[1]),
            tail(&self.nodes[0].log(), 60),
            tail(&self.nodes[1].log(), 60)
        )
    }

    /// Fails the test if a fencing invariant broke.
    pub fn assert_invariants(&self) {
        if let Some(s) = &self.sampler {
            let start = Instant::now();
            while s.samples().len() < 10 && start.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(s.samples().len() >= 10, "the sampler took too few samples");
            let v = s.violations();
            assert!(
                v.is_empty(),
                "fencing invariants broken: {v:#?}\n{}",
                self.logs()
            );
        }
    }

    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(DUET)
            .arg("ctl")
            .args([
                "--node",
                &self.nodes[0].url(),
                "--node",
                &self.nodes[1].url(),
            ])
            .args(args)
            .env("DUET_USER", USER)
            .env("DUET_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .expect("duet ctl")
    }

    /// PUTs a configuration object on `node` as the master administrator,
    /// with the client's id for the change when given; returns the status
    /// code and the body.
    pub fn config_put(
        &self,
        node: usize,
        path: &str,
        class: &str,
        attributes: serde_json::Value,
        client_id: Option<&str>,
    ) -> (u16, String) {
        let mut body = serde_json::json!({"path": path, "class": class, "attributes": attributes});
        if let Some(id) = client_id {
            body["client_id"] = id.into();
        }
        let request = api_agent()
            .put(&format!("{}/api/config", self.nodes[node].url()))
            .header("authorization", &basic_auth());
        answer(request.send_json(body))
    }

    /// DELETEs a configuration path on `node`.
    pub fn config_remove(&self, node: usize, path: &str, client_id: Option<&str>) -> (u16, String) {
        let mut request = api_agent()
            .delete(&format!("{}/api/config", self.nodes[node].url()))
            .query("path", path)
            .header("authorization", &basic_auth());
        if let Some(id) = client_id {
            request = request.query("client_id", id);
        }
        answer(request.call())
    }

    /// The API's view of a configuration path on `node`, when it has one.
    pub fn config_get(&self, node: usize, path: &str) -> Option<serde_json::Value> {
        let mut r = api_agent()
            .get(&format!("{}/api/config", self.nodes[node].url()))
            .query("path", path)
            .header("authorization", &basic_auth())
            .call()
            .ok()?;
        (r.status().as_u16() == 200)
            .then(|| r.body_mut().read_json().ok())
            .flatten()
    }

    /// One attribute of the object at `path` on `node`.
    pub fn config_attribute(&self, node: usize, path: &str, name: &str) -> Option<String> {
        self.config_get(node, path)?["object"]["attributes"][name]
            .as_str()
            .map(str::to_string)
    }

    pub fn data_dir(&self, node: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("data-{}", self.nodes[node].name))
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub fn api_agent() -> ureq::Agent {
    agent(Duration::from_secs(15))
}

/// An HTTP agent for the tests' own nodes: it answers every status as a
/// response (not an error), and ignores any proxy the environment names,
/// as the nodes are at addresses only this machine knows.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

pub fn basic_auth() -> String {
    basic_auth_for(USER, PASSWORD)
}

pub fn basic_auth_for(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String) {
    match response {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

/// One node serves, the other is its backup with both links up, and the
/// stream is in sync.
pub fn in_sync(p: &Pair) -> bool {
    let (Some(a), Some(b)) = (p.nodes[0].status(), p.nodes[1].status()) else {
        return false;
    };
    let (active, backup) = if a.serving { (a, b) } else { (b, a) };
    active.serving
        && !backup.serving
        && backup.main_link_up
        && backup.aux_link_up
        && active.replication == duet_stream::Replication::InSync
}

pub fn serving(status: &Option<NodeStatus>) -> bool {
    status.as_ref().is_some_and(|s| s.serving)
}

/// Reads the event log file of a node.
pub fn event_messages(data_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(data_dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            format!(
                "{}: {}",
                v["node"].as_str().unwrap_or(""),
                v["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// A benchmark's `--name VALUE` argument, when given.
pub fn bench_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// A benchmark's numeric `--name N` argument, or `default`.
pub fn bench_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    bench_arg(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

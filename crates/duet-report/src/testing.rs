//! For tests and benchmarks (the feature `test-support`): changes to
//! feed a fold, and a throwaway PostgreSQL
//! cluster of Debian's server binaries (`/usr/lib/postgresql/<version>/bin`),
//! in a temporary directory, listening on loopback only at a free port,
//! its socket in that directory; stopped and removed on drop. PostgreSQL
//! refuses to run as root: as root, its commands run as the user
//! `postgres` (`runuser`), who owns the directory. Every command is
//! bounded in time.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use duet_interactions::change::{Actor, Change, NewInteraction};
use duet_interactions::model::{Content, MediaType, Party};

use crate::database::Database;

/// An interaction created in the queue Sales.
pub fn create(id: &str, media: MediaType) -> Change {
    Change::Create(Box::new(NewInteraction {
        id: id.into(),
        media,
        queue: "Sales".into(),
        priority: 0,
        skills: Default::default(),
        attributes: Default::default(),
        customer: Party::default(),
        content: Content::Transcript(Default::default()),
    }))
}

pub fn agent(a: &str) -> Actor {
    Actor::Agent(a.into())
}

pub fn offer(id: &str, a: &str) -> Change {
    Change::Offer {
        id: id.into(),
        agent: a.into(),
        deadline_ms: u64::MAX,
    }
}

pub fn accept(id: &str, a: &str) -> Change {
    Change::Accept {
        id: id.into(),
        agent: a.into(),
    }
}

pub fn disconnect(id: &str) -> Change {
    Change::Disconnect { id: id.into() }
}

/// How long initdb, a start or a stop may take.
const COMMAND_WAIT: Duration = Duration::from_secs(60);

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Commands run as `postgres` (this process is root).
    as_postgres: bool,
    databases: AtomicUsize,
}

/// The newest server binaries installed.
fn binaries() -> Result<PathBuf, String> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no PostgreSQL server in /usr/lib/postgresql ({e})"))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin".to_string())
}

/// Runs `command` to its end within [`COMMAND_WAIT`].
fn run(mut command: Command, what: &str) -> Result<(), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait().map_err(|e| format!("{what}: {e}"))? {
            Some(status) if status.success() => return Ok(()),
            Some(status) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                return Err(format!("{what}: {status}: {stderr}"));
            }
            None if started.elapsed() > COMMAND_WAIT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: still running after {COMMAND_WAIT:?}"));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// How many times a new cluster's server is started before giving up.
const START_TRIES: usize = 3;

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on loopback: {e}"))
}

impl Cluster {
    /// A new cluster, started; why not, when it cannot be.
    pub fn start() -> Result<Cluster, String> {
        let bin = binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("duet-pg-")
            .tempdir()
            .map_err(|e| format!("a temporary directory: {e}"))?;
        // Root, which PostgreSQL refuses: `id -u` says 0.
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        if as_postgres {
            run(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:postgres"]).arg(dir.path());
                    c
                },
                "chown the cluster's directory to postgres",
            )?;
        }
        let mut cluster = Cluster {
            dir,
            bin,
            port: free_port()?,
            as_postgres,
            databases: AtomicUsize::new(0),
        };
        let mut initdb = cluster.command("initdb");
        initdb
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8"])
            .args(["--locale=C", "--no-sync", "--pgdata"])
            .arg(cluster.data());
        run(initdb, "initdb")?;
        // The port was free when asked for; tests running beside this one
        // (other clusters, nodes) may take it before the server binds it,
        // so a start that fails is tried again on another.
        let mut tries = 0;
        loop {
            tries += 1;
            match cluster.resume() {
                Ok(()) => return Ok(cluster),
                Err(why) if tries >= START_TRIES => {
                    return Err(format!(
                        "{why} ({tries} tries); the server's log ends:\n{}",
                        tail(&cluster.log(), 20)
                    ));
                }
                Err(_) => cluster.port = free_port()?,
            }
        }
    }

    /// A cluster, or `None` when PostgreSQL is missing and
    /// `DUET_SKIP_POSTGRES=1` says to skip; else the test fails saying
    /// what to install.
    pub fn start_or_skip() -> Option<Cluster> {
        match Cluster::start() {
            Ok(cluster) => Some(cluster),
            Err(why) if std::env::var("DUET_SKIP_POSTGRES").is_ok_and(|v| v == "1") => {
                eprintln!("skipped (DUET_SKIP_POSTGRES=1): {why}");
                None
            }
            Err(why) => panic!(
                "cannot run this test: {why}. Install Debian's PostgreSQL server (apt-get install postgresql; scripts/test.sh does), or set DUET_SKIP_POSTGRES=1 to skip it"
            ),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut c = self.command("pg_ctl");
        c.arg("--pgdata").arg(self.data()).args(["-w", "-t", "30"]);
        c.args(args);
        c
    }

    /// Starts the server (again, after [`Cluster::stop`]) on the same
    /// port and data.
    pub fn resume(&self) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let mut start = self.pg_ctl(&["start", "-o", &options, "-l"]);
        start.arg(log);
        run(start, "pg_ctl start")
    }

    /// Stops the server as an operator would (`pg_ctl stop -m fast`).
    pub fn stop(&self) -> Result<(), String> {
        run(self.pg_ctl(&["stop", "-m", "fast"]), "pg_ctl stop")
    }

    /// The URL of `database` on this cluster, for its superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new empty database.
    pub fn database(&self) -> Database {
        let name = format!("d{}", self.databases.fetch_add(1, Ordering::SeqCst));
        let mut createdb = self.command("createdb");
        createdb
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-T", "template0", &name]);
        if let Err(why) = run(createdb, "createdb") {
            panic!("{why}\n{}", self.log());
        }
        self.url(&name).parse().expect("a PostgreSQL URL")
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Stopped already is fine; the directory goes with `dir`.
        let _ = run(self.pg_ctl(&["stop", "-m", "immediate"]), "pg_ctl stop");
    }
}

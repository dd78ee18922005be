//! `duet report writer` processes for the tests: started against a
//! pair with a database of their own (an SQLite file or a PostgreSQL
//! URL), stopped as an operator would, or killed when the test ends
//! however it ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use duet_report::Database;

use super::{DUET, PASSWORD, Pair, Setup, USER, fast_params};

/// A writer's database and where its output goes.
pub struct Db {
    pub database: Database,
    pub log: PathBuf,
}

impl Db {
    /// The SQLite database `name.db` in `dir`, its log `name.log`.
    pub fn sqlite(dir: &Path, name: &str) -> Db {
        Db {
            database: Database::Sqlite(dir.join(format!("{name}.db"))),
            log: dir.join(format!("{name}.log")),
        }
    }

    /// What the writer wrote to its stdout and stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// `database` as `--database` takes it: the URL as given, password and
/// all (shown, it is hidden).
pub fn given(database: &Database) -> String {
    serde_json::to_value(database)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// A pair (fast parameters, started) whose nodes read two reporting
/// databases in `dir`, `one.db` and `two.db`, for `GET /api/reports/...`
/// and `GET /api/interactions`.
pub fn reporting_pair(dir: &Path) -> (Pair, [Db; 2]) {
    reading([Db::sqlite(dir, "one"), Db::sqlite(dir, "two")])
}

/// A pair (fast parameters, started) whose nodes read `databases`.
pub fn reading(databases: [Db; 2]) -> (Pair, [Db; 2]) {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        reporting_databases: databases.iter().map(|d| d.database.clone()).collect(),
        ..Setup::default()
    });
    pair.start();
    (pair, databases)
}

/// A writer following `pair` (node `first` first, then the other) into
/// `db`, its output appended to the log.
pub fn writer(pair: &Pair, first: usize, db: &Db) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&db.log)
        .unwrap();
    Command::new(DUET)
        .args(["report", "writer", "--config-every-s", "1", "--user", USER])
        .args(["--database", &given(&db.database)])
        .args(["--node", &pair.nodes[first].url()])
        .args(["--node", &pair.nodes[1 - first].url()])
        .env("DUET_PASSWORD", PASSWORD)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("duet report writer")
}

/// Stops a writer when the test ends, however it ends.
pub struct Writer(pub Child);

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Writer {
    /// Stops the writer as an operator would (SIGTERM): its session ends
    /// as `shutdown`.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(exit)) = self.0.try_wait() {
                assert!(exit.success(), "the writer stopped with {exit}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the writer did not stop within 10 s of SIGTERM");
    }
}

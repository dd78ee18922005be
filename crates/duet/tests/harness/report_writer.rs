//! `duet report writer` processes for the tests: started against a
//! pair with a database of their own, stopped as an operator would, or
//! killed when the test ends however it ends.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{DUET, PASSWORD, Pair, Setup, USER, fast_params};

/// A pair (fast parameters, started) whose nodes read two reporting
/// databases in `dir`, `one.db` and `two.db`, for `GET /api/reports/...`
/// and `GET /api/interactions`.
pub fn reporting_pair(dir: &Path) -> (Pair, [PathBuf; 2]) {
    let databases = [dir.join("one.db"), dir.join("two.db")];
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        reporting_databases: databases.to_vec(),
        ..Setup::default()
    });
    pair.start();
    (pair, databases)
}

/// A writer following `pair` (node `first` first, then the other) into
/// `database`, its log beside it (`.log`).
pub fn writer(pair: &Pair, first: usize, database: &Path) -> Child {
    let log = std::fs::File::create(database.with_extension("log")).unwrap();
    Command::new(DUET)
        .args(["report", "writer", "--config-every-s", "1", "--user", USER])
        .arg("--database")
        .arg(database)
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

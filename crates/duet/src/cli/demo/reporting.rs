//! The demo's reporting: two `duet report writer`s, each following the
//! pair into an SQLite file of its own (as a contact center runs them),
//! which both nodes read for `GET /api/reports/...` and the archive
//! (`GET /api/interactions`), and the commands that read them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use duet_report::Database;

/// How long a writer stopped with SIGTERM gets to end its session.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// The writers' databases in `dir`, one each.
pub fn databases(dir: &Path) -> [PathBuf; 2] {
    [dir.join("report-1.db"), dir.join("report-2.db")]
}

/// The databases as the nodes' bootstrap files name them.
pub fn for_nodes(dir: &Path) -> Vec<Database> {
    databases(dir).into_iter().map(Database::Sqlite).collect()
}

/// Writers running; stopped (their sessions ended as `shutdown`) when
/// dropped.
pub struct Writers(Vec<Child>);

impl Writers {
    /// One writer per database, the first following node a first, the
    /// second node b first, as a master administrator.
    pub fn start(
        dir: &Path,
        urls: &[String; 2],
        user: &str,
        password: &str,
    ) -> anyhow::Result<Writers> {
        let mut running = Vec::new();
        for (i, database) in databases(dir).iter().enumerate() {
            let log = std::fs::File::create(database.with_extension("log"))?;
            let child = Command::new(std::env::current_exe()?)
                .args(["report", "writer", "--user", user])
                .arg("--database")
                .arg(database)
                .args(["--node", &urls[i % 2], "--node", &urls[(i + 1) % 2]])
                .env("DUET_PASSWORD", password)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("cannot start a reporting writer")?;
            running.push(child);
        }
        Ok(Writers(running))
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let pid = rustix::process::Pid::from_raw(child.id() as i32);
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        let started = Instant::now();
        for child in &mut self.0 {
            while started.elapsed() < STOP_WAIT {
                if child.try_wait().is_ok_and(|exit| exit.is_some()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a person runs to read the reports.
pub fn print_commands(dir: &Path, urls: &[String; 2]) {
    let [one, two] = databases(dir);
    let databases = format!("--database {} --database {}", one.display(), two.display());
    println!("Reports (two writers follow the pair into SQLite):");
    println!("  duet report queues {databases} --from <RFC 3339> --to <RFC 3339> --interval-s 900");
    println!("  duet report agents {databases} --from ... --to ... [--format svg > agents.svg]");
    println!("  duet report stuck {databases}");
    println!(
        "  archive: {}/api/interactions?customer=...  (as a supervisor or admin)",
        urls[0]
    );
}

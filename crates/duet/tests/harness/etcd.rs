//! A real etcd (Debian's `etcd-server`) for witness tests: one member on
//! loopback with free ports, or inside a network namespace on a given
//! address. Its data lives in a temporary directory; dropping it kills the
//! process. Tests skip, with a message, when `etcd` is not installed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd gets to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Etcd {
    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// Whether Debian's `etcd` is installed; `Err` says how to install it.
pub fn available() -> Result<(), String> {
    match Command::new("etcd").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err("etcd is not installed (apt-get install etcd-server)".into()),
    }
}

impl Etcd {
    /// One etcd member on 127.0.0.1 with free ports.
    pub fn start() -> Result<Etcd, String> {
        available()?;
        let [client, peer] = duet_node::local_pair::free_ports::<2>("127.0.0.1".parse().unwrap())
            .map_err(|e| format!("no free ports: {e}"))?;
        Etcd::launch(None, "127.0.0.1", client, peer)
    }

    /// One etcd member inside the network namespace `ns`, serving clients
    /// on `address:2379` (e.g. the lab's gateway, 10.77.0.254).
    pub fn start_in_netns(ns: &str, address: &str) -> Result<Etcd, String> {
        available()?;
        Etcd::launch(Some(ns), address, 2379, 2380)
    }

    fn launch(ns: Option<&str>, address: &str, client: u16, peer: u16) -> Result<Etcd, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let log = dir.path().join("etcd.log");
        let url = format!("http://{address}:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut command = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "etcd"]);
                c
            }
            None => Command::new("etcd"),
        };
        let out = std::fs::File::create(&log).map_err(|e| format!("etcd log: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("etcd log: {e}"))?;
        command
            .arg("--name=witness")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=witness={peer_url}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start etcd: {e}"))?;
        let mut etcd = Etcd {
            url,
            child: Some(child),
            log,
            _dir: dir,
        };
        etcd.wait_ready()?;
        Ok(etcd)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < START_TIMEOUT {
            if self.log_text().contains("ready to serve client requests") {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("etcd exited ({status}):\n{}", self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "etcd did not become ready within {START_TIMEOUT:?}:\n{}",
            self.log_text()
        ))
    }

    /// Kills etcd now (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

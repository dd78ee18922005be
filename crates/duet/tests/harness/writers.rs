//! Clients that write configuration entries through a pair and follow the
//! active node like a real client: each write has its own client id and is
//! retried with it (on the node the `x-duet-active` hint names, else the
//! other one) until it is acknowledged or given up. What was acknowledged,
//! where and when, is kept for the checks and the benchmarks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::basic_auth;

/// A write not acknowledged within this is given up (it may or may not
/// have been made; it was never acknowledged).
const WRITE_GIVE_UP: Duration = Duration::from_secs(12);
/// A node that does not answer within this is taken for gone, and the
/// write is tried on the other one (with the same client id).
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// A write a client was told is done.
#[derive(Debug, Clone)]
pub struct Acked {
    pub path: String,
    pub value: String,
    /// Which node acknowledged it, and when.
    pub node: usize,
    pub at: Instant,
}

pub struct Writers {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    /// Starts `count` clients against the nodes at `urls` (named `names`,
    /// as the hint names them).
    pub fn start(count: usize, urls: [String; 2], names: [String; 2]) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..count)
            .map(|k| {
                let (urls, names, stop, acked) =
                    (urls.clone(), names.clone(), stop.clone(), acked.clone());
                std::thread::spawn(move || write_until_stopped(k, &urls, &names, &stop, &acked))
            })
            .collect();
        Writers {
            stop,
            acked,
            threads,
        }
    }

    pub fn acked(&self) -> Vec<Acked> {
        self.acked.lock().unwrap().clone()
    }

    /// Stops the clients (each finishes the write under way) and returns
    /// every acknowledged write.
    pub fn stop(self) -> Vec<Acked> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().expect("a writer panicked");
        }
        self.acked.lock().unwrap().clone()
    }
}

fn write_until_stopped(
    k: usize,
    urls: &[String; 2],
    names: &[String; 2],
    stop: &AtomicBool,
    acked: &Mutex<Vec<Acked>>,
) {
    let agent = super::agent(ANSWER_WAIT);
    let mut target = 0;
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let path = format!("/config/Faults/w{k}-{n}");
        let value = format!("value {k}-{n}");
        let body = serde_json::json!({
            "path": path, "class": "Folder",
            "attributes": {"value": value}, "client_id": format!("w{k}-{n}"),
        });
        let acknowledged = until_acked(urls, names, &mut target, WRITE_GIVE_UP, |base| {
            agent
                .put(&format!("{base}/api/config"))
                .header("authorization", &basic_auth())
                .send_json(&body)
        });
        if acknowledged.is_some() {
            acked.lock().unwrap().push(Acked {
                path: path.clone(),
                value: value.clone(),
                node: target,
                at: Instant::now(),
            });
        }
        n += 1;
    }
}

/// Sends with `send` (given a node's URL) until a node acknowledges it,
/// following the active node like a real client: on 503 to the node the
/// `x-duet-active` hint names (else the other one), on no answer or 404
/// (made on a node cut off while it served, not here until it heals) to
/// the other one. Gives up after `give_up`; `target` is where it went.
pub fn until_acked(
    urls: &[String; 2],
    names: &[String; 2],
    target: &mut usize,
    give_up: Duration,
    mut send: impl FnMut(&str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Option<ureq::http::Response<ureq::Body>> {
    let started = Instant::now();
    while started.elapsed() < give_up {
        match send(&urls[*target]) {
            Ok(r) if r.status().as_u16() == 200 => return Some(r),
            Ok(r) if r.status().as_u16() == 404 => {
                std::thread::sleep(Duration::from_millis(100));
                *target = 1 - *target;
            }
            Ok(r) if r.status().as_u16() == 503 => {
                let hint = r
                    .headers()
                    .get("x-duet-active")
                    .and_then(|h| h.to_str().ok())
                    .and_then(|name| names.iter().position(|n| n == name));
                *target = hint.unwrap_or(1 - *target);
            }
            Ok(mut r) => panic!(
                "refused with {}: {}",
                r.status(),
                r.body_mut().read_to_string().unwrap_or_default()
            ),
            Err(_) => *target = 1 - *target,
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

//! Customers that chat through a pair and follow the active node like a
//! real client: each starts a chat (its own client id, so a retry creates
//! nothing new) and sends messages, each with its own message id, retried
//! with it on the node the `x-duet-active` hint names, else the other one,
//! until acknowledged or given up. What was acknowledged is kept for the
//! checks: every acknowledged message must be in the transcript once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A message not acknowledged within this is given up.
const SEND_GIVE_UP: Duration = Duration::from_secs(12);
/// A node that does not answer within this is taken for gone.
const ANSWER_WAIT: Duration = Duration::from_secs(1);
/// Messages per chat before the customer starts another.
const MESSAGES_PER_CHAT: usize = 40;

/// A chat and the messages acknowledged in it, in order.
#[derive(Debug, Clone)]
pub struct Chat {
    pub id: String,
    pub token: String,
    pub acked: Vec<String>,
}

pub struct Chatters {
    stop: Arc<AtomicBool>,
    chats: Arc<Mutex<Vec<Chat>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Chatters {
    /// Starts `count` customers against the nodes at `urls` (named
    /// `names`, as the hint names them), chatting in `queue`.
    pub fn start(count: usize, urls: [String; 2], names: [String; 2], queue: &str) -> Chatters {
        let stop = Arc::new(AtomicBool::new(false));
        let chats = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..count)
            .map(|k| {
                let (urls, names, stop, chats) =
                    (urls.clone(), names.clone(), stop.clone(), chats.clone());
                let queue = queue.to_string();
                std::thread::spawn(move || {
                    chat_until_stopped(k, &urls, &names, &queue, &stop, &chats)
                })
            })
            .collect();
        Chatters {
            stop,
            chats,
            threads,
        }
    }

    /// Stops the customers (each finishes the message under way) and
    /// returns every chat with its acknowledged messages.
    pub fn stop(self) -> Vec<Chat> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().expect("a customer panicked");
        }
        self.chats.lock().unwrap().clone()
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

/// Posts `body` to `path` until a node acknowledges it; the answer's JSON.
fn post_until_acked(
    agent: &ureq::Agent,
    urls: &[String; 2],
    names: &[String; 2],
    target: &mut usize,
    path: &str,
    body: &serde_json::Value,
    token: Option<&str>,
) -> Option<serde_json::Value> {
    let mut answer = until_acked(urls, names, target, SEND_GIVE_UP, |base| {
        let mut request = agent.post(&format!("{base}{path}"));
        if let Some(token) = token {
            request = request.header("x-duet-token", token);
        }
        request.send_json(body)
    })?;
    answer.body_mut().read_json().ok()
}

fn chat_until_stopped(
    k: usize,
    urls: &[String; 2],
    names: &[String; 2],
    queue: &str,
    stop: &AtomicBool,
    chats: &Mutex<Vec<Chat>>,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(ANSWER_WAIT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut target = 0;
    let mut c = 0;
    while !stop.load(Ordering::SeqCst) {
        let start = serde_json::json!({"queue": queue, "name": format!("customer {k}"), "client_id": format!("c{k}-{c}")});
        let Some(started) =
            post_until_acked(&agent, urls, names, &mut target, "/api/chats", &start, None)
        else {
            continue;
        };
        let (Some(id), Some(token)) = (started["id"].as_str(), started["token"].as_str()) else {
            panic!("a chat's start answered {started}");
        };
        let at = chats.lock().unwrap().len();
        chats.lock().unwrap().push(Chat {
            id: id.to_string(),
            token: token.to_string(),
            acked: Vec::new(),
        });
        let path = format!("/api/chats/{id}/messages");
        for n in 0..MESSAGES_PER_CHAT {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let message_id = format!("m{n}");
            let body =
                serde_json::json!({"message_id": message_id, "body": format!("{k}-{c}-{n}")});
            if post_until_acked(&agent, urls, names, &mut target, &path, &body, Some(token))
                .is_some()
            {
                chats.lock().unwrap()[at].acked.push(message_id);
            }
        }
        c += 1;
    }
}

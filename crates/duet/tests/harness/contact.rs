//! A contact-center client for the process tests: sessions, JSON calls,
//! the directory the tests work with, WebSockets, and the comparison of
//! the backup's shadow with the active node's state.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Pair, api_agent};

pub const AGENT_PASSWORD: &str = "agent-password-1";

/// An answer's status and JSON body (its text as a string when not
/// JSON; status 0 when there was no answer).
pub fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    match response {
        Ok(mut r) => {
            let code = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            (
                code,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// A JSON POST with `headers` on `agent` (its own kept-alive connection).
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send_json(body))
}

/// A JSON client of one node, signed in or not.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            token: None,
        }
    }

    /// Signs `user` in on this node.
    pub fn login(base: &str, user: &str, password: &str) -> Api {
        let mut api = Api::new(base);
        let (code, body) = api.post("/api/sessions", json!({"user": user, "password": password}));
        assert_eq!(code, 200, "sign-in as {user}: {body}");
        api.token = body["token"].as_str().map(String::from);
        api
    }

    /// The same session on another node (sessions hold on both).
    pub fn on(&self, base: &str) -> Api {
        Api {
            base: base.to_string(),
            token: self.token.clone(),
        }
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut request = api_agent().get(&format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        answer(request.call())
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_with(path, body, &[])
    }

    pub fn post_with(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = api_agent().post(&format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send_json(body))
    }

    /// POSTs raw bytes (a webhook's exact body, a file), with the
    /// session's token if it has one.
    pub fn post_bytes(&self, path: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = api_agent()
            .post(&format!("{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send(body))
    }

    /// GETs raw bytes (a download, up to 64 MiB), with the session's
    /// token if it has one: the status and the body.
    pub fn get_bytes(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
        let mut request = api_agent().get(&format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        match request.call() {
            Ok(mut r) => {
                let bytes = (r.body_mut().with_config())
                    .limit(64 * 1024 * 1024)
                    .read_to_vec()
                    .unwrap_or_default();
                (r.status().as_u16(), bytes)
            }
            Err(e) => panic!("GET {path}: {e}"),
        }
    }
}

/// A pair on loopback with the fast parameters, started, with
/// [`set_up_directory`] made on node `a`.
pub fn contact_pair() -> super::Pair {
    let mut pair = super::Pair::loopback(super::Setup {
        params: super::fast_params(),
        ..super::Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    pair
}

/// The workgroup Sales (longest idle, 2 s alerting, wrap-up codes, an
/// email address), agents alice and bob (chat 3, email 5, callback 1,
/// sms 2, call 1) and the supervisor sue, made on node `node`.
pub fn set_up_directory(pair: &Pair, node: usize) {
    for (name, roles) in [("alice", "agent"), ("bob", "agent"), ("sue", "supervisor")] {
        let (code, body) = pair.config_put(
            node,
            &format!("/config/Users/{name}"),
            "User",
            json!({
                "roles": roles,
                "password": AGENT_PASSWORD,
                "skills": "sales:5",
                "capacity": "chat:3,email:5,callback:1,sms:2,call:1",
            }),
            None,
        );
        assert_eq!(code, 200, "{name}: {body}");
    }
    let (code, body) = pair.config_put(
        node,
        "/config/Workgroups/Sales",
        "Workgroup",
        sales_workgroup(),
        None,
    );
    assert_eq!(code, 200, "Sales: {body}");
}

/// The Sales workgroup's attributes as [`set_up_directory`] sets them.
pub fn sales_workgroup() -> serde_json::Value {
    json!({
        "strategy": "longest_idle",
        "alerting_timeout_s": "2",
        "max_no_answer": "2",
        "no_answer_reason": "missed offers",
        "wrap_up_codes": "sale,no sale",
        "members": "alice,bob",
        "addresses": "sales@example.test",
    })
}

/// Waits until `what` holds, or fails with the pair's logs.
pub fn wait_for<T>(
    pair: &Pair,
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "timed out after {limit:?} waiting for: {what}\n{}",
        pair.logs()
    );
}

/// Both nodes' interaction state at one position with one digest.
pub fn shadows_equal(pair: &Pair) -> Option<(Value, Value)> {
    let a = Api::new(&pair.nodes[0].url()).get("/api/shadow");
    let b = Api::new(&pair.nodes[1].url()).get("/api/shadow");
    (a.0 == 200 && b.0 == 200 && a.1 == b.1).then_some((a.1, b.1))
}

/// Waits until the backup's shadow equals the active node's state.
pub fn wait_shadow_equal(pair: &Pair) -> Value {
    wait_for(
        pair,
        Duration::from_secs(10),
        "the backup's shadow equal to the active node's state",
        || shadows_equal(pair).map(|(a, _)| a),
    )
}

/// A WebSocket client that reads JSON messages with a time limit.
pub struct Socket {
    ws: tungstenite::WebSocket<std::net::TcpStream>,
}

impl Socket {
    pub fn connect(url: &str) -> Socket {
        let address = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("a host:port")
            .to_string();
        let stream = std::net::TcpStream::connect(&address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        let (ws, _) = tungstenite::client(url, stream).expect("WebSocket handshake");
        Socket { ws }
    }

    pub fn send(&mut self, value: Value) {
        self.ws
            .send(tungstenite::Message::Text(value.to_string().into()))
            .expect("send on the socket");
    }

    /// The next JSON message within `limit`.
    pub fn next(&mut self, limit: Duration) -> Option<Value> {
        let start = Instant::now();
        while start.elapsed() < limit {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(text)) => return serde_json::from_str(&text).ok(),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// Reads until a message satisfies `want`, within `limit`.
    pub fn until(&mut self, limit: Duration, mut want: impl FnMut(&Value) -> bool) -> Value {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(v) = self.next(Duration::from_millis(200))
                && want(&v)
            {
                return v;
            }
        }
        panic!("no message as wanted on the socket within {limit:?}");
    }
}

/// Serves each connection to `listener` with `handle`, one at a time, until
/// `stop` is set.
fn serve_each(
    listener: std::net::TcpListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: impl Fn(std::net::TcpStream) + Send + 'static,
) {
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            handle(stream);
        }
    });
}

/// A local SMTP capture for the outbound relay: takes every message on
/// 127.0.0.1 and keeps its DATA; it stops when dropped.
pub struct Capture {
    pub port: u16,
    pub messages: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Capture {
    pub fn start() -> Capture {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the capture");
        let port = listener.local_addr().expect("address").port();
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let kept = messages.clone();
        serve_each(listener, stop.clone(), move |stream| {
            let mut out = stream.try_clone().expect("clone");
            let mut lines = BufReader::new(stream);
            let _ = out.write_all(b"220 capture\r\n");
            let mut line = String::new();
            while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                let command = line.to_ascii_uppercase();
                if command.starts_with("DATA") {
                    let _ = out.write_all(b"354 go on\r\n");
                    let mut data = String::new();
                    let mut l = String::new();
                    while lines.read_line(&mut l).is_ok_and(|n| n > 0) && l != ".\r\n" {
                        data.push_str(&l);
                        l.clear();
                    }
                    kept.lock().unwrap().push(data);
                    let _ = out.write_all(b"250 kept\r\n");
                } else if command.starts_with("QUIT") {
                    let _ = out.write_all(b"221 bye\r\n");
                    break;
                } else if command.starts_with("EHLO") {
                    let _ = out.write_all(b"250-capture\r\n250 8BITMIME\r\n");
                } else {
                    let _ = out.write_all(b"250 ok\r\n");
                }
                line.clear();
            }
        });
        Capture {
            port,
            messages,
            stop,
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the HTTP capture kept: (signature header, body) per POST.
pub type Posts = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A local HTTP capture for outbound webhooks: answers 200 to every POST
/// on 127.0.0.1 and keeps its signature and body (or, while `down` is set,
/// answers 503 and keeps nothing: a provider that fails).
pub struct HttpCapture {
    pub port: u16,
    pub posts: Posts,
    pub down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// POSTs refused while down.
    pub refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HttpCapture {
    pub fn start() -> HttpCapture {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the capture");
        let port = listener.local_addr().expect("address").port();
        let posts: Posts = Default::default();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let kept = posts.clone();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (is_down, refusals) = (down.clone(), refused.clone());
        serve_each(listener, stop.clone(), move |stream| {
            let mut out = stream.try_clone().expect("clone");
            let mut reader = BufReader::new(stream);
            let (mut length, mut signature) = (0usize, String::new());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-duet-signature:") {
                    signature = line["x-duet-signature:".len()..].trim().to_string();
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let read = reader.read_exact(&mut body).is_ok();
            if is_down.load(std::sync::atomic::Ordering::SeqCst) {
                refusals.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = out.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                return;
            }
            if read {
                kept.lock().unwrap().push((signature, body));
            }
            let _ =
                out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        });
        HttpCapture {
            port,
            posts,
            down,
            refused,
            stop,
        }
    }
}

impl Drop for HttpCapture {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// HMAC-SHA256 of `body` with the pair's webhook secret, as a provider signs.
pub fn signature(pair: &Pair, body: &[u8]) -> String {
    let hex = std::fs::read_to_string(pair.dir.path().join("certs/webhook.key")).unwrap();
    let key: Vec<u8> = (0..hex.trim().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex.trim()[i..i + 2], 16).unwrap())
        .collect();
    let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key), body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// An email "Quote please" to Sales by SMTP on node `node`, `from` with
/// `message_id`: plain text and `html`, and `attachment` as specs.bin.
pub fn send_email(
    pair: &Pair,
    node: usize,
    (from, message_id): (&str, &str),
    html: &str,
    attachment: &[u8],
) {
    use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
    use lettre::{Message, SmtpTransport, Transport};
    let message = Message::builder()
        .from(from.parse().unwrap())
        .to("sales@example.test".parse().unwrap())
        .subject("Quote please")
        .message_id(Some(message_id.into()))
        .multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain("Please send a quote.".to_string()))
                        .singlepart(SinglePart::html(html.to_string())),
                )
                .singlepart(Attachment::new("specs.bin".into()).body(
                    attachment.to_vec(),
                    ContentType::parse("application/octet-stream").unwrap(),
                )),
        )
        .unwrap();
    SmtpTransport::builder_dangerous("127.0.0.1")
        .port(pair.nodes[node].placement.smtp_port)
        .timeout(Some(Duration::from_secs(10)))
        .build()
        .send(&message)
        .expect("the active node takes the email");
}

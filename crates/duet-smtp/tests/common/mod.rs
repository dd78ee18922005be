//! Shared test helpers: a recording sink, a server on 127.0.0.1:0, and a raw
//! SMTP client that reads whole replies.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet_smtp::{
    DeliveryFuture, DeliveryReceipt, DeliveryRefusal, IntakeConfig, MailSink, ReceivedEmail,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Every test body runs under this bound.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn bounded<F: Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test exceeded its time bound")
}

/// Records what it is given; refuses when told to.
#[derive(Default)]
pub struct RecordingSink {
    pub delivered: Mutex<Vec<ReceivedEmail>>,
    pub calls: Mutex<usize>,
    pub refusal: Mutex<Option<DeliveryRefusal>>,
    /// How long `deliver` takes (a slow replication, say).
    pub delay_ms: Mutex<u64>,
}

impl RecordingSink {
    pub fn delivered(&self) -> Vec<ReceivedEmail> {
        self.delivered.lock().unwrap().clone()
    }
    pub fn calls(&self) -> usize {
        *self.calls.lock().unwrap()
    }
    pub fn refuse_with(&self, refusal: Option<DeliveryRefusal>) {
        *self.refusal.lock().unwrap() = refusal;
    }
}

impl MailSink for RecordingSink {
    fn resolve_recipient(&self, address: &str) -> Option<String> {
        match address.to_ascii_lowercase().as_str() {
            "support@example.com" => Some("support".to_string()),
            "sales@example.com" => Some("sales".to_string()),
            _ => None,
        }
    }

    fn deliver(&self, email: ReceivedEmail) -> DeliveryFuture<'_> {
        Box::pin(async move {
            *self.calls.lock().unwrap() += 1;
            let delay_ms = *self.delay_ms.lock().unwrap();
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            if let Some(refusal) = self.refusal.lock().unwrap().clone() {
                return Err(refusal);
            }
            let mut delivered = self.delivered.lock().unwrap();
            delivered.push(email);
            Ok(DeliveryReceipt {
                id: format!("em-{}", delivered.len()),
            })
        })
    }
}

pub fn config() -> IntakeConfig {
    IntakeConfig {
        hostname: "intake.test".to_string(),
        max_message_bytes: 64 * 1024,
        max_recipients: 3,
        idle_timeout_ms: 5_000,
        data_timeout_ms: 5_000,
        deliver_timeout_ms: 5_000,
        max_connections: 16,
        max_connections_per_host: 16,
    }
}

/// Starts the intake on 127.0.0.1 with an OS-chosen port. The server task
/// ends when the test's runtime does.
pub async fn start(config: IntakeConfig, sink: Arc<RecordingSink>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = duet_smtp::serve(listener, config, sink).await;
    });
    addr
}

/// A raw SMTP client for protocol tests.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Client {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, writer) = stream.into_split();
        let mut client = Self {
            reader: BufReader::new(read),
            writer,
        };
        let (code, _) = client.reply().await;
        assert_eq!(code, 220);
        client
    }

    /// Reads one reply (all its lines); (0, "") if the server closed.
    pub async fn reply(&mut self) -> (u16, String) {
        read_reply(&mut self.reader).await
    }

    /// The two halves, for a test that reads and writes concurrently.
    pub fn into_parts(self) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
        (self.reader, self.writer)
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Sends a command line (CRLF added) and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.write(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends a command and asserts the reply code.
    pub async fn expect(&mut self, line: &str, code: u16) -> String {
        let (got, text) = self.cmd(line).await;
        assert_eq!(got, code, "{line:?} answered {text:?}");
        text
    }
}

/// A small valid message, CRLF line ends.
pub fn simple_message(subject: &str) -> String {
    format!(
        "From: Ann <ann@example.org>\r\nTo: support@example.com\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\r\nhello\r\n"
    )
}

/// Reads one reply (all its lines); (0, "") if the server closed.
pub async fn read_reply(reader: &mut BufReader<OwnedReadHalf>) -> (u16, String) {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).await.unwrap_or(0);
        if n == 0 {
            return (0, text);
        }
        text.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            return (code, text);
        }
    }
}

//! The SMTP intake: a session of our own per connection, over smtp-proto's
//! parser (which does no I/O). Each connection is a tokio task; a slow or
//! broken client holds only its own task and is closed with 421 when idle.
//!
//! A message is answered `250` only after [`MailSink::deliver`] returned Ok,
//! so the client keeps its copy (and retries) until the email is stored.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info, warn};

use crate::stream::Stream;

use crate::email::ReceivedEmail;
use crate::session::{Data, Dialogue, Input, Line, Step, Tls, delivery_reply};

/// How long a single write to a client may take before the connection is
/// dropped (a client that does not read must not hold a task forever).
const WRITE_TIMEOUT_MS: u64 = 10_000;

/// Settings of the SMTP intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeConfig {
    /// Our name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, after dot-unstuffing (advertised as SIZE).
    pub max_message_bytes: usize,
    /// Most recipients in one transaction.
    pub max_recipients: usize,
    /// A connection with nothing received for this long is closed with 421.
    pub idle_timeout_ms: u64,
    /// Longest a message's DATA may take, from 354 to the final dot, so a
    /// client dripping a byte just inside `idle_timeout_ms` cannot hold a
    /// connection for ever; past it the client gets 421.
    pub data_timeout_ms: u64,
    /// Longest wait for the sink to confirm a message; past it the client
    /// gets 451 and retries.
    pub deliver_timeout_ms: u64,
    /// Most connections served at once; one more is answered 421 and closed.
    pub max_connections: usize,
    /// Most connections served at once from one address, so one host
    /// cannot take every slot; one more is answered 421 and closed.
    pub max_connections_per_host: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_string(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            idle_timeout_ms: 300_000,
            data_timeout_ms: 600_000,
            deliver_timeout_ms: 60_000,
            max_connections: 256,
            max_connections_per_host: 32,
        }
    }
}

impl IntakeConfig {
    /// Checks that every limit is usable.
    pub fn validate(&self) -> Result<(), IntakeError> {
        let bad = |field: &'static str, why: &str| {
            Err(IntakeError::Config {
                field,
                why: why.to_string(),
            })
        };
        if self.hostname.is_empty() || self.hostname.contains(char::is_whitespace) {
            return bad("hostname", "must be a non-empty name without spaces");
        }
        if self.max_message_bytes == 0 {
            return bad("max_message_bytes", "must be at least 1");
        }
        if self.max_recipients == 0 {
            return bad("max_recipients", "must be at least 1");
        }
        if self.idle_timeout_ms == 0 {
            return bad("idle_timeout_ms", "must be at least 1");
        }
        if self.data_timeout_ms == 0 {
            return bad("data_timeout_ms", "must be at least 1");
        }
        if self.deliver_timeout_ms == 0 {
            return bad("deliver_timeout_ms", "must be at least 1");
        }
        if self.max_connections == 0 {
            return bad("max_connections", "must be at least 1");
        }
        if self.max_connections_per_host == 0 {
            return bad("max_connections_per_host", "must be at least 1");
        }
        Ok(())
    }
}

/// Errors of the intake as a whole (a single connection's problems are
/// answered on that connection and logged, never returned).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("invalid SMTP intake setting {field}: {why}")]
    Config { field: &'static str, why: String },
}

/// Proof that the sink stored an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The id the email is stored under, given to the client as "queued as".
    pub id: String,
}

/// Why the sink did not store an email. The text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryRefusal {
    /// Try again later (451): e.g. this node is not active, or replication
    /// did not confirm in time.
    #[error("temporarily refused: {0}")]
    Temporary(String),
    /// No room now, try again later (452): the live state is full. Never
    /// a bounce, so a customer's mail is not lost while it is.
    #[error("no room now: {0}")]
    Full(String),
    /// Do not retry (554): e.g. the queue no longer takes email.
    #[error("refused: {0}")]
    Permanent(String),
}

/// What [`MailSink::deliver`] returns: boxed so the sink can be a trait object.
pub type DeliveryFuture<'a> =
    Pin<Box<dyn Future<Output = Result<DeliveryReceipt, DeliveryRefusal>> + Send + 'a>>;

/// Where accepted email goes: the node stores (and replicates) it.
pub trait MailSink: Send + Sync + 'static {
    /// The queue that takes mail for `address` (as given in `RCPT TO`), or
    /// `None` if we do not accept mail for it. Called per recipient, so it
    /// should read a local view, not wait on anything.
    fn resolve_recipient(&self, address: &str) -> Option<String>;

    /// Stores an email. Return Ok only once it is durable: the client is told
    /// "250 queued" on Ok and will not send it again. The future is dropped
    /// after `deliver_timeout_ms` and the client told 451, so it will send
    /// the message again: a store that may still complete after the drop
    /// should recognise the retry (by Message-ID and the raw bytes' digest).
    fn deliver(&self, email: ReceivedEmail) -> DeliveryFuture<'_>;
}

/// Serves SMTP on `listener` until this future is dropped, which also ends
/// every connection it started. Returns only on invalid configuration.
pub async fn serve(
    listener: TcpListener,
    config: IntakeConfig,
    sink: Arc<dyn MailSink>,
) -> Result<Infallible, IntakeError> {
    serve_with_starttls(listener, config, sink, None).await
}

/// [`serve`], offering STARTTLS with `starttls` when given.
pub async fn serve_with_starttls(
    listener: TcpListener,
    config: IntakeConfig,
    sink: Arc<dyn MailSink>,
    starttls: Option<TlsAcceptor>,
) -> Result<Infallible, IntakeError> {
    config.validate()?;
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let hosts = Arc::new(Hosts::default());
    // Connections are owned here so dropping `serve` aborts them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            Some(_) = connections.join_next() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of descriptors and the like: pause rather than spin.
                        warn!(%err, "smtp accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Some(host_slot) = hosts.take(peer.ip(), config.max_connections_per_host) else {
                    debug!(%peer, limit = config.max_connections_per_host, "smtp connection refused: too many from this address");
                    let _ = stream.try_write(b"421 4.3.2 too many connections from your address, try again later\r\n");
                    continue;
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    warn!(%peer, limit = config.max_connections, "smtp connection refused: too many connections");
                    // Best effort and non-blocking: the accept loop never waits on a client.
                    let _ = stream.try_write(b"421 4.3.2 too many connections, try again later\r\n");
                    continue;
                };
                let config = config.clone();
                let sink = sink.clone();
                let starttls = starttls.clone();
                // What the sans-IO dialogue logs names the peer through the span.
                let span = tracing::info_span!("smtp", %peer);
                connections.spawn(async move {
                    let _slots = (slot, host_slot);
                    Session::new(stream, peer, config, sink, starttls).run().await;
                }.instrument(span));
            }
        }
    }
}

/// Connections open per address; an address is forgotten when its last
/// connection ends, so the map holds at most `max_connections` entries.
#[derive(Default)]
struct Hosts {
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One connection from an address, counted until dropped.
struct HostSlot {
    hosts: Arc<Hosts>,
    address: std::net::IpAddr,
}

impl Hosts {
    fn take(self: &Arc<Self>, address: std::net::IpAddr, max: usize) -> Option<HostSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(HostSlot {
            hosts: self.clone(),
            address,
        })
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        let mut open = self.hosts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Why a session stopped reading.
enum Stop {
    /// The client closed, or a read or write failed.
    Closed,
    /// Nothing arrived within the idle timeout.
    Idle,
    /// DATA did not end within its time bound.
    DataTooSlow,
}

/// One connection: the I/O around a sans-IO [`Dialogue`].
struct Session {
    stream: Stream,
    /// Offered in EHLO while the connection is plain.
    starttls: Option<TlsAcceptor>,
    peer: SocketAddr,
    config: Arc<IntakeConfig>,
    sink: Arc<dyn MailSink>,
    input: Input,
    dialogue: Dialogue,
}

impl Session {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        config: Arc<IntakeConfig>,
        sink: Arc<dyn MailSink>,
        starttls: Option<TlsAcceptor>,
    ) -> Self {
        let tls = match starttls {
            Some(_) => Tls::Offered,
            None => Tls::NotOffered,
        };
        Self {
            stream: Stream::Plain(stream),
            starttls,
            peer,
            dialogue: Dialogue::new(&config, tls),
            config,
            sink,
            input: Input::default(),
        }
    }

    async fn run(mut self) {
        debug!(peer = %self.peer, "smtp connection");
        let greeting = self.dialogue.greeting();
        let result = match self.send(&greeting).await {
            Ok(()) => self.commands().await,
            Err(stop) => Err(stop),
        };
        match result {
            Ok(()) | Err(Stop::Closed) => {}
            Err(Stop::Idle) => {
                info!(peer = %self.peer, idle_timeout_ms = self.config.idle_timeout_ms, "smtp connection idle, closing");
                let text = format!(
                    "421 4.4.2 {} idle for {} ms, closing connection",
                    self.config.hostname, self.config.idle_timeout_ms
                );
                if self.send(&text).await.is_err() {
                    debug!(peer = %self.peer, "smtp closing line not delivered: the client is gone");
                }
            }
            Err(Stop::DataTooSlow) => {
                info!(peer = %self.peer, data_timeout_ms = self.config.data_timeout_ms, "smtp DATA too slow, closing");
                let text = format!(
                    "421 4.4.2 {} message not complete within {} ms, closing connection; nothing was stored",
                    self.config.hostname, self.config.data_timeout_ms
                );
                if self.send(&text).await.is_err() {
                    debug!(peer = %self.peer, "smtp closing line not delivered: the client is gone");
                }
            }
        }
        let _ = self.stream.shutdown().await;
    }

    /// The command loop; Ok when the client said QUIT.
    async fn commands(&mut self) -> Result<(), Stop> {
        loop {
            let line = self.read_line().await?;
            let sink = &self.sink;
            let step = self
                .dialogue
                .line(line, |address| sink.resolve_recipient(address));
            let reply = match step {
                Step::Reply(reply) => reply,
                Step::Quit(reply) => {
                    self.send(&reply).await?;
                    return Ok(());
                }
                Step::StartTls(reply) => {
                    let Some(acceptor) = self.starttls.clone() else {
                        return Err(Stop::Closed);
                    };
                    self.send(&reply).await?;
                    // Nothing said in plain text counts once TLS starts.
                    self.input.clear();
                    let wait = Duration::from_millis(self.config.idle_timeout_ms);
                    if !self.stream.start_tls(&acceptor, wait).await {
                        debug!(peer = %self.peer, "smtp TLS handshake failed");
                        return Err(Stop::Closed);
                    }
                    self.dialogue.tls_started();
                    continue;
                }
                Step::Data(reply) => {
                    self.send(&reply).await?;
                    self.receive_data().await?
                }
            };
            self.send(&reply).await?;
        }
    }

    /// Reads the message after 354, then parses and delivers it. Returns the
    /// reply; the transaction is over whatever the outcome.
    async fn receive_data(&mut self) -> Result<String, Stop> {
        let mut data = Data::new(self.config.max_message_bytes);
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.data_timeout_ms);
        while !data.ingest(&mut self.input) {
            self.read_more(Some(deadline)).await?;
        }
        // A refusal here was logged by the dialogue. Parsing runs off
        // the async workers: a 25 MiB message would hold one up (and the
        // node's link with it) for a good part of a lease.
        let received = match self.dialogue.take_message(data) {
            Ok(received) => received,
            Err(reply) => return Ok(reply),
        };
        let email = match tokio::task::spawn_blocking(move || received.parse()).await {
            Ok(Ok(email)) => email,
            Ok(Err(reply)) => return Ok(reply),
            Err(e) => {
                warn!(peer = %self.peer, "smtp message not parsed: {e}");
                return Ok("451 4.3.0 the message could not be read now; try again later".into());
            }
        };
        let bytes = email.raw.len();
        let wait = Duration::from_millis(self.config.deliver_timeout_ms);
        let Ok(outcome) = timeout(wait, self.sink.deliver(email)).await else {
            warn!(peer = %self.peer, deliver_timeout_ms = self.config.deliver_timeout_ms, "smtp message not confirmed in time");
            return Ok(format!(
                "451 4.4.7 storage not confirmed within {} ms; try again later",
                self.config.deliver_timeout_ms
            ));
        };
        match &outcome {
            Ok(receipt) => info!(peer = %self.peer, id = %receipt.id, bytes, "smtp message stored"),
            Err(refusal) => warn!(peer = %self.peer, %refusal, "smtp message not stored"),
        }
        Ok(delivery_reply(outcome))
    }

    /// The next line from the client, CRLF included.
    async fn read_line(&mut self) -> Result<Line, Stop> {
        loop {
            if let Some(line) = self.input.next_line() {
                return Ok(line);
            }
            self.read_more(None).await?;
        }
    }

    /// Reads whatever the client sends next into `input`, waiting at most
    /// the idle timeout (and not past `deadline`, if given).
    async fn read_more(&mut self, deadline: Option<tokio::time::Instant>) -> Result<(), Stop> {
        let mut chunk = [0u8; 8192];
        let idle_end =
            tokio::time::Instant::now() + Duration::from_millis(self.config.idle_timeout_ms);
        let (end, why) = match deadline {
            Some(deadline) if deadline < idle_end => (deadline, Stop::DataTooSlow),
            _ => (idle_end, Stop::Idle),
        };
        match tokio::time::timeout_at(end, self.stream.read(&mut chunk)).await {
            Err(_) => Err(why),
            Ok(Ok(0)) | Ok(Err(_)) => Err(Stop::Closed),
            Ok(Ok(n)) => {
                self.input.push(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// Sends one reply (a single line, or EHLO's lines); CRLF is added.
    async fn send(&mut self, reply: &str) -> Result<(), Stop> {
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(reply.as_bytes());
        out.extend_from_slice(b"\r\n");
        let wait = Duration::from_millis(WRITE_TIMEOUT_MS);
        match timeout(wait, self.stream.write_all(&out)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(Stop::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_limits_are_checked() {
        assert!(IntakeConfig::default().validate().is_ok());
        let config = IntakeConfig {
            max_message_bytes: 0,
            ..IntakeConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(IntakeError::Config {
                field: "max_message_bytes",
                ..
            })
        ));
    }
}

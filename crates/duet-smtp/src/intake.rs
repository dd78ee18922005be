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

use smtp_proto::Request;
use smtp_proto::request::receiver::DataReceiver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::stream::Stream;

use crate::email::{ReceivedEmail, Recipient, parse_email};

/// Longest command line accepted, CRLF included. RFC 5321 asks for at least
/// 512; extensions' parameters make real lines longer.
pub const MAX_COMMAND_LINE_BYTES: usize = 4096;

/// How long a single write to a client may take before the connection is
/// dropped (a client that does not read must not hold a task forever).
const WRITE_TIMEOUT_MS: u64 = 10_000;

/// Longest text taken from a refusal into a reply line.
const MAX_REPLY_TEXT_CHARS: usize = 400;

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
                connections.spawn(async move {
                    let _slots = (slot, host_slot);
                    Session::new(stream, peer, config, sink, starttls).run().await;
                });
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

/// One line from the client.
enum Line {
    Complete(Vec<u8>),
    TooLong,
}

/// The transaction state of one connection.
#[derive(Default)]
struct Transaction {
    mail_from: Option<String>,
    recipients: Vec<Recipient>,
}

struct Session {
    stream: Stream,
    /// Offered in EHLO while the connection is plain.
    starttls: Option<TlsAcceptor>,
    peer: SocketAddr,
    config: Arc<IntakeConfig>,
    sink: Arc<dyn MailSink>,
    /// Bytes read but not yet consumed (pipelined commands, or what follows
    /// the end of DATA).
    input: Vec<u8>,
    greeted: bool,
    tx: Transaction,
}

impl Session {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        config: Arc<IntakeConfig>,
        sink: Arc<dyn MailSink>,
        starttls: Option<TlsAcceptor>,
    ) -> Self {
        Self {
            stream: Stream::Plain(stream),
            starttls,
            peer,
            config,
            sink,
            input: Vec::new(),
            greeted: false,
            tx: Transaction::default(),
        }
    }

    async fn run(mut self) {
        debug!(peer = %self.peer, "smtp connection");
        let greeting = format!("220 {} ESMTP duet ready", self.config.hostname);
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
                let _ = self.send(&text).await;
            }
            Err(Stop::DataTooSlow) => {
                info!(peer = %self.peer, data_timeout_ms = self.config.data_timeout_ms, "smtp DATA too slow, closing");
                let text = format!(
                    "421 4.4.2 {} message not complete within {} ms, closing connection; nothing was stored",
                    self.config.hostname, self.config.data_timeout_ms
                );
                let _ = self.send(&text).await;
            }
        }
        let _ = self.stream.shutdown().await;
    }

    /// The command loop; Ok when the client said QUIT.
    async fn commands(&mut self) -> Result<(), Stop> {
        loop {
            let line = match self.read_line().await? {
                Line::Complete(line) => line,
                Line::TooLong => {
                    self.send(&format!(
                        "500 5.5.6 line too long (limit {MAX_COMMAND_LINE_BYTES} bytes)"
                    ))
                    .await?;
                    continue;
                }
            };
            let request = Request::parse(&mut line.iter()).map(Request::into_owned);
            let reply = match request {
                Ok(Request::Quit) => {
                    self.send(&format!("221 2.0.0 {} closing", self.config.hostname))
                        .await?;
                    return Ok(());
                }
                Ok(Request::StartTls) => match self.starttls.clone() {
                    Some(acceptor) if !self.stream.is_tls() => {
                        self.send("220 2.0.0 ready to start TLS").await?;
                        // Nothing said in plain text counts once TLS starts.
                        self.input.clear();
                        let wait = Duration::from_millis(self.config.idle_timeout_ms);
                        if !self.stream.start_tls(&acceptor, wait).await {
                            debug!(peer = %self.peer, "smtp TLS handshake failed");
                            return Err(Stop::Closed);
                        }
                        self.greeted = false;
                        self.tx = Transaction::default();
                        continue;
                    }
                    Some(_) => "503 5.5.1 TLS is already in use".to_string(),
                    None => "502 5.5.1 STARTTLS is not offered here".to_string(),
                },
                Ok(Request::Data) => match self.data_allowed() {
                    Ok(()) => {
                        self.send("354 start mail input; end with <CRLF>.<CRLF>")
                            .await?;
                        self.receive_data().await?
                    }
                    Err(reply) => reply,
                },
                Ok(request) => self.command(request),
                Err(err) => parse_error_reply(err),
            };
            self.send(&reply).await?;
        }
    }

    /// Answers every command but DATA and QUIT.
    fn command(&mut self, request: Request<String>) -> String {
        match request {
            Request::Ehlo { host } => {
                debug!(peer = %self.peer, %host, "EHLO");
                self.greeted = true;
                self.tx = Transaction::default();
                let starttls = if self.starttls.is_some() && !self.stream.is_tls() {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                format!(
                    "250-{} hello {}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-PIPELINING\r\n{starttls}250 ENHANCEDSTATUSCODES",
                    self.config.hostname,
                    reply_text(&host),
                    self.config.max_message_bytes
                )
            }
            Request::Helo { host } => {
                debug!(peer = %self.peer, %host, "HELO");
                self.greeted = true;
                self.tx = Transaction::default();
                format!("250 {}", self.config.hostname)
            }
            Request::Mail { from } => {
                if !self.greeted {
                    return "503 5.5.1 send EHLO or HELO first".to_string();
                }
                if self.tx.mail_from.is_some() {
                    return "503 5.5.1 MAIL already given; send RSET to start over".to_string();
                }
                if from.size > self.config.max_message_bytes {
                    return format!(
                        "552 5.3.4 declared size {} exceeds the limit of {} bytes",
                        from.size, self.config.max_message_bytes
                    );
                }
                self.tx.mail_from = Some(from.address);
                "250 2.1.0 sender ok".to_string()
            }
            Request::Rcpt { to } => {
                if self.tx.mail_from.is_none() {
                    return "503 5.5.1 send MAIL before RCPT".to_string();
                }
                if self
                    .tx
                    .recipients
                    .iter()
                    .any(|r| r.address.eq_ignore_ascii_case(&to.address))
                {
                    return "250 2.1.5 recipient ok (already given)".to_string();
                }
                if self.tx.recipients.len() >= self.config.max_recipients {
                    return format!(
                        "452 4.5.3 too many recipients (limit {}); send the rest in another message",
                        self.config.max_recipients
                    );
                }
                match self.sink.resolve_recipient(&to.address) {
                    Some(queue) => {
                        self.tx.recipients.push(Recipient {
                            address: to.address,
                            queue,
                        });
                        "250 2.1.5 recipient ok".to_string()
                    }
                    None => {
                        info!(peer = %self.peer, address = %to.address, "smtp recipient refused: unknown address");
                        format!(
                            "550 5.1.1 <{}>: no such mailbox here; this server takes mail only for its configured addresses",
                            reply_text(&to.address)
                        )
                    }
                }
            }
            Request::Rset => {
                self.tx = Transaction::default();
                "250 2.0.0 reset".to_string()
            }
            Request::Noop { .. } => "250 2.0.0 ok".to_string(),
            Request::Lhlo { .. } => "500 5.5.1 LHLO is LMTP; this is SMTP".to_string(),
            Request::Bdat { .. } => "503 5.5.1 CHUNKING is not offered; use DATA".to_string(),
            other => format!("502 5.5.1 {} not implemented", other.name()),
        }
    }

    fn data_allowed(&self) -> Result<(), String> {
        if self.tx.mail_from.is_none() {
            return Err("503 5.5.1 send MAIL and RCPT before DATA".to_string());
        }
        if self.tx.recipients.is_empty() {
            return Err("503 5.5.1 no valid recipients; send RCPT before DATA".to_string());
        }
        Ok(())
    }

    /// Reads the message after 354, then parses and delivers it. Returns the
    /// reply; the transaction is over whatever the outcome.
    async fn receive_data(&mut self) -> Result<String, Stop> {
        let mut receiver = DataReceiver::new();
        let mut message = Vec::new();
        // The receiver recognises "." lines only after a CRLF it has seen;
        // DATA's own line ended with one, so prime it and drop the two bytes.
        receiver.ingest(&mut b"\r\n".iter(), &mut message);
        message.clear();
        let limit = self.config.max_message_bytes;
        let mut oversize = false;
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.data_timeout_ms);
        loop {
            let mut rest = self.input.iter();
            let done = receiver.ingest(&mut rest, &mut message);
            let consumed = self.input.len() - rest.as_slice().len();
            self.input.drain(..consumed);
            if message.len() > limit {
                // Keep reading to the end so the connection stays in step,
                // but keep nothing: a message is stored whole or not at all.
                oversize = true;
                message.clear();
            }
            if done {
                break;
            }
            self.read_more(Some(deadline)).await?;
        }
        let tx = std::mem::take(&mut self.tx);
        if oversize {
            info!(peer = %self.peer, limit, "smtp message refused: too large");
            return Ok(format!(
                "552 5.3.4 message exceeds the limit of {limit} bytes; nothing was stored"
            ));
        }
        let envelope_from = tx.mail_from.unwrap_or_default();
        let email = match parse_email(message, envelope_from, tx.recipients) {
            Ok(email) => email,
            Err(err) => {
                warn!(peer = %self.peer, %err, "smtp message refused: not stored");
                return Ok(format!("554 5.6.0 {err}; nothing was stored"));
            }
        };
        let bytes = email.raw.len();
        let wait = Duration::from_millis(self.config.deliver_timeout_ms);
        Ok(match timeout(wait, self.sink.deliver(email)).await {
            Ok(Ok(receipt)) => {
                info!(peer = %self.peer, id = %receipt.id, bytes, "smtp message stored");
                format!("250 2.0.0 queued as {}", reply_text(&receipt.id))
            }
            Ok(Err(DeliveryRefusal::Temporary(why))) => {
                warn!(peer = %self.peer, %why, "smtp message refused for now");
                format!("451 4.3.0 {}", reply_text(&why))
            }
            Ok(Err(DeliveryRefusal::Full(why))) => {
                warn!(peer = %self.peer, %why, "smtp message refused until there is room");
                format!("452 4.3.1 {}", reply_text(&why))
            }
            Ok(Err(DeliveryRefusal::Permanent(why))) => {
                warn!(peer = %self.peer, %why, "smtp message refused");
                format!("554 5.3.0 {}", reply_text(&why))
            }
            Err(_) => {
                warn!(peer = %self.peer, deliver_timeout_ms = self.config.deliver_timeout_ms, "smtp message not confirmed in time");
                format!(
                    "451 4.4.7 storage not confirmed within {} ms; try again later",
                    self.config.deliver_timeout_ms
                )
            }
        })
    }

    /// The next line from the client, CRLF included. A line over the limit
    /// is read to its end and discarded.
    async fn read_line(&mut self) -> Result<Line, Stop> {
        let mut too_long = false;
        loop {
            if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=end).collect();
                if too_long || line.len() > MAX_COMMAND_LINE_BYTES {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Complete(line));
            }
            if self.input.len() > MAX_COMMAND_LINE_BYTES {
                // Drop what we have and keep discarding up to the next LF.
                too_long = true;
                self.input.clear();
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
                self.input.extend_from_slice(&chunk[..n]);
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

/// The reply to a line smtp-proto could not parse.
fn parse_error_reply(err: smtp_proto::Error) -> String {
    use smtp_proto::Error;
    match err {
        Error::UnknownCommand => "500 5.5.1 command not recognised".to_string(),
        Error::InvalidSenderAddress => "501 5.1.7 bad sender address syntax".to_string(),
        Error::InvalidRecipientAddress => "501 5.1.3 bad recipient address syntax".to_string(),
        Error::SyntaxError { syntax } => format!("501 5.5.2 syntax: {syntax}"),
        Error::InvalidParameter { param } => format!("501 5.5.4 invalid parameter {param}"),
        Error::UnsupportedParameter { param } => {
            format!("504 5.5.4 unsupported parameter {}", reply_text(&param))
        }
        Error::ResponseTooLong => {
            format!("500 5.5.6 line too long (limit {MAX_COMMAND_LINE_BYTES} bytes)")
        }
        Error::NeedsMoreData { .. } | Error::InvalidResponse { .. } => {
            "500 5.5.2 syntax error".to_string()
        }
    }
}

/// Text from outside (a sink's message, an address) made safe for one reply
/// line: no CR, LF or other control characters, bounded length.
fn reply_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REPLY_TEXT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_text_cannot_inject_lines() {
        assert_eq!(reply_text("a\r\n250 ok"), "a  250 ok");
        assert_eq!(reply_text(&"x".repeat(1000)).len(), MAX_REPLY_TEXT_CHARS);
    }

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

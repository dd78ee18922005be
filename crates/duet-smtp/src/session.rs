//! One SMTP session without I/O: the input split into command lines
//! ([`Input`]), the dialogue that answers each line ([`Dialogue`]) and a
//! message's DATA ([`Data`]). The intake's connection task reads, writes
//! and waits; everything it says is decided here, so a fuzzer (and a test)
//! can drive a whole session from bytes alone.

use smtp_proto::Request;
use smtp_proto::request::receiver::DataReceiver;

use crate::email::{ReceivedEmail, Recipient, parse_email};
use crate::intake::{DeliveryReceipt, DeliveryRefusal, IntakeConfig};

/// Longest command line accepted, CRLF included. RFC 5321 asks for at least
/// 512; extensions' parameters make real lines longer.
pub const MAX_COMMAND_LINE_BYTES: usize = 4096;

/// Longest reply line, CRLF included (RFC 5321, 4.5.3.1.5).
pub const MAX_REPLY_LINE_BYTES: usize = 512;

/// Longest text taken from outside (an address, a host name, a parameter,
/// a sink's message) into a reply line, so the line stays within
/// [`MAX_REPLY_LINE_BYTES`] with the words around it.
const MAX_REPLY_TEXT_BYTES: usize = 400;

/// One line from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Complete(Vec<u8>),
    TooLong,
}

/// Bytes received and not yet consumed (pipelined commands, or what follows
/// the end of DATA). Between lines it never holds more than
/// [`MAX_COMMAND_LINE_BYTES`]: a longer line is discarded as it arrives.
#[derive(Debug, Default)]
pub struct Input {
    bytes: Vec<u8>,
    /// Within a line over the limit: drop everything up to its LF.
    discarding: bool,
}

impl Input {
    pub fn push(&mut self, received: &[u8]) {
        self.bytes.extend_from_slice(received);
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Forgets everything held (what was sent in plain text before TLS).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.discarding = false;
    }

    /// The next line, CRLF included, or `None` until more arrives.
    pub fn next_line(&mut self) -> Option<Line> {
        if let Some(end) = self.bytes.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.bytes.drain(..=end).collect();
            let too_long = std::mem::take(&mut self.discarding);
            if too_long || line.len() > MAX_COMMAND_LINE_BYTES {
                return Some(Line::TooLong);
            }
            return Some(Line::Complete(line));
        }
        if self.bytes.len() > MAX_COMMAND_LINE_BYTES {
            self.discarding = true;
            self.bytes.clear();
        }
        None
    }
}

/// Whether the session can offer STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// No certificate configured.
    NotOffered,
    /// Offered in EHLO while the connection is plain.
    Offered,
    /// The connection is TLS now.
    InUse,
}

/// What the connection does after a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send the reply, then read the next line.
    Reply(String),
    /// Send the reply (354) and read the message with [`Data`].
    Data(String),
    /// Send the reply (220), then hand over to TLS and call
    /// [`Dialogue::tls_started`].
    StartTls(String),
    /// Send the reply (221) and close.
    Quit(String),
}

/// The transaction state of one session.
#[derive(Debug, Default)]
struct Transaction {
    mail_from: Option<String>,
    recipients: Vec<Recipient>,
}

/// The command dialogue of one session.
#[derive(Debug)]
pub struct Dialogue {
    hostname: String,
    max_message_bytes: usize,
    max_recipients: usize,
    tls: Tls,
    greeted: bool,
    tx: Transaction,
}

impl Dialogue {
    pub fn new(config: &IntakeConfig, tls: Tls) -> Self {
        Self {
            hostname: config.hostname.clone(),
            max_message_bytes: config.max_message_bytes,
            max_recipients: config.max_recipients,
            tls,
            greeted: false,
            tx: Transaction::default(),
        }
    }

    pub fn greeting(&self) -> String {
        format!("220 {} ESMTP duet ready", self.hostname)
    }

    /// The TLS handshake after STARTTLS succeeded: the session starts
    /// afresh, as RFC 3207 asks.
    pub fn tls_started(&mut self) {
        self.tls = Tls::InUse;
        self.greeted = false;
        self.tx = Transaction::default();
    }

    /// Answers a line from [`Input`]; `resolve` names the queue that takes
    /// mail for an address given in RCPT TO, if any.
    pub fn line(&mut self, line: Line, resolve: impl Fn(&str) -> Option<String>) -> Step {
        let line = match line {
            Line::Complete(line) => line,
            Line::TooLong => {
                return Step::Reply(format!(
                    "500 5.5.6 line too long (limit {MAX_COMMAND_LINE_BYTES} bytes)"
                ));
            }
        };
        match Request::parse(&mut line.iter()).map(Request::into_owned) {
            Ok(Request::Quit) => Step::Quit(format!("221 2.0.0 {} closing", self.hostname)),
            Ok(Request::StartTls) => match self.tls {
                Tls::Offered => Step::StartTls("220 2.0.0 ready to start TLS".to_string()),
                Tls::InUse => Step::Reply("503 5.5.1 TLS is already in use".to_string()),
                Tls::NotOffered => {
                    Step::Reply("502 5.5.1 STARTTLS is not offered here".to_string())
                }
            },
            Ok(Request::Data) => match self.data_allowed() {
                Ok(()) => Step::Data("354 start mail input; end with <CRLF>.<CRLF>".to_string()),
                Err(reply) => Step::Reply(reply),
            },
            Ok(request) => Step::Reply(self.command(request, resolve)),
            Err(err) => Step::Reply(parse_error_reply(err)),
        }
    }

    /// Answers every command but DATA, STARTTLS and QUIT.
    fn command(
        &mut self,
        request: Request<String>,
        resolve: impl Fn(&str) -> Option<String>,
    ) -> String {
        match request {
            Request::Ehlo { host } => {
                tracing::debug!(%host, "EHLO");
                self.greeted = true;
                self.tx = Transaction::default();
                let starttls = match self.tls {
                    Tls::Offered => "250-STARTTLS\r\n",
                    Tls::NotOffered | Tls::InUse => "",
                };
                format!(
                    "250-{} hello {}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-PIPELINING\r\n{starttls}250 ENHANCEDSTATUSCODES",
                    self.hostname,
                    reply_text(&host),
                    self.max_message_bytes
                )
            }
            Request::Helo { host } => {
                tracing::debug!(%host, "HELO");
                self.greeted = true;
                self.tx = Transaction::default();
                format!("250 {}", self.hostname)
            }
            Request::Mail { from } => {
                if !self.greeted {
                    return "503 5.5.1 send EHLO or HELO first".to_string();
                }
                if self.tx.mail_from.is_some() {
                    return "503 5.5.1 MAIL already given; send RSET to start over".to_string();
                }
                if from.size > self.max_message_bytes {
                    return format!(
                        "552 5.3.4 declared size {} exceeds the limit of {} bytes",
                        from.size, self.max_message_bytes
                    );
                }
                self.tx.mail_from = Some(from.address);
                "250 2.1.0 sender ok".to_string()
            }
            Request::Rcpt { to } => self.recipient(to.address, resolve),
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

    fn recipient(&mut self, address: String, resolve: impl Fn(&str) -> Option<String>) -> String {
        if self.tx.mail_from.is_none() {
            return "503 5.5.1 send MAIL before RCPT".to_string();
        }
        if self
            .tx
            .recipients
            .iter()
            .any(|r| r.address.eq_ignore_ascii_case(&address))
        {
            return "250 2.1.5 recipient ok (already given)".to_string();
        }
        if self.tx.recipients.len() >= self.max_recipients {
            return format!(
                "452 4.5.3 too many recipients (limit {}); send the rest in another message",
                self.max_recipients
            );
        }
        match resolve(&address) {
            Some(queue) => {
                self.tx.recipients.push(Recipient { address, queue });
                "250 2.1.5 recipient ok".to_string()
            }
            None => {
                tracing::info!(%address, "smtp recipient refused: unknown address");
                format!(
                    "550 5.1.1 <{}>: no such mailbox here; this server takes mail only for its configured addresses",
                    reply_text(&address)
                )
            }
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

    /// A message's DATA is complete: the email to deliver, or the reply
    /// that refuses it. The transaction is over whatever the outcome.
    pub fn message(&mut self, data: Data) -> Result<ReceivedEmail, String> {
        self.take_message(data)?.parse()
    }

    /// The same in two steps: the message with its envelope (the
    /// transaction is over), then [`Received::parse`], which a node runs
    /// off its async workers (a 25 MiB message takes a while).
    pub fn take_message(&mut self, data: Data) -> Result<Received, String> {
        let tx = std::mem::take(&mut self.tx);
        let Some(message) = data.message else {
            tracing::info!(
                limit = self.max_message_bytes,
                "smtp message refused: too large"
            );
            return Err(format!(
                "552 5.3.4 message exceeds the limit of {} bytes; nothing was stored",
                self.max_message_bytes
            ));
        };
        Ok(Received {
            message,
            envelope_from: tx.mail_from.unwrap_or_default(),
            recipients: tx.recipients,
        })
    }
}

/// A message's bytes with its envelope, not parsed yet.
pub struct Received {
    message: Vec<u8>,
    envelope_from: String,
    recipients: Vec<Recipient>,
}

impl Received {
    /// The email to deliver, or the reply that refuses it.
    pub fn parse(self) -> Result<ReceivedEmail, String> {
        parse_email(self.message, self.envelope_from, self.recipients).map_err(|err| {
            tracing::warn!(%err, "smtp message refused: not stored");
            format!("554 5.6.0 {err}; nothing was stored")
        })
    }
}

/// A message's DATA as it arrives, after 354.
pub struct Data {
    receiver: DataReceiver,
    /// `None` once the message went over the limit: it is read to its end
    /// so the connection stays in step, but nothing is kept, as a message
    /// is stored whole or not at all.
    message: Option<Vec<u8>>,
    max_message_bytes: usize,
}

impl Data {
    pub fn new(max_message_bytes: usize) -> Self {
        let mut receiver = DataReceiver::new();
        let mut primer = Vec::new();
        // The receiver recognises "." lines only after a CRLF it has seen;
        // DATA's own line ended with one, so prime it and drop the two bytes.
        receiver.ingest(&mut b"\r\n".iter(), &mut primer);
        Self {
            receiver,
            message: Some(Vec::new()),
            max_message_bytes,
        }
    }

    /// Takes the message's bytes from `input`; true once the final dot
    /// was read (what follows it stays in `input`).
    pub fn ingest(&mut self, input: &mut Input) -> bool {
        let mut discarded = Vec::new();
        let message = self.message.as_mut().unwrap_or(&mut discarded);
        let mut rest = input.bytes.iter();
        let done = self.receiver.ingest(&mut rest, message);
        let consumed = input.bytes.len() - rest.as_slice().len();
        input.bytes.drain(..consumed);
        if message.len() > self.max_message_bytes {
            self.message = None;
        }
        done
    }
}

/// The reply to the sink's answer for a delivered message.
pub(crate) fn delivery_reply(outcome: Result<DeliveryReceipt, DeliveryRefusal>) -> String {
    match outcome {
        Ok(receipt) => format!("250 2.0.0 queued as {}", reply_text(&receipt.id)),
        Err(DeliveryRefusal::Temporary(why)) => format!("451 4.3.0 {}", reply_text(&why)),
        Err(DeliveryRefusal::Full(why)) => format!("452 4.3.1 {}", reply_text(&why)),
        Err(DeliveryRefusal::Permanent(why)) => format!("554 5.3.0 {}", reply_text(&why)),
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

/// Text from outside made safe for one reply line: no CR, LF or other
/// control characters, at most [`MAX_REPLY_TEXT_BYTES`], cut at a
/// character boundary (the line's limit is in octets, not characters).
pub(crate) fn reply_text(text: &str) -> String {
    let mut safe = String::new();
    for c in text.chars() {
        if safe.len() + c.len_utf8() > MAX_REPLY_TEXT_BYTES {
            break;
        }
        safe.push(if c.is_control() { ' ' } else { c });
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_text_cannot_inject_lines() {
        assert_eq!(reply_text("a\r\n250 ok"), "a  250 ok");
        assert_eq!(reply_text(&"x".repeat(1000)).len(), MAX_REPLY_TEXT_BYTES);
    }

    /// Found by the smtp_session fuzz target: a parameter of bytes that
    /// are not UTF-8, each shown as U+FFFD (three octets), made a 504
    /// reply line of over 512 octets.
    #[test]
    fn reply_text_is_bounded_in_octets() {
        let text = reply_text(&"\u{fffd}".repeat(400));
        assert_eq!(text.len(), MAX_REPLY_TEXT_BYTES - MAX_REPLY_TEXT_BYTES % 3);
        let mut dialogue = Dialogue::new(&IntakeConfig::default(), Tls::NotOffered);
        let mut line = b"HELO c\r\nMAIL FROM:<>yyyyy".to_vec();
        line.extend_from_slice(&[0xff; 300]);
        line.extend_from_slice(b"\r\n");
        let mut input = Input::default();
        input.push(&line);
        let helo = input.next_line().expect("HELO");
        assert!(matches!(dialogue.line(helo, |_| None), Step::Reply(r) if r.starts_with("250")));
        let mail = input.next_line().expect("MAIL");
        let Step::Reply(reply) = dialogue.line(mail, |_| None) else {
            panic!("a reply");
        };
        assert!(reply.starts_with("504 "), "{reply}");
        assert!(
            reply.len() + 2 <= MAX_REPLY_LINE_BYTES,
            "{} octets",
            reply.len() + 2
        );
    }
}

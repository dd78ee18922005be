//! Email to a pair over SMTP: the active node answers 250 once the email
//! is stored on both nodes; the backup answers 451 (try again), so the
//! sender tries the other node, as a relay would.

use std::time::{Duration, Instant};

use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
use lettre::{Message, SmtpTransport, Transport};

use crate::Error;
use crate::nodes::Retry;

/// An email to send: its Message-ID makes a resend the same email.
#[derive(Debug, Clone)]
pub struct Email {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: String,
    pub html: String,
    pub attachment_name: String,
    pub attachment: Vec<u8>,
}

impl Email {
    /// The MIME message: text and HTML alternatives and one attachment.
    pub fn message(&self) -> Result<Message, Error> {
        let bad = |e: &dyn std::fmt::Display| Error::Smtp(format!("cannot build the email: {e}"));
        let content_type = ContentType::parse("application/octet-stream").map_err(|e| bad(&e))?;
        Message::builder()
            .from(self.from.parse().map_err(|e| bad(&e))?)
            .to(self.to.parse().map_err(|e| bad(&e))?)
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()))
            .multipart(
                MultiPart::mixed()
                    .multipart(
                        MultiPart::alternative()
                            .singlepart(SinglePart::plain(self.text.clone()))
                            .singlepart(SinglePart::html(self.html.clone())),
                    )
                    .singlepart(
                        Attachment::new(self.attachment_name.clone())
                            .body(self.attachment.clone(), content_type),
                    ),
            )
            .map_err(|e| bad(&e))
    }
}

/// Sends `email` to the first of `servers` (`host:port`) that takes it,
/// moving on after a temporary refusal or no answer; a permanent refusal
/// (5xx) is final. The index of the server that answered 250.
pub fn send(servers: &[String], first: usize, email: &Email, retry: Retry) -> Result<usize, Error> {
    if servers.is_empty() {
        return Err(Error::Smtp("no SMTP server given".into()));
    }
    let message = email.message()?;
    let started = Instant::now();
    let mut last = String::new();
    let mut n = 0u32;
    while started.elapsed() < retry.deadline() {
        std::thread::sleep(retry.pause(n));
        let at = (first + n as usize) % servers.len();
        n = n.saturating_add(1);
        let (host, port) = split(&servers[at])?;
        let transport = SmtpTransport::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_millis(retry.answer_wait_ms)))
            .build();
        match transport.send(&message) {
            Ok(_) => return Ok(at),
            Err(e) if e.is_permanent() => {
                return Err(Error::Smtp(format!("{} refused it: {e}", servers[at])));
            }
            Err(e) => last = format!("{}: {e}", servers[at]),
        }
    }
    Err(Error::Smtp(format!(
        "no server took it within {} ms (last: {last})",
        retry.deadline_ms
    )))
}

fn split(server: &str) -> Result<(&str, u16), Error> {
    server
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse().ok()?)))
        .ok_or_else(|| Error::BadAddress(server.to_string()))
}

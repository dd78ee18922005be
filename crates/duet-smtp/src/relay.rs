//! Outbound email: an agent's reply (or any email the node sends) handed to
//! the site's SMTP relay with lettre.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tracing::info;

/// Where outbound email goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    pub host: String,
    pub port: u16,
    /// Login at the relay, if it wants one.
    pub credentials: Option<RelayCredentials>,
    /// `true`: STARTTLS is required (the relay's certificate is checked
    /// against the public web roots). `false`: plain SMTP, for a relay on
    /// loopback or a trusted segment only.
    pub tls: bool,
    /// Bound on each SMTP command's wait.
    pub timeout_ms: u64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct RelayCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RelayCredentials {
    // The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayCredentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// An attachment to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAttachment {
    pub name: String,
    /// `type/subtype`, e.g. `application/pdf`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundEmail {
    /// `addr@example.com` or `Name <addr@example.com>`.
    pub from: String,
    /// Same forms as `from`; at least one.
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    /// Sent with `text` as multipart/alternative when present.
    pub html: Option<String>,
    pub attachments: Vec<OutboundAttachment>,
    /// The Message-ID (without angle brackets) this replies to.
    pub in_reply_to: Option<String>,
    /// The thread's Message-IDs (without angle brackets), oldest first. When
    /// replying, the replied-to id is appended if missing.
    pub references: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("bad address {address:?}: {reason}")]
    BadAddress { address: String, reason: String },
    #[error("an email needs at least one recipient")]
    NoRecipients,
    #[error("attachment {name:?} has a bad content type {content_type:?}: {reason}")]
    BadContentType {
        name: String,
        content_type: String,
        reason: String,
    },
    #[error("the email could not be built: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("relay {host}:{port}: {source}")]
    Smtp {
        host: String,
        port: u16,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

/// Sends `email` through the relay. Returns the Message-ID given to it
/// (without angle brackets), so a later reply from the customer can be
/// threaded.
pub async fn send(relay: &RelayConfig, email: &OutboundEmail) -> Result<String, RelayError> {
    let (message, message_id) = build_message(email)?;
    let smtp_error = |source| RelayError::Smtp {
        host: relay.host.clone(),
        port: relay.port,
        source,
    };
    let mut builder = if relay.tls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&relay.host).map_err(smtp_error)?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(relay.host.as_str())
    };
    builder = builder
        .port(relay.port)
        .timeout(Some(Duration::from_millis(relay.timeout_ms)));
    if let Some(creds) = &relay.credentials {
        builder = builder.credentials(Credentials::new(
            creds.username.clone(),
            creds.password.clone(),
        ));
    }
    let transport: AsyncSmtpTransport<Tokio1Executor> = builder.build();
    let response = transport.send(message).await.map_err(smtp_error)?;
    info!(
        relay = %relay.host,
        port = relay.port,
        %message_id,
        code = %response.code(),
        "email relayed"
    );
    Ok(message_id)
}

/// Builds the MIME message: text, or multipart/alternative text + HTML,
/// inside multipart/mixed when there are attachments.
pub fn build_message(email: &OutboundEmail) -> Result<(Message, String), RelayError> {
    let from = mailbox(&email.from)?;
    if email.to.is_empty() {
        return Err(RelayError::NoRecipients);
    }
    let message_id = new_message_id(from.email.domain());
    let mut builder = Message::builder()
        .from(from)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{message_id}>")));
    for to in &email.to {
        builder = builder.to(mailbox(to)?);
    }
    let mut references = email.references.clone();
    if let Some(parent) = &email.in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
        if !references.contains(parent) {
            references.push(parent.clone());
        }
    }
    if !references.is_empty() {
        let ids: Vec<String> = references.iter().map(|id| format!("<{id}>")).collect();
        builder = builder.references(ids.join(" "));
    }

    let body = match &email.html {
        Some(html) => Body::Multi(MultiPart::alternative_plain_html(
            email.text.clone(),
            html.clone(),
        )),
        None => Body::Single(SinglePart::plain(email.text.clone())),
    };
    let body = if email.attachments.is_empty() {
        body
    } else {
        let mut mixed = match body {
            Body::Multi(alternative) => MultiPart::mixed().multipart(alternative),
            Body::Single(text) => MultiPart::mixed().singlepart(text),
        };
        for attachment in &email.attachments {
            let content_type = ContentType::parse(&attachment.content_type).map_err(|err| {
                RelayError::BadContentType {
                    name: attachment.name.clone(),
                    content_type: attachment.content_type.clone(),
                    reason: err.to_string(),
                }
            })?;
            mixed = mixed.singlepart(
                lettre::message::Attachment::new(attachment.name.clone())
                    .body(attachment.bytes.clone(), content_type),
            );
        }
        Body::Multi(mixed)
    };
    let message = match body {
        Body::Multi(part) => builder.multipart(part)?,
        Body::Single(part) => builder.singlepart(part)?,
    };
    Ok((message, message_id))
}

enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

fn mailbox(address: &str) -> Result<Mailbox, RelayError> {
    address.parse().map_err(
        |err: lettre::address::AddressError| RelayError::BadAddress {
            address: address.to_string(),
            reason: err.to_string(),
        },
    )
}

/// A Message-ID unique to this process and time, under the sender's domain.
fn new_message_id(domain: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}.{n}.{}@{domain}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutboundEmail {
        OutboundEmail {
            from: "Support <support@example.com>".into(),
            to: vec!["ann@example.org".into()],
            subject: "Re: order".into(),
            text: "hello".into(),
            html: None,
            attachments: Vec::new(),
            in_reply_to: Some("1@example.org".into()),
            references: vec!["0@example.org".into()],
        }
    }

    #[test]
    fn reply_headers_thread_onto_the_parent() {
        let (message, id) = build_message(&email()).unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(text.contains("In-Reply-To: <1@example.org>"), "{text}");
        assert!(
            text.contains("References: <0@example.org> <1@example.org>"),
            "{text}"
        );
        assert!(text.contains(&format!("Message-ID: <{id}>")), "{text}");
        assert!(id.ends_with("@example.com"));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let mut bad = email();
        bad.to = vec!["not an address".into()];
        assert!(matches!(
            build_message(&bad),
            Err(RelayError::BadAddress { .. })
        ));
        bad.to.clear();
        assert!(matches!(build_message(&bad), Err(RelayError::NoRecipients)));
        let mut bad = email();
        bad.attachments.push(OutboundAttachment {
            name: "a".into(),
            content_type: "not a type".into(),
            bytes: vec![1],
        });
        assert!(matches!(
            build_message(&bad),
            Err(RelayError::BadContentType { .. })
        ));
    }
}

//! Email intake: the SMTP server (`duet-smtp`) on each node, delivering
//! into the interaction state. A message is answered 250 only once its
//! interaction is created on the stream and acknowledged (on the backup
//! too, while in sync); the backup answers 451 naming the active node, so
//! the sending server tries again later. Addresses map to workgroup queues
//! by their `addresses` attribute.

use std::collections::BTreeMap;
use std::sync::Arc;

use duet_interactions::model::{Attachment, Content, Email, Party};
use duet_interactions::{Actor, Change, Command, MediaType, NewInteraction};
use duet_smtp::{DeliveryFuture, DeliveryReceipt, DeliveryRefusal, MailSink, ReceivedEmail};

use crate::replication::{Inboxes, MailQueues};
use crate::replication::{IxRequest, ReplicationMsg, WriteError};
use crate::secrets::Secrets;

/// The largest email the SMTP session reads; the setting
/// `content_bytes_max` (25 MiB by default) bounds what is taken.
pub const EMAIL_READ_MAX_BYTES: usize = 64 * 1024 * 1024;

/// The most bytes of an email's text and sanitised HTML together: they
/// travel in the change that creates it, inside its 768 KiB.
pub const EMAIL_BODIES_MAX_BYTES: usize = 700 * 1024;

/// What the email intake uses of the node: the directory's addresses,
/// the session key for ids, replication's inboxes.
pub struct Sink {
    pub mail_queues: MailQueues,
    pub secrets: Arc<Secrets>,
    pub replication: Inboxes,
}

/// An email's key: its Message-ID (or, without one, a hash of its
/// bytes) with the envelope's sender and recipients, so the same message
/// sent again after a 451 is created once, and another message that
/// reuses a Message-ID (another sender, another queue) is a new email.
fn email_key(email: &ReceivedEmail) -> String {
    let message = match &email.message_id {
        Some(id) => format!("id {id}"),
        None => {
            let digest = ring::digest::digest(&ring::digest::SHA256, &email.raw);
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256 {hex}")
        }
    };
    let mut to: Vec<String> = email
        .to
        .iter()
        .map(|r| r.address.to_ascii_lowercase())
        .collect();
    to.sort();
    format!(
        "email\n{message}\n{}\n{}",
        email.envelope_from.to_ascii_lowercase(),
        to.join(",")
    )
}

impl MailSink for Sink {
    fn resolve_recipient(&self, address: &str) -> Option<String> {
        self.mail_queues
            .read()
            .ok()?
            .get(&address.trim().to_ascii_lowercase())
            .cloned()
    }

    fn deliver(&self, mut email: ReceivedEmail) -> DeliveryFuture<'_> {
        Box::pin(async move {
            let queue = email
                .to
                .first()
                .map(|r| r.queue.clone())
                .ok_or_else(|| DeliveryRefusal::Permanent("no recipient".into()))?;
            let id = crate::ids::keyed(
                self.secrets.session_key.as_ref(),
                "email",
                &email_key(&email),
            );
            let client = format!("{id}/create");
            let at_ms = crate::events::unix_ms();
            // Its text and HTML travel in the change that creates it
            // (the rest as chunks): refused before anything is stored.
            let bodies = email.text.as_ref().map_or(0, String::len)
                + email.html_sanitised.as_ref().map_or(0, String::len);
            if bodies > EMAIL_BODIES_MAX_BYTES {
                return Err(DeliveryRefusal::Permanent(format!(
                    "the message's text and HTML are {bodies} bytes together; at most {EMAIL_BODIES_MAX_BYTES}"
                )));
            }
            // The MIME and each attachment as chunks, stored first (their
            // bytes moved, not copied: the email keeps what it parsed).
            let raw_bytes = email.raw.len();
            let parts = std::iter::once(std::mem::take(&mut email.raw))
                .chain(
                    email
                        .attachments
                        .iter_mut()
                        .map(|a| std::mem::take(&mut a.bytes)),
                )
                .map(Into::into)
                .collect();
            let mut split = crate::content::split(parts)
                .await
                .map_err(|e| DeliveryRefusal::Temporary(e.to_string()))?
                .into_iter();
            let (mime, mut pieces) = split.next().unwrap_or_default();
            let mut attachments = Vec::with_capacity(email.attachments.len());
            for (i, (a, (content, more))) in email.attachments.iter().zip(split).enumerate() {
                pieces.extend(more);
                attachments.push(Attachment {
                    id: format!("{i}"),
                    name: a.name.clone().unwrap_or_else(|| format!("attachment-{i}")),
                    content_type: a.content_type.clone(),
                    content,
                });
            }
            let names = pieces.iter().map(|(name, _)| name.clone()).collect();
            let (reply, held) = tokio::sync::oneshot::channel();
            self.replication
                .offer(ReplicationMsg::Interactions(IxRequest::ChunksHeld {
                    names,
                    reply,
                }));
            let held = held
                .await
                .map_err(|_| DeliveryRefusal::Temporary("the node is shutting down".into()))?;
            held.check_size(raw_bytes)
                .map_err(|e| DeliveryRefusal::Permanent(e.to_string()))?;
            crate::content::store(pieces, &held, (&client, at_ms), |chunk_client, chunk| {
                let command = Command::new(chunk_client, at_ms, Actor::System, chunk);
                async move { self.write(command).await?.map(|_| ()).map_err(refusal) }
            })
            .await?;
            let new = NewInteraction {
                id: id.clone(),
                media: MediaType::Email,
                queue,
                priority: 0,
                skills: BTreeMap::new(),
                attributes: email
                    .message_id
                    .iter()
                    .map(|m| ("message_id".to_string(), m.clone()))
                    .collect(),
                customer: Party {
                    address: email.from.as_str().into(),
                    name: email.from_name.clone().unwrap_or_default().into(),
                },
                content: Content::Email(Box::new(Email {
                    mime,
                    subject: email.subject.unwrap_or_default(),
                    from: email.from,
                    to: email.to.iter().map(|r| r.address.clone()).collect(),
                    text: email.text.unwrap_or_default(),
                    html: email.html_sanitised.unwrap_or_default(),
                    attachments,
                    replies: Vec::new(),
                })),
            };
            let command = Command::new(client, at_ms, Actor::System, Change::Create(Box::new(new)));
            match self.write(command).await? {
                Ok(_) => Ok(DeliveryReceipt { id }),
                // Sent again (a 451 before): it is there already.
                Err(WriteError::Interaction(duet_interactions::Error::AlreadyExists {
                    ..
                })) => Ok(DeliveryReceipt { id }),
                Err(e) => Err(refusal(e)),
            }
        })
    }
}

impl Sink {
    /// Makes `command` on the stream: once acknowledged, its number, or
    /// why not; refused itself only when the node is shutting down.
    async fn write(&self, command: Command) -> Result<Result<u64, WriteError>, DeliveryRefusal> {
        let (reply, written) = tokio::sync::oneshot::channel();
        self.replication
            .offer(ReplicationMsg::Interactions(IxRequest::Write {
                command: Box::new(command),
                reply,
            }));
        written
            .await
            .map_err(|_| DeliveryRefusal::Temporary("the node is shutting down".into()))
    }
}

/// What the sending server is told of a change refused.
fn refusal(e: WriteError) -> DeliveryRefusal {
    match e {
        WriteError::Unavailable { message, .. } => DeliveryRefusal::Temporary(message),
        WriteError::Interaction(
            e @ (duet_interactions::Error::Full { .. }
            | duet_interactions::Error::ContentFull { .. }),
        ) => DeliveryRefusal::Full(format!("{e}; try again later")),
        // Sent again, the message's chunks are stored again.
        WriteError::Interaction(e @ duet_interactions::Error::ContentMissing { .. }) => {
            DeliveryRefusal::Temporary(e.to_string())
        }
        e => DeliveryRefusal::Permanent(e.to_string()),
    }
}

/// Serves email intake on this node until dropped, offering STARTTLS
/// with `starttls` (the bootstrap's `[smtp_tls]`).
pub async fn serve(
    hostname: String,
    sink: Sink,
    listener: tokio::net::TcpListener,
    starttls: Option<tokio_rustls::TlsAcceptor>,
) {
    let config = duet_smtp::IntakeConfig {
        hostname,
        max_message_bytes: EMAIL_READ_MAX_BYTES,
        ..duet_smtp::IntakeConfig::default()
    };
    let sink: Arc<dyn MailSink> = Arc::new(sink);
    let Err(e) = duet_smtp::serve_with_starttls(listener, config, sink, starttls).await;
    tracing::error!("email intake stopped: {e}");
}

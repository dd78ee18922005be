//! Sending the active node's outbox (what the replica says is due: email
//! replies the outbound SMTP relay has not taken, agents' SMS and social
//! messages the provider has not taken, as the replicated state says), so
//! a new active node finds the same ones and sends them: nothing is lost,
//! and one whose answer was lost in a switchover may go twice (at least
//! once; the provider gets the message id to tell). Each goes by a task
//! of its own (at most `SENDS_IN_FLIGHT_MAX` of each kind at once, the
//! rest waiting in the outbox), retried with a growing wait while this
//! node serves; the taking is a change on the stream (`EmailRelayed`, or the message's
//! delivery `Delivered`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use duet_config::{Tree, TreePath};
use duet_interactions::model::{Chunk, Content, Delivery, Sender};
use duet_interactions::{Actor, Change, Command, Interactions};
use duet_replica::ReplyKey;
use duet_replica::directory::SETTINGS;
use duet_smtp::{OutboundAttachment, OutboundEmail};

use super::{IxRequest, ReplicationMsg, Replicator};
use crate::replication::Handles;

const RETRY_MIN_MS: u64 = 1_000;
const RETRY_MAX_MS: u64 = 60_000;
/// Sends under way at once, of each kind (replies to the relay, messages
/// to the provider's webhook): the rest wait in the outbox, so a relay
/// that is down costs this many tasks retrying, not one per reply.
pub const SENDS_IN_FLIGHT_MAX: usize = 32;

/// Room for sends under way, by kind: a task holds a permit until its
/// send is taken or this node stops serving.
pub struct Sends {
    relay: Arc<Semaphore>,
    webhook: Arc<Semaphore>,
}

impl Default for Sends {
    fn default() -> Sends {
        Sends {
            relay: Arc::new(Semaphore::new(SENDS_IN_FLIGHT_MAX)),
            webhook: Arc::new(Semaphore::new(SENDS_IN_FLIGHT_MAX)),
        }
    }
}

/// The room left in `sends` for a kind that is configured (`on`).
fn room(sends: &Semaphore, on: bool) -> usize {
    if on { sends.available_permits() } else { 0 }
}

/// A sent reply's message, its attachments as the state's chunks (shared,
/// not copied): joined by the task that sends it, not the replication
/// task.
struct Reply {
    email: OutboundEmail,
    attachments: Vec<(OutboundAttachment, Vec<Arc<Chunk>>)>,
}

impl Reply {
    /// The message whole.
    fn whole(self) -> OutboundEmail {
        let mut email = self.email;
        email.attachments = (self.attachments.into_iter())
            .map(|(mut attachment, chunks)| {
                attachment.bytes = chunks
                    .iter()
                    .flat_map(|c| c.bytes.iter().copied())
                    .collect();
                attachment
            })
            .collect();
        email
    }
}

/// The message for a sent reply, from the state.
fn message(state: &Interactions, (id, reply_id): &ReplyKey, from: &str) -> Option<Reply> {
    let ix = state.get(id)?;
    let Content::Email(email) = &ix.content else {
        return None;
    };
    let reply = email.replies.iter().find(|r| &r.id == reply_id)?;
    let original = ix.attributes.get("message_id").map(|m| m.to_string());
    let subject = if email.subject.to_ascii_lowercase().starts_with("re:") {
        email.subject.clone()
    } else {
        format!("Re: {}", email.subject)
    };
    // Held while the reply refers to them (the state's checks).
    let attachments = (reply.attachments.iter())
        .map(|a| {
            let chunks = (a.content.chunks.iter())
                .map(|name| state.chunk(name).cloned())
                .collect::<Option<Vec<_>>>()?;
            let attachment = OutboundAttachment {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                bytes: Vec::new(),
            };
            Some((attachment, chunks))
        })
        .collect::<Option<_>>()?;
    let email = OutboundEmail {
        from: from.to_string(),
        to: vec![email.from.clone()],
        subject,
        text: reply.text.clone(),
        html: (!reply.html.is_empty()).then(|| reply.html.clone()),
        attachments: Vec::new(),
        in_reply_to: original.clone(),
        references: original.into_iter().collect(),
    };
    Some(Reply { email, attachments })
}

impl Replicator {
    /// On the active node: starts a task for every reply and message to
    /// send that is not under way (replies once the relay is configured,
    /// messages once the provider's webhook and the webhook secret are).
    pub fn relay_due(&mut self, node: &Handles) {
        let relay = relay(self.tree());
        let webhook = outbound_webhook(self.tree()).zip(node.secrets.webhook_key.clone());
        let (replies, messages) = self.core.sends_due(
            room(&self.sends.relay, relay.is_some()),
            room(&self.sends.webhook, webhook.is_some()),
        );
        let state = &self.core.interactions().state;
        if let Some((relay, from)) = relay {
            for key in replies {
                let Some(reply) = message(state, &key, &from) else {
                    continue;
                };
                let (id, reply_id) = key;
                let relay = relay.clone();
                let what = format!(
                    "the reply {reply_id} to {id} (relay {}:{})",
                    relay.host, relay.port
                );
                let permits = self.sends.relay.clone();
                let node = node.clone();
                tokio::spawn(async move {
                    // Joined once, here, and shared by every try.
                    let email = Arc::new(reply.whole());
                    until_taken(node, permits, what, move || {
                        let (relay, email) = (relay.clone(), Arc::clone(&email));
                        let (id, reply_id) = (id.clone(), reply_id.clone());
                        async move {
                            let message_id = duet_smtp::send(&relay, &email)
                                .await
                                .map_err(|e| e.to_string())?;
                            let relayed = Change::EmailRelayed {
                                id: id.clone(),
                                reply_id: reply_id.clone(),
                                message_id,
                            };
                            Ok((format!("relay/{id}/{reply_id}"), relayed))
                        }
                    })
                    .await
                });
            }
        }
        if let Some((url, key)) = webhook {
            for item in messages {
                let Some(body) = outbound_message(state, &item) else {
                    continue;
                };
                let (id, message_id) = item;
                let what = format!("the message {message_id} of {id} (to {url})");
                let (url, key) = (url.clone(), key.clone());
                let permits = self.sends.webhook.clone();
                tokio::spawn(until_taken(node.clone(), permits, what, move || {
                    let (url, key, body) = (url.clone(), key.clone(), body.clone());
                    let (id, message_id) = (id.clone(), message_id.clone());
                    async move {
                        post_signed(url, &key, body).await?;
                        let delivered = Change::MessageDelivery {
                            id: id.clone(),
                            message_id: message_id.clone(),
                            delivery: Delivery::Delivered,
                        };
                        Ok((format!("outbound/{id}/{message_id}"), delivered))
                    }
                }));
            }
        }
    }
}

/// The outbound SMTP relay (`smtp_relay = host:port` in the interaction
/// settings) and the address replies come from (`email_from`); none
/// until both are set.
pub fn relay(tree: &Tree) -> Option<(duet_smtp::RelayConfig, String)> {
    let object = tree.get(&TreePath::parse(SETTINGS).ok()?)?;
    let (host, port) = object.attributes.get("smtp_relay")?.rsplit_once(':')?;
    let from = object.attributes.get("email_from")?.trim().to_string();
    Some((
        duet_smtp::RelayConfig {
            host: host.trim().to_string(),
            port: port.trim().parse().ok()?,
            credentials: None,
            tls: object
                .attributes
                .get("smtp_relay_tls")
                .is_some_and(|t| t == "true"),
            timeout_ms: 10_000,
        },
        from,
    ))
}

/// Where agents' SMS and social messages are posted (`outbound_webhook` in
/// the interaction settings), if anywhere.
pub fn outbound_webhook(tree: &Tree) -> Option<String> {
    let object = tree.get(&TreePath::parse(SETTINGS).ok()?)?;
    let url = object.attributes.get("outbound_webhook")?.trim();
    (!url.is_empty()).then(|| url.to_string())
}

/// The provider's JSON for an agent's message.
fn outbound_message(state: &Interactions, (id, message_id): &ReplyKey) -> Option<Vec<u8>> {
    let ix = state.get(id)?;
    let Content::Transcript(messages) = &ix.content else {
        return None;
    };
    let message = messages.iter().find(|m| &m.id == message_id)?;
    let Sender::Agent(agent) = &message.sender else {
        return None;
    };
    serde_json::to_vec(&serde_json::json!({
        "conversation": ix.attributes.get(duet_replica::CONVERSATION),
        "media": ix.media,
        "to": ix.parties.customer.address,
        "message_id": message.id,
        "agent": agent,
        "text": message.body,
    }))
    .ok()
}

/// POSTs `body` signed with `key` (`x-duet-signature: sha256=<hex>`).
async fn post_signed(url: String, key: &ring::hmac::Key, body: Vec<u8>) -> Result<(), String> {
    let tag = ring::hmac::sign(key, &body);
    let signature: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        agent
            .post(&url)
            .header("content-type", "application/json")
            .header("x-duet-signature", &format!("sha256={signature}"))
            .send(&body[..])
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Tries `attempt` until it succeeds or this node stops serving, waiting
/// longer after each failure; then makes the change it returns (with its
/// client id, so a repeat is applied once). It holds one of `permits`
/// throughout (the outbox took only as many sends as there was room for,
/// so it gets one at once).
async fn until_taken<F, Fut>(node: Handles, permits: Arc<Semaphore>, what: String, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(String, Change), String>>,
{
    // The semaphore is never closed.
    let Ok(_permit) = permits.acquire_owned().await else {
        tracing::error!("{what} is not sent: the outbox's room for sends is gone");
        return;
    };
    let mut wait_ms = RETRY_MIN_MS;
    while node.view.holding() {
        match attempt().await {
            Ok((client, change)) => {
                let command = Command::new(client, crate::events::unix_ms(), Actor::System, change);
                let (reply, _) = tokio::sync::oneshot::channel();
                node.replication
                    .offer(ReplicationMsg::Interactions(IxRequest::Write {
                        command: Box::new(command),
                        reply,
                    }));
                return;
            }
            Err(e) => {
                tracing::warn!(
                    "{what} was not taken ({e}); trying again in {} s",
                    wait_ms / 1000
                );
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                wait_ms = (wait_ms * 2).min(RETRY_MAX_MS);
            }
        }
    }
}

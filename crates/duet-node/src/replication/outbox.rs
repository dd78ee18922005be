//! The active node's outbox: email replies an agent sent that the
//! outbound SMTP relay has not taken yet, and agents' SMS and social
//! messages the provider has not taken yet. Both are derived from the
//! replicated state (a reply sent and not relayed; an agent's message
//! still `Accepted`), so a new active node finds the same ones and sends
//! them: nothing is lost, and one whose answer was lost in a switchover
//! may go twice (at least once; the provider gets the message id to tell).
//! Each goes by a task of its own, retried with a growing wait while this
//! node serves; the taking is a change on the stream (`EmailRelayed`, or
//! the message's delivery `Delivered`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use duet_interactions::model::{Content, Delivery, ReplyState, Sender};
use duet_interactions::{Actor, Change, Command, Interactions};
use duet_smtp::{OutboundAttachment, OutboundEmail};

use super::{IxRequest, ReplicationMsg, Replicator};
use crate::shared::Shared;

const RETRY_MIN_MS: u64 = 1_000;
const RETRY_MAX_MS: u64 = 60_000;

/// A sent reply or an outbound message: (interaction id, its id).
pub type ReplyKey = (String, String);

/// Every agent's SMS or social message the provider has not taken.
pub fn pending_messages(state: &Interactions) -> BTreeSet<ReplyKey> {
    state
        .interactions()
        .filter(|ix| ix.attributes.contains_key(super::CONVERSATION))
        .filter_map(|ix| match &ix.content {
            Content::Transcript(messages) => Some((ix, messages)),
            _ => None,
        })
        .flat_map(|(ix, messages)| {
            messages
                .iter()
                .filter(|m| {
                    matches!(m.sender, Sender::Agent(_)) && m.delivery == Delivery::Accepted
                })
                .map(|m| (ix.id.clone(), m.id.clone()))
        })
        .collect()
}

/// Every sent reply the relay has not taken, from the state.
pub fn pending(state: &Interactions) -> BTreeSet<ReplyKey> {
    state
        .interactions()
        .filter_map(|ix| match &ix.content {
            Content::Email(email) => Some((ix, email)),
            _ => None,
        })
        .flat_map(|(ix, email)| {
            email
                .replies
                .iter()
                .filter(|r| r.state == ReplyState::Sent && r.relayed.is_none())
                .map(|r| (ix.id.clone(), r.id.clone()))
        })
        .collect()
}

/// The message for a sent reply, from the state.
fn message(state: &Interactions, (id, reply_id): &ReplyKey, from: &str) -> Option<OutboundEmail> {
    let ix = state.get(id)?;
    let Content::Email(email) = &ix.content else {
        return None;
    };
    let reply = email.replies.iter().find(|r| &r.id == reply_id)?;
    let original = ix.attributes.get("message_id").cloned();
    let subject = if email.subject.to_ascii_lowercase().starts_with("re:") {
        email.subject.clone()
    } else {
        format!("Re: {}", email.subject)
    };
    Some(OutboundEmail {
        from: from.to_string(),
        to: vec![email.from.clone()],
        subject,
        text: reply.text.clone(),
        html: (!reply.html.is_empty()).then(|| reply.html.clone()),
        attachments: reply
            .attachments
            .iter()
            .map(|a| OutboundAttachment {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                bytes: a.bytes.clone(),
            })
            .collect(),
        in_reply_to: original.clone(),
        references: original.into_iter().collect(),
    })
}

impl Replicator {
    /// On the active node: starts a task for every reply and message to
    /// send that is not under way.
    pub fn relay_due(&mut self, shared: &Arc<Shared>) {
        if self.leader.is_none() {
            return;
        }
        self.send_messages_due(shared);
        if self.ix.outbox.is_empty() {
            return;
        }
        let Some((relay, from)) = crate::directory::relay(&self.tree) else {
            return;
        };
        let due: Vec<ReplyKey> = self
            .ix
            .outbox
            .difference(&self.ix.relaying)
            .cloned()
            .collect();
        for key in due {
            let Some(email) = message(&self.ix.state, &key, &from) else {
                continue;
            };
            self.ix.relaying.insert(key.clone());
            let (id, reply_id) = key;
            let relay = relay.clone();
            let what = format!(
                "the reply {reply_id} to {id} (relay {}:{})",
                relay.host, relay.port
            );
            tokio::spawn(until_taken(shared.clone(), what, move || {
                let (relay, email) = (relay.clone(), email.clone());
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
            }));
        }
    }

    /// Agents' SMS and social messages, posted to the provider's
    /// `outbound_webhook`, signed like its webhooks.
    fn send_messages_due(&mut self, shared: &Arc<Shared>) {
        if self.ix.outbound.is_empty() {
            return;
        }
        let (Some(url), Some(key)) = (
            crate::directory::outbound_webhook(&self.tree),
            shared.webhook_key.clone(),
        ) else {
            return;
        };
        let due: Vec<ReplyKey> = self
            .ix
            .outbound
            .difference(&self.ix.sending)
            .cloned()
            .collect();
        for item in due {
            let Some(body) = outbound_message(&self.ix.state, &item) else {
                continue;
            };
            self.ix.sending.insert(item.clone());
            let (id, message_id) = item;
            let what = format!("the message {message_id} of {id} (to {url})");
            let (url, key) = (url.clone(), key.clone());
            tokio::spawn(until_taken(shared.clone(), what, move || {
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
        "conversation": ix.attributes.get(super::CONVERSATION),
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
/// client id, so a repeat is applied once).
async fn until_taken<F, Fut>(shared: Arc<Shared>, what: String, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(String, Change), String>>,
{
    let mut wait_ms = RETRY_MIN_MS;
    while shared.holding() {
        match attempt().await {
            Ok((client, change)) => {
                let command = Command::new(client, crate::events::unix_ms(), Actor::System, change);
                let (reply, _) = tokio::sync::oneshot::channel();
                shared.to_replication(ReplicationMsg::Interactions(IxRequest::Write {
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

//! The active node's email outbox: replies an agent sent that the
//! outbound SMTP relay has not taken yet. The outbox is derived from the
//! replicated state (sent and not relayed), so a new active node finds
//! the same replies and relays them: a reply is never lost, and one whose
//! relay answer was lost in a switchover may go twice (at least once).
//! Each is relayed by a task of its own, retried with a growing wait
//! while this node serves; the relay's acceptance is a change on the
//! stream (`EmailRelayed`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use duet_interactions::model::{Content, ReplyState};
use duet_interactions::{Actor, Change, Command, Interactions};
use duet_smtp::{OutboundAttachment, OutboundEmail, RelayConfig};

use super::{IxRequest, ReplicationMsg, Replicator};
use crate::shared::Shared;

const RETRY_MIN_MS: u64 = 1_000;
const RETRY_MAX_MS: u64 = 60_000;

/// A sent reply: (interaction id, reply id).
pub type ReplyKey = (String, String);

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
    /// On the active node: starts a relay task for every sent reply not
    /// yet relayed nor under way.
    pub fn relay_due(&mut self, shared: &Arc<Shared>) {
        if self.leader.is_none() || self.ix.outbox.is_empty() {
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
            tokio::spawn(relay_one(shared.clone(), relay.clone(), key, email));
        }
    }
}

/// Relays one reply until the relay takes it or this node stops serving.
async fn relay_one(
    shared: Arc<Shared>,
    relay: RelayConfig,
    (id, reply_id): ReplyKey,
    email: OutboundEmail,
) {
    let mut wait_ms = RETRY_MIN_MS;
    while shared.holding() {
        match duet_smtp::send(&relay, &email).await {
            Ok(message_id) => {
                let command = Command::new(
                    format!("relay/{id}/{reply_id}"),
                    crate::events::unix_ms(),
                    Actor::System,
                    Change::EmailRelayed {
                        id,
                        reply_id,
                        message_id,
                    },
                );
                let (reply, _) = tokio::sync::oneshot::channel();
                shared.to_replication(ReplicationMsg::Interactions(IxRequest::Write {
                    command,
                    reply,
                }));
                return;
            }
            Err(e) => {
                tracing::warn!(
                    "the reply {reply_id} to {id} was not taken by the relay {}:{} ({e}); trying again in {} s",
                    relay.host,
                    relay.port,
                    wait_ms / 1000
                );
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                wait_ms = (wait_ms * 2).min(RETRY_MAX_MS);
            }
        }
    }
}

//! The active node's outbox, as the replicated state says it: email
//! replies an agent sent that the outbound SMTP relay has not taken yet,
//! and agents' SMS and social messages the provider has not taken yet.
//! Both are derived from the state (a reply sent and not relayed; an
//! agent's message still `Accepted`), so a new active node finds the same
//! ones. The runtime sends them; their taking is a change on the stream
//! (`EmailRelayed`, or the message's delivery `Delivered`).

use std::collections::BTreeSet;

use duet_interactions::model::{Content, Delivery, ReplyState, Sender};
use duet_interactions::{Change, Interactions};

use crate::interactions::CONVERSATION;

/// A sent reply or an outbound message: (interaction id, its id).
pub type ReplyKey = (String, String);

/// Every agent's SMS or social message the provider has not taken.
fn pending_messages(state: &Interactions) -> BTreeSet<ReplyKey> {
    state
        .interactions()
        .filter(|ix| ix.attributes.contains_key(CONVERSATION))
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
                .map(|m| (ix.id.to_string(), m.id.clone()))
        })
        .collect()
}

/// Every sent reply the relay has not taken, from the state.
fn pending(state: &Interactions) -> BTreeSet<ReplyKey> {
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
                .map(|r| (ix.id.to_string(), r.id.clone()))
        })
        .collect()
}

/// What is to send and what is being sent.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Sent email replies the relay has not taken.
    replies: BTreeSet<ReplyKey>,
    /// Those being relayed now.
    relaying: BTreeSet<ReplyKey>,
    /// Agents' SMS and social messages the provider has not taken.
    messages: BTreeSet<ReplyKey>,
    /// Those being posted now.
    sending: BTreeSet<ReplyKey>,
}

impl Outbox {
    /// What `state` has to send, nothing under way.
    pub fn new(state: &Interactions) -> Outbox {
        Outbox {
            replies: pending(state),
            messages: pending_messages(state),
            ..Outbox::default()
        }
    }

    /// `change` was applied to `state`.
    pub fn applied(&mut self, state: &Interactions, change: &Change) {
        match change {
            Change::EmailSend { id, reply_id } => {
                self.replies.insert((id.clone(), reply_id.clone()));
            }
            Change::EmailRelayed { id, reply_id, .. } => {
                let key = (id.clone(), reply_id.clone());
                self.replies.remove(&key);
                self.relaying.remove(&key);
            }
            Change::Message {
                id,
                message_id,
                sender: Sender::Agent(_),
                ..
            } if state
                .get(id)
                .is_some_and(|ix| ix.attributes.contains_key(CONVERSATION)) =>
            {
                self.messages.insert((id.clone(), message_id.clone()));
            }
            Change::MessageDelivery { id, message_id, .. } => {
                let key = (id.clone(), message_id.clone());
                self.messages.remove(&key);
                self.sending.remove(&key);
            }
            _ => {}
        }
    }

    /// Nothing is under way any more (a new active node sends it all).
    pub fn clear_in_flight(&mut self) {
        self.relaying.clear();
        self.sending.clear();
    }

    /// At most `replies` replies (none while the relay is not configured)
    /// and `messages` messages (none while the provider is not) not under
    /// way, oldest key first, now marked under way; the rest wait for a
    /// later call.
    pub fn take_due(&mut self, replies: usize, messages: usize) -> (Vec<ReplyKey>, Vec<ReplyKey>) {
        let due = |all: &BTreeSet<ReplyKey>, under_way: &mut BTreeSet<ReplyKey>, room: usize| {
            let due: Vec<ReplyKey> = all.difference(under_way).take(room).cloned().collect();
            under_way.extend(due.iter().cloned());
            due
        };
        (
            due(&self.replies, &mut self.relaying, replies),
            due(&self.messages, &mut self.sending, messages),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> BTreeSet<ReplyKey> {
        (0..n)
            .map(|i| (format!("ix{i}"), "r".to_string()))
            .collect()
    }

    #[test]
    fn sends_are_taken_as_far_as_there_is_room_and_the_rest_wait() {
        let mut outbox = Outbox {
            replies: keys(5),
            messages: keys(3),
            ..Outbox::default()
        };
        let (replies, messages) = outbox.take_due(2, 0);
        assert_eq!(
            replies,
            vec![("ix0".into(), "r".into()), ("ix1".into(), "r".into())]
        );
        assert!(messages.is_empty(), "no room for messages: none taken");
        // What is under way is not taken again.
        let (replies, messages) = outbox.take_due(2, 5);
        assert_eq!(
            replies,
            vec![("ix2".into(), "r".into()), ("ix3".into(), "r".into())]
        );
        assert_eq!(messages.len(), 3);
        let (replies, _) = outbox.take_due(2, 5);
        assert_eq!(replies, vec![("ix4".into(), "r".into())]);
        // A new active node sends it all again.
        outbox.clear_in_flight();
        assert_eq!(outbox.take_due(10, 10).0.len(), 5);
    }
}

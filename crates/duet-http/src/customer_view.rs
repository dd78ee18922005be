//! What a customer sees of its conversation, in one place for the REST
//! answer and the WebSocket: its messages and their delivery, status
//! lines, where the conversation stands and the agent's display name.
//! Never notes, wrap-up codes, user names, attributes, routing or other
//! parties' data: those are the contact center's.

use std::collections::{BTreeMap, BTreeSet};

use duet_api::{ChatStatus, ChatView, CustomerChange, KindView, MessageView, SenderView};
use duet_interactions::model::{
    Content, Delivery, FileRef, InteractionState, Message, MessageKind, Sender, Supervision,
};
use duet_interactions::{Actor, Change, Interaction};

use duet_node::directory::DEFAULT_DISPLAY_NAME;

/// Users' display names (user name -> what customers see).
#[derive(Debug, Clone, Default)]
pub struct Names(pub BTreeMap<String, String>);

impl Names {
    pub fn display(&self, user: &str) -> String {
        self.0
            .get(user)
            .cloned()
            .unwrap_or_else(|| DEFAULT_DISPLAY_NAME.to_string())
    }
}

/// The users whose display names a view of `ix` needs.
pub fn users_in(ix: &Interaction) -> BTreeSet<String> {
    let mut users: BTreeSet<String> = ix.agents().map(String::from).collect();
    users.extend(ix.parties.joined.iter().cloned());
    users.extend(ix.parties.supervisors.keys().cloned());
    if let Content::Transcript(t) = &ix.content {
        for m in t {
            if let Sender::Agent(a) = &m.sender {
                users.insert(a.clone());
            }
        }
    }
    users
}

/// The users whose display names telling `change` needs.
pub fn users_of(change: &Change) -> Vec<String> {
    match change {
        Change::Accept { agent, .. } | Change::Conference { agent, .. } => vec![agent.clone()],
        Change::Supervise { user, .. } => vec![user.clone()],
        Change::Message {
            sender: Sender::Agent(a),
            ..
        }
        | Change::FileShared {
            sender: Sender::Agent(a),
            ..
        } => vec![a.clone()],
        _ => Vec::new(),
    }
}

fn sender(s: &Sender, names: &Names) -> SenderView {
    match s {
        Sender::Customer => SenderView::Customer,
        Sender::Agent(a) => SenderView::Agent(names.display(a)),
        Sender::System => SenderView::System,
    }
}

fn kind(k: &MessageKind) -> KindView {
    match k {
        MessageKind::Text => KindView::Text,
        MessageKind::Status => KindView::Status,
        MessageKind::File(FileRef {
            name,
            size_bytes,
            content_type,
            ..
        }) => KindView::File {
            name: name.clone(),
            size_bytes: *size_bytes,
            content_type: content_type.clone(),
        },
    }
}

/// A status line with the user names the state writes ("agent ann
/// joined") told by display name.
fn status_line(body: &str, names: &Names) -> String {
    for verb in ["joined", "left"] {
        if let Some(user) = body
            .strip_prefix("agent ")
            .and_then(|rest| rest.strip_suffix(&format!(" {verb}")))
        {
            return format!("{} {verb}", names.display(user));
        }
    }
    body.to_string()
}

fn message(m: &Message, names: &Names) -> MessageView {
    let body = match m.kind {
        MessageKind::Status => status_line(&m.body, names),
        _ => m.body.clone(),
    };
    MessageView {
        id: m.id.clone(),
        sender: sender(&m.sender, names),
        at_ms: m.at_ms,
        body,
        kind: kind(&m.kind),
        delivery: m.delivery,
    }
}

fn supervising(ix: &Interaction, how: Supervision) -> BTreeSet<String> {
    ix.parties
        .supervisors
        .iter()
        .filter(|(_, h)| **h == how)
        .map(|(u, _)| u.clone())
        .collect()
}

fn status_of(state: &InteractionState) -> ChatStatus {
    match state {
        InteractionState::Queued | InteractionState::Offered { .. } => ChatStatus::Waiting,
        InteractionState::Connected { .. } => ChatStatus::Connected,
        InteractionState::Held { .. } => ChatStatus::OnHold,
        InteractionState::WrapUp { .. } | InteractionState::Closed { .. } => ChatStatus::Ended,
    }
}

/// The conversation as its customer sees it.
pub fn chat_view(ix: &Interaction, names: &Names) -> ChatView {
    let status = status_of(&ix.state);
    let agent = match &ix.state {
        InteractionState::Connected { agent } | InteractionState::Held { agent } => {
            Some(names.display(agent))
        }
        _ => None,
    };
    let transcript = match &ix.content {
        Content::Transcript(t) => t.iter().map(|m| message(m, names)).collect(),
        _ => Vec::new(),
    };
    ChatView {
        id: ix.id.to_string(),
        media: ix.media,
        created_at_ms: ix.created_at_ms,
        closed: ix.is_closed(),
        status,
        agent,
        transcript,
    }
}

/// What a customer's socket knows of where its conversation stands, so
/// each committed change is told from the change itself (never from a
/// state that may run ahead of what is committed).
#[derive(Debug, Clone)]
pub struct Follow {
    owner: Option<String>,
    conference: BTreeSet<String>,
    /// Supervisors who joined the conversation (the silent ones are
    /// never told).
    barged: BTreeSet<String>,
    silent: BTreeSet<String>,
    status: ChatStatus,
}

impl Follow {
    pub fn new(ix: &Interaction) -> Follow {
        Follow {
            owner: ix.state.owner().map(String::from),
            conference: ix.parties.conference.iter().cloned().collect(),
            barged: supervising(ix, Supervision::Barged),
            silent: supervising(ix, Supervision::Silent),
            status: status_of(&ix.state),
        }
    }

    fn status(
        &mut self,
        status: ChatStatus,
        names: &Names,
        line: Option<String>,
    ) -> CustomerChange {
        self.status = status;
        let agent = match status {
            ChatStatus::Connected | ChatStatus::OnHold => {
                self.owner.as_deref().map(|a| names.display(a))
            }
            _ => None,
        };
        CustomerChange::Status {
            status,
            agent,
            line,
        }
    }

    /// The change as the customer sees it; `None` for what is not the
    /// customer's to see (offers, wrap-up, notes, supervision).
    pub fn tell(
        &mut self,
        change: &Change,
        actor: &Actor,
        at_ms: u64,
        names: &Names,
    ) -> Option<CustomerChange> {
        let text = |message_id: &str, s: &Sender, body: &str, k: KindView| {
            CustomerChange::Message(MessageView {
                id: message_id.to_string(),
                sender: sender(s, names),
                at_ms,
                body: body.to_string(),
                kind: k,
                delivery: Delivery::Accepted,
            })
        };
        match change {
            Change::Message {
                message_id,
                sender,
                body,
                ..
            } => Some(text(message_id, sender, body, KindView::Text)),
            Change::FileShared {
                message_id,
                sender,
                file,
                ..
            } => Some(text(
                message_id,
                sender,
                &file.name,
                kind(&MessageKind::File(file.clone())),
            )),
            Change::MessageDelivery {
                message_id,
                delivery,
                ..
            } => Some(CustomerChange::Delivery {
                message_id: message_id.clone(),
                delivery: *delivery,
            }),
            Change::Accept { agent, .. } => {
                self.owner = Some(agent.clone());
                Some(self.status(ChatStatus::Connected, names, None))
            }
            Change::Hold { .. } => Some(self.status(ChatStatus::OnHold, names, None)),
            Change::Resume { .. } => Some(self.status(ChatStatus::Connected, names, None)),
            Change::Transfer { .. } => {
                self.owner = None;
                self.conference.clear();
                Some(self.status(ChatStatus::Waiting, names, None))
            }
            Change::Conference { agent, .. } => {
                self.conference.insert(agent.clone());
                let line = format!("{} joined", names.display(agent));
                Some(self.status(self.status, names, Some(line)))
            }
            Change::Supervise { user, barge, .. } => {
                if !barge {
                    self.silent.insert(user.clone());
                    return None;
                }
                self.silent.remove(user);
                self.barged.insert(user.clone());
                let line = format!("{} joined", names.display(user));
                Some(self.status(self.status, names, Some(line)))
            }
            Change::Disconnect { .. } => match actor {
                Actor::Agent(a) if self.conference.remove(a) => {
                    let line = format!("{} left", names.display(a));
                    Some(self.status(self.status, names, Some(line)))
                }
                Actor::User(u) if self.barged.remove(u) => {
                    let line = format!("{} left", names.display(u));
                    Some(self.status(self.status, names, Some(line)))
                }
                Actor::User(u) if self.silent.remove(u) => None,
                _ => Some(self.status(ChatStatus::Ended, names, None)),
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_interactions::MediaType;
    use duet_interactions::model::Party;
    use duet_interactions::model::{Parties, QueueVisit, Routing, WrapUp};

    fn chat() -> Interaction {
        Interaction {
            id: "chat-x".into(),
            media: MediaType::Chat,
            created_at_ms: 1,
            routing: Routing {
                queue: "Sales".into(),
                ..Routing::default()
            },
            attributes: [("internal".into(), "vip".into())].into_iter().collect(),
            parties: Parties {
                customer: Party::default(),
                joined: vec!["alice".into(), "bob".into()].into(),
                conference: ["bob".into()].into(),
                supervisors: BTreeMap::from([("sue".into(), Supervision::Silent)]),
            },
            state: InteractionState::WrapUp {
                agent: "alice".into(),
            },
            segments: Default::default(),
            content: Content::Transcript(
                vec![
                    Message {
                        id: "m1".into(),
                        sender: Sender::Agent("alice".into()),
                        at_ms: 2,
                        body: "hello".into(),
                        kind: MessageKind::Text,
                        delivery: Delivery::Read,
                    },
                    Message {
                        id: "~status#1".into(),
                        sender: Sender::System,
                        at_ms: 3,
                        body: "agent bob joined".into(),
                        kind: MessageKind::Status,
                        delivery: Delivery::Accepted,
                    },
                ]
                .into(),
            ),
            files: Default::default(),
            wrap_up: Some(Box::new(WrapUp {
                agent: "alice".into(),
                code: "refund".into(),
                notes: "do not refund".into(),
                at_ms: 4,
                seqno: 0,
            })),
            visit: QueueVisit::default(),
            seqno: 0,
        }
    }

    fn names() -> Names {
        Names(BTreeMap::from([("alice".into(), "Alex".into())]))
    }

    #[test]
    fn the_view_names_agents_by_display_name_and_carries_no_notes_codes_or_user_names() {
        let view = serde_json::to_string(&chat_view(&chat(), &names())).unwrap();
        for secret in [
            "do not refund",
            "refund",
            "alice",
            "bob",
            "sue",
            "vip",
            "Sales",
        ] {
            assert!(!view.contains(secret), "{secret:?} in {view}");
        }
        assert!(
            view.contains("Alex") && view.contains("Agent joined"),
            "{view}"
        );
    }

    #[test]
    fn changes_are_told_without_notes_or_user_names() {
        let mut follow = Follow::new(&chat());
        let said = |c: Option<CustomerChange>| serde_json::to_string(&c).unwrap();
        let wrap = Change::WrapUp {
            id: "chat-x".into(),
            code: "refund".into(),
            notes: "do not refund".into(),
        };
        assert_eq!(
            follow.tell(&wrap, &Actor::Agent("alice".into()), 5, &names()),
            None
        );
        let accept = Change::Accept {
            id: "chat-x".into(),
            agent: "alice".into(),
        };
        let told = said(follow.tell(&accept, &Actor::Agent("alice".into()), 6, &names()));
        assert!(told.contains("connected") && told.contains("Alex") && !told.contains("alice"));
        let leave = Change::Disconnect {
            id: "chat-x".into(),
        };
        let told = said(follow.tell(&leave, &Actor::Agent("bob".into()), 7, &names()));
        assert!(
            told.contains("Agent left") && !told.contains("bob"),
            "{told}"
        );
        let listen = |barge| Change::Supervise {
            id: "chat-x".into(),
            user: "sam".into(),
            barge,
        };
        let sam = Actor::User("sam".into());
        assert_eq!(follow.tell(&listen(false), &sam, 8, &names()), None);
        let joined = said(follow.tell(&listen(true), &sam, 9, &names()));
        assert!(
            joined.contains("Agent joined") && !joined.contains("sam"),
            "{joined}"
        );
        assert_eq!(
            follow.tell(&leave, &Actor::User("sue".into()), 9, &names()),
            None
        );
        let end = said(follow.tell(&leave, &Actor::Customer, 8, &names()));
        assert!(end.contains("ended"), "{end}");
    }
}

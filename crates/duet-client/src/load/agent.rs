//! A generated agent: signs in, logs in to chat, email and callback,
//! keeps its desktop WebSocket on the active node, accepts what it is
//! offered, replies to each customer message, now and then moves a chat
//! back to the queue, disconnects emails and callbacks, and wraps up.
//! Every action carries its own client id, so a resend is applied once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_api::{Action, AgentState, ChangeFrame, StateFrame};
use duet_interactions::model::{CallbackOutcome, Content, InteractionState, Sender};
use duet_interactions::{Change, Interaction, MediaType};

use super::Shared;
use crate::agent::{self, act};
use crate::{Auth, Error, FeedEvent};

/// How often the agent reads its whole state, to catch anything its feed
/// could not say (an offer made while it reconnected and resynced).
const REFRESH_MS: u64 = 2_000;

pub(super) fn start(shared: Arc<Shared>, n: usize) -> Result<std::thread::JoinHandle<()>, Error> {
    let name = shared.agent_name(n);
    let client = shared.agent_client(n);
    let session = agent::sign_in(client, &name, &shared.spec.agent_password)?;
    agent::log_in(
        client,
        &session,
        &[MediaType::Chat, MediaType::Email, MediaType::Callback],
        &format!("{}/{name}/login", shared.run),
    )?;
    Ok(std::thread::spawn(move || {
        Desk {
            shared: &shared,
            client: shared.agent_client(n),
            name,
            session,
            held: HashMap::new(),
        }
        .run()
    }))
}

struct Desk<'a> {
    shared: &'a Shared,
    client: &'a crate::Client,
    name: String,
    session: Auth,
    /// Interactions connected to this agent, by id: their media.
    held: HashMap<String, MediaType>,
}

impl Desk<'_> {
    fn run(mut self) {
        let mut feed = agent::desktop(self.client, &self.session);
        let mut refreshed = Instant::now();
        while !self.shared.halted() {
            feed.follow();
            match feed.next(Duration::from_millis(100)) {
                Some(FeedEvent::State(StateFrame::Agent {
                    agent: Some(state), ..
                })) => {
                    for ix in &state.interactions {
                        self.reconcile(ix);
                    }
                }
                Some(FeedEvent::Change(ChangeFrame::Committed { seq, change, .. })) => {
                    self.on_change(seq, &change)
                }
                _ => {}
            }
            if refreshed.elapsed() > Duration::from_millis(REFRESH_MS) {
                refreshed = Instant::now();
                if let Ok(me) = self.client.get::<AgentState>("/api/agent", &self.session) {
                    let listed = &me.interactions;
                    // What the pair no longer lists as ours is not ours
                    // (a heal gave it to the agent who took it first).
                    self.held
                        .retain(|id, _| listed.iter().any(|ix| ix.id == *id));
                    for ix in listed {
                        self.reconcile(ix);
                    }
                }
            }
            let held = self.held.keys().cloned().collect();
            self.shared.ledger().holding(&self.name, held);
        }
        feed.reconnect();
    }

    fn on_change(&mut self, seq: u64, change: &Change) {
        match change {
            Change::Offer { id, agent, .. } if *agent == self.name => self.accept(id, seq),
            Change::Message {
                id,
                message_id,
                sender: Sender::Customer,
                ..
            } => {
                self.shared
                    .ledger()
                    .seen(id, message_id, &self.name, Some(seq));
                if self.held.get(id) == Some(&MediaType::Chat) {
                    self.reply(id, message_id);
                }
            }
            Change::Disconnect { id } if self.held.contains_key(id) => self.wrap_up(id),
            _ => {}
        }
    }

    /// Action `action` on interaction `id`; `step` names it in the client
    /// id, so a resend of the same step is applied once.
    fn act(&self, id: &str, action: &str, body: Action, step: &str) -> Result<u64, Error> {
        let client_id = format!("{}/{}/{id}/{step}", self.shared.run, self.name);
        act(self.client, &self.session, id, action, body, &client_id)
    }

    fn accept(&mut self, id: &str, seq: u64) {
        match self.act(id, "accept", Action::default(), &format!("accept/{seq}")) {
            Ok(_) => {
                if let Ok(ix) = agent::interaction(self.client, &self.session, id) {
                    self.reconcile(&ix);
                }
            }
            // The offer timed out or went elsewhere meanwhile: not ours.
            Err(e) if not_ours(&e) => {}
            Err(e) => self.shared.ledger().error(e.to_string()),
        }
    }

    /// Brings one interaction to where this agent should have it, from its
    /// state as the node tells it.
    fn reconcile(&mut self, ix: &Interaction) {
        let (id, media) = (ix.id.as_str(), ix.media);
        if ix.state.owner() != Some(self.name.as_str()) {
            self.held.remove(id);
            return;
        }
        match &ix.state {
            InteractionState::Offered { deadline_ms, .. } => self.accept(id, *deadline_ms),
            InteractionState::Connected { .. } | InteractionState::Held { .. } => {
                self.held.insert(id.to_string(), media);
                match (media, &ix.content) {
                    (MediaType::Chat, _) => self.catch_up(id, ix),
                    (MediaType::Email, Content::Email(email)) => {
                        self.shared.ledger().email_found(&email.subject, id);
                        self.finish(id);
                    }
                    (MediaType::Callback, _) => {
                        self.shared.ledger().callback_found(id, &self.name);
                        let attempt = Action {
                            outcome: Some(CallbackOutcome::Reached),
                            ..Action::default()
                        };
                        if let Err(e) = self.act(id, "callback-attempt", attempt, "attempt") {
                            self.shared.ledger().error(e.to_string());
                        }
                        self.finish(id);
                    }
                    _ => self.finish(id),
                }
            }
            InteractionState::WrapUp { .. } => {
                self.held.insert(id.to_string(), media);
                self.wrap_up(id);
            }
            InteractionState::Queued | InteractionState::Closed { .. } => {
                self.held.remove(id);
            }
        }
    }

    /// A chat just taken (or found again): every customer message in its
    /// transcript is seen, and each without a reply gets one.
    fn catch_up(&mut self, id: &str, ix: &Interaction) {
        let Content::Transcript(transcript) = &ix.content else {
            return;
        };
        let answered: Vec<&str> = transcript.iter().map(|m| m.id.as_str()).collect();
        let mut unanswered = Vec::new();
        for m in transcript {
            let message_id = m.id.as_str();
            if m.sender == Sender::Customer {
                self.shared.ledger().seen(id, message_id, &self.name, None);
                if !answered.contains(&format!("r-{message_id}").as_str()) {
                    unanswered.push(message_id.to_string());
                }
            }
        }
        for message_id in unanswered {
            self.reply(id, &message_id);
        }
    }

    fn reply(&mut self, id: &str, message_id: &str) {
        let reply_id = format!("r-{message_id}");
        let ordinal = message_id.trim_start_matches('c').parse().unwrap_or(0);
        self.shared.ledger().sent(id, &reply_id, false);
        let body = Action {
            message_id: reply_id.clone(),
            body: format!("{} answers {message_id}", self.name),
            ..Action::default()
        };
        let client_id = format!("{}/{id}/{reply_id}", self.shared.run);
        match act(self.client, &self.session, id, "message", body, &client_id) {
            Ok(_) => self.shared.ledger().acked(id, &reply_id),
            // The customer left meanwhile (the chat is closed to replies),
            // or it is no longer ours.
            Err(e) if not_ours(&e) => {}
            Err(e) => self.shared.ledger().error(e.to_string()),
        }
        let percent = self.shared.spec.transfer_percent;
        if ordinal == 1
            && rand::random::<u32>() % 100 < percent
            && self.shared.ledger().transfer_once(id)
        {
            self.transfer(id);
        }
    }

    fn transfer(&mut self, id: &str) {
        let to = Action {
            queue: Some(self.shared.spec.queue.clone()),
            ..Action::default()
        };
        match self.act(id, "transfer", to, "transfer") {
            Ok(_) => {
                self.held.remove(id);
                self.shared.ledger().transferred();
            }
            // Moved on from us meanwhile (a takeover routed it again).
            Err(e) if e.status() == Some(403) => {
                self.held.remove(id);
            }
            Err(e) => self.shared.ledger().error(e.to_string()),
        }
    }

    /// The agent ends an email or a callback, then wraps it up.
    fn finish(&mut self, id: &str) {
        match self.act(id, "disconnect", Action::default(), "disconnect") {
            Ok(_) => self.wrap_up(id),
            Err(e) if e.status() == Some(409) => {}
            Err(e) if e.status() == Some(403) => {
                self.held.remove(id);
            }
            Err(e) => self.shared.ledger().error(e.to_string()),
        }
    }

    fn wrap_up(&mut self, id: &str) {
        let code = Action {
            code: self.shared.queue.wrap_up_code.clone(),
            notes: "load".into(),
            ..Action::default()
        };
        match self.act(id, "wrap-up", code, "wrap-up") {
            Ok(_) => {
                self.held.remove(id);
                self.shared.ledger().wrapped_up();
            }
            Err(e) if not_ours(&e) => {
                self.held.remove(id);
            }
            Err(e) => self.shared.ledger().error(e.to_string()),
        }
    }
}

/// A refusal that says the interaction is not (or no longer) this
/// agent's to work: the state moved on (409), or it is another's (403).
fn not_ours(e: &Error) -> bool {
    matches!(e.status(), Some(403 | 409))
}

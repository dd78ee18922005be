//! A generated customer: chats (messages over REST or its chat's
//! WebSocket, each with its own id), and now and then an email by SMTP or
//! a callback request. It reads the agent's replies from its chat feed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_api::{
    ChangeFrame, ChatStatus, CustomerChange, CustomerSays, Frame, SenderView, StateFrame,
};

use super::Shared;
use super::tally::{CUSTOMER, Phase};
use crate::customer::{self, Chat};
use crate::smtp::{self, Email};

/// Messages sent but not yet seen by the agent side, at most: a customer
/// waits for the agent before typing more.
const AHEAD_MAX: usize = 3;
/// How long a message sent on the socket waits for its ack before it is
/// sent again over REST (same id, so kept once).
const WS_ACK_WAIT_MS: u64 = 2_000;
/// A chat no agent takes within this is left (the customer gives up).
const PATIENCE_MS: u64 = 60_000;

pub(super) fn start(shared: Arc<Shared>, k: usize) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut n = 0u32;
        while !shared.stopping() && !shared.halted() {
            n += 1;
            let spec = &shared.spec;
            // Offset by the customer, so emails and callbacks start early in
            // a short run too.
            let every = |e: u32| e > 0 && (n + k as u32).is_multiple_of(e);
            if every(spec.email_every) && !spec.smtp.is_empty() && shared.queue.address.is_some() {
                email(&shared, k, n);
            } else if every(spec.callback_every) {
                callback(&shared, k, n);
            } else {
                ChatRun::new(&shared, k, n).run();
            }
        }
        shared.ledger().phase(k, Phase::Idle);
    })
}

fn email(shared: &Shared, k: usize, n: u32) {
    let Some(to) = shared.queue.address.clone() else {
        return;
    };
    let subject = format!("load {} email {k}-{n}", shared.run);
    let email = Email {
        from: format!("Customer {k} <customer{k}@load.duet.test>"),
        to,
        subject: subject.clone(),
        message_id: format!("<{}-e{k}-{n}@load.duet.test>", shared.run),
        text: format!("Order {k}-{n}: please see the attached file."),
        html: format!("<p>Order <b>{k}-{n}</b>: please see the attached file.</p>"),
        attachment_name: format!("order-{k}-{n}.bin"),
        attachment: (0..4096u32).map(|i| (i % 251) as u8).collect(),
    };
    shared.ledger().email_sent(&subject);
    let first = shared.customer_client(k).nodes().current();
    match smtp::send(&shared.spec.smtp, first, &email, shared.spec.retry) {
        Ok(_) => shared.ledger().email_accepted(&subject),
        Err(e) => shared.ledger().error(e.to_string()),
    }
}

fn callback(shared: &Shared, k: usize, n: u32) {
    let client_id = format!("{}-cb{k}-{n}", shared.run);
    shared.ledger().callback_requested(&client_id);
    let number = format!("+1555{k:04}{n:03}");
    match customer::callback(
        shared.customer_client(k),
        &shared.spec.queue,
        &format!("customer {k}"),
        &number,
        &client_id,
    ) {
        Ok(id) => shared.ledger().callback_acknowledged(&client_id, &id),
        Err(e) => shared.ledger().error(e.to_string()),
    }
}

/// One chat, from start to leaving.
struct ChatRun<'a> {
    shared: &'a Shared,
    client: &'a crate::Client,
    k: usize,
    n: u32,
    on_socket: bool,
    /// Sent and acknowledged, by ordinal (1-based).
    acked: Vec<String>,
    /// Replies the customer has seen.
    replies: HashSet<String>,
    /// The message sent on the socket and not yet acknowledged.
    pending: Option<(String, String, Instant)>,
    talking: bool,
    last_sent: Option<Instant>,
    last_event: Instant,
    longest_gap_ms: u64,
}

impl<'a> ChatRun<'a> {
    fn new(shared: &'a Shared, k: usize, n: u32) -> ChatRun<'a> {
        let on_socket =
            (k as u32 * 100 / shared.spec.customers.max(1) as u32) < shared.spec.websocket_percent;
        ChatRun {
            shared,
            client: shared.customer_client(k),
            k,
            n,
            on_socket,
            acked: Vec::new(),
            replies: HashSet::new(),
            pending: None,
            talking: false,
            last_sent: None,
            last_event: Instant::now(),
            longest_gap_ms: 0,
        }
    }

    fn run(mut self) {
        let shared = self.shared;
        let client_id = format!("{}-c{}-{}", shared.run, self.k, self.n);
        shared.ledger().phase(self.k, Phase::Waiting);
        let chat = match customer::start_chat(
            self.client,
            &shared.spec.queue,
            &format!("customer {}", self.k),
            &client_id,
        ) {
            Ok(chat) => chat,
            Err(e) => {
                shared.ledger().error(e.to_string());
                std::thread::sleep(Duration::from_millis(200));
                return;
            }
        };
        shared.ledger().chat_started();
        let mut feed = customer::feed(self.client, &chat);
        let started = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / shared.spec.rate_per_customer.max(0.01));
        loop {
            if shared.halted()
                || self.done()
                || (!self.talking && started.elapsed() > Duration::from_millis(PATIENCE_MS))
            {
                break;
            }
            let may_send = !shared.stopping()
                && self.pending.is_none()
                && (self.acked.len() as u32) < shared.spec.messages_per_chat
                && self.unseen(&chat) < AHEAD_MAX
                && self.last_sent.is_none_or(|t| t.elapsed() >= interval);
            if may_send {
                self.send_next(&chat, &mut feed);
            }
            self.resend_unacked(&chat);
            let event = feed.next(Duration::from_millis(50));
            // The gap: a talking customer with a message unanswered that
            // has heard nothing (a send blocked by a switchover counts).
            if self.talking && self.acked.len() > self.replies.len() {
                let gap_ms = self.last_event.elapsed().as_millis() as u64;
                self.longest_gap_ms = self.longest_gap_ms.max(gap_ms);
            }
            if let Some(event) = event {
                self.on_event(&chat, event);
            }
        }
        feed.reconnect();
        if let Err(e) = customer::leave(self.client, &chat) {
            shared.ledger().error(e.to_string());
        }
        self.audit(&chat);
        shared.ledger().chat_ended(self.longest_gap_ms);
        shared.ledger().phase(self.k, Phase::Idle);
    }

    /// All sent (or stopping) and every acknowledged message answered.
    fn done(&self) -> bool {
        let all_sent =
            self.shared.stopping() || self.acked.len() as u32 >= self.shared.spec.messages_per_chat;
        all_sent
            && self.pending.is_none()
            && self
                .acked
                .iter()
                .all(|m| self.replies.contains(&format!("r-{m}")))
    }

    fn unseen(&self, chat: &Chat) -> usize {
        let ledger = self.shared.ledger();
        self.acked
            .iter()
            .filter(|m| !ledger.was_seen(&chat.id, m))
            .count()
    }

    fn send_next(&mut self, chat: &Chat, feed: &mut crate::Feed) {
        let ordinal = self.acked.len() as u64 + 1;
        let message_id = format!("c{ordinal}");
        let body = format!("customer {} chat {} message {ordinal}", self.k, self.n);
        self.shared.ledger().sent(&chat.id, &message_id, true);
        self.last_sent = Some(Instant::now());
        let says = CustomerSays {
            message_id: message_id.clone(),
            body: body.clone(),
        };
        if self.on_socket && feed.send(&says) {
            self.pending = Some((message_id, body, Instant::now()));
            return;
        }
        self.send_rest(chat, message_id, &body);
    }

    fn send_rest(&mut self, chat: &Chat, message_id: String, body: &str) {
        match customer::send(self.client, chat, &message_id, body) {
            Ok(_) => {
                self.shared.ledger().acked(&chat.id, &message_id);
                self.acked.push(message_id);
            }
            Err(e) => self.shared.ledger().error(e.to_string()),
        }
    }

    /// A message sent on a socket that went away, or was refused there
    /// (the backup), goes again over REST with the same id.
    fn resend_unacked(&mut self, chat: &Chat) {
        if self
            .pending
            .as_ref()
            .is_some_and(|(_, _, at)| at.elapsed() > Duration::from_millis(WS_ACK_WAIT_MS))
            && let Some((id, body, _)) = self.pending.take()
        {
            self.send_rest(chat, id, &body);
        }
    }

    fn on_event(&mut self, chat: &Chat, event: crate::FeedEvent) {
        use crate::FeedEvent;
        self.last_event = Instant::now();
        match event {
            FeedEvent::State(StateFrame::Chat { chat: view, .. }) => {
                for m in &view.transcript {
                    self.saw(chat, &m.id, &m.sender, None);
                }
            }
            FeedEvent::State(StateFrame::Agent { .. }) | FeedEvent::Resumed { .. } => {}
            FeedEvent::Change(ChangeFrame::Told { seq, change, .. }) => {
                // The customer's view of the change (docs/access.md).
                match change {
                    CustomerChange::Status {
                        status: ChatStatus::Connected,
                        ..
                    } if !self.talking => {
                        self.talking = true;
                        self.shared.ledger().phase(self.k, Phase::Talking);
                    }
                    CustomerChange::Status {
                        status: ChatStatus::Waiting,
                        ..
                    } => {
                        self.talking = false;
                        self.shared.ledger().phase(self.k, Phase::Waiting);
                    }
                    CustomerChange::Message(m) => self.saw(chat, &m.id, &m.sender, Some(seq)),
                    _ => {}
                }
            }
            FeedEvent::Change(ChangeFrame::Committed { .. }) => {}
            FeedEvent::Other(frame) => self.answered(chat, frame),
        }
    }

    fn answered(&mut self, chat: &Chat, frame: Frame) {
        let Some((id, body, _)) = self.pending.take() else {
            return;
        };
        match frame {
            Frame::Ack { message_id, .. } if message_id == id => {
                self.shared.ledger().acked(&chat.id, &id);
                self.acked.push(id);
            }
            // Refused on the socket (the node is the backup now).
            Frame::Error {
                message_id: Some(message_id),
                ..
            } if message_id == id => self.send_rest(chat, id, &body),
            _ => self.pending = Some((id, body, Instant::now())),
        }
    }

    /// A message in the chat: the agent side's are counted as seen by
    /// the customer.
    fn saw(&mut self, chat: &Chat, message_id: &str, sender: &SenderView, seq: Option<u64>) {
        if !matches!(sender, SenderView::Agent(_)) {
            return;
        }
        self.replies.insert(message_id.to_string());
        self.shared
            .ledger()
            .seen(&chat.id, message_id, CUSTOMER, seq);
    }

    /// The final transcript: each of our messages, and each reply, held
    /// how often.
    fn audit(&self, chat: &Chat) {
        let Ok(view) = customer::transcript(self.client, chat) else {
            return;
        };
        let ids = customer::message_ids(&view);
        self.shared.ledger().audited(&chat.id, &ids);
    }
}

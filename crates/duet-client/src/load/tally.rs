//! The load's ledger: every message, email and callback by its own id,
//! who sent it, whether it was acknowledged, and who saw it on which
//! change; from it, the live tally and the final report.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;

/// The observer name for a customer seeing the agent side's messages.
pub const CUSTOMER: &str = "customer";

struct Msg {
    from_customer: bool,
    sent_at: Instant,
    acked_at: Option<Instant>,
    /// Per observer (on the other side), the sequence numbers of the
    /// changes it saw this message in. More than one: sent again, after a
    /// heal made here what a node took while it served alone; a client
    /// shows a message id once.
    seen: HashMap<String, BTreeSet<u64>>,
    /// Seen in a transcript (a state read, no sequence number).
    in_transcript: bool,
    /// How often the final transcript held it (more than once: doubled),
    /// and where it first was.
    audited: Option<(usize, Option<usize>)>,
}

#[derive(Default)]
struct Item {
    sent: bool,
    accepted: bool,
    /// The interactions it turned up as.
    seen_in: BTreeSet<String>,
}

/// What a customer is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Waiting,
    Talking,
}

#[derive(Default)]
pub struct Ledger {
    messages: HashMap<String, Msg>,
    emails: HashMap<String, Item>,
    callbacks: HashMap<String, Item>,
    latencies_ms: Vec<u64>,
    longest_gap_ms: u64,
    chats_started: u64,
    chats_ended: u64,
    wrap_ups: u64,
    transfers: u64,
    transferred: HashSet<String>,
    phases: HashMap<usize, Phase>,
    /// Interactions each agent holds now (for the drain).
    /// What each agent holds (interaction ids), as it last said.
    holding: HashMap<String, Vec<String>>,
    errors: Vec<String>,
    errors_total: u64,
}

fn key(chat: &str, message_id: &str) -> String {
    format!("{chat}/{message_id}")
}

/// A live snapshot (and the final counts).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub chats_started: u64,
    pub chats_ended: u64,
    pub waiting: u64,
    pub talking: u64,
    pub messages_sent: u64,
    pub messages_acknowledged: u64,
    /// Acknowledged and seen by the other side.
    pub messages_delivered: u64,
    /// Acknowledged, not (yet) seen by the other side.
    pub messages_undelivered: u64,
    /// Acknowledged, never seen by the other side and not in the final
    /// transcript (only known after the drain's audit).
    pub messages_lost: u64,
    /// Held twice in the final transcript.
    pub messages_doubled: u64,
    /// Sent to one observer in two changes: a heal made again what a node
    /// took while it served alone (a client shows a message id once).
    pub messages_resent: u64,
    /// Placed in the final transcript before a message of the same side
    /// that was acknowledged before it was sent.
    pub messages_out_of_order: u64,
    pub emails_sent: u64,
    /// Answered 250.
    pub emails_accepted: u64,
    /// Accepted and found by an agent as an interaction.
    pub emails_present: u64,
    /// Found as two interactions or more.
    pub emails_doubled: u64,
    pub callbacks_requested: u64,
    pub callbacks_acknowledged: u64,
    pub callbacks_present: u64,
    pub wrap_ups: u64,
    pub transfers: u64,
    pub latency_p50_ms: u64,
    pub latency_p99_ms: u64,
    pub latency_max_ms: u64,
    pub longest_gap_ms: u64,
    pub errors: u64,
}

impl Ledger {
    pub fn sent(&mut self, chat: &str, message_id: &str, from_customer: bool) {
        self.messages
            .entry(key(chat, message_id))
            .or_insert_with(|| Msg {
                from_customer,
                sent_at: Instant::now(),
                acked_at: None,
                seen: HashMap::new(),
                in_transcript: false,
                audited: None,
            });
    }

    pub fn acked(&mut self, chat: &str, message_id: &str) {
        if let Some(m) = self.messages.get_mut(&key(chat, message_id)) {
            m.acked_at.get_or_insert_with(Instant::now);
        }
    }

    /// `observer` saw the message, in the change `seq` (or, `None`, in a
    /// transcript it read). Messages this run did not send are ignored.
    pub fn seen(&mut self, chat: &str, message_id: &str, observer: &str, seq: Option<u64>) {
        let Some(m) = self.messages.get_mut(&key(chat, message_id)) else {
            return;
        };
        let first = m.seen.is_empty() && !m.in_transcript;
        match seq {
            Some(seq) => {
                if !m.seen.entry(observer.to_string()).or_default().insert(seq) {
                    // The same change again (a resumed feed): nothing new.
                    return;
                }
            }
            None => m.in_transcript = true,
        }
        if first && m.from_customer {
            self.latencies_ms
                .push(m.sent_at.elapsed().as_millis() as u64);
        }
    }

    /// Whether the other side has seen the message.
    pub fn was_seen(&self, chat: &str, message_id: &str) -> bool {
        self.messages
            .get(&key(chat, message_id))
            .is_some_and(|m| !m.seen.is_empty() || m.in_transcript)
    }

    /// The final transcript held the message `count` times.
    /// The final transcript's message ids, in order: how often each of
    /// this chat's messages is there, and where.
    pub fn audited(&mut self, chat: &str, transcript: &[&str]) {
        let prefix = key(chat, "");
        for (k, m) in self.messages.iter_mut() {
            if let Some(id) = k.strip_prefix(&prefix) {
                let count = transcript.iter().filter(|i| **i == id).count();
                m.audited = Some((count, transcript.iter().position(|i| *i == id)));
            }
        }
    }

    /// Messages placed before one of the same side that was acknowledged
    /// before they were sent (only known after the audit): each with
    /// that one.
    fn out_of_order(&self) -> Vec<(&str, &str)> {
        let mut by_side: HashMap<(&str, bool), Vec<(&str, &Msg)>> = HashMap::new();
        for (k, m) in &self.messages {
            let chat = k.rsplit_once('/').map_or(k.as_str(), |(c, _)| c);
            by_side
                .entry((chat, m.from_customer))
                .or_default()
                .push((k.as_str(), m));
        }
        let mut out = Vec::new();
        for side in by_side.values() {
            for (later_key, later) in side {
                let Some((_, Some(at))) = later.audited else {
                    continue;
                };
                let earlier = side.iter().find(|(_, earlier)| {
                    earlier.acked_at.is_some_and(|acked| acked < later.sent_at)
                        && matches!(earlier.audited, Some((_, Some(e))) if e > at)
                });
                if let Some((earlier_key, _)) = earlier {
                    out.push((*later_key, *earlier_key));
                }
            }
        }
        out
    }

    pub fn email_sent(&mut self, subject: &str) {
        self.emails.entry(subject.to_string()).or_default().sent = true;
    }

    pub fn email_accepted(&mut self, subject: &str) {
        self.emails.entry(subject.to_string()).or_default().accepted = true;
    }

    /// An agent found the email `subject` as interaction `id`.
    pub fn email_found(&mut self, subject: &str, id: &str) {
        if let Some(e) = self.emails.get_mut(subject) {
            e.seen_in.insert(id.to_string());
        }
    }

    pub fn callback_requested(&mut self, client_id: &str) {
        self.callbacks
            .entry(client_id.to_string())
            .or_default()
            .sent = true;
    }

    pub fn callback_acknowledged(&mut self, client_id: &str, id: &str) {
        let c = self.callbacks.entry(client_id.to_string()).or_default();
        c.accepted = true;
        // The interaction id stands for the request from here on, with
        // any agent that found it before the customer heard its id.
        let c = std::mem::take(c);
        self.callbacks.remove(client_id);
        let found_early = self.callbacks.remove(id).map(|e| e.seen_in);
        let c = self.callbacks.entry(id.to_string()).or_insert(c);
        c.seen_in.extend(found_early.into_iter().flatten());
    }

    /// An agent was connected to callback `id` (perhaps before the
    /// customer's answer came back: a retry across a switchover).
    pub fn callback_found(&mut self, id: &str, agent: &str) {
        self.callbacks
            .entry(id.to_string())
            .or_default()
            .seen_in
            .insert(agent.to_string());
    }

    pub fn chat_started(&mut self) {
        self.chats_started += 1;
    }

    pub fn chat_ended(&mut self, gap_ms: u64) {
        self.chats_ended += 1;
        self.longest_gap_ms = self.longest_gap_ms.max(gap_ms);
    }

    pub fn wrapped_up(&mut self) {
        self.wrap_ups += 1;
    }

    /// The first transfer of chat `id` (a chat is moved once, so it does
    /// not go round the queue for ever); false if it was moved before.
    pub fn transfer_once(&mut self, id: &str) -> bool {
        self.transferred.insert(id.to_string())
    }

    pub fn transferred(&mut self) {
        self.transfers += 1;
    }

    pub fn phase(&mut self, customer: usize, phase: Phase) {
        self.phases.insert(customer, phase);
    }

    pub fn holding(&mut self, agent: &str, ids: Vec<String>) {
        self.holding.insert(agent.to_string(), ids);
    }

    /// The work agents still hold, as `agent: id`.
    pub fn held(&self) -> Vec<String> {
        let mut held: Vec<String> = self
            .holding
            .iter()
            .flat_map(|(agent, ids)| ids.iter().map(move |id| format!("{agent}: {id}")))
            .collect();
        held.sort();
        held
    }

    /// Acknowledged emails and callbacks no agent has found, by the id
    /// the pair gave them (an email by its subject until it is found).
    pub fn unfound(&self) -> Vec<String> {
        let emails = self
            .emails
            .iter()
            .filter(|(_, e)| e.accepted && e.seen_in.is_empty())
            .map(|(subject, _)| format!("email {subject}"));
        let callbacks = self
            .callbacks
            .iter()
            .filter(|(_, c)| c.accepted && c.seen_in.is_empty())
            .map(|(id, _)| format!("callback {id}"));
        let mut unfound: Vec<String> = emails.chain(callbacks).collect();
        unfound.sort();
        unfound
    }

    /// Nothing left to deliver or find: every acknowledged message seen,
    /// every accepted email and callback found, no agent holding work.
    pub fn settled(&self) -> bool {
        self.messages
            .values()
            .all(|m| m.acked_at.is_none() || !m.seen.is_empty() || m.in_transcript)
            && self
                .emails
                .values()
                .all(|e| !e.accepted || !e.seen_in.is_empty())
            && self
                .callbacks
                .values()
                .all(|c| !c.accepted || !c.seen_in.is_empty())
            && self.holding.values().all(Vec::is_empty)
    }

    pub fn error(&mut self, what: String) {
        self.errors_total += 1;
        if self.errors.len() < 20 {
            self.errors.push(what);
        }
    }

    pub fn first_errors(&self) -> Vec<String> {
        self.errors.clone()
    }

    /// The messages doubled in a transcript, sent again (with who saw it
    /// in which changes) or out of order (at most 20), to find them in the
    /// nodes' logs.
    pub fn doubles(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .messages
            .iter()
            .flat_map(|(key, m)| {
                let in_changes = m
                    .seen
                    .iter()
                    .filter(|(_, seqs)| seqs.len() > 1)
                    .map(move |(who, seqs)| format!("{key}: {who} saw it in changes {seqs:?}"));
                let in_transcript = m
                    .audited
                    .filter(|(n, _)| *n > 1)
                    .map(|(n, _)| format!("{key}: {n} times in the transcript"));
                in_changes.chain(in_transcript)
            })
            .chain(self.out_of_order().into_iter().map(|(later, earlier)| {
                format!("{later}: before {earlier}, which was acknowledged before it was sent")
            }))
            .collect();
        out.sort();
        out.truncate(20);
        out
    }

    pub fn tally(&self) -> Tally {
        let mut t = Tally {
            chats_started: self.chats_started,
            chats_ended: self.chats_ended,
            wrap_ups: self.wrap_ups,
            transfers: self.transfers,
            longest_gap_ms: self.longest_gap_ms,
            messages_out_of_order: self.out_of_order().len() as u64,
            errors: self.errors_total,
            ..Tally::default()
        };
        for phase in self.phases.values() {
            match phase {
                Phase::Waiting => t.waiting += 1,
                Phase::Talking => t.talking += 1,
                Phase::Idle => {}
            }
        }
        for m in self.messages.values() {
            t.messages_sent += 1;
            let seen = !m.seen.is_empty() || m.in_transcript;
            t.messages_doubled += u64::from(m.audited.is_some_and(|(n, _)| n > 1));
            t.messages_resent += u64::from(m.seen.values().any(|seqs| seqs.len() > 1));
            if m.acked_at.is_some() {
                t.messages_acknowledged += 1;
                if seen {
                    t.messages_delivered += 1;
                } else {
                    t.messages_undelivered += 1;
                    t.messages_lost += u64::from(matches!(m.audited, Some((0, _))));
                }
            }
        }
        for e in self.emails.values() {
            t.emails_sent += u64::from(e.sent);
            t.emails_accepted += u64::from(e.accepted);
            t.emails_present += u64::from(e.accepted && !e.seen_in.is_empty());
            t.emails_doubled += u64::from(e.seen_in.len() > 1);
        }
        for c in self.callbacks.values() {
            t.callbacks_requested += u64::from(c.sent);
            t.callbacks_acknowledged += u64::from(c.accepted);
            t.callbacks_present += u64::from(c.accepted && !c.seen_in.is_empty());
        }
        let mut latencies = self.latencies_ms.clone();
        latencies.sort_unstable();
        t.latency_p50_ms = percentile(&latencies, 50);
        t.latency_p99_ms = percentile(&latencies, 99);
        t.latency_max_ms = latencies.last().copied().unwrap_or(0);
        t
    }
}

/// The nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[u64], p: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_acknowledged_and_never_seen_is_undelivered_and_lost_once_audited_absent() {
        let mut l = Ledger::default();
        l.sent("c", "m1", true);
        l.acked("c", "m1");
        l.sent("c", "m2", true);
        l.acked("c", "m2");
        l.seen("c", "m2", "alice", Some(10));
        let t = l.tally();
        assert_eq!((t.messages_acknowledged, t.messages_delivered), (2, 1));
        assert_eq!((t.messages_undelivered, t.messages_lost), (1, 0));
        l.audited("c", &[]);
        assert_eq!(l.tally().messages_lost, 1);
        assert!(!l.settled());
    }

    #[test]
    fn twice_in_the_transcript_is_a_double_and_a_message_after_a_later_one_is_out_of_order() {
        let mut l = Ledger::default();
        for id in ["m1", "m2"] {
            l.sent("c", id, true);
            l.acked("c", id);
        }
        l.seen("c", "m2", "alice", Some(11));
        l.seen("c", "m1", "alice", Some(12));
        // Another agent after a transfer is not sent again; the same
        // change again is not either.
        l.seen("c", "m1", "bob", Some(12));
        l.seen("c", "m1", "alice", Some(12));
        assert_eq!(l.tally().messages_resent, 0);
        // A heal's copy in a later change: sent again, shown once.
        l.seen("c", "m2", "alice", Some(13));
        l.audited("c", &["m1", "m2"]);
        let t = l.tally();
        assert_eq!(
            (
                t.messages_resent,
                t.messages_doubled,
                t.messages_out_of_order
            ),
            (1, 0, 0)
        );
        // m1 was acknowledged before m2 was sent: m2 before it is out of
        // order; m2 twice is a double.
        l.audited("c", &["m2", "m1", "m2"]);
        let t = l.tally();
        assert_eq!((t.messages_doubled, t.messages_out_of_order), (1, 1));
    }

    /// A found callback whose id the customer heard only later (its
    /// answer came after a retry across a switchover, while an agent had
    /// already called back) is present, not missing.
    #[test]
    fn a_callback_found_before_its_customer_heard_its_id_is_present() {
        let mut l = Ledger::default();
        l.callback_requested("k1");
        l.callback_found("callback-1", "alice");
        l.callback_acknowledged("k1", "callback-1");
        let t = l.tally();
        assert_eq!((t.callbacks_acknowledged, t.callbacks_present), (1, 1));
        assert!(l.unfound().is_empty());
    }

    #[test]
    fn emails_and_callbacks_are_present_once() {
        let mut l = Ledger::default();
        l.email_sent("e1");
        l.email_accepted("e1");
        l.callback_requested("k1");
        l.callback_acknowledged("k1", "callback-1");
        assert!(!l.settled());
        l.email_found("e1", "email-1");
        l.callback_found("callback-1", "alice");
        assert!(l.settled());
        let t = l.tally();
        assert_eq!(
            (t.emails_present, t.emails_doubled, t.callbacks_present),
            (1, 0, 1)
        );
        l.email_found("e1", "email-2");
        assert_eq!(l.tally().emails_doubled, 1);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&[], 50), 0);
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), 50);
        assert_eq!(percentile(&values, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
    }
}

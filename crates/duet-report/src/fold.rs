//! The sans-IO core of a reporting writer: one committed change at its
//! position in, rows out. It keeps only what rows need of the
//! interactions still open (their summaries); closed ones leave it, so it
//! holds no more than the node's live state does. It reads no clock:
//! every time is the change's own `at_ms`.
//!
//! It follows the interaction state's rules as the changes show them
//! (`duet-interactions`' lifecycle): a conferenced agent or a supervisor
//! who disconnects only leaves; a disconnect while waiting is an abandon
//! when the customer (or the router, for a customer gone) made it; a
//! takeover keeps what its media's recovery keeps and ends the rest.
//! After a gap (the stream could not go on from where the database
//! stopped) what happened to the interactions open then is unknown: they
//! are marked (`crossed_gap`), and each later change to one, or to an
//! interaction never seen created, makes an [`UncertainRow`] beside
//! whatever else it makes, so a report knows not to take that time from
//! this database.

use std::collections::BTreeMap;

use duet_interactions::change::{Actor, Change, Command, TransferTarget};
use duet_interactions::model::ChosenStatus;

use crate::Position;
use crate::disposition::Disposition;
use crate::rows::{
    ActivityRow, Phase, QueueEventKind, QueueEventRow, Row, SegmentRow, Summary, UncertainRow,
    WrapUpRow,
};

/// The open interactions, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fold {
    open: BTreeMap<String, Summary>,
}

/// The rows one change makes, gathered as the change is read.
struct Out<'a> {
    at: Position,
    at_ms: u64,
    rows: &'a mut Vec<Row>,
}

impl Out<'_> {
    fn event(&mut self, s: &Summary, kind: QueueEventKind, duration_ms: u64) {
        self.agent_event(s, kind, duration_ms, None);
    }

    /// A queue event about what `agent` did.
    fn agent_event(
        &mut self,
        s: &Summary,
        kind: QueueEventKind,
        duration_ms: u64,
        agent: Option<String>,
    ) {
        self.rows.push(Row::QueueEvent(QueueEventRow {
            position: self.at,
            interaction: s.id.clone(),
            queue: s.queue.clone(),
            media: s.media.name().to_string(),
            at_ms: self.at_ms,
            kind,
            duration_ms,
            agent,
        }));
    }

    /// Ends the stretch in the current phase (its segment row, and its
    /// time in talk or hold) and starts `next`.
    fn next_phase(&mut self, s: &mut Summary, next: Phase) {
        let took_ms = self.at_ms.saturating_sub(s.phase_since_ms);
        match s.phase {
            Phase::Connected { .. } => s.talk_ms += took_ms,
            Phase::Held { .. } => s.hold_ms += took_ms,
            Phase::Ended { .. } => s.wrap_ms += took_ms,
            Phase::Queued | Phase::Offered { .. } => {}
        }
        self.rows.push(Row::Segment(SegmentRow {
            position: self.at,
            interaction: s.id.clone(),
            kind: s.phase.segment_kind().to_string(),
            agent: s.phase.agent().map(str::to_string),
            queue: s.queue.clone(),
            start_ms: s.phase_since_ms,
            end_ms: self.at_ms.max(s.phase_since_ms),
            seqno: s.seqno,
        }));
        s.phase = next;
        s.phase_since_ms = self.at_ms;
    }
}

impl Fold {
    /// A fold that carries on from the open interactions a database kept.
    pub fn restore(open: impl IntoIterator<Item = Summary>) -> Fold {
        Fold {
            open: open.into_iter().map(|s| (s.id.clone(), s)).collect(),
        }
    }

    pub fn open(&self) -> impl Iterator<Item = &Summary> {
        self.open.values()
    }

    /// The stream had a gap: every open interaction crossed it. Their
    /// summaries as they now stand, to write.
    pub fn cross_gap(&mut self) -> Vec<Summary> {
        self.open
            .values_mut()
            .map(|s| {
                s.crossed_gap = true;
                s.clone()
            })
            .collect()
    }

    /// The rows the change at `at` makes: the archive's first (told from
    /// the open interactions before it), summaries last, one per
    /// interaction the change touched, as they stand after it.
    pub fn apply(&mut self, at: Position, command: &Command) -> Vec<Row> {
        let mut rows = archive::rows(at, command, &self.open);
        let mut out = Out {
            at,
            at_ms: command.at_ms,
            rows: &mut rows,
        };
        let touched = match &command.change {
            Change::Create(new) => {
                if self.open.contains_key(&new.id) {
                    Vec::new()
                } else {
                    let s = Summary {
                        id: new.id.clone(),
                        media: new.media,
                        queue: new.queue.clone(),
                        created_ms: command.at_ms,
                        queue_since_ms: command.at_ms,
                        answered_ms: None,
                        wait_ms: None,
                        ended_ms: None,
                        closed_ms: None,
                        phase: Phase::Queued,
                        phase_since_ms: command.at_ms,
                        talk_ms: 0,
                        hold_ms: 0,
                        wrap_ms: 0,
                        disposition: None,
                        agents: Vec::new(),
                        conference: Default::default(),
                        supervisors: Default::default(),
                        transfers: 0,
                        seqno: 0,
                        assigned: false,
                        visit_answered: false,
                        wrap_code: None,
                        position: at,
                        last_change_ms: command.at_ms,
                        crossed_gap: false,
                    };
                    out.event(&s, QueueEventKind::Offered, 0);
                    self.open.insert(s.id.clone(), s);
                    vec![new.id.clone()]
                }
            }
            Change::Takeover { recovery } => {
                let mut touched = Vec::new();
                for s in self.open.values_mut() {
                    if recovery.keeps(s.media, s.assigned) {
                        s.seqno = s.seqno.saturating_add(1);
                        if let Phase::Offered { .. } = s.phase {
                            out.next_phase(s, Phase::Queued);
                        }
                    } else {
                        out.next_phase(s, Phase::Queued);
                        s.disposition.get_or_insert(Disposition::EndedByFailover);
                        s.ended_ms.get_or_insert(command.at_ms);
                        s.closed_ms = Some(command.at_ms);
                        out.event(s, QueueEventKind::Lost, 0);
                    }
                    touched.push(s.id.clone());
                }
                touched
            }
            Change::Forget { id } => match self.open.get_mut(id) {
                // The state forgets only closed interactions: one still
                // in wrap-up here was closed at its disconnect (its queue
                // asks no wrap-up). Its row says so, so a writer that
                // restarts does not take it for open.
                Some(s) => {
                    s.closed_ms = s.ended_ms.or(Some(command.at_ms));
                    vec![id.clone()]
                }
                None => Vec::new(),
            },
            change => {
                if let Some(row) = activity(at, command) {
                    out.rows.push(Row::Activity(row));
                }
                match change.interaction() {
                    Some(id) => match self.open.get_mut(id) {
                        Some(s) => {
                            interaction_change(&mut out, s, &command.actor, change);
                            vec![s.id.clone()]
                        }
                        // Never seen created: it began before the stream
                        // this database holds, or in a gap.
                        None if counted(change) => {
                            out.rows.push(Row::Uncertain(UncertainRow {
                                position: at,
                                interaction: id.to_string(),
                                at_ms: command.at_ms,
                            }));
                            Vec::new()
                        }
                        None => Vec::new(),
                    },
                    None => Vec::new(),
                }
            }
        };
        for id in touched {
            let Some(s) = self.open.get_mut(&id) else {
                continue;
            };
            s.position = at;
            s.last_change_ms = command.at_ms;
            if s.crossed_gap && counted(&command.change) {
                rows.push(Row::Uncertain(UncertainRow {
                    position: at,
                    interaction: id.clone(),
                    at_ms: command.at_ms,
                }));
            }
            // A closed interaction leaves the fold with its last row.
            let summary = if s.closed_ms.is_some() {
                self.open.remove(&id)
            } else {
                Some(s.clone())
            };
            rows.extend(summary.map(|s| Row::Summary(Box::new(s))));
        }
        rows
    }
}

/// An agent's activity row, for the changes that are one.
fn activity(at: Position, command: &Command) -> Option<ActivityRow> {
    let row =
        |agent: &str, kind: &str, status: Option<String>, reason: Option<String>| ActivityRow {
            position: at,
            agent: agent.to_string(),
            at_ms: command.at_ms,
            kind: kind.to_string(),
            status,
            reason,
            media: Vec::new(),
        };
    let names = |media: &[duet_interactions::MediaType]| {
        media.iter().map(|m| m.name().to_string()).collect()
    };
    Some(match &command.change {
        Change::AgentLogin { agent, media } => ActivityRow {
            media: names(media),
            ..row(agent, "login", None, None)
        },
        Change::AgentLogout {
            agent,
            media,
            reason_code,
        } => ActivityRow {
            media: names(media),
            ..row(
                agent,
                "logout",
                media.is_empty().then(|| "logged_out".to_string()),
                Some(reason_code.to_string()),
            )
        },
        Change::AgentStatus { agent, status } => {
            let (status, reason) = match status {
                ChosenStatus::Available => ("available", None),
                ChosenStatus::NotReady { reason } => ("not_ready", Some(reason.clone())),
                ChosenStatus::NonAcd { name } => ("non_acd", Some(name.clone())),
            };
            row(agent, "status", Some(status.to_string()), reason)
        }
        Change::AcwExpired { agent } => row(agent, "acw_expired", None, None),
        _ => return None,
    })
}

/// Whether `change` can move what an interaction counts (its phase, its
/// queue, its agents, its end); a message or a delivery cannot.
fn counted(change: &Change) -> bool {
    matches!(
        change,
        Change::Offer { .. }
            | Change::Accept { .. }
            | Change::Reject { .. }
            | Change::OfferTimedOut { .. }
            | Change::Hold { .. }
            | Change::Resume { .. }
            | Change::Transfer { .. }
            | Change::Conference { .. }
            | Change::Supervise { .. }
            | Change::Disconnect { .. }
            | Change::WrapUp { .. }
            | Change::Takeover { .. }
            | Change::Forget { .. }
    )
}

/// A change to an open interaction (one that is not about its phase,
/// such as a message, changes only its last change time).
fn interaction_change(out: &mut Out<'_>, s: &mut Summary, actor: &Actor, change: &Change) {
    let at_ms = out.at_ms;
    match change {
        Change::Offer { agent, .. } if s.phase == Phase::Queued => {
            s.assigned = true;
            out.next_phase(
                s,
                Phase::Offered {
                    agent: agent.clone(),
                },
            );
        }
        Change::Accept { agent, .. } if matches!(s.phase, Phase::Offered { .. }) => {
            out.next_phase(
                s,
                Phase::Connected {
                    agent: agent.clone(),
                },
            );
            if !s.agents.contains(agent) {
                s.agents.push(agent.clone());
            }
            let wait_ms = at_ms.saturating_sub(s.queue_since_ms);
            if s.answered_ms.is_none() {
                s.answered_ms = Some(at_ms);
                s.wait_ms = Some(at_ms.saturating_sub(s.created_ms));
            }
            if !s.visit_answered {
                s.visit_answered = true;
                out.agent_event(s, QueueEventKind::Answered, wait_ms, Some(agent.clone()));
            }
        }
        Change::Reject { .. } | Change::OfferTimedOut { .. }
            if matches!(s.phase, Phase::Offered { .. }) =>
        {
            out.next_phase(s, Phase::Queued);
        }
        Change::Hold { .. } => {
            if let Phase::Connected { agent } = &s.phase {
                let agent = agent.clone();
                out.next_phase(s, Phase::Held { agent });
            }
        }
        Change::Resume { .. } => {
            if let Phase::Held { agent } = &s.phase {
                let agent = agent.clone();
                out.next_phase(s, Phase::Connected { agent });
            }
        }
        Change::Transfer { to, .. } if !matches!(s.phase, Phase::Ended { .. }) => {
            // The agent who held it transferred it (none from a queue).
            let by = match &s.phase {
                Phase::Connected { agent } | Phase::Held { agent } => Some(agent.clone()),
                _ => None,
            };
            out.agent_event(s, QueueEventKind::Transferred, 0, by);
            out.next_phase(s, Phase::Queued);
            s.transfers += 1;
            // An agent's user queue is named after the agent unless its
            // `user_queue` attribute names another, which the stream does
            // not carry.
            s.queue = match to {
                TransferTarget::Queue(q) => q.clone(),
                TransferTarget::Agent(a) => {
                    s.assigned = true;
                    a.clone()
                }
            };
            s.queue_since_ms = at_ms;
            s.visit_answered = false;
            s.conference.clear();
            out.event(s, QueueEventKind::Offered, 0);
        }
        Change::Conference { agent, .. } => {
            s.conference.insert(agent.clone());
            if !s.agents.contains(agent) {
                s.agents.push(agent.clone());
            }
        }
        Change::Supervise { user, .. } => {
            s.supervisors.insert(user.clone());
        }
        Change::Disconnect { .. } => disconnect(out, s, actor),
        Change::WrapUp { code, notes, .. } => {
            let Phase::Ended { agent } = &s.phase else {
                return;
            };
            let agent = agent.clone();
            let before_ms = s.wrap_ms;
            out.next_phase(s, Phase::Queued);
            out.agent_event(
                s,
                QueueEventKind::Wrapped,
                s.wrap_ms - before_ms,
                Some(agent.clone()),
            );
            out.rows.push(Row::WrapUp(WrapUpRow {
                position: out.at,
                interaction: s.id.clone(),
                agent,
                code: code.clone(),
                notes: notes.clone(),
                at_ms,
                seqno: s.seqno,
            }));
            s.wrap_code = Some(code.clone());
            s.closed_ms = Some(at_ms);
        }
        _ => {}
    }
}

/// The command's actor ends the interaction, or only leaves it.
fn disconnect(out: &mut Out<'_>, s: &mut Summary, actor: &Actor) {
    let at_ms = out.at_ms;
    match actor {
        Actor::User(u) if s.supervisors.remove(u) => return,
        Actor::Agent(a) if s.conference.remove(a) => return,
        _ => {}
    }
    match s.phase.clone() {
        Phase::Queued | Phase::Offered { .. } => {
            let abandoned = matches!(actor, Actor::Customer | Actor::Router);
            out.next_phase(s, Phase::Queued);
            if abandoned {
                out.event(
                    s,
                    QueueEventKind::Abandoned,
                    at_ms.saturating_sub(s.queue_since_ms),
                );
            }
            // The router ends a waiting chat only when its customer has
            // been gone too long (`presence`): the seed's 42.
            s.disposition = Some(match actor {
                Actor::Router => Disposition::PathWentDown,
                Actor::Customer => Disposition::Abandoned,
                _ => Disposition::EndedInQueue,
            });
            s.ended_ms = Some(at_ms);
            s.closed_ms = Some(at_ms);
        }
        Phase::Connected { agent } | Phase::Held { agent } => {
            out.next_phase(
                s,
                Phase::Ended {
                    agent: agent.clone(),
                },
            );
            out.agent_event(
                s,
                QueueEventKind::Handled,
                s.talk_ms + s.hold_ms,
                Some(agent),
            );
            s.disposition = Some(match actor {
                Actor::Customer => Disposition::CustomerEnded,
                Actor::Agent(_) => Disposition::AgentEnded,
                _ => Disposition::SystemEnded,
            });
            s.ended_ms = Some(at_ms);
            s.conference.clear();
        }
        // A supervisor or an administrator ends a wrap-up its agent left:
        // closed without a code.
        Phase::Ended { .. } => {
            if let Actor::User(_) = actor {
                out.next_phase(s, Phase::Queued);
                s.closed_ms = Some(at_ms);
            }
        }
    }
}

mod archive;
#[cfg(test)]
pub(crate) mod tests;

//! Making a checked command: the agent side (logins, statuses, after call
//! work) and the bookkeeping of what each agent holds.

use super::{Applied, Interactions};
use crate::change::Change;
use crate::model::{Agent, AgentStatus, ChosenStatus, Desktop, InteractionState, MediaType};

impl Interactions {
    pub(crate) fn mutate_agent(&mut self, change: &Change, at: u64, out: &mut Applied) {
        match change {
            Change::AgentLogin { agent, media } => {
                let media: Vec<MediaType> = if media.is_empty() {
                    self.config
                        .agent(agent)
                        .map(|c| {
                            c.capacity
                                .iter()
                                .filter(|(_, n)| **n > 0)
                                .map(|(m, _)| *m)
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    media.clone()
                };
                self.live
                    .agents
                    .get_or_insert_with(agent, || Agent::new(agent, at));
                let was_out = self.edit_agent(agent, |a| {
                    a.logged_in.extend(media);
                    matches!(a.status, AgentStatus::LoggedOut { .. })
                });
                if was_out == Some(true) {
                    self.set_status(agent, AgentStatus::Available, at);
                }
                out.agents.insert(agent.clone());
            }
            Change::AgentLogout {
                agent,
                media,
                reason_code,
            } => {
                self.live
                    .agents
                    .get_or_insert_with(agent, || Agent::new(agent, at));
                let Some(leaving) = self.edit_agent(agent, |a| {
                    let leaving: Vec<MediaType> = if media.is_empty() {
                        a.logged_in.iter().copied().collect()
                    } else {
                        media.clone()
                    };
                    for m in &leaving {
                        a.logged_in.remove(m);
                    }
                    // Logged out: a lost desktop has nothing left to time.
                    if a.logged_in.is_empty() && matches!(a.desktop, Desktop::Detached { .. }) {
                        a.desktop = Desktop::None;
                    }
                    leaving
                }) else {
                    return;
                };
                // Pending offers of those media go back to waiting; what
                // the agent is connected to stays theirs.
                let offered: Vec<String> = self
                    .live
                    .agents
                    .get(agent)
                    .map(|a| {
                        leaving
                            .iter()
                            .filter_map(|m| a.assigned.get(m))
                            .flatten()
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                for id in offered {
                    let is_offer = self.live.interactions.get(&id).is_some_and(|ix| {
                        matches!(&ix.state, InteractionState::Offered { agent: a, .. } if a == agent)
                    });
                    if is_offer {
                        self.withdraw_offer(&id, agent, false, at, out);
                    }
                }
                let none_left = self
                    .live
                    .agents
                    .get(agent)
                    .is_some_and(|a| a.logged_in.is_empty());
                if none_left {
                    let status = AgentStatus::LoggedOut {
                        reason_code: *reason_code,
                    };
                    self.set_status(agent, status, at);
                }
                out.agents.insert(agent.clone());
            }
            Change::AgentStatus { agent, status } => {
                let in_acw = self
                    .live
                    .agents
                    .get(agent)
                    .is_some_and(|a| matches!(a.status, AgentStatus::AfterCallWork { .. }));
                if in_acw && *status != ChosenStatus::Available {
                    // Chosen during the work: it follows the work.
                    self.edit_agent(agent, |a| {
                        if let AgentStatus::AfterCallWork { then, .. } = &mut a.status {
                            *then = status.clone();
                        }
                    });
                } else {
                    self.set_status(agent, status.clone().into(), at);
                }
                out.agents.insert(agent.clone());
            }
            Change::DesktopAttached { agent } | Change::DesktopDetached { agent } => {
                let desktop = match change {
                    Change::DesktopAttached { .. } => Desktop::Attached,
                    _ => Desktop::Detached { since_ms: at },
                };
                self.live
                    .agents
                    .get_or_insert_with(agent, || Agent::new(agent, at));
                self.edit_agent(agent, |a| a.desktop = desktop);
                out.agents.insert(agent.clone());
            }
            Change::AcwExpired { agent } => {
                let then = self.live.agents.get(agent).and_then(|a| match &a.status {
                    AgentStatus::AfterCallWork { then, .. } => Some(then.clone()),
                    _ => None,
                });
                if let Some(then) = then {
                    self.set_status(agent, then.into(), at);
                }
                self.close_uncoded_wrap_ups(agent, at, out);
                out.agents.insert(agent.clone());
            }
            _ => {}
        }
    }

    /// When after call work ends, wrap-ups that need no code close.
    fn close_uncoded_wrap_ups(&mut self, agent: &str, at: u64, out: &mut Applied) {
        let held: Vec<String> = self
            .live
            .agents
            .get(agent)
            .map(|a| a.assigned.values().flatten().cloned().collect())
            .unwrap_or_default();
        for id in held {
            let Some(ix) = self.live.interactions.get(&id) else {
                continue;
            };
            let wrapping = matches!(&ix.state, InteractionState::WrapUp { agent: a } if a == agent);
            let code_needed = self
                .config
                .queue(&ix.routing.queue)
                .is_ok_and(|q| !q.wrap_up_codes.is_empty());
            if wrapping && !code_needed {
                let media = ix.media;
                self.release(agent, media, &id, at, out);
                self.close(&id, false, at, out);
            }
        }
    }

    /// Starts (or extends) after call work until `until_ms`; the status
    /// the agent had follows it, as the seeds' wrap-up rule says.
    pub(crate) fn start_acw(&mut self, agent: &str, until_ms: u64, at: u64, out: &mut Applied) {
        let Some(status) = self.live.agents.get(agent).map(|a| a.status.clone()) else {
            return;
        };
        let next = match status {
            AgentStatus::Available => AgentStatus::AfterCallWork {
                until_ms,
                then: ChosenStatus::Available,
            },
            AgentStatus::NotReady { reason } => AgentStatus::AfterCallWork {
                until_ms,
                then: ChosenStatus::NotReady { reason },
            },
            AgentStatus::AfterCallWork { until_ms: u, then } => AgentStatus::AfterCallWork {
                until_ms: u.max(until_ms),
                then,
            },
            // Non-ACD and logged-out agents keep their status.
            AgentStatus::NonAcd { .. } | AgentStatus::LoggedOut { .. } => return,
        };
        self.edit_agent(agent, |a| {
            a.status = next;
            a.status_since_ms = at;
        });
        out.agents.insert(agent.to_string());
    }

    /// Changes an agent, keeping the indexes in step.
    pub(crate) fn edit_agent<R>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Agent) -> R,
    ) -> Option<R> {
        let agent = self.live.agents.get_mut(name)?;
        self.index.remove_agent(agent);
        let r = f(agent);
        self.index
            .add_agent(agent, self.config.directory.agents.get(name));
        Some(r)
    }

    pub(crate) fn set_status(&mut self, agent: &str, status: AgentStatus, at: u64) {
        self.edit_agent(agent, |a| {
            if status == AgentStatus::Available && a.total_load() == 0 {
                a.last_became_idle_ms = at;
            }
            a.status = status;
            a.status_since_ms = at;
            a.no_answers = 0;
            a.no_answer_queue = None;
        });
    }

    pub(crate) fn assign(&mut self, agent: &str, media: MediaType, id: &str, out: &mut Applied) {
        self.edit_agent(agent, |a| {
            a.assigned.entry(media).or_default().insert(id.to_string());
        });
        out.agents.insert(agent.to_string());
    }

    pub(crate) fn release(
        &mut self,
        agent: &str,
        media: MediaType,
        id: &str,
        at: u64,
        out: &mut Applied,
    ) {
        self.edit_agent(agent, |a| {
            if let Some(set) = a.assigned.get_mut(&media) {
                set.remove(id);
                if set.is_empty() {
                    a.assigned.remove(&media);
                }
            }
            if a.total_load() == 0 {
                a.last_became_idle_ms = at;
            }
        });
        out.agents.insert(agent.to_string());
    }
}

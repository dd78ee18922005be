//! Who may hold what: the checks an offer or a conference makes of an
//! agent (membership, status, skills, login and capacity).

use super::Interactions;
use crate::error::{Error, Result};
use crate::model::{Agent, AgentStatus, Interaction, MediaType};

impl Interactions {
    /// Whether the router may offer `ix` to `agent`: a user-queue
    /// interaction only to its owner (in any logged-in status); an ACD one
    /// to a member who is Available, has the skills and spare capacity.
    pub(crate) fn check_may_offer(&self, ix: &Interaction, agent: &str) -> Result<()> {
        let cfg = self.config.agent(agent)?;
        let queue = &ix.routing.queue;
        if let Some(owner) = self.config.user_queue_owner(queue) {
            if owner != agent {
                return Err(Error::NotAMember {
                    agent: agent.to_string(),
                    queue: queue.to_string(),
                });
            }
            self.logged_in_agent(agent)?;
            return self.check_can_hold(agent, ix.media);
        }
        let q = self.config.queue(queue)?;
        if !q.members.contains_key(agent) {
            return Err(Error::NotAMember {
                agent: agent.to_string(),
                queue: queue.to_string(),
            });
        }
        let live = self.logged_in_agent(agent)?;
        match &live.status {
            AgentStatus::Available => {}
            AgentStatus::NonAcd { name } => {
                return Err(Error::NonAcdStatus {
                    agent: agent.to_string(),
                    status: name.clone(),
                });
            }
            other => {
                return Err(Error::NotAvailable {
                    agent: agent.to_string(),
                    status: other.name().to_string(),
                });
            }
        }
        for (skill, level) in &ix.routing.skills {
            if cfg.skills.get(skill.as_str()).copied().unwrap_or(0) < *level {
                return Err(Error::SkillsNotMet {
                    agent: agent.to_string(),
                    skill: skill.to_string(),
                    level: *level,
                });
            }
        }
        self.check_can_hold(agent, ix.media)
    }

    /// Logged in for `media` and below that media's capacity.
    pub(crate) fn check_can_hold(&self, agent: &str, media: MediaType) -> Result<()> {
        let live = self.logged_in_agent(agent)?;
        if !live.logged_in.contains(&media) {
            return Err(Error::NotLoggedIn {
                agent: agent.to_string(),
                media,
            });
        }
        let capacity = self.config.agent(agent)?.capacity(media);
        if live.load(media) >= capacity {
            return Err(Error::CapacityExceeded {
                agent: agent.to_string(),
                media,
                capacity,
            });
        }
        Ok(())
    }

    pub(crate) fn interaction(&self, id: &str) -> Result<&Interaction> {
        self.live
            .interactions
            .get(id)
            .ok_or_else(|| Error::UnknownInteraction { id: id.to_string() })
    }

    pub(crate) fn logged_in_agent(&self, agent: &str) -> Result<&Agent> {
        match self.live.agents.get(agent) {
            Some(a) if !matches!(a.status, AgentStatus::LoggedOut { .. }) => Ok(a),
            _ => Err(Error::LoggedOut {
                agent: agent.to_string(),
            }),
        }
    }
}

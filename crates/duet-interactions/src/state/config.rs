//! The directory with the lookups the state needs, indexed once per
//! directory change.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::model::{AgentConfig, Directory, QueueConfig};

#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    pub directory: Directory,
    /// User queue -> its agent.
    pub user_queues: BTreeMap<String, String>,
}

impl Config {
    pub fn new(directory: Directory) -> Self {
        let user_queues = directory
            .agents
            .iter()
            .filter(|(_, a)| !a.user_queue.is_empty())
            .map(|(name, a)| (a.user_queue.clone(), name.clone()))
            .collect();
        Config {
            directory,
            user_queues,
        }
    }

    /// A workgroup queue's settings, or the user queues' settings.
    pub fn queue(&self, queue: &str) -> Result<&QueueConfig> {
        if let Some(q) = self.directory.queues.get(queue) {
            return Ok(q);
        }
        if self.user_queues.contains_key(queue) {
            return Ok(&self.directory.settings.user_queue);
        }
        Err(Error::UnknownQueue {
            queue: queue.to_string(),
        })
    }

    pub fn user_queue_owner(&self, queue: &str) -> Option<&str> {
        self.user_queues.get(queue).map(String::as_str)
    }

    pub fn agent(&self, agent: &str) -> Result<&AgentConfig> {
        self.directory.agents.get(agent).ok_or(Error::UnknownAgent {
            agent: agent.to_string(),
        })
    }
}

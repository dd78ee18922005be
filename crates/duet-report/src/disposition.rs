//! How an interaction ended, as reports show it. The seed's termination
//! records carry numeric statuses (27: ended by a failover; 42: its path
//! went down for longer than its task may live); duet keeps a
//! number for each so a report of either kind lines up, and the words.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// The customer ended a connected interaction.
    CustomerEnded,
    /// The agent (its owner) ended it.
    AgentEnded,
    /// A supervisor or administrator, or duet itself, ended it.
    SystemEnded,
    /// The customer left while it waited (queued or offered).
    Abandoned,
    /// Ended while it waited, by an agent, a supervisor or duet: not the
    /// customer's doing, so not an abandon.
    EndedInQueue,
    /// A takeover could not keep it (its media's recovery is off): the
    /// seed's status 27.
    EndedByFailover,
    /// Its customer's connection was down (no socket, no message) for
    /// longer than `customer_gone_abandon_ms` while it waited, and duet
    /// ended it: the seed's 42, a task whose life ran out while its path
    /// was down. Counted as abandoned.
    PathWentDown,
}

impl Disposition {
    /// Every disposition, in the order docs/reporting.md lists them.
    pub const ALL: [Disposition; 7] = [
        Disposition::CustomerEnded,
        Disposition::AgentEnded,
        Disposition::SystemEnded,
        Disposition::Abandoned,
        Disposition::EndedInQueue,
        Disposition::EndedByFailover,
        Disposition::PathWentDown,
    ];

    /// The number a report carries (the seed's where it has one).
    pub fn code(self) -> u32 {
        match self {
            Disposition::CustomerEnded => 1,
            Disposition::AgentEnded => 2,
            Disposition::SystemEnded => 3,
            Disposition::Abandoned => 4,
            Disposition::EndedInQueue => 5,
            Disposition::EndedByFailover => 27,
            Disposition::PathWentDown => 42,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Disposition::CustomerEnded => "customer_ended",
            Disposition::AgentEnded => "agent_ended",
            Disposition::SystemEnded => "system_ended",
            Disposition::Abandoned => "abandoned",
            Disposition::EndedInQueue => "ended_in_queue",
            Disposition::EndedByFailover => "ended_by_failover",
            Disposition::PathWentDown => "path_went_down",
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Disposition::CustomerEnded => "the customer ended it once connected",
            Disposition::AgentEnded => "its agent ended it",
            Disposition::SystemEnded => "a supervisor, an administrator or duet ended it",
            Disposition::Abandoned => "the customer left while it waited (queued or offered)",
            Disposition::EndedInQueue => "ended while it waited, not by the customer",
            Disposition::EndedByFailover => {
                "a switchover could not keep it (its media's recovery is off): the seed's 27"
            }
            Disposition::PathWentDown => {
                "its customer's connection was down past `customer_gone_abandon_ms` while it waited, and duet ended it (counted as abandoned): the seed's 42, a task whose life ran out while its path was down"
            }
        }
    }

    /// The table docs/reporting.md shows.
    pub fn reference() -> String {
        let mut out = String::from("| code | disposition | meaning |\n|---|---|---|\n");
        for d in Disposition::ALL {
            out.push_str(&format!(
                "| {} | `{}` | {} |\n",
                d.code(),
                d.name(),
                d.meaning()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_reporting_md_shows_the_dispositions() {
        let doc = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/reporting.md"
        ))
        .unwrap();
        assert!(
            doc.contains(&Disposition::reference()),
            "docs/reporting.md's dispositions differ; the table is:\n{}",
            Disposition::reference()
        );
    }
}

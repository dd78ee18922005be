//! The words of the status lines the state adds to a transcript, in one
//! place: the reporting archive tells the same lines from the changes.

use crate::change::Actor;

/// An agent (or a supervisor barging in) joined.
pub fn joined(agent: &str) -> String {
    format!("agent {agent} joined")
}

/// An agent (or a supervisor who barged in) left.
pub fn left(agent: &str) -> String {
    format!("agent {agent} left")
}

/// The conversation ended by `actor`, with its agent connected.
pub fn ended_by(actor: &Actor) -> String {
    match actor {
        Actor::Customer => "customer left".to_string(),
        Actor::Agent(a) => left(a),
        _ => "the conversation was ended".to_string(),
    }
}

/// A supervisor or an administrator closed a wrap-up its agent left.
pub fn wrap_up_ended_by(user: &str) -> String {
    format!("wrap-up ended by {user}")
}

/// Follows a message node `node` took while the nodes were apart.
pub fn healed(node: &str) -> String {
    format!("the message before was taken on {node} while the nodes were apart")
}

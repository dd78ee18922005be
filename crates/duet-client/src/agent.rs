//! The agent's routes: sign in, log in to media, the desktop feed, and
//! actions on interactions, each with the caller's client id.

use serde_json::{Value, json};

use crate::http::{Auth, Client};
use crate::{Error, Feed};

/// A signed-in user's session (it holds on both nodes).
pub fn sign_in(client: &Client, user: &str, password: &str) -> Result<Auth, Error> {
    let answer = client.post(
        "/api/sessions",
        &json!({"user": user, "password": password}),
        &Auth::None,
    )?;
    answer["token"]
        .as_str()
        .map(|t| Auth::Bearer(t.to_string()))
        .ok_or_else(|| Error::BadAnswer {
            what: format!("sign in as {user}"),
            answer: answer.to_string(),
        })
}

/// Logs the agent in to `media` (`chat`, `email`, `callback`, ...).
pub fn log_in(
    client: &Client,
    session: &Auth,
    media: &[&str],
    client_id: &str,
) -> Result<(), Error> {
    client.post(
        "/api/agent/login",
        &json!({"media": media, "client_id": client_id}),
        session,
    )?;
    Ok(())
}

/// `POST /api/interactions/{id}/{action}` with `body` and the client id.
pub fn act(
    client: &Client,
    session: &Auth,
    id: &str,
    action: &str,
    mut body: Value,
    client_id: &str,
) -> Result<Value, Error> {
    body["client_id"] = client_id.into();
    client.post(&format!("/api/interactions/{id}/{action}"), &body, session)
}

/// The whole interaction (an agent that holds it, or a supervisor).
pub fn interaction(client: &Client, session: &Auth, id: &str) -> Result<Value, Error> {
    client.get(&format!("/api/interactions/{id}"), session)
}

/// The agent's desktop feed: its state, then every change that concerns
/// it. Connected to the active node, it is the desktop's presence.
pub fn desktop(client: &Client, session: &Auth) -> Feed {
    let token = match session {
        Auth::Bearer(token) => token.as_str(),
        _ => "",
    };
    Feed::new(
        client.nodes().clone(),
        &format!("/api/agent/ws?token={token}"),
    )
}

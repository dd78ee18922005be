//! The agent's routes: sign in, log in to media, the desktop feed, and
//! actions on interactions, each with the caller's client id.

use duet_api::{Action, Changed, Login, Media, Session};
use duet_interactions::{Interaction, MediaType};

use crate::http::{Auth, Client};
use crate::{Error, Feed};

/// A signed-in user's session (it holds on both nodes).
pub fn sign_in(client: &Client, user: &str, password: &str) -> Result<Auth, Error> {
    let login = Login {
        user: user.to_string(),
        password: password.to_string(),
    };
    let session: Session = client.post("/api/sessions", &login, &Auth::None)?;
    Ok(Auth::Bearer(session.token))
}

/// Logs the agent in to `media`.
pub fn log_in(
    client: &Client,
    session: &Auth,
    media: &[MediaType],
    client_id: &str,
) -> Result<(), Error> {
    let login = Media {
        media: media.to_vec(),
        client_id: Some(client_id.to_string()),
        ..Media::default()
    };
    let _: Changed = client.post("/api/agent/login", &login, session)?;
    Ok(())
}

/// `POST /api/interactions/{id}/{action}` with `body` and the client id;
/// the change's sequence number.
pub fn act(
    client: &Client,
    session: &Auth,
    id: &str,
    action: &str,
    body: Action,
    client_id: &str,
) -> Result<u64, Error> {
    let body = Action {
        client_id: Some(client_id.to_string()),
        ..body
    };
    let done: Changed = client.post(&format!("/api/interactions/{id}/{action}"), &body, session)?;
    Ok(done.seq)
}

/// The whole interaction, live (an agent that holds it, or a supervisor).
pub fn interaction(client: &Client, session: &Auth, id: &str) -> Result<Interaction, Error> {
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

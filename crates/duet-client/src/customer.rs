//! The customer's routes: start a chat, send messages with their own ids,
//! leave, read the transcript, ask for a callback.

use duet_api::{CallbackRequest, Changed, ChatView, Created, Said, Start};

use crate::http::{Auth, Client};
use crate::{Error, Feed};

/// A customer's chat: its id and the token that opens it.
#[derive(Debug, Clone)]
pub struct Chat {
    pub id: String,
    pub token: String,
}

/// The secret that goes with an anonymous creation's client id: only
/// this client holds it, so nobody who learns the client id gets the
/// conversation (see docs/access.md).
fn client_secret(client_id: &str) -> String {
    use std::sync::OnceLock;
    static PROCESS_SECRET: OnceLock<u128> = OnceLock::new();
    let secret = PROCESS_SECRET.get_or_init(rand::random::<u128>);
    format!("{secret:032x}-{}", client_id.len())
}

/// Starts a chat in `queue`; `client_id` names this start, so a resend
/// after a switchover finds the same chat.
pub fn start_chat(
    client: &Client,
    queue: &str,
    name: &str,
    client_id: &str,
) -> Result<Chat, Error> {
    let created: Created =
        client.post("/api/chats", &start(queue, name, client_id), &Auth::None)?;
    Ok(Chat {
        id: created.id,
        token: created.token,
    })
}

/// A new conversation in `queue`, named by the client's id and secret.
fn start(queue: &str, name: &str, client_id: &str) -> Start {
    Start {
        queue: queue.to_string(),
        name: name.to_string(),
        client_id: Some(client_id.to_string()),
        client_secret: Some(client_secret(client_id)),
        ..Start::default()
    }
}

/// Sends a message with its own `message_id` (kept once however often it
/// is sent); the answer's sequence number.
pub fn send(client: &Client, chat: &Chat, message_id: &str, body: &str) -> Result<u64, Error> {
    let said = Said {
        message_id: message_id.to_string(),
        body: body.to_string(),
        ..Said::default()
    };
    let done: Changed = client.post(
        &format!("/api/chats/{}/messages", chat.id),
        &said,
        &Auth::Customer(chat.token.clone()),
    )?;
    Ok(done.seq)
}

/// The customer leaves the chat.
pub fn leave(client: &Client, chat: &Chat) -> Result<(), Error> {
    let said = Said {
        client_id: Some(format!("{}/leave", chat.id)),
        ..Said::default()
    };
    let _: Changed = client.post(
        &format!("/api/chats/{}/leave", chat.id),
        &said,
        &Auth::Customer(chat.token.clone()),
    )?;
    Ok(())
}

/// The chat as the customer sees it (transcript, closed).
pub fn transcript(client: &Client, chat: &Chat) -> Result<ChatView, Error> {
    client.get(
        &format!("/api/chats/{}", chat.id),
        &Auth::Customer(chat.token.clone()),
    )
}

/// The message ids of a chat view's transcript, in order (a resend kept
/// once shows once).
pub fn message_ids(view: &ChatView) -> Vec<&str> {
    view.transcript.iter().map(|m| m.id.as_str()).collect()
}

/// The chat's live feed (transcript first, then its changes; the
/// customer may send `{"message_id", "body"}` on it).
pub fn feed(client: &Client, chat: &Chat) -> Feed {
    Feed::new(
        client.nodes().clone(),
        &format!("/api/chats/{}/ws?token={}", chat.id, chat.token),
    )
}

/// Asks for a callback to `number`; the interaction's id.
pub fn callback(
    client: &Client,
    queue: &str,
    name: &str,
    number: &str,
    client_id: &str,
) -> Result<String, Error> {
    let request = CallbackRequest {
        start: start(queue, name, client_id),
        number: number.to_string(),
        from_ms: None,
        to_ms: None,
    };
    let created: Created = client.post("/api/callbacks", &request, &Auth::None)?;
    Ok(created.id)
}

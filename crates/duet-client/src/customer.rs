//! The customer's routes: start a chat, send messages with their own ids,
//! leave, read the transcript, ask for a callback.

use serde_json::{Value, json};

use crate::http::{Auth, Client};
use crate::{Error, Feed};

/// A customer's chat: its id and the token that opens it.
#[derive(Debug, Clone)]
pub struct Chat {
    pub id: String,
    pub token: String,
}

fn field(answer: &Value, name: &str, what: &str) -> Result<String, Error> {
    answer[name]
        .as_str()
        .map(String::from)
        .ok_or_else(|| Error::BadAnswer {
            what: what.to_string(),
            answer: answer.to_string(),
        })
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
    let answer = client.post(
        "/api/chats",
        &json!({"queue": queue, "name": name, "client_id": client_id, "client_secret": client_secret(client_id)}),
        &Auth::None,
    )?;
    Ok(Chat {
        id: field(&answer, "id", "start a chat")?,
        token: field(&answer, "token", "start a chat")?,
    })
}

/// Sends a message with its own `message_id` (kept once however often it
/// is sent); the answer's sequence number.
pub fn send(client: &Client, chat: &Chat, message_id: &str, body: &str) -> Result<u64, Error> {
    let answer = client.post(
        &format!("/api/chats/{}/messages", chat.id),
        &json!({"message_id": message_id, "body": body}),
        &Auth::Customer(chat.token.clone()),
    )?;
    Ok(answer["seq"].as_u64().unwrap_or_default())
}

/// The customer leaves the chat.
pub fn leave(client: &Client, chat: &Chat) -> Result<(), Error> {
    client.post(
        &format!("/api/chats/{}/leave", chat.id),
        &json!({"client_id": format!("{}/leave", chat.id)}),
        &Auth::Customer(chat.token.clone()),
    )?;
    Ok(())
}

/// The chat as the customer sees it (transcript, closed).
pub fn transcript(client: &Client, chat: &Chat) -> Result<Value, Error> {
    client.get(
        &format!("/api/chats/{}", chat.id),
        &Auth::Customer(chat.token.clone()),
    )
}

/// The message ids of a chat view's transcript, in order (a resend kept
/// once shows once).
pub fn message_ids(view: &Value) -> Vec<&str> {
    view["transcript"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str())
        .collect()
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
    let answer = client.post(
        "/api/callbacks",
        &json!({"queue": queue, "name": name, "number": number, "client_id": client_id, "client_secret": client_secret(client_id)}),
        &Auth::None,
    )?;
    field(&answer, "id", "ask for a callback")
}

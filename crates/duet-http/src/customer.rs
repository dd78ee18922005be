//! The customer's side: web chat (start, send, delivery, leave, read the
//! transcript; a WebSocket in `live`), callback requests, SMS and social
//! messages by signed webhook, and calls reported by the telephony
//! platform. A customer holds a token for its conversation, signed with
//! the pair's session key; nothing else is open.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_api::{CallReport, CallbackRequest, ChatView, Created, Inbound, Said, Start, Taken};
use duet_interactions::model::{
    Call, CallSignal, Callback, CallbackWindow, Content, Party, Sender,
};
use duet_interactions::{Actor, Change, MediaType, NewInteraction};
use serde::Deserialize;

use super::auth::{customer_token, session_key};
use super::customer_view::{Names, chat_view, users_in};
use super::{Refusal, answer, ask, change, done};
use duet_node::replication::{CONVERSATION, IxRequest};
use duet_node::shared::Shared;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/chats", post(start_chat))
        .route("/api/chats/{id}", get(transcript))
        .route("/api/chats/{id}/messages", post(message))
        .route("/api/chats/{id}/delivery", post(delivery))
        .route("/api/chats/{id}/leave", post(leave))
        .route("/api/chats/{id}/ws", get(super::live::customer))
        .route("/api/callbacks", post(callback))
        .route("/api/webhooks/{kind}", post(webhook))
        .route("/api/calls", post(call))
}

/// The bounds of an anonymous creation's `client_secret`.
const CLIENT_SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=128;

/// The key of an anonymous creation: the client's id with its secret,
/// so another caller reusing the id makes a conversation of its own and
/// never learns the first one's id or token.
fn anonymous_key(kind: &str, start: &Start) -> Result<Option<String>, Refusal> {
    let Some(client) = &start.client_id else {
        return Ok(None);
    };
    super::client_id(Some(client.clone()))?;
    match &start.client_secret {
        Some(secret) if CLIENT_SECRET_CHARS.contains(&secret.chars().count()) => {
            Ok(Some(format!("{kind}\n{client}\n{secret}")))
        }
        _ => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!(
                "client_id comes with client_secret ({} to {} characters the customer made and keeps), so nobody else who learns the client id gets this conversation",
                CLIENT_SECRET_CHARS.start(),
                CLIENT_SECRET_CHARS.end()
            ),
        )),
    }
}

/// Creates an interaction for a customer; answers its id and token. With
/// a `key` (see `ids`) a retry names the same interaction and is applied
/// once; without one it is new.
async fn create(
    shared: &Shared,
    prefix: &str,
    media: MediaType,
    start: Start,
    content: Content,
    lookup: Option<String>,
) -> Response {
    let result = async {
        let key = session_key(shared)?;
        let id = match &lookup {
            Some(lookup) => duet_node::ids::keyed(Some(key), prefix, lookup),
            None => duet_node::ids::random(prefix),
        };
        let client = format!("{id}/create");
        let new = NewInteraction {
            id: id.clone(),
            media,
            queue: start.queue,
            priority: start.priority,
            skills: start.skills,
            attributes: start.attributes,
            customer: Party {
                address: start.address.into(),
                name: start.name.into(),
            },
            content,
        };
        let seq = change(
            shared,
            Some(client),
            Actor::Customer,
            Change::Create(Box::new(new)),
        )
        .await?;
        Ok(Created {
            token: customer_token(key, &id),
            id,
            seq,
        })
    }
    .await;
    answer(result)
}

/// Checks a customer's new conversation against the bounds, and keeps its
/// priority within what the queue allows customers.
async fn bounded(shared: &Shared, start: &mut Start) -> Result<(), Refusal> {
    super::bounds::new_conversation(&super::bounds::NewFields {
        queue: &start.queue,
        name: &start.name,
        address: &start.address,
        skills: &start.skills,
        attributes: &start.attributes,
    })?;
    start.priority = super::bounds::allowed_priority(shared, &start.queue, start.priority).await?;
    Ok(())
}

/// `POST /api/chats`: a customer starts a chat in a queue.
#[utoipa::path(
    post,
    path = "/api/chats",
    tag = "customer",
    description = "A customer starts a chat in a queue; answers its id and the customer's token.",
    request_body = Start,
    responses((status = 200, description = "The chat and the customer's token", body = duet_api::Created), super::openapi::Answers)
)]
async fn start_chat(State(shared): State<Arc<Shared>>, Json(mut start): Json<Start>) -> Response {
    if let Err(refusal) = bounded(&shared, &mut start).await {
        return refusal.into_response();
    }
    let lookup = match anonymous_key("chat", &start) {
        Ok(lookup) => lookup,
        Err(refusal) => return refusal.into_response(),
    };
    create(
        &shared,
        "chat",
        MediaType::Chat,
        start,
        Content::Transcript(Default::default()),
        lookup,
    )
    .await
}

#[derive(Deserialize, Default)]
pub(super) struct TokenQuery {
    #[serde(default)]
    pub token: Option<String>,
    /// On a WebSocket: the position the client last saw, `<epoch>.<seq>`.
    #[serde(default)]
    pub after: Option<String>,
}

/// The customer's token: `x-duet-token`, or `?token=` (WebSockets).
pub(super) fn token(headers: &HeaderMap, query: &TokenQuery) -> String {
    headers
        .get("x-duet-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .or_else(|| query.token.clone())
        .unwrap_or_default()
}

/// `GET /api/chats/{id}`: the transcript and where the chat stands, as the
/// customer may see them.
#[utoipa::path(
    get,
    path = "/api/chats/{id}",
    tag = "customer",
    description = "The transcript, as the customer sees it (`x-duet-token` or `?token=`).",
    params(("id" = String, Path)),
    responses((status = 200, description = "The chat as its customer sees it", body = duet_api::ChatView), super::openapi::Answers)
)]
async fn transcript(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let result = async {
        let wanted = id.clone();
        let ix = ask(&shared, |reply| IxRequest::Get { id: wanted, reply })
            .await?
            .ok_or_else(|| {
                Refusal::new(StatusCode::NOT_FOUND, format!("no live conversation {id}"))
            })?;
        customer_view(&shared, &ix, &mut Names::default()).await
    }
    .await;
    answer(result)
}

/// The display names of `users` (see `customer_view`), added to `names`.
pub(super) async fn learn_names(
    shared: &Shared,
    names: &mut Names,
    users: impl IntoIterator<Item = String>,
) -> Result<(), Refusal> {
    for user in users {
        if names.0.contains_key(&user) {
            continue;
        }
        let name = user.clone();
        let found = ask(shared, |reply| IxRequest::User { name, reply }).await?;
        let display = found.map_or_else(
            || duet_node::directory::DEFAULT_DISPLAY_NAME.to_string(),
            |u| u.display_name,
        );
        names.0.insert(user, display);
    }
    Ok(())
}

/// The conversation as its customer sees it, and the names learnt.
pub(super) async fn customer_view(
    shared: &Shared,
    ix: &duet_interactions::Interaction,
    names: &mut Names,
) -> Result<ChatView, Refusal> {
    learn_names(shared, names, users_in(ix)).await?;
    Ok(chat_view(ix, names))
}

/// A customer's change to its own conversation (the guard checked the
/// token); the client's id is scoped to the conversation, so it names
/// nothing in another.
async fn by_customer(shared: &Shared, id: &str, client: Option<String>, c: Change) -> Response {
    let result = match client {
        // The customer's id, checked, scoped to its conversation.
        Some(given) => match super::client_id(Some(given)) {
            Ok(given) => super::commit(shared, format!("{id}/{given}"), Actor::Customer, c).await,
            Err(refusal) => Err(refusal),
        },
        None => change(shared, None, Actor::Customer, c).await,
    };
    done(result)
}

/// `POST /api/chats/{id}/messages`: a message with the customer's own
/// `message_id`, so a resend is kept once.
#[utoipa::path(
    post,
    path = "/api/chats/{id}/messages",
    tag = "customer",
    description = "A customer's message, with its own message_id (a resend is kept once).",
    params(("id" = String, Path)),
    request_body = duet_api::requests::MessageBody,
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
async fn message(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(said): Json<Said>,
) -> Response {
    if said.message_id.is_empty() {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            "a message carries its own message_id",
        )
        .into_response();
    }
    if let Err(refusal) = super::bounds::message(&said.message_id, &said.body) {
        return refusal.into_response();
    }
    if let Err(refusal) = super::bounds::room_in_chat(&shared, &id, None).await {
        return refusal.into_response();
    }
    let client = said.client_id.or_else(|| Some(said.message_id.clone()));
    let c = Change::Message {
        id: id.clone(),
        message_id: said.message_id,
        sender: Sender::Customer,
        body: said.body,
    };
    by_customer(&shared, &id, client, c).await
}

/// `POST /api/chats/{id}/delivery`: an agent's message reached or was read
/// by the customer.
#[utoipa::path(
    post,
    path = "/api/chats/{id}/delivery",
    tag = "customer",
    description = "An agent's message was delivered to or read by the customer.",
    params(("id" = String, Path)),
    request_body = duet_api::requests::DeliveryBody,
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
async fn delivery(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(said): Json<Said>,
) -> Response {
    let Some(delivery) = said.delivery else {
        return Refusal::new(StatusCode::BAD_REQUEST, "delivery: Delivered or Read")
            .into_response();
    };
    let c = Change::MessageDelivery {
        id: id.clone(),
        message_id: said.message_id,
        delivery,
    };
    by_customer(&shared, &id, said.client_id, c).await
}

/// `POST /api/chats/{id}/leave`.
#[utoipa::path(
    post,
    path = "/api/chats/{id}/leave",
    tag = "customer",
    description = "The customer leaves the chat.",
    params(("id" = String, Path)),
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
async fn leave(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Option<Json<Said>>,
) -> Response {
    let client = body.and_then(|Json(s)| s.client_id);
    by_customer(&shared, &id.clone(), client, Change::Disconnect { id }).await
}

/// `POST /api/callbacks`: a customer asks to be called back.
#[utoipa::path(
    post,
    path = "/api/callbacks",
    tag = "customer",
    description = "A customer asks to be called back within a window.",
    request_body = CallbackRequest,
    responses((status = 200, description = "The callback and the customer's token", body = duet_api::Created), super::openapi::Answers)
)]
async fn callback(
    State(shared): State<Arc<Shared>>,
    Json(mut r): Json<CallbackRequest>,
) -> Response {
    if let Err(refusal) = bounded(&shared, &mut r.start).await {
        return refusal.into_response();
    }
    if let Err(refusal) = super::bounds::number(&r.number) {
        return refusal.into_response();
    }
    if r.number.trim().is_empty() {
        return Refusal::new(StatusCode::BAD_REQUEST, "a callback needs a number").into_response();
    }
    let now = duet_node::events::unix_ms();
    let from_ms = r.from_ms.unwrap_or(now);
    let to_ms = r.to_ms.unwrap_or(from_ms + 24 * 3600 * 1000);
    if to_ms <= from_ms {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            "the callback window ends before it starts",
        )
        .into_response();
    }
    let content = Content::Callback(Box::new(Callback {
        number: r.number,
        window: CallbackWindow { from_ms, to_ms },
        attempts: Vec::new(),
    }));
    let lookup = match anonymous_key("callback", &r.start) {
        Ok(lookup) => lookup,
        Err(refusal) => return refusal.into_response(),
    };
    create(
        &shared,
        "callback",
        MediaType::Callback,
        r.start,
        content,
        lookup,
    )
    .await
}

/// `POST /api/webhooks/{sms|social|dm}`: a message from an SMS or social
/// provider, signed with the pair's webhook secret (see `signature`). The conversation's open interaction
/// takes it; a new one starts when there is none.
#[utoipa::path(
    post,
    path = "/api/webhooks/{kind}",
    tag = "customer",
    description = "An SMS (`sms`) or social (`social`, `dm`) message from a provider, signed over its route, time and body: `x-duet-timestamp: <unix seconds>` (within 300 s of the node's clock) and `x-duet-signature: v2=<hex HMAC-SHA256 of \"v2\\n<kind>\\n<timestamp>\\n<body>\">`; the body-only `sha256=<hex HMAC-SHA256 of the body>` is accepted unless `webhook_body_only_signatures = false`.",
    params(("kind" = String, Path)),
    request_body = Inbound,
    responses((status = 200, description = "The interaction the message joined or started", body = duet_api::Taken), super::openapi::Answers)
)]
async fn webhook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        let media = match kind.as_str() {
            "sms" => MediaType::Sms,
            "social" => MediaType::SocialConversation,
            "dm" => MediaType::SocialDirectMessage,
            other => {
                return Err(Refusal::new(
                    StatusCode::NOT_FOUND,
                    format!("no webhook {other:?}; the webhooks are sms, social and dm"),
                ));
            }
        };
        super::signature::verify(&shared, &kind, &headers, &body)?;
        let inbound: Inbound = serde_json::from_slice(&body).map_err(|e| {
            Refusal::new(StatusCode::BAD_REQUEST, format!("the webhook's body: {e}"))
        })?;
        super::bounds::message(&inbound.message_id, &inbound.text)?;
        let conversation = inbound.conversation.clone();
        let open = ask(&shared, |reply| IxRequest::Conversation {
            media,
            conversation,
            reply,
        })
        .await?;
        let id = match open {
            Some(id) => id,
            None => {
                // The conversation's next interaction: named by the message
                // that opens it, so the provider's retry finds it.
                let id = duet_node::ids::keyed(
                    shared.secrets.session_key.as_ref(),
                    &kind,
                    &format!("{kind}\n{}\n{}", inbound.conversation, inbound.message_id),
                );
                let new = NewInteraction {
                    id: id.clone(),
                    media,
                    queue: inbound.queue.clone(),
                    priority: 0,
                    skills: BTreeMap::new(),
                    attributes: BTreeMap::from([(
                        CONVERSATION.to_string(),
                        inbound.conversation.clone(),
                    )]),
                    customer: Party {
                        address: inbound.from.as_str().into(),
                        name: inbound.name.as_str().into(),
                    },
                    content: Content::Transcript(Default::default()),
                };
                change(
                    &shared,
                    Some(format!("{id}/create")),
                    Actor::Customer,
                    Change::Create(Box::new(new)),
                )
                .await?;
                id
            }
        };
        let c = Change::Message {
            id: id.clone(),
            message_id: inbound.message_id.clone(),
            sender: Sender::Customer,
            body: inbound.text,
        };
        let seq = change(
            &shared,
            Some(format!("{id}/{}", inbound.message_id)),
            Actor::Customer,
            c,
        )
        .await?;
        Ok(Taken { id, seq })
    }
    .await;
    answer(result)
}

/// `POST /api/calls`: the telephony platform reports a call to route (its
/// media stays with the platform, as with a CTI link); an administrator's
/// session. Agents then work it as any interaction.
#[utoipa::path(
    post,
    path = "/api/calls",
    tag = "telephony",
    description = "The telephony platform reports a call to route (an administrator's session).",
    request_body = CallReport,
    responses((status = 200, description = "The call's interaction", body = duet_api::Created), super::openapi::Answers)
)]
async fn call(State(shared): State<Arc<Shared>>, Json(r): Json<CallReport>) -> Response {
    let fields = super::bounds::NewFields {
        queue: &r.queue,
        name: &r.name,
        address: &r.from,
        skills: &BTreeMap::new(),
        attributes: &BTreeMap::new(),
    };
    if let Err(refusal) =
        super::bounds::new_conversation(&fields).and_then(|()| super::bounds::call_id(&r.call_id))
    {
        return refusal.into_response();
    }
    let party = Party {
        address: r.from.as_str().into(),
        name: r.name.as_str().into(),
    };
    let start = Start {
        queue: r.queue,
        name: r.name,
        address: r.from,
        priority: r.priority,
        skills: BTreeMap::new(),
        attributes: BTreeMap::from([("call_id".to_string(), r.call_id.clone())]),
        client_id: None,
        client_secret: None,
    };
    let lookup = Some(format!("call\n{}", r.call_id));
    let content = Content::Call(Box::new(Call {
        signal: CallSignal::Ringing,
        party,
    }));
    create(&shared, "call", MediaType::Call, start, content, lookup).await
}

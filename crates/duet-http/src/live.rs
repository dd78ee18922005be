//! Live views over WebSocket. A socket first gets the state as it stands
//! (the agent's interactions, or the customer's transcript) with the
//! stream position it was read at, then every applied change that
//! concerns it, each with its sequence number, in order, once. A client
//! that reconnects (after a switchover, to either node) starts again from
//! the state, so it never misses a change; its sends carry their own ids,
//! so a resend is applied once. A socket too slow to keep up with the
//! changes, or gone, is closed; nothing else waits for it.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use duet_api::frames::Resumed;
use duet_api::{AgentState, ChangeFrame, CustomerSays, Frame, StateFrame};
use duet_interactions::model::Sender;
use duet_interactions::{Actor, Change, Command, MediaType};
use duet_rsm::Position;
use duet_stream::Entry;
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::auth::Caller;
use super::customer::{TokenQuery, customer_view, learn_names};
use super::customer_view::{self, Names, users_of};
use super::desktops::linked_backup;
use super::guard::Source;
use super::presence::Presence;
use super::sockets::{PER_AGENT_MAX, PER_CHAT_MAX, SendWithin, Sockets};
use super::{Refusal, ask, change};
use duet_node::metrics::label;
use duet_node::replication::Present;
use duet_node::replication::{Follow, IxRequest};
use duet_node::shared::Shared;

/// The largest message a client may send on a socket.
const CLIENT_MESSAGE_MAX_BYTES: usize = 64 * 1024;

/// Whether `change` concerns `agent`, given the interactions it holds.
fn concerns_agent(change: &Change, agent: &str, held: &BTreeSet<String>) -> bool {
    let named = match change {
        Change::Offer { agent: a, .. }
        | Change::Accept { agent: a, .. }
        | Change::Reject { agent: a, .. }
        | Change::OfferTimedOut { agent: a, .. }
        | Change::Conference { agent: a, .. }
        | Change::AgentLogin { agent: a, .. }
        | Change::AgentLogout { agent: a, .. }
        | Change::AgentStatus { agent: a, .. }
        | Change::AcwExpired { agent: a } => a == agent,
        _ => false,
    };
    named || change.interaction().is_some_and(|id| held.contains(id))
}

/// A frame as the socket's text message.
pub(super) fn framed(frame: &Frame) -> Message {
    // The frames hold strings, numbers and maps keyed by strings, which
    // always serialise.
    Message::Text(serde_json::to_string(frame).unwrap_or_default().into())
}

/// The feed ended for this socket: too slow to keep up (told to
/// reconnect and start from the state), or the node is stopping.
pub(super) async fn fell_behind(socket: &mut WebSocket, e: RecvError) {
    if let RecvError::Lagged(_) = e {
        let why = "this socket fell behind; reconnect to start from the state".to_string();
        let _ = socket.send_within(framed(&Frame::Resync { why })).await;
    }
}

/// The most changes a socket takes from its feed at one wake-up.
const BATCH_MAX: usize = 256;

/// The changes the feed holds, after waiting for the first: a socket
/// woken by one change takes those sent since as well, so a burst of
/// changes costs each of the node's sockets a few wake-ups rather than one
/// per change (every socket hears every change). Cancel-safe: nothing is
/// taken until the wait ends, and the rest is taken without waiting.
async fn next_changes(
    feed: &mut broadcast::Receiver<Arc<Entry<Command>>>,
) -> Result<Vec<Arc<Entry<Command>>>, RecvError> {
    let mut changes = vec![feed.recv().await?];
    while changes.len() < BATCH_MAX {
        match feed.try_recv() {
            Ok(entry) => changes.push(entry),
            Err(TryRecvError::Empty) => break,
            // Said at once: a lag is reported only this time.
            Err(TryRecvError::Lagged(missed)) => return Err(RecvError::Lagged(missed)),
            // The changes taken first still go; the next wait says it.
            Err(TryRecvError::Closed) => break,
        }
    }
    Ok(changes)
}

/// Whether the entry is a takeover: it changes every live interaction at
/// once (see `Change::Takeover`), so each socket is sent it and then its
/// state as it stands.
fn is_takeover(entry: &Entry<Command>) -> bool {
    matches!(entry.change.change, Change::Takeover { .. })
}

/// A socket's start: resuming after `after`, the changes it missed that
/// `wants` (each once, in order) when they are all still here, else the
/// state as it stands (`hello`). Whether the socket is still there, and
/// whether a takeover was among the changes sent (the state follows then).
async fn begin(
    shared: &Shared,
    socket: &mut WebSocket,
    hello: StateFrame,
    after: Option<Position>,
    missed: Option<Vec<Arc<Entry<Command>>>>,
    mut wants: impl FnMut(&Entry<Command>) -> bool,
) -> (bool, bool) {
    let Some(missed) = missed else {
        let sent = socket.send_within(framed(&Frame::State(hello))).await;
        return (sent.is_ok(), false);
    };
    if socket
        .send_within(framed(&resume(after, &hello)))
        .await
        .is_err()
    {
        return (false, false);
    }
    let mut takeover = false;
    for entry in missed {
        if !wants(&entry) {
            continue;
        }
        takeover |= is_takeover(&entry);
        if socket
            .send_within(agent_event(shared, &entry).await)
            .await
            .is_err()
        {
            return (false, takeover);
        }
    }
    (true, takeover)
}

/// A customer socket's start: the state, or (resuming after `after`)
/// `resume` and the changes it missed, which the caller tells; `None`
/// when the socket is gone.
async fn begin_customer(
    socket: &mut WebSocket,
    hello: StateFrame,
    after: Option<Position>,
    missed: Option<Vec<Arc<Entry<Command>>>>,
) -> Option<Vec<Arc<Entry<Command>>>> {
    let Some(missed) = missed else {
        let sent = socket.send_within(framed(&Frame::State(hello))).await;
        return sent.is_ok().then(Vec::new);
    };
    let sent = socket.send_within(framed(&resume(after, &hello))).await;
    sent.is_ok().then_some(missed)
}

/// Resuming after `after`: what follows is what was missed since, up to
/// the state's position.
fn resume(after: Option<Position>, state: &StateFrame) -> Frame {
    Frame::Resume(Resumed {
        after,
        position: state.position(),
        at_ms: None,
    })
}

/// Sends a customer's socket its conversation as it stands now (after a
/// takeover) and follows on from it; whether the socket is still there.
async fn restate(
    socket: &mut WebSocket,
    follow: &mut customer_view::Follow,
    now: Option<(customer_view::Follow, StateFrame)>,
) -> bool {
    let Some((now, state)) = now else {
        return true;
    };
    *follow = now;
    send_state(socket, Some(state)).await
}

/// Tells a customer's socket a committed change, as the customer sees it
/// (a takeover is followed by the state); whether the socket is still
/// there.
async fn tell(
    shared: &Shared,
    socket: &mut WebSocket,
    follow: &mut customer_view::Follow,
    names: &mut Names,
    entry: &Entry<Command>,
) -> bool {
    let command = &entry.change;
    if learn_names(shared, names, users_of(&command.change))
        .await
        .is_err()
    {
        return false;
    }
    let Some(told) = follow.tell(&command.change, &command.actor, command.at_ms, names) else {
        return true;
    };
    let frame = Frame::Change(ChangeFrame::Told {
        seq: entry.seq,
        epoch: entry.epoch,
        at_ms: command.at_ms,
        change: told,
    });
    socket.send_within(framed(&frame)).await.is_ok()
}

/// Sends the socket's state as it stands (`{"type": "state", ..}`, as at
/// the start); whether the socket is still there.
async fn send_state(socket: &mut WebSocket, state: Option<StateFrame>) -> bool {
    match state {
        Some(state) => socket
            .send_within(framed(&Frame::State(state)))
            .await
            .is_ok(),
        None => true,
    }
}

/// A committed change, whole (`media`: an offer's).
pub(super) fn event(entry: &Entry<Command>, media: Option<MediaType>) -> Message {
    framed(&Frame::Change(ChangeFrame::Committed {
        seq: entry.seq,
        epoch: entry.epoch,
        at_ms: entry.change.at_ms,
        actor: entry.change.actor.clone(),
        change: Box::new(entry.change.change.clone()),
        media,
    }))
}

/// A committed change for an agent's socket: an offer says its media
/// (asked of replication; none when the interaction is gone by then, or
/// the node is too busy to answer).
async fn agent_event(shared: &Shared, entry: &Entry<Command>) -> Message {
    let media = match &entry.change.change {
        Change::Offer { id, .. } => {
            let wanted = id.clone();
            ask(shared, |reply| IxRequest::Get { id: wanted, reply })
                .await
                .ok()
                .flatten()
                .map(|ix| ix.media)
        }
        _ => None,
    };
    event(entry, media)
}

#[derive(Deserialize)]
pub(super) struct AgentQuery {
    /// The position the client last saw, `<epoch>.<seq>`: it is sent what
    /// it missed since (when this node holds that very change and what
    /// follows), not the state again.
    #[serde(default)]
    after: Option<String>,
}

/// A resume position, `<epoch>.<seq>` as each change's `epoch` and `seq`
/// give it. Anything else (a bare sequence number, which another epoch may
/// have given to another change) cannot be vouched for: the state again.
pub(super) fn resume_position(after: Option<&str>) -> Option<Position> {
    after?.parse().ok()
}

/// `GET /api/agent/ws`: the agent's live view.
#[utoipa::path(
    get,
    path = "/api/agent/ws",
    tag = "agent",
    description = "WebSocket: the agent's state, then every change that concerns it (offers, messages, statuses), each with its sequence number. `?token=` carries the session.",
    params(super::sockets::Handshake),
    responses((status = 101, description = "Upgraded: `state` (`StateFrame::Agent`), or `resume` and the changes missed; then each `change` (`ChangeFrame::Committed`); `moved` when this node does not serve, or stops serving; `resync` when the socket fell behind", body = duet_api::Frame), super::openapi::Answers)
)]
pub(super) async fn agent(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Extension(sockets): Extension<Arc<Sockets>>,
    Source(source): Source,
    Query(q): Query<AgentQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    match sockets.take(source, format!("agent\n{}", me.name), PER_AGENT_MAX) {
        Ok(slot) => super::sockets::for_clients(upgrade, CLIENT_MESSAGE_MAX_BYTES).on_upgrade(
            move |socket| async move {
                agent_socket(shared, me, resume_position(q.after.as_deref()), socket).await;
                drop(slot);
            },
        ),
        Err(refusal) => refusal.into_response(),
    }
}

/// Counts an open socket while it lives.
pub(super) struct Open {
    shared: Arc<Shared>,
    kind: &'static str,
}

impl Open {
    pub(super) fn new(shared: &Arc<Shared>, kind: &'static str) -> Open {
        shared
            .metrics
            .websockets
            .get_or_create(&label("kind", kind))
            .inc();
        Open {
            shared: shared.clone(),
            kind,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared
            .metrics
            .websockets
            .get_or_create(&label("kind", self.kind))
            .dec();
    }
}

async fn agent_socket(
    shared: Arc<Shared>,
    me: Caller,
    after: Option<Position>,
    mut socket: WebSocket,
) {
    let _open = Open::new(&shared, "agent");
    // Watched from before the presence is said, so stopping to serve
    // after it is seen.
    let mut role = shared.view.subscribe();
    let mut holding = shared.view.holding();
    let (_presence, moved) = super::desktops::open(&shared, &me.name);
    if let Some(active) = moved {
        let _ = socket.send_within(framed(&Frame::Moved { active })).await;
        return;
    }
    let Ok(follow) = ask(&shared, |reply| IxRequest::Follow { after, reply }).await else {
        return;
    };
    let Follow {
        position,
        missed,
        mut feed,
        ..
    } = follow;
    let Ok(view) = super::agent::agent_state(&shared, me.name.clone()).await else {
        return;
    };
    let mut held: BTreeSet<String> = view
        .iter()
        .flat_map(|v| v.interactions.iter().map(|i| i.id.to_string()))
        .collect();
    let mut wants = |entry: &Entry<Command>| {
        let change = &entry.change.change;
        if let Change::Offer { id, agent, .. } | Change::Conference { id, agent } = change
            && *agent == me.name
        {
            held.insert(id.clone());
        }
        let wanted = concerns_agent(change, &me.name, &held) || is_takeover(entry);
        if let Change::Forget { id } = change {
            held.remove(id);
        }
        wanted
    };
    let hello = agent_frame(position, view);
    let (open, takeover) = begin(&shared, &mut socket, hello, after, missed, &mut wants).await;
    // The agent's state now, after a takeover: what it holds changed.
    let agent_state = |at: Position| {
        let (shared, name) = (shared.clone(), me.name.clone());
        async move {
            let view = super::agent::agent_state(&shared, name).await.ok()?;
            Some(agent_frame(at, view))
        }
    };
    if !open || (takeover && !send_state(&mut socket, agent_state(position).await).await) {
        return;
    }
    loop {
        tokio::select! {
            // First: a node that stopped serving says so before its feed
            // (reset by what follows) closes the socket.
            biased;
            changed = role.changed() => {
                if changed.is_err() {
                    return;
                }
                let was = std::mem::replace(&mut holding, shared.view.holding());
                if was && !holding || linked_backup(&shared) {
                    return stopped_serving(&shared, &mut socket).await;
                }
            }
            received = next_changes(&mut feed) => match received {
                Ok(changes) => {
                    for entry in changes.iter().filter(|entry| entry.seq > position.seq) {
                        if wants(entry)
                            && socket.send_within(agent_event(&shared, entry).await).await.is_err()
                        {
                            return;
                        }
                        if is_takeover(entry)
                            && !send_state(&mut socket, agent_state(Position::new(entry.epoch, entry.seq)).await).await
                        {
                            return;
                        }
                    }
                }
                Err(e) => return fell_behind(&mut socket, e).await,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The agent socket's state frame (`agent` null for a user the contact
/// center does not know as an agent yet).
fn agent_frame(position: Position, view: Option<AgentState>) -> StateFrame {
    StateFrame::Agent {
        position,
        agent: view.map(Box::new),
    }
}

/// This node stopped serving under a desktop: its presence belongs on the
/// other node, which serves (or is about to), so the desktop is told to
/// go there now rather than stay a view of a node that no longer serves.
async fn stopped_serving(shared: &Shared, socket: &mut WebSocket) {
    let active = shared.view.status().peer.name;
    let _ = socket.send_within(framed(&Frame::Moved { active })).await;
}

/// `GET /api/chats/{id}/ws?token=`: the customer's live transcript; the
/// customer may send `{"message_id": .., "body": ..}` on it.
#[utoipa::path(
    get,
    path = "/api/chats/{id}/ws",
    tag = "customer",
    description = "WebSocket: the transcript, then every change to the chat; the customer sends {\"message_id\", \"body\"} and gets an ack with the sequence number.",
    params(("id" = String, Path), super::sockets::Handshake),
    responses((status = 101, description = "Upgraded: `state` (`StateFrame::Chat`), or `resume` and the changes missed; then each `change` as the customer sees it (`ChangeFrame::Told`); `ack` or `error` for each message sent; `resync` when the socket fell behind", body = duet_api::Frame), super::openapi::Answers)
)]
pub(super) async fn customer(
    State(shared): State<Arc<Shared>>,
    Extension(sockets): Extension<Arc<Sockets>>,
    Source(source): Source,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    match sockets.take(source, format!("chat\n{id}"), PER_CHAT_MAX) {
        Ok(slot) => super::sockets::for_clients(upgrade, CLIENT_MESSAGE_MAX_BYTES).on_upgrade(
            move |socket| async move {
                let _slot = slot;
                let _present = Presence::open(&shared, Present::Customer(id.clone()));
                let after = resume_position(q.after.as_deref());
                customer_socket(shared.clone(), id.clone(), after, socket).await;
            },
        ),
        Err(refusal) => refusal.into_response(),
    }
}

async fn customer_socket(
    shared: Arc<Shared>,
    id: String,
    after: Option<Position>,
    mut socket: WebSocket,
) {
    let _open = Open::new(&shared, "customer");
    let Ok(follow) = ask(&shared, |reply| IxRequest::Follow { after, reply }).await else {
        return;
    };
    let Follow {
        position,
        missed,
        mut feed,
        ..
    } = follow;
    let wanted = id.clone();
    let Ok(Some(ix)) = ask(&shared, |reply| IxRequest::Get { id: wanted, reply }).await else {
        let gone = Frame::error(404, "no live conversation");
        let _ = socket.send_within(framed(&gone)).await;
        return;
    };
    let wants = |entry: &Entry<Command>| {
        entry.change.change.interaction() == Some(id.as_str()) || is_takeover(entry)
    };
    // The customer sees the customer's view only (`customer_view`): its
    // state, and each committed change told from the change itself.
    let mut names = Names::default();
    let Ok(view) = customer_view(&shared, &ix, &mut names).await else {
        return;
    };
    let mut follow = customer_view::Follow::new(&ix);
    let hello = StateFrame::Chat {
        position,
        chat: Box::new(view),
    };
    let Some(missed) = begin_customer(&mut socket, hello, after, missed).await else {
        return;
    };
    let mut takeover = false;
    for entry in missed.iter().filter(|e| wants(e)) {
        takeover |= is_takeover(entry);
        if !tell(&shared, &mut socket, &mut follow, &mut names, entry).await {
            return;
        }
    }
    // The conversation now, after a takeover (ended, if its media's
    // recovery is off).
    let chat_state = |at: Position, names: Names| {
        let (shared, wanted) = (shared.clone(), id.clone());
        async move {
            let ix = ask(&shared, |reply| IxRequest::Get { id: wanted, reply })
                .await
                .ok()??;
            let view = customer_view(&shared, &ix, &mut names.clone()).await.ok()?;
            Some((
                customer_view::Follow::new(&ix),
                StateFrame::Chat {
                    position: at,
                    chat: Box::new(view),
                },
            ))
        }
    };
    if takeover
        && !restate(
            &mut socket,
            &mut follow,
            chat_state(position, names.clone()).await,
        )
        .await
    {
        return;
    }
    loop {
        tokio::select! {
            received = next_changes(&mut feed) => match received {
                Ok(changes) => {
                    for entry in changes.iter().filter(|entry| entry.seq > position.seq && wants(entry)) {
                        if !tell(&shared, &mut socket, &mut follow, &mut names, entry).await {
                            return;
                        }
                        if is_takeover(entry)
                            && !restate(&mut socket, &mut follow, chat_state(Position::new(entry.epoch, entry.seq), names.clone()).await).await
                        {
                            return;
                        }
                    }
                }
                Err(e) => return fell_behind(&mut socket, e).await,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let answer = match serde_json::from_str::<CustomerSays>(&text) {
                        Err(e) => Frame::error(400, format!("a message is {{\"message_id\", \"body\"}}: {e}")),
                        Ok(says) => {
                            let bounded = match super::bounds::message(&says.message_id, &says.body) {
                                Ok(()) => super::bounds::room_in_chat(&shared, &id, None).await,
                                Err(refusal) => Err(refusal),
                            };
                            let c = Change::Message {
                                id: id.clone(),
                                message_id: says.message_id.clone(),
                                sender: Sender::Customer,
                                body: says.body,
                            };
                            let client = Some(format!("{id}/{}", says.message_id));
                            let made = match bounded {
                                Ok(()) => change(&shared, client, Actor::Customer, c).await,
                                Err(refusal) => Err(refusal),
                            };
                            match made {
                                Ok(seq) => Frame::Ack { message_id: says.message_id, seq },
                                Err(Refusal { status, message, active, .. }) => Frame::Error {
                                    message_id: Some(says.message_id),
                                    error: message,
                                    status: status.as_u16(),
                                    active,
                                },
                            }
                        }
                    };
                    if socket.send_within(framed(&answer)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

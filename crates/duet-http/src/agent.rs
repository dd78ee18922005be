//! The agent's API: sign in per media, set a status, and work the
//! interactions offered or connected (accept, reject, hold, resume,
//! transfer, conference, message, draft and send an email reply, record a
//! callback attempt, disconnect, wrap up). The agent is the caller; every
//! change carries the client's id, so a retry after a switchover is
//! applied once.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use duet_api::{Action, AgentState, Media, StatusRequest};
use duet_interactions::model::{Attachment, ChosenStatus, Sender};
use duet_interactions::{Actor, Change, TransferTarget};

use super::access::Held;
use super::auth::Caller;
use super::{Refusal, answer, ask, change, done};
use duet_node::directory::REASON_CONNECTION_LOST;
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/agent", get(me))
        .route("/api/agent/login", post(login))
        .route("/api/agent/logout", post(logout))
        .route("/api/agent/status", post(status))
        .route("/api/interactions/{id}/{action}", post(act))
}

/// `GET /api/agent`: the agent's state and the interactions it holds.
#[utoipa::path(
    get,
    path = "/api/agent",
    tag = "agent",
    description = "The signed-in agent: status, media, the interactions it holds.",
    responses((status = 200, description = "The agent, the interactions it holds and their queues' wrap-up codes", body = AgentState), super::openapi::Answers)
)]
async fn me(State(shared): State<Arc<Shared>>, Extension(me): Extension<Caller>) -> Response {
    // A user the contact center does not know as an agent yet: nothing.
    answer(
        agent_state(&shared, me.name)
            .await
            .map(Option::unwrap_or_default),
    )
}

/// An agent's state as the API tells it; `None` for a user the contact
/// center does not know as an agent yet.
pub(super) async fn agent_state(
    shared: &Shared,
    name: String,
) -> Result<Option<AgentState>, Refusal> {
    ask(shared, |reply| IxRequest::Agent { name, reply }).await
}

/// `POST /api/agent/login`: logs in to these media (none: every media the
/// agent has capacity for).
#[utoipa::path(
    post,
    path = "/api/agent/login",
    tag = "agent",
    description = "Log in to media (none: all the agent has capacity for).",
    request_body = Media,
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
async fn login(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Json(r): Json<Media>,
) -> Response {
    run(&shared, me, r.client_id, |agent| Change::AgentLogin {
        agent,
        media: r.media,
    })
    .await
}

/// `POST /api/agent/logout`: out of these media (none: all), with a
/// reason code.
#[utoipa::path(
    post,
    path = "/api/agent/logout",
    tag = "agent",
    description = "Log out of media (none: all), with a reason code.",
    request_body = Media,
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
async fn logout(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Json(r): Json<Media>,
) -> Response {
    let reason_code = r.reason_code.unwrap_or(0);
    if reason_code == REASON_CONNECTION_LOST {
        return Refusal::new(
            axum::http::StatusCode::BAD_REQUEST,
            format!(
                "reason code {REASON_CONNECTION_LOST} is duet's own, for a lost desktop connection"
            ),
        )
        .into_response();
    }
    run(&shared, me, r.client_id, |agent| Change::AgentLogout {
        agent,
        media: r.media,
        reason_code,
    })
    .await
}

pub(super) fn chosen(r: StatusRequest) -> ChosenStatus {
    match r.status.to_ascii_lowercase().as_str() {
        "available" => ChosenStatus::Available,
        "not_ready" | "notready" => ChosenStatus::NotReady { reason: r.reason },
        _ => ChosenStatus::NonAcd { name: r.status },
    }
}

/// `POST /api/agent/status`.
#[utoipa::path(
    post,
    path = "/api/agent/status",
    tag = "agent",
    description = "Set a status: available, not_ready (with a reason) or a non-ACD status.",
    request_body = StatusRequest,
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
async fn status(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Json(r): Json<StatusRequest>,
) -> Response {
    let client_id = r.client_id.clone();
    let status = chosen(r);
    run(&shared, me, client_id, |agent| Change::AgentStatus {
        agent,
        status,
    })
    .await
}

/// `POST /api/interactions/{id}/{action}`: accept, reject, hold, resume,
/// disconnect, wrap-up, transfer, conference, message, delivery, draft,
/// send, callback-attempt.
/// The actions on an interaction (a type the document reads; never
/// built).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub(super) enum ActionName {
    Accept,
    Reject,
    Hold,
    Resume,
    Disconnect,
    WrapUp,
    Transfer,
    Conference,
    Monitor,
    Barge,
    Message,
    Delivery,
    Draft,
    Send,
    CallbackAttempt,
}

#[utoipa::path(
    post,
    path = "/api/interactions/{id}/{action}",
    tag = "agent",
    description = "Work an interaction: accept, reject, hold, resume, disconnect, wrap-up, transfer, conference, message, delivery, draft, send, callback-attempt; a supervisor's: monitor (listen in, unseen by the customer), barge (join and speak), disconnect (stop supervising). Only its agent (offered, holding, conferenced), a supervisor of its queue or an admin (docs/access.md).",
    params(("id" = String, Path), ("action" = ActionName, Path)),
    request_body = Action,
    responses(super::openapi::Acknowledged, super::openapi::Answers)
)]
async fn act(
    State(shared): State<Arc<Shared>>,
    Extension(me): Extension<Caller>,
    Extension(Held(ix)): Extension<Held>,
    Path((id, action)): Path<(String, String)>,
    body: Option<Json<Action>>,
) -> Response {
    let mut a = body.map(|Json(b)| b).unwrap_or_default();
    let client_id = a.client_id.clone();
    let given = std::mem::take(&mut a.attachments);
    let draft_client = format!("{id}/draft/{}", a.reply_id);
    let bad = |why: &str| Refusal::new(axum::http::StatusCode::BAD_REQUEST, why.to_string());
    let change = |agent: String, attachments: Vec<Attachment>| -> Result<Change, Refusal> {
        Ok(match action.as_str() {
            "accept" => Change::Accept { id, agent },
            "reject" => Change::Reject { id, agent },
            "hold" => Change::Hold { id },
            "resume" => Change::Resume { id },
            "disconnect" => Change::Disconnect { id },
            "wrap-up" => Change::WrapUp {
                id,
                code: a.code,
                notes: a.notes,
            },
            "transfer" => Change::Transfer {
                id,
                to: match (a.queue, a.agent) {
                    (Some(q), None) => TransferTarget::Queue(q),
                    (None, Some(ag)) => TransferTarget::Agent(ag),
                    _ => return Err(bad("a transfer names a queue or an agent")),
                },
            },
            "conference" => Change::Conference {
                id,
                agent: a
                    .agent
                    .ok_or_else(|| bad("a conference names the agent to add"))?,
            },
            // Supervisors' rights: the interaction state takes them from a
            // user (not an agent on it), and the guard let only related
            // users through.
            "monitor" | "barge" => Change::Supervise {
                id,
                user: agent,
                barge: action == "barge",
            },
            "message" if a.message_id.is_empty() => {
                return Err(bad(
                    "a message carries its own message_id, so a resend is kept once",
                ));
            }
            "message" => Change::Message {
                id,
                message_id: a.message_id,
                sender: Sender::Agent(agent),
                body: a.body,
            },
            "delivery" => Change::MessageDelivery {
                id,
                message_id: a.message_id,
                delivery: a
                    .delivery
                    .ok_or_else(|| bad("delivery: accepted, delivered or read"))?,
            },
            "draft" => Change::EmailDraft {
                id,
                reply_id: a.reply_id,
                agent,
                html: a.html,
                text: a.text,
                attachments,
            },
            "send" => Change::EmailSend {
                id,
                reply_id: a.reply_id,
            },
            "callback-attempt" => Change::CallbackAttempt {
                id,
                agent,
                outcome: a
                    .outcome
                    .ok_or_else(|| bad("a callback attempt has an outcome"))?,
            },
            other => {
                return Err(Refusal::new(
                    axum::http::StatusCode::NOT_FOUND,
                    format!(
                        "no action {other:?}; the actions are accept, reject, hold, resume, disconnect, wrap-up, transfer, conference, monitor, barge, message, delivery, draft, send, callback-attempt"
                    ),
                ));
            }
        })
    };
    let actor = super::access::actor(&me, &ix);
    let result = async {
        // A draft's attachments are stored as chunks first.
        let mut attachments = Vec::with_capacity(given.len());
        for g in given {
            let content = match g.content {
                // Stored before; the draft's checks find it held.
                Some(content) => content,
                None => {
                    let client = super::scoped(format!("{draft_client}/{}", g.id), &actor);
                    super::files::keep(&shared, &client, &actor, g.bytes.into()).await?
                }
            };
            attachments.push(Attachment {
                content,
                id: g.id,
                name: g.name,
                content_type: g.content_type,
            });
        }
        let change = change(me.name.clone(), attachments)?;
        super::change(&shared, client_id, actor, change).await
    }
    .await;
    done(result)
}

/// An agent's own change: signed in as an agent, acting as itself.
async fn run(
    shared: &Shared,
    me: Caller,
    client_id: Option<String>,
    make: impl FnOnce(String) -> Change,
) -> Response {
    let c = make(me.name.clone());
    let result = change(shared, client_id, Actor::Agent(me.name), c).await;
    done(result)
}

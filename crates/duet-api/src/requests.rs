//! What clients send: request bodies, and what a customer says on its
//! socket. Every change may carry `client_id`, the client's own id for
//! it, so a retry (after a switchover, say) is applied once.

use std::collections::BTreeMap;

use duet_interactions::MediaType;
use duet_interactions::model::{CallbackOutcome, Delivery};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Login {
    pub user: String,
    pub password: String,
}

/// `POST /api/switch`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SwitchRequest {
    /// Switch even though file replication is reported stopped (or in an
    /// Upgrade state).
    #[serde(default)]
    pub force: bool,
    /// The seed's /Immediate: a master administrator may switch without the
    /// Remote Control right.
    #[serde(default)]
    pub immediate: bool,
}

/// A test fault (`POST /api/fault`, only with fault injection turned on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ModuleFault {
    /// Stop answering pings while staying alive.
    Hang,
    /// Die; the supervisor restarts it after a short delay.
    Crash,
    /// Answer again after a hang.
    Recover,
}

/// `POST /api/fault`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FaultRequest {
    /// A supervised module (interactions, routing), `file-monitor` or
    /// `config-sync` (the active node's answers to sync requests).
    pub module: String,
    pub fault: ModuleFault,
}

/// `PUT /api/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PutBody {
    /// A configuration path: `/config` and names below it (at most 32
    /// names of 255 bytes, without control characters; the root holds no
    /// object).
    #[schema(
        max_length = 1024,
        pattern = r"^/[^/\\\x00-\x1f\x7f-\x9f]{1,255}(/[^/\\\x00-\x1f\x7f-\x9f]{1,255}){0,31}$"
    )]
    pub path: String,
    /// The object's class.
    #[schema(pattern = "^(Folder|User|Workgroup|Role|Station|ServerParameter)$")]
    pub class: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub client_id: Option<String>,
}

/// The most changes one `POST /api/config/batch` makes.
pub const CONFIG_BATCH_MAX: usize = 500;

/// `POST /api/config/batch`: configuration changes made in the order
/// given, each acknowledged on its own (a directory loaded from another
/// system in one request rather than one request per object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigBatch {
    /// At most [`CONFIG_BATCH_MAX`] changes.
    #[schema(min_items = 1, max_items = 500)]
    pub changes: Vec<ConfigChange>,
}

/// One change of a [`ConfigBatch`]: an object put (as `PUT /api/config`)
/// or removed (as `DELETE /api/config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConfigChange {
    Put(PutBody),
    Remove(RemoveBody),
}

/// An object's removal in a [`ConfigBatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RemoveBody {
    /// A configuration path, as [`PutBody::path`].
    #[schema(
        max_length = 1024,
        pattern = r"^/[^/\\\x00-\x1f\x7f-\x9f]{1,255}(/[^/\\\x00-\x1f\x7f-\x9f]{1,255}){0,31}$"
    )]
    pub path: String,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub client_id: Option<String>,
}

/// A customer's new conversation (`POST /api/chats`, and the common part
/// of a callback request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Start {
    #[schema(min_length = 1, max_length = 128)]
    pub queue: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 320)]
    pub address: String,
    #[serde(default, deserialize_with = "crate::whole::number")]
    pub priority: i32,
    #[serde(default, deserialize_with = "crate::whole::map")]
    pub skills: BTreeMap<String, u32>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Makes a retry idempotent: the same `client_id` with the same
    /// `client_secret` answers the same conversation.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub client_id: Option<String>,
    /// What only this customer holds (16 to 128 characters its widget made and
    /// kept): an anonymous caller is no identity, so the creation's key is
    /// the client id together with it. Required with `client_id`.
    #[serde(default)]
    #[schema(min_length = 16, max_length = 128)]
    pub client_secret: Option<String>,
}

/// `POST /api/callbacks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CallbackRequest {
    #[serde(flatten)]
    pub start: Start,
    #[schema(min_length = 1, max_length = 32, pattern = r"\S")]
    pub number: String,
    /// The window the customer wants the call in, unix ms (absent: now
    /// to a day from now).
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub from_ms: Option<u64>,
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub to_ms: Option<u64>,
}

/// A customer's message or delivery report on its chat
/// (`POST /api/chats/{id}/messages`, `/delivery`, `/leave`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Said {
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub body: String,
    /// Delivered or Read.
    #[serde(default)]
    pub delivery: Option<Delivery>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub client_id: Option<String>,
}

/// What a customer sends on its chat's socket; answered by an `ack` or
/// an `error` frame naming the same `message_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomerSays {
    pub message_id: String,
    pub body: String,
}

/// A message from an SMS or social provider (`POST /api/webhooks/{kind}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Inbound {
    /// The provider's conversation (a phone number, a social thread).
    pub conversation: String,
    pub queue: String,
    pub message_id: String,
    pub text: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub name: String,
}

/// A call the telephony platform reports (`POST /api/calls`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CallReport {
    /// The telephony platform's id for the call.
    #[schema(min_length = 1, max_length = 128)]
    pub call_id: String,
    #[schema(min_length = 1, max_length = 128)]
    pub queue: String,
    #[serde(default)]
    #[schema(max_length = 320)]
    pub from: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub name: String,
    #[serde(default, deserialize_with = "crate::whole::number")]
    pub priority: i32,
}

/// `POST /api/agent/login` and `/logout`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Media {
    /// call, chat, email, callback, sms, social_conversation,
    /// social_direct_message (none: every media).
    #[serde(default)]
    pub media: Vec<MediaType>,
    /// Logging out: the reason code.
    #[serde(default, deserialize_with = "crate::whole::optional")]
    pub reason_code: Option<u32>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub client_id: Option<String>,
}

/// `POST /api/agent/status` and `/api/agents/{name}/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusRequest {
    /// `available`, `not_ready` (with `reason`) or a non-ACD status's name.
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub client_id: Option<String>,
}

/// What an action on an interaction may carry
/// (`POST /api/interactions/{id}/{action}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Action {
    /// message, delivery: the message's own id.
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub body: String,
    /// Accepted, Delivered or Read.
    #[serde(default)]
    pub delivery: Option<Delivery>,
    /// wrap-up: the code.
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub notes: String,
    /// transfer: to a queue, or to an agent; conference: the agent.
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    /// draft, send: the reply's id.
    #[serde(default)]
    pub reply_id: String,
    #[serde(default)]
    pub html: String,
    #[serde(default)]
    pub text: String,
    /// draft: the reply's attachments, each with its bytes given whole
    /// (the node stores them as chunks before the draft) or with the
    /// `content` `POST /api/interactions/{id}/content` answered.
    #[serde(default, deserialize_with = "crate::whole::attachments")]
    pub attachments: Vec<NewAttachment>,
    /// callback-attempt: Reached, NoAnswer, Busy, InvalidNumber or
    /// {"Other": "..."}
    #[serde(default)]
    pub outcome: Option<CallbackOutcome>,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub client_id: Option<String>,
}

/// An attachment of a reply's draft: its bytes (small ones), or the
/// content stored before (`POST /api/interactions/{id}/content`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewAttachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    #[serde(default)]
    pub bytes: Vec<u8>,
    #[serde(default)]
    pub content: Option<duet_interactions::model::Blob>,
}

/// A customer's message (`POST /api/chats/{id}/messages`): what [`Said`]
/// carries there (a type the document reads; never built).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct MessageBody {
    /// The message's own id (a resend is kept once); one starting with
    /// `~` is duet's own.
    #[schema(min_length = 1, max_length = 128, pattern = "^[^~]")]
    message_id: String,
    #[serde(default)]
    #[schema(max_length = 16384)]
    body: String,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    client_id: Option<String>,
}

/// A delivery report (`POST /api/chats/{id}/delivery`): what [`Said`]
/// carries there (a type the document reads; never built).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct DeliveryBody {
    /// The agent's message it is about.
    message_id: String,
    delivery: Delivery,
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    client_id: Option<String>,
}

//! Who may call each route, in one table ([`RULES`]), and the guard that
//! applies it to every request before its handler runs. A route without
//! a rule is refused (403), so a new route is closed until it is given
//! one; docs/access.md is this table rendered (a test holds the two equal).
//!
//! The relation to an interaction is decided here too ([`related`]): an
//! agent reads and acts on what it is offered or holds (conferenced in
//! included); a supervisor on the interactions of the queues it
//! supervises (the user's `supervises` attribute); an administrator on
//! all. The interaction state refuses an agent's change to an interaction
//! it does not hold as well, so a transfer between the check and the
//! change cannot slip one through.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use duet_interactions::{Actor, Interaction};
use duet_report::archive::{Scope, live_agents};

use super::archive::FromArchive;
use super::auth::{Caller, customer_may, signed_in};
use super::customer::{TokenQuery, token};
use super::{Refusal, ask};
use duet_node::directory::{Supervises, UserRole};
use duet_node::replication::IxRequest;
use duet_node::shared::Shared;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Anyone, without credentials.
    Anyone,
    /// The customer holding the conversation's token (`x-duet-token` or
    /// `?token=`) for the `{id}` in the path.
    Customer,
    /// A provider, by the webhook signature over the body (checked by the
    /// handler, which needs the body).
    Provider,
    /// A user of the bootstrap file, by Basic credentials; the handler
    /// checks the right the route needs (remote control, master).
    Operator,
    /// A signed-in agent (or administrator), acting as itself.
    Agent,
    /// A signed-in user related to the interaction `{id}`: the agent it
    /// is offered to or held by (conference members included), a
    /// supervisor of its queue, an administrator.
    Related,
    /// A signed-in supervisor (or administrator).
    Supervisor,
    /// A signed-in administrator.
    Admin,
    /// Any signed-in user (signing out needs the session it ends).
    SignedIn,
    /// A reader of the configuration: a bootstrap user by Basic
    /// credentials, or a signed-in supervisor (or administrator); users
    /// need a master or an administrator (the handler checks the path).
    Reader,
    /// A master administrator of the bootstrap file by Basic credentials,
    /// or a signed-in administrator.
    Master,
}

/// One route's rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub who: Who,
}

const fn rule(method: &'static str, path: &'static str, who: Who) -> Rule {
    Rule { method, path, who }
}

/// Every route and who may call it.
pub const RULES: &[Rule] = &[
    rule("GET", "/api/status", Who::Anyone),
    rule("GET", "/api/role", Who::Anyone),
    rule("GET", "/api/events", Who::Anyone),
    rule("GET", "/api/params", Who::Anyone),
    rule("GET", "/metrics", Who::Anyone),
    rule("GET", "/api/openapi.json", Who::Anyone),
    rule("GET", "/api/shadow", Who::Anyone),
    rule("GET", "/api/pair", Who::Anyone),
    rule("POST", "/api/switch", Who::Operator),
    rule("POST", "/api/fault", Who::Operator),
    rule("GET", "/api/config", Who::Reader),
    rule("PUT", "/api/config", Who::Operator),
    rule("DELETE", "/api/config", Who::Operator),
    rule("POST", "/api/config/batch", Who::Operator),
    rule("GET", "/api/config/conflicts", Who::Master),
    rule("POST", "/api/sessions", Who::Anyone),
    rule("DELETE", "/api/sessions", Who::SignedIn),
    rule("GET", "/api/agent", Who::Agent),
    rule("POST", "/api/agent/login", Who::Agent),
    rule("POST", "/api/agent/logout", Who::Agent),
    rule("POST", "/api/agent/status", Who::Agent),
    rule("GET", "/api/agent/ws", Who::Agent),
    rule("POST", "/api/interactions/{id}/{action}", Who::Related),
    rule("GET", "/api/interactions/conflicts", Who::Supervisor),
    rule("GET", "/api/interactions", Who::SignedIn),
    rule("GET", "/api/interactions/{id}", Who::Related),
    rule("POST", "/api/interactions/{id}/files", Who::Related),
    rule("GET", "/api/interactions/{id}/files/{file}", Who::Related),
    rule("POST", "/api/interactions/{id}/content", Who::Related),
    rule("POST", "/api/chats", Who::Anyone),
    rule("GET", "/api/chats/{id}", Who::Customer),
    rule("POST", "/api/chats/{id}/messages", Who::Customer),
    rule("POST", "/api/chats/{id}/delivery", Who::Customer),
    rule("POST", "/api/chats/{id}/leave", Who::Customer),
    rule("GET", "/api/chats/{id}/ws", Who::Customer),
    rule("POST", "/api/chats/{id}/files", Who::Customer),
    rule("GET", "/api/chats/{id}/files/{file}", Who::Customer),
    rule("POST", "/api/callbacks", Who::Anyone),
    rule("POST", "/api/webhooks/{kind}", Who::Provider),
    rule("POST", "/api/calls", Who::Admin),
    rule("GET", "/api/queues", Who::Supervisor),
    rule("GET", "/api/agents", Who::Supervisor),
    rule("GET", "/api/statistics/intervals", Who::Supervisor),
    rule("GET", "/api/reports/queues", Who::Supervisor),
    rule("GET", "/api/reports/agents", Who::Supervisor),
    rule("POST", "/api/agents/{name}/status", Who::Supervisor),
    rule("GET", "/api/stream/ws", Who::Master),
];

/// The rule of a route (its method and path as routed, `{id}` and all).
pub fn rule_of(method: &str, path: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
}

/// The interactions `caller` is related to: an administrator's all, a
/// supervisor's its queues', an agent's those it is on.
pub fn scope(caller: &Caller) -> Scope {
    let supervisor = caller.is(UserRole::Supervisor);
    Scope {
        every_queue: caller.is(UserRole::Admin)
            || (supervisor && caller.supervises == Supervises::Every),
        queues: match &caller.supervises {
            Supervises::Only(queues) if supervisor => queues.clone(),
            _ => Default::default(),
        },
        agent: caller.is(UserRole::Agent).then(|| caller.name.clone()),
    }
}

/// Whether `caller` may read and act on `ix`: an agent it is offered to
/// or held by (once closed, that was connected to it, as its archived
/// copy is read), a supervisor of its queue, an administrator.
pub fn related(caller: &Caller, ix: &Interaction) -> bool {
    scope(caller).covers(&ix.routing.queue, live_agents(ix).into_iter())
}

/// Whether `caller` was an agent on `ix` (connected to it, or wrapped
/// it up): it may still send a change, which the interaction state
/// refuses unless it is a retry of one it made then (the stream answers
/// a known client id before any check), so a retry after a switchover is
/// answered as the first time even when the interaction has moved on.
fn was_on(caller: &Caller, ix: &Interaction) -> bool {
    ix.parties.joined.contains(&caller.name)
        || ix.wrap_up.as_ref().is_some_and(|w| w.agent == caller.name)
}

/// Who a caller the guard let through acts as on `ix`: a supervisor or
/// administrator over it, unless it is on it as its agent; otherwise its
/// agent, whose changes the interaction state refuses when it is not on
/// the interaction (see [`was_on`]).
pub fn actor(caller: &Caller, ix: &Interaction) -> Actor {
    let over = caller.is(UserRole::Admin)
        || (caller.is(UserRole::Supervisor) && caller.supervises.covers(&ix.routing.queue));
    let on = caller.is(UserRole::Agent) && ix.has_agent(&caller.name);
    if over && !on {
        Actor::User(caller.name.clone())
    } else {
        Actor::Agent(caller.name.clone())
    }
}

/// The interaction a [`Who::Related`] route was allowed on, as the guard
/// read it (handlers take it from the request's extensions).
#[derive(Debug, Clone)]
pub struct Held(pub std::sync::Arc<Interaction>);

/// A session's token: `Authorization: Bearer`, or on a WebSocket (where
/// browsers cannot set headers) `?token=`.
fn session_token(headers: &HeaderMap, template: &str, query: &TokenQuery) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(String::from)
        .or_else(|| {
            template
                .ends_with("/ws")
                .then(|| query.token.clone())
                .flatten()
        })
}

/// Basic credentials (a bootstrap user) rather than a session.
fn basic(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "))
}

fn forbidden(message: String) -> Refusal {
    Refusal::new(StatusCode::FORBIDDEN, message)
}

fn holding(caller: &Caller, role: UserRole) -> Result<(), Refusal> {
    if caller.is(role) || caller.is(UserRole::Admin) {
        return Ok(());
    }
    Err(forbidden(format!(
        "{} is not a{} {role:?}",
        caller.name,
        if role == UserRole::Agent { "n" } else { "" }
    )))
}

/// A method the route does not take: 405, naming those it takes in
/// `Allow`, before any credentials are looked at. A route with no rule
/// at all stays closed (403, in [`admit`]).
fn other_method(request: &Request) -> Option<Response> {
    let template = request.extensions().get::<MatchedPath>()?.as_str();
    let method = request.method().as_str();
    if rule_of(method, template).is_some() {
        return None;
    }
    let taken: Vec<&str> = RULES
        .iter()
        .filter(|r| r.path == template)
        .map(|r| r.method)
        .collect();
    if taken.is_empty() {
        return None;
    }
    let taken = taken.join(", ");
    let mut response = Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} {template}: the route takes {taken}"),
    )
    .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&taken) {
        response
            .headers_mut()
            .insert(axum::http::header::ALLOW, value);
    }
    Some(response)
}

/// Applies the route's rule; the caller (and for [`Who::Related`], the
/// interaction) goes into the request's extensions for the handler.
async fn admit(shared: &Shared, request: Request) -> Result<Request, Refusal> {
    let (mut parts, body) = request.into_parts();
    let template = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = parts.method.as_str().to_string();
    let Some(rule) = rule_of(&method, &template) else {
        return Err(forbidden(format!(
            "{method} {template}: this route has no access rule (duet-http's access.rs), so it is closed"
        )));
    };
    let query = Query::<TokenQuery>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let id = Path::<BTreeMap<String, String>>::from_request_parts(&mut parts, &())
        .await
        .ok()
        .and_then(|Path(mut p)| p.remove("id"))
        .unwrap_or_default();
    let session = session_token(&parts.headers, &template, &query);
    match rule.who {
        Who::Anyone | Who::Provider => {}
        Who::Customer => customer_may(shared, &id, &token(&parts.headers, &query))?,
        Who::Operator => {
            super::authenticate(shared, &parts.headers, "this request").await?;
        }
        Who::Reader | Who::Master if basic(&parts.headers) => {
            let user = super::authenticate(shared, &parts.headers, "this request").await?;
            if rule.who == Who::Master && !user.master {
                return Err(forbidden(format!(
                    "{} is not a master administrator",
                    user.name
                )));
            }
        }
        Who::SignedIn | Who::Reader | Who::Master => {
            let caller = signed_in(shared, session.as_deref()).await?;
            match rule.who {
                Who::Reader => holding(&caller, UserRole::Supervisor)?,
                Who::Master => holding(&caller, UserRole::Admin)?,
                _ => {}
            }
            parts.extensions.insert(caller);
        }
        Who::Agent | Who::Supervisor | Who::Admin => {
            let caller = signed_in(shared, session.as_deref()).await?;
            let role = match rule.who {
                Who::Agent => UserRole::Agent,
                Who::Supervisor => UserRole::Supervisor,
                _ => UserRole::Admin,
            };
            holding(&caller, role)?;
            parts.extensions.insert(caller);
        }
        Who::Related => {
            let caller = signed_in(shared, session.as_deref()).await?;
            let change = parts.method == axum::http::Method::POST;
            // A change is the active node's to judge: its state, not this
            // node's copy, says whose the interaction is now.
            if change && let Some(refusal) = super::not_active(shared, "changes") {
                return Err(refusal);
            }
            let wanted = id.clone();
            let not_yours = || {
                forbidden(format!(
                    "interaction {id} is not yours: an agent works what it is offered or holds, a supervisor its queues' interactions"
                ))
            };
            let live = ask(shared, |reply| IxRequest::Get { id: wanted, reply }).await?;
            let ix = match live {
                Some(ix) => ix,
                // Read whole once forgotten: its archived copy.
                None if template == "/api/interactions/{id}" => {
                    let kept = super::archive::fetch(shared, &id).await?.ok_or_else(|| {
                        Refusal::new(
                            StatusCode::NOT_FOUND,
                            format!("no interaction {id}, live or archived"),
                        )
                    })?;
                    let agents = kept.parties.joined.iter().map(String::as_str);
                    if !scope(&caller).covers(&kept.routing.queue, agents) {
                        return Err(not_yours());
                    }
                    parts.extensions.insert(caller);
                    parts.extensions.insert(FromArchive(Box::new(kept)));
                    return Ok(Request::from_parts(parts, body));
                }
                None => {
                    return Err(Refusal::new(
                        StatusCode::NOT_FOUND,
                        format!("no live interaction {id}"),
                    ));
                }
            };
            let retrying = change && was_on(&caller, &ix);
            if !related(&caller, &ix) && !retrying {
                return Err(not_yours());
            }
            parts.extensions.insert(caller);
            parts.extensions.insert(Held(ix));
        }
    }
    Ok(Request::from_parts(parts, body))
}

/// The guard every routed request passes.
pub(super) async fn guard(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(refusal) = other_method(&request) {
        return refusal;
    }
    match admit(&shared, request).await {
        Ok(request) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words docs/access.md uses.
    fn words(who: Who) -> &'static str {
        match who {
            Who::Anyone => "anyone",
            Who::Customer => "customer (the conversation's token)",
            Who::Provider => "provider (signed webhook)",
            Who::Operator => "operator (bootstrap user, Basic)",
            Who::Agent => "agent (session)",
            Who::Related => "related (its agent, a supervisor of its queue, an admin)",
            Who::Supervisor => "supervisor (session)",
            Who::Admin => "admin (session)",
            Who::SignedIn => "signed-in user (any session)",
            Who::Reader => {
                "reader (bootstrap user by Basic, or a supervisor's session; users: a master or an admin)"
            }
            Who::Master => "master (a master bootstrap user by Basic, or an admin's session)",
        }
    }

    /// The table as docs/access.md shows it.
    fn reference() -> String {
        let mut out = String::from("| method | route | who may call it |\n|---|---|---|\n");
        for r in RULES {
            out.push_str(&format!(
                "| {} | `{}` | {} |\n",
                r.method,
                r.path,
                words(r.who)
            ));
        }
        out
    }

    /// Every route of the OpenAPI document has a rule, and every rule a
    /// route there.
    #[test]
    fn the_table_and_the_openapi_document_name_the_same_routes() {
        let document = serde_json::to_value(super::super::openapi::document_value()).unwrap();
        let mut documented = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.to_ascii_uppercase(), path.clone()));
                assert!(
                    rule_of(method, path).is_some(),
                    "{method} {path} has no access rule"
                );
            }
        }
        for r in RULES {
            assert!(
                documented.contains(&(r.method.to_string(), r.path.to_string())),
                "{} {} is in the access table but not in the OpenAPI document",
                r.method,
                r.path
            );
        }
    }

    /// docs/access.md holds the table as the code has it.
    #[test]
    fn docs_access_md_shows_the_table() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/access.md"))
                .unwrap();
        assert!(
            doc.contains(&reference()),
            "docs/access.md's table differs from duet-http's access.rs; the table is:\n{}",
            reference()
        );
    }
}

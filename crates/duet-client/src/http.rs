//! JSON requests to a pair that follow the active node (see
//! [`crate::nodes::step`]): the most recently used node first, then the
//! other, until one acknowledges or the deadline passes.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::nodes::{Attempt, Nodes, Retry, Step, node_for, step};

/// Who the request is made as.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// A signed-in user's session (`POST /api/sessions`).
    Bearer(String),
    /// A customer's token for its own conversation.
    Customer(String),
    /// A bootstrap user (the configuration API's administrators).
    Basic {
        user: String,
        password: String,
    },
}

impl Auth {
    fn header(&self) -> Option<(&'static str, String)> {
        match self {
            Auth::None => None,
            Auth::Bearer(token) => Some(("authorization", format!("Bearer {token}"))),
            Auth::Customer(token) => Some(("x-duet-token", token.clone())),
            Auth::Basic { user, password } => {
                let b64 =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                Some(("authorization", format!("Basic {b64}")))
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
}

/// A JSON client of a pair; cheap to clone, shares the nodes' order.
#[derive(Clone)]
pub struct Client {
    nodes: Arc<Nodes>,
    agent: ureq::Agent,
    retry: Retry,
}

impl Client {
    pub fn new(nodes: Arc<Nodes>, retry: Retry) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(retry.answer_wait()))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            nodes,
            agent,
            retry,
        }
    }

    pub fn nodes(&self) -> &Arc<Nodes> {
        &self.nodes
    }

    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// A read; both nodes answer reads.
    pub fn get<T: DeserializeOwned>(&self, path: &str, auth: &Auth) -> Result<T, Error> {
        let text = self.call(Method::Get, path, None, auth, false)?;
        parse(path, text.unwrap_or_default())
    }

    /// A read of something that may not be there: 404 is `None` (not a
    /// reason to try the other node).
    pub fn get_maybe<T: DeserializeOwned>(
        &self,
        path: &str,
        auth: &Auth,
    ) -> Result<Option<T>, Error> {
        let text = self.call(Method::Get, path, None, auth, true)?;
        text.map(|text| parse(path, text)).transpose()
    }

    /// A change; its body should carry `client_id` so a resend is applied
    /// once.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        auth: &Auth,
    ) -> Result<T, Error> {
        self.send(Method::Post, path, body, auth)
    }

    pub fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
        auth: &Auth,
    ) -> Result<T, Error> {
        self.send(Method::Put, path, body, auth)
    }

    fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
        auth: &Auth,
    ) -> Result<T, Error> {
        let body = serde_json::to_value(body).map_err(|e| Error::BadRequest {
            what: path.to_string(),
            why: e.to_string(),
        })?;
        let text = self.call(method, path, Some(&body), auth, false)?;
        parse(path, text.unwrap_or_default())
    }

    fn once(
        &self,
        node: usize,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        auth: &Auth,
    ) -> Result<(u16, String), ureq::Error> {
        let url = format!("{}{path}", self.nodes.url(node));
        let header = auth.header();
        let mut response = match (method, body) {
            (Method::Get, _) | (_, None) => {
                let mut r = self.agent.get(&url);
                if let Some((name, value)) = &header {
                    r = r.header(*name, value);
                }
                r.call()?
            }
            (Method::Post, Some(b)) | (Method::Put, Some(b)) => {
                let mut r = match method {
                    Method::Put => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                if let Some((name, value)) = &header {
                    r = r.header(*name, value);
                }
                r.send_json(b)?
            }
        };
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()?;
        Ok((status, text))
    }

    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        auth: &Auth,
        absent_ok: bool,
    ) -> Result<Option<String>, Error> {
        let started = Instant::now();
        let first = self.nodes.first_for(!matches!(method, Method::Get));
        let mut last = String::from("not tried");
        let mut n = 0u32;
        while started.elapsed() < self.retry.deadline() {
            std::thread::sleep(self.retry.pause(n));
            let node = node_for(first, n);
            n = n.saturating_add(1);
            let (attempt, text) = match self.once(node, method, path, body, auth) {
                Ok((status, text)) => (Attempt::Status(status), text),
                Err(e) => (Attempt::NoAnswer, e.to_string()),
            };
            match (step(attempt), attempt) {
                (Step::Done, _) => {
                    self.nodes.answered(node);
                    return Ok(Some(text));
                }
                (_, Attempt::Status(404)) if absent_ok => return Ok(None),
                (Step::Final, Attempt::Status(status)) => {
                    return Err(Error::Refused {
                        what: path.to_string(),
                        status,
                        message: error_message(&text),
                    });
                }
                (_, Attempt::Status(status)) => {
                    last = format!(
                        "{status} from {}: {}",
                        self.nodes.url(node),
                        error_message(&text)
                    );
                }
                (_, Attempt::NoAnswer) => {
                    last = format!("no answer from {}: {text}", self.nodes.url(node));
                }
            }
        }
        Err(Error::GaveUp {
            what: path.to_string(),
            deadline_ms: self.retry.deadline_ms,
            last,
        })
    }
}

/// An answer as the API documents it for `path`.
fn parse<T: DeserializeOwned>(path: &str, text: String) -> Result<T, Error> {
    serde_json::from_str(&text).map_err(|_| Error::BadAnswer {
        what: path.to_string(),
        answer: text,
    })
}

/// The `error` of an API refusal, or the body as it is.
fn error_message(text: &str) -> String {
    serde_json::from_str::<duet_api::ErrorBody>(text)
        .map(|body| body.error)
        .unwrap_or_else(|_| text.chars().take(300).collect())
}

//! Setting up users and a workgroup queue through the configuration API
//! (a master administrator of the bootstrap file), as
//! docs/contact-center.md describes.

use serde_json::{Value, json};

use crate::Error;
use crate::http::{Auth, Client};

/// A user of the directory.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    /// `agent`, `supervisor`, `admin` (comma-separated).
    pub roles: String,
    pub password: String,
    pub skills: String,
    /// Per media, e.g. `chat:3,email:5,callback:1`.
    pub capacity: String,
}

/// Creates or replaces `user`.
pub fn put_user(client: &Client, admin: &Auth, user: &User) -> Result<(), Error> {
    put(
        client,
        admin,
        &format!("/config/Users/{}", user.name),
        "User",
        json!({
            "roles": user.roles,
            "password": user.password,
            "skills": user.skills,
            "capacity": user.capacity,
        }),
    )
}

/// Creates or replaces the object at `path` with `attributes`; its client
/// id is its content, so a resend after a switchover is applied once.
pub fn put(
    client: &Client,
    admin: &Auth,
    path: &str,
    class: &str,
    attributes: Value,
) -> Result<(), Error> {
    let body = json!({"path": path, "class": class, "attributes": attributes});
    let digest = fnv(body.to_string().as_bytes());
    let mut body = body;
    body["client_id"] = format!("put {path} {digest:016x}").into();
    client.put("/api/config", &body, admin)?;
    Ok(())
}

/// The attributes of the object at `path`, or `None` if there is none
/// (reading needs an administrator's or supervisor's credentials).
pub fn get(client: &Client, reader: &Auth, path: &str) -> Result<Option<Value>, Error> {
    Ok(client
        .get_maybe(&format!("/api/config?path={path}"), reader)?
        .map(|answer| answer["object"]["attributes"].clone()))
}

/// FNV-1a: a stable digest for client ids (not for security).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

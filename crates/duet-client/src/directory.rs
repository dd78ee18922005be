//! Setting up users and a workgroup queue through the configuration API
//! (a master administrator of the bootstrap file), as
//! docs/contact-center.md describes.

use std::collections::BTreeMap;

use duet_api::{Changed, PutBody};
use serde::Deserialize;

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
        BTreeMap::from([
            ("roles".to_string(), user.roles.clone()),
            ("password".to_string(), user.password.clone()),
            ("skills".to_string(), user.skills.clone()),
            ("capacity".to_string(), user.capacity.clone()),
        ]),
    )
}

/// Creates or replaces the object at `path` with `attributes`; its client
/// id is its content, so a resend after a switchover is applied once.
pub fn put(
    client: &Client,
    admin: &Auth,
    path: &str,
    class: &str,
    attributes: BTreeMap<String, String>,
) -> Result<(), Error> {
    let mut body = PutBody {
        path: path.to_string(),
        class: class.to_string(),
        attributes,
        client_id: None,
    };
    let content = format!("{path}\n{class}\n{:?}", body.attributes);
    body.client_id = Some(format!("put {path} {:016x}", fnv(content.as_bytes())));
    let _: Changed = client.put("/api/config", &body, admin)?;
    Ok(())
}

/// The part of `GET /api/config` read here: the object at the path.
#[derive(Deserialize)]
struct Read {
    object: Option<duet_config::Object>,
}

/// The attributes of the object at `path`, or `None` if there is none
/// (reading needs an administrator's or supervisor's credentials).
pub fn get(
    client: &Client,
    reader: &Auth,
    path: &str,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    let read: Option<Read> = client.get_maybe(&format!("/api/config?path={path}"), reader)?;
    Ok(read.and_then(|r| r.object).map(|o| o.attributes))
}

/// FNV-1a: a stable digest for client ids (not for security).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

//! Signing out: the time each user last signed out is kept in the
//! configuration tree (`/config/Sessions/<user>`, attribute
//! `signed_out_at_unix_ms`), so it is replicated and survives a switchover;
//! a session issued before it is refused on both nodes. One object per
//! user that ever signed out, so the list stays bounded by the users.

use super::Refusal;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use duet_node::shared::Shared;

/// The folder of sign-out times.
pub const SESSIONS: &str = "/config/Sessions";
const SIGNED_OUT_AT: &str = "signed_out_at_unix_ms";

fn path_of(name: &str) -> Option<duet_config::TreePath> {
    duet_config::TreePath::parse(&format!("{SESSIONS}/{name}")).ok()
}

/// Whether `name` signed out at or after `issued_unix_ms`.
pub(super) async fn signed_out_after(
    shared: &Shared,
    name: &str,
    issued_unix_ms: u64,
) -> Result<bool, Refusal> {
    // A name that cannot be a path never signed out.
    let Some(path) = path_of(name) else {
        return Ok(false);
    };
    let signed_out_at = super::config_object(shared, path)
        .await?
        .as_ref()
        .and_then(|o| o.attributes.get(SIGNED_OUT_AT))
        .and_then(|v| v.parse::<u64>().ok());
    Ok(signed_out_at.is_some_and(|at| issued_unix_ms <= at))
}

/// Records that `name` signed out now; answers once acknowledged.
pub(super) async fn sign_out(shared: &Shared, name: &str) -> Response {
    let Some(path) = path_of(name) else {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("{name:?} cannot be signed out: the name is not a configuration path segment"),
        )
        .into_response();
    };
    let object = duet_config::Object {
        class: duet_config::Class::Folder,
        attributes: [(
            SIGNED_OUT_AT.to_string(),
            duet_node::events::unix_ms().to_string(),
        )]
        .into(),
    };
    super::config::write(shared, name, None, duet_config::Op::Put { path, object }).await
}

//! `duet ctl end-interaction ID`: ends an interaction that is stuck (one
//! `duet report stuck` lists), on the active node, as a supervisor of its
//! queue or an administrator. One that waits or is offered is closed;
//! one connected or held ends as a disconnect does (into wrap-up when
//! its queue has one); a wrap-up its agent left is closed without a code.

use anyhow::{anyhow, bail};
use serde_json::Value;

use super::{Node, active, agent, answer};

/// Disconnects a live interaction has to go through at most: connected,
/// then wrap-up.
const STEPS_MAX: usize = 2;

pub(super) fn end(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    id: &str,
) -> anyhow::Result<()> {
    let node = active(nodes)?;
    let (node, token) = super::contact::session(std::slice::from_ref(node), user, password)?;
    let bearer = format!("Bearer {token}");
    let state = || -> anyhow::Result<Value> {
        let ix = agent()
            .get(&format!("{}/api/interactions/{id}", node.url))
            .header("authorization", &bearer)
            .call()
            .map_err(|e| anyhow!("{}: {e}", node.url))
            .and_then(answer)?;
        if ix.is_null() {
            bail!("no live interaction {id} on {}", node.url);
        }
        Ok(ix["state"].clone())
    };
    for _ in 0..STEPS_MAX {
        let now = state()?;
        if now["Closed"].is_object() {
            break;
        }
        agent()
            .post(&format!("{}/api/interactions/{id}/disconnect", node.url))
            .header("authorization", &bearer)
            .send_json(serde_json::json!({}))
            .map_err(|e| anyhow!("{}: {e}", node.url))
            .and_then(answer)
            .map_err(|e| anyhow!("ending {id} (it was {now}): {e}"))?;
    }
    let now = state()?;
    if !now["Closed"].is_object() {
        bail!("{id} did not close: it is {now}");
    }
    println!("{id} is closed.");
    Ok(())
}

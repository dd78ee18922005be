//! `duet ctl end-interaction ID`: ends an interaction that is stuck (one
//! `duet report stuck` lists), on the active node, as a supervisor of its
//! queue or an administrator. One that waits or is offered is closed;
//! one connected or held ends as a disconnect does (into wrap-up when
//! its queue has one); a wrap-up its agent left is closed without a code.

use anyhow::{anyhow, bail};
use duet_api::{Action, Changed};
use duet_interactions::model::InteractionState;
use serde::Deserialize;

use super::{Node, active, agent, answer};

/// Where an interaction stands: the part of `GET /api/interactions/{id}`
/// read here, whether the answer is the live interaction or its archived
/// copy.
#[derive(Deserialize)]
struct Standing {
    state: InteractionState,
}

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
    let state = || -> anyhow::Result<InteractionState> {
        let ix: Option<Standing> = agent()
            .get(&format!("{}/api/interactions/{id}", node.url))
            .header("authorization", &bearer)
            .call()
            .map_err(|e| anyhow!("{}: {e}", node.url))
            .and_then(answer)?;
        match ix {
            Some(ix) => Ok(ix.state),
            None => bail!("no live interaction {id} on {}", node.url),
        }
    };
    for _ in 0..STEPS_MAX {
        let now = state()?;
        if matches!(now, InteractionState::Closed { .. }) {
            break;
        }
        agent()
            .post(&format!("{}/api/interactions/{id}/disconnect", node.url))
            .header("authorization", &bearer)
            .send_json(Action::default())
            .map_err(|e| anyhow!("{}: {e}", node.url))
            .and_then(answer::<Changed>)
            .map_err(|e| anyhow!("ending {id} (it was {}): {e}", now.name()))?;
    }
    let now = state()?;
    if !matches!(now, InteractionState::Closed { .. }) {
        bail!("{id} did not close: it is {}", now.name());
    }
    println!("{id} is closed.");
    Ok(())
}

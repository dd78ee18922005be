//! The replication task's read views as the API answers them
//! (`duet_api`): moved field by field, so a view that gains a field the
//! API does not carry fails to build here rather than leak unnoticed.

use crate::replication::{AgentView, QueueView, ShadowView};

pub(super) fn agent_state(view: AgentView) -> duet_api::AgentState {
    let AgentView {
        agent,
        interactions,
        wrap_up_codes,
    } = view;
    duet_api::AgentState {
        agent: Some(agent),
        interactions,
        wrap_up_codes,
    }
}

pub(super) fn queue_state(view: QueueView) -> duet_api::QueueState {
    let QueueView { queue, figures } = view;
    duet_api::QueueState { queue, figures }
}

pub(super) fn shadow(view: ShadowView) -> duet_api::Shadow {
    let ShadowView {
        position,
        digest,
        live_interactions,
        agents,
    } = view;
    duet_api::Shadow {
        position,
        digest,
        live_interactions,
        agents,
    }
}

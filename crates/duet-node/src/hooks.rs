//! The seed's Switchover Event initiator: Commence when this node becomes
//! active, Discontinue when it stops (best effort). Each configured command
//! runs through `sh -c` with DUET_EVENT, DUET_NODE and DUET_EPOCH set; each
//! webhook gets a JSON POST.

use std::time::Duration;

use crate::bootstrap::Bootstrap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    Commence,
    Discontinue,
}

impl HookEvent {
    fn name(self) -> &'static str {
        match self {
            HookEvent::Commence => "commence",
            HookEvent::Discontinue => "discontinue",
        }
    }
}

/// How long a hook command or webhook may take.
const HOOK_TIMEOUT_MS: u64 = 30_000;

/// Starts the hooks for `event`; returns their tasks.
pub fn fire(boot: &Bootstrap, event: HookEvent, epoch: u64) -> Vec<tokio::task::JoinHandle<()>> {
    let hooks = &boot.hooks;
    let commands = match event {
        HookEvent::Commence => hooks.commence.clone(),
        HookEvent::Discontinue => hooks.discontinue.clone(),
    };
    let node = boot.this.clone();
    let mut tasks = Vec::new();
    for command in commands {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            let run = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .env("DUET_EVENT", event.name())
                .env("DUET_NODE", &node)
                .env("DUET_EPOCH", epoch.to_string())
                .kill_on_drop(true)
                .status();
            match tokio::time::timeout(Duration::from_millis(HOOK_TIMEOUT_MS), run).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => {
                    tracing::warn!("{} hook {command:?} exited with {status}", event.name())
                }
                Ok(Err(e)) => {
                    tracing::warn!("{} hook {command:?} could not run: {e}", event.name())
                }
                Err(_) => tracing::warn!(
                    "{} hook {command:?} took too long and was stopped",
                    event.name()
                ),
            }
        }));
    }
    for url in hooks.webhooks.clone() {
        let body =
            serde_json::json!({"event": event.name(), "node": node, "epoch": epoch}).to_string();
        tasks.push(tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_millis(HOOK_TIMEOUT_MS)))
                .build()
                .into();
            if let Err(e) = agent
                .post(&url)
                .header("content-type", "application/json")
                .send(&body)
            {
                tracing::warn!("{} webhook {url} failed: {e}", event.name());
            }
        }));
    }
    tasks
}

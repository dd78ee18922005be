//! `duet ctl queues | agents | interaction ID`: the live contact center as
//! a supervisor sees it. Signs in with the given user (a supervisor, or a
//! master administrator from the bootstrap file) on any node that answers;
//! both nodes hold the same state.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use duet_api::{Login, QueueState, Session};
use duet_interactions::model::{Agent, Content, HealConflict, Sender};
use duet_report::archive::view::{Content as ArchivedContent, Whole};
use serde::de::DeserializeOwned;

use super::{Node, agent, answer};

/// Signs in on the first node that answers; returns it with the session.
pub(super) fn session(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
) -> anyhow::Result<(&Node, String)> {
    let user = user.ok_or_else(|| anyhow!("give a supervisor: --user NAME (or DUET_USER)"))?;
    let password =
        password.ok_or_else(|| anyhow!("give the user's password: --password or DUET_PASSWORD"))?;
    let mut last = anyhow!("no node given");
    for node in nodes {
        let login = Login {
            user: user.clone(),
            password: password.clone(),
        };
        let attempt = agent()
            .post(&format!("{}/api/sessions", node.url))
            .send_json(login)
            .map_err(|e| anyhow!("{}: {e}", node.url))
            .and_then(answer::<Session>);
        match attempt {
            Ok(session) => return Ok((node, session.token)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn get<T: DeserializeOwned>(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    path: &str,
) -> anyhow::Result<T> {
    let (node, token) = session(nodes, user, password)?;
    agent()
        .get(&format!("{}{path}", node.url))
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .map_err(|e| anyhow!("{}: {e}", node.url))
        .and_then(answer)
}

fn seconds(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
}

pub(super) fn queues(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let queues: Vec<QueueState> = get(nodes, user, password, "/api/queues")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&queues)?);
        return Ok(());
    }
    println!(
        "{:<20} {:>7} {:>12} {:>8} {:>8} {:>8} {:>9}  agents",
        "queue", "waiting", "longest", "SL %", "ASA", "AHT", "abandoned"
    );
    for q in &queues {
        let f = &q.figures;
        let agents: Vec<String> = f
            .agents_by_status
            .iter()
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        println!(
            "{:<20} {:>7} {:>12} {:>8} {:>8} {:>8} {:>9}  {}",
            q.queue,
            f.waiting,
            seconds(Some(f.longest_wait_ms)),
            f.service_level_pct
                .map_or_else(|| "-".into(), |p| format!("{p:.1}")),
            seconds(f.asa_ms),
            seconds(f.aht_ms),
            f.abandoned,
            agents.join(", ")
        );
    }
    Ok(())
}

pub(super) fn agents(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let agents: Vec<Agent> = get(nodes, user, password, "/api/agents")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&agents)?);
        return Ok(());
    }
    println!(
        "{:<16} {:<28} {:<28} interactions",
        "agent", "status", "logged in"
    );
    for a in &agents {
        let held: Vec<&str> = a.assigned.values().flatten().map(String::as_str).collect();
        let logged: Vec<&str> = a.logged_in.iter().map(|m| m.name()).collect();
        // The status as the API writes it ("Available", {"NotReady": ..}).
        let status = serde_json::to_string(&a.status)?;
        println!(
            "{:<16} {:<28} {:<28} {}",
            a.name,
            status.trim_matches('"'),
            logged.join(","),
            held.join(" ")
        );
    }
    Ok(())
}

/// The interaction conflict records: what each side did that the state
/// of the side whose history serves overrode.
pub(super) fn conflicts(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
) -> anyhow::Result<()> {
    let list: Vec<HealConflict> = get(nodes, user, password, "/api/interactions/conflicts")?;
    if list.is_empty() {
        println!("No interaction conflicts.");
    }
    for c in list {
        let at = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(c.at_ms));
        // The actor and the change as the API writes them.
        println!(
            "{at} on {} (change {} of epoch {}, client id {:?}) by {}",
            c.node,
            c.seq,
            c.epoch,
            c.client,
            serde_json::to_string(&c.actor)?
        );
        println!("  change: {}", serde_json::to_string(&c.change)?);
        println!("  overridden: {}", c.why);
    }
    Ok(())
}

pub(super) fn interaction(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    id: &str,
) -> anyhow::Result<()> {
    let whole: Option<Whole> = get(nodes, user, password, &format!("/api/interactions/{id}"))?;
    let Some(whole) = whole else {
        bail!("no live interaction {id}");
    };
    let when = |ms: Option<u64>| {
        ms.map_or_else(
            || "open".to_string(),
            |ms| {
                humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
            },
        )
    };
    // A live interaction and its archived copy name these alike.
    macro_rules! head {
        ($ix:expr) => {
            (
                $ix.id.as_str(),
                $ix.media,
                $ix.routing.queue.as_str(),
                $ix.created_at_ms,
                &$ix.state,
                &$ix.parties.customer,
            )
        };
    }
    let (id, media, queue, created_at_ms, state, customer) = match &whole {
        Whole::Live(ix) => head!(ix),
        Whole::Archived(ix) => head!(ix),
    };
    println!(
        "{id} ({media}) in {queue}, created {}",
        when(Some(created_at_ms))
    );
    println!("state: {}", serde_json::to_string(state)?);
    println!("customer: {}", serde_json::to_string(customer)?);
    println!("history:");
    let segments: Vec<(String, Option<&str>, u64, Option<u64>)> = match &whole {
        Whole::Live(ix) => ix
            .segments
            .iter()
            .map(|s| {
                (
                    format!("{:?}", s.kind),
                    s.agent.as_deref(),
                    s.start_ms,
                    s.end_ms,
                )
            })
            .collect(),
        Whole::Archived(ix) => ix
            .segments
            .iter()
            .map(|s| {
                (
                    s.kind.clone(),
                    s.agent.as_deref(),
                    s.start_ms,
                    Some(s.end_ms),
                )
            })
            .collect(),
    };
    for (kind, agent, start_ms, end_ms) in segments {
        println!(
            "  {kind:<12} {:<10} {:<26} -> {}",
            agent.unwrap_or("-"),
            when(Some(start_ms)),
            when(end_ms)
        );
    }
    // (at, sender, body, delivery): the archive keeps no delivery.
    let transcript: Option<Vec<(u64, &Sender, &str, String)>> = match &whole {
        Whole::Live(ix) => match &ix.content {
            Content::Transcript(messages) => Some(
                messages
                    .iter()
                    .map(|m| {
                        (
                            m.at_ms,
                            &m.sender,
                            m.body.as_str(),
                            format!("{:?}", m.delivery),
                        )
                    })
                    .collect(),
            ),
            _ => None,
        },
        Whole::Archived(ix) => match &ix.content {
            Some(ArchivedContent::Transcript(lines)) => Some(
                lines
                    .iter()
                    .map(|l| (l.at_ms, &l.sender, l.body.as_str(), String::new()))
                    .collect(),
            ),
            _ => None,
        },
    };
    if let Some(messages) = transcript {
        println!("transcript:");
        for (at_ms, sender, body, delivery) in messages {
            println!(
                "  {} {}: {body} [{delivery}]",
                when(Some(at_ms)),
                serde_json::to_string(sender)?
            );
        }
    }
    let wrap_up = match &whole {
        Whole::Live(ix) => ix.wrap_up.as_ref().map(serde_json::to_string),
        Whole::Archived(ix) => ix.wrap_up.as_ref().map(serde_json::to_string),
    };
    if let Some(wrap_up) = wrap_up {
        println!("wrap-up: {}", wrap_up?);
    }
    Ok(())
}

//! `duet ctl queues | agents | interaction ID`: the live contact center as
//! a supervisor sees it. Signs in with the given user (a supervisor, or a
//! master administrator from the bootstrap file) on any node that answers;
//! both nodes hold the same state.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use serde_json::Value;

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
        let attempt = agent()
            .post(&format!("{}/api/sessions", node.url))
            .send_json(serde_json::json!({"user": user, "password": password}))
            .map_err(|e| anyhow!("{}: {e}", node.url))
            .and_then(answer);
        match attempt {
            Ok(session) => {
                let token = session["token"].as_str().unwrap_or_default().to_string();
                return Ok((node, token));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn get(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    path: &str,
) -> anyhow::Result<Value> {
    let (node, token) = session(nodes, user, password)?;
    agent()
        .get(&format!("{}{path}", node.url))
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .map_err(|e| anyhow!("{}: {e}", node.url))
        .and_then(answer)
}

fn seconds(ms: &Value) -> String {
    ms.as_u64()
        .map_or_else(|| "-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0))
}

pub(super) fn queues(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let queues = get(nodes, user, password, "/api/queues")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&queues)?);
        return Ok(());
    }
    println!(
        "{:<20} {:>7} {:>12} {:>8} {:>8} {:>8} {:>9}  agents",
        "queue", "waiting", "longest", "SL %", "ASA", "AHT", "abandoned"
    );
    for q in queues.as_array().into_iter().flatten() {
        let f = &q["figures"];
        let agents: Vec<String> = f["agents_by_status"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        println!(
            "{:<20} {:>7} {:>12} {:>8} {:>8} {:>8} {:>9}  {}",
            q["queue"].as_str().unwrap_or_default(),
            f["waiting"],
            seconds(&f["longest_wait_ms"]),
            f["service_level_pct"]
                .as_f64()
                .map_or_else(|| "-".into(), |p| format!("{p:.1}")),
            seconds(&f["asa_ms"]),
            seconds(&f["aht_ms"]),
            f["abandoned"],
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
    let agents = get(nodes, user, password, "/api/agents")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&agents)?);
        return Ok(());
    }
    println!(
        "{:<16} {:<28} {:<28} interactions",
        "agent", "status", "logged in"
    );
    for a in agents.as_array().into_iter().flatten() {
        let held: Vec<&str> = a["assigned"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, ids)| {
                ids.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
            })
            .collect();
        let logged: Vec<&str> = a["logged_in"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{:<16} {:<28} {:<28} {}",
            a["name"].as_str().unwrap_or_default(),
            a["status"].to_string().trim_matches('"'),
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
    let list = get(nodes, user, password, "/api/interactions/conflicts")?;
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("No interaction conflicts.");
    }
    for c in list {
        let at = humantime::format_rfc3339_millis(
            UNIX_EPOCH + Duration::from_millis(c["at_ms"].as_u64().unwrap_or(0)),
        );
        println!(
            "{at} on {} (change {} of epoch {}, client id {}) by {}",
            c["node"].as_str().unwrap_or("?"),
            c["seq"],
            c["epoch"],
            c["client"],
            c["actor"]
        );
        println!("  change: {}", c["change"]);
        println!("  overridden: {}", c["why"].as_str().unwrap_or_default());
    }
    Ok(())
}

pub(super) fn interaction(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    id: &str,
) -> anyhow::Result<()> {
    let ix = get(nodes, user, password, &format!("/api/interactions/{id}"))?;
    if ix.is_null() {
        bail!("no live interaction {id}");
    }
    let when = |ms: &Value| {
        ms.as_u64().map_or_else(
            || "open".to_string(),
            |ms| {
                humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
            },
        )
    };
    println!(
        "{} ({}) in {}, created {}",
        ix["id"].as_str().unwrap_or_default(),
        ix["media"].as_str().unwrap_or_default(),
        ix["routing"]["queue"].as_str().unwrap_or_default(),
        when(&ix["created_at_ms"])
    );
    println!("state: {}", ix["state"]);
    println!("customer: {}", ix["parties"]["customer"]);
    println!("history:");
    for s in ix["segments"].as_array().into_iter().flatten() {
        println!(
            "  {:<12} {:<10} {:<26} -> {}",
            s["kind"].as_str().unwrap_or_default(),
            s["agent"].as_str().unwrap_or("-"),
            when(&s["start_ms"]),
            when(&s["end_ms"])
        );
    }
    if let Some(messages) = ix["content"]["Transcript"].as_array() {
        println!("transcript:");
        for m in messages {
            println!(
                "  {} {}: {} [{}]",
                when(&m["at_ms"]),
                m["sender"],
                m["body"].as_str().unwrap_or_default(),
                m["delivery"].as_str().unwrap_or_default()
            );
        }
    }
    if !ix["wrap_up"].is_null() {
        println!("wrap-up: {}", ix["wrap_up"]);
    }
    Ok(())
}

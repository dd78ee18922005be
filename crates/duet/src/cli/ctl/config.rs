//! `duet ctl config`: read and change the configuration tree.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail};

use super::{ConfigCommand, Node, active, agent, answer, credentials};

pub(super) fn run(
    nodes: &[Node],
    user: Option<String>,
    password: Option<String>,
    command: ConfigCommand,
) -> anyhow::Result<()> {
    let normal = |path: &str| -> anyhow::Result<String> {
        Ok(duet_config::TreePath::parse(path)?.to_string())
    };
    // Reading needs credentials too (a master administrator for users and
    // conflict records).
    let reader = || credentials(user.clone(), password.clone());
    let read = |path: &str| -> anyhow::Result<serde_json::Value> {
        let node = active(nodes).or_else(|_| nodes.first().ok_or_else(|| anyhow!("no node")))?;
        answer(
            agent()
                .get(&format!("{}/api/config", node.url))
                .query("path", path)
                .header("authorization", &reader()?)
                .call()
                .map_err(|e| anyhow!("{}: {e}", node.url))?,
        )
    };
    match command {
        ConfigCommand::Get { path } => {
            let view = read(&path)?;
            match view["object"].as_object() {
                Some(object) => {
                    println!(
                        "{} ({})",
                        view["path"].as_str().unwrap_or(&path),
                        object["class"].as_str().unwrap_or("?")
                    );
                    if let Some(attributes) = object["attributes"].as_object() {
                        for (name, value) in attributes {
                            println!("  {name} = {}", value.as_str().unwrap_or_default());
                        }
                    }
                }
                None => bail!("no object at {path} (it has children: see `ls`)"),
            }
        }
        ConfigCommand::Ls { path } => {
            let view = read(&path)?;
            for child in view["children"].as_array().into_iter().flatten() {
                let name = child[0].as_str().unwrap_or("?");
                match child[1].as_str() {
                    Some(class) => println!("{name}  ({class})"),
                    None => println!("{name}/"),
                }
            }
        }
        ConfigCommand::History { path } => {
            let view = read(&path)?;
            for r in view["history"].as_array().into_iter().flatten() {
                let at = humantime::format_rfc3339_millis(
                    UNIX_EPOCH + Duration::from_millis(r["at_unix_ms"].as_u64().unwrap_or(0)),
                );
                let what = |v: &serde_json::Value| {
                    if v.is_null() {
                        "(none)".to_string()
                    } else {
                        v["attributes"].to_string()
                    }
                };
                let healed = match (&r["conflict"], &r["healed_from"]) {
                    (c, _) if !c.is_null() => {
                        format!("  [conflict: {} lost]", what(&c["value"]))
                    }
                    (_, h) if !h.is_null() => format!(
                        "  [made in epoch {} as change {} while both nodes served]",
                        h["epoch"], h["seq"]
                    ),
                    _ => String::new(),
                };
                println!(
                    "{at}  #{} by {}: {} -> {}{healed}",
                    r["seq"],
                    r["who"].as_str().unwrap_or("?"),
                    what(&r["old"]),
                    what(&r["new"])
                );
            }
        }
        ConfigCommand::Conflicts => {
            let node =
                active(nodes).or_else(|_| nodes.first().ok_or_else(|| anyhow!("no node")))?;
            let conflicts = answer(
                agent()
                    .get(&format!("{}/api/config/conflicts", node.url))
                    .header("authorization", &reader()?)
                    .call()
                    .map_err(|e| anyhow!("{}: {e}", node.url))?,
            )?;
            let change = |o: &serde_json::Value| {
                let at = humantime::format_rfc3339_millis(
                    UNIX_EPOCH + Duration::from_millis(o["at_unix_ms"].as_u64().unwrap_or(0)),
                );
                format!(
                    "{} at {at} (client id {}, epoch {}, change {})",
                    o["who"].as_str().unwrap_or("?"),
                    o["client"],
                    o["epoch"],
                    o["seq"]
                )
            };
            let list = conflicts.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("No configuration conflicts.");
            }
            for r in list {
                let value = match &r["conflict"]["value"] {
                    v if v.is_null() => "(removed)".to_string(),
                    v => v["attributes"].to_string(),
                };
                // A path travels as its segments.
                let path: Vec<&str> = r["path"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str())
                    .collect();
                println!("/{}  (record #{})", path.join("/"), r["seq"]);
                println!("  lost:  {} set {value}", change(&r["healed_from"]));
                println!("  stands: {}", change(&r["conflict"]["lost_to"]));
            }
        }
        ConfigCommand::Set {
            path,
            class,
            attributes,
            client_id,
        } => {
            let path = normal(&path)?;
            let mut map = serde_json::Map::new();
            for pair in attributes {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| anyhow!("{pair:?} is not NAME=VALUE"))?;
                map.insert(
                    name.to_string(),
                    serde_json::Value::String(value.to_string()),
                );
            }
            let node = active(nodes)?;
            let body = answer(
                agent()
                    .put(&format!("{}/api/config", node.url))
                    .header("authorization", &credentials(user, password)?)
                    .send_json(serde_json::json!({"path": path, "class": class, "attributes": map, "client_id": client_id}))
                    .map_err(|e| anyhow!("{}: {e}", node.url))?,
            )?;
            println!("{path} set (change {})", body["seq"]);
        }
        ConfigCommand::Rm { path } => {
            let path = normal(&path)?;
            let node = active(nodes)?;
            let body = answer(
                agent()
                    .delete(&format!("{}/api/config", node.url))
                    .query("path", &path)
                    .header("authorization", &credentials(user, password)?)
                    .call()
                    .map_err(|e| anyhow!("{}: {e}", node.url))?,
            )?;
            println!("{path} removed (change {})", body["seq"]);
        }
    }
    Ok(())
}

//! `duet ctl config`: read and change the configuration tree.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use duet_api::{Changed, PutBody};
use duet_config::{HistoryRecord, Object, Origin};
use duet_node::status::ConfigView;

use super::{ConfigCommand, Node, active, agent, agent_waiting, answer, credentials};

/// When, as RFC 3339.
fn at(unix_ms: u64) -> impl std::fmt::Display {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(unix_ms))
}

/// An object's attributes as JSON, or `(none)`.
fn what(object: &Option<Object>) -> String {
    object.as_ref().map_or_else(
        || "(none)".to_string(),
        |o| serde_json::to_string(&o.attributes).unwrap_or_default(),
    )
}

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
    let read = |path: &str| -> anyhow::Result<ConfigView> {
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
            match view.object {
                Some(object) => {
                    println!("{} ({})", view.path, object.class.name());
                    for (name, value) in object.attributes {
                        println!("  {name} = {value}");
                    }
                }
                None => bail!("no object at {path} (it has children: see `ls`)"),
            }
        }
        ConfigCommand::Ls { path } => {
            let view = read(&path)?;
            for (name, class) in view.children {
                match class {
                    Some(class) => println!("{name}  ({})", class.name()),
                    None => println!("{name}/"),
                }
            }
        }
        ConfigCommand::History { path } => {
            let view = read(&path)?;
            for r in view.history {
                let healed = match (&r.conflict, &r.healed_from) {
                    (Some(c), _) => format!("  [conflict: {} lost]", what(&c.value)),
                    (None, Some(h)) => format!(
                        "  [made in epoch {} as change {} while both nodes served]",
                        h.epoch, h.seq
                    ),
                    (None, None) => String::new(),
                };
                println!(
                    "{}  #{} by {}: {} -> {}{healed}",
                    at(r.at_unix_ms),
                    r.seq,
                    r.who,
                    what(&r.old),
                    what(&r.new)
                );
            }
        }
        ConfigCommand::Conflicts => {
            let node =
                active(nodes).or_else(|_| nodes.first().ok_or_else(|| anyhow!("no node")))?;
            let list: Vec<HistoryRecord> = answer(
                agent()
                    .get(&format!("{}/api/config/conflicts", node.url))
                    .header("authorization", &reader()?)
                    .call()
                    .map_err(|e| anyhow!("{}: {e}", node.url))?,
            )?;
            let change = |o: Option<&Origin>| {
                o.map_or_else(
                    || "?".to_string(),
                    |o| {
                        format!(
                            "{} at {} (client id {:?}, epoch {}, change {})",
                            o.who,
                            at(o.at_unix_ms),
                            o.client,
                            o.epoch,
                            o.seq
                        )
                    },
                )
            };
            if list.is_empty() {
                println!("No configuration conflicts.");
            }
            for r in list {
                let value = match r.conflict.as_ref().and_then(|c| c.value.as_ref()) {
                    None => "(removed)".to_string(),
                    Some(v) => serde_json::to_string(&v.attributes)?,
                };
                println!("{}  (record #{})", r.path, r.seq);
                println!("  lost:  {} set {value}", change(r.healed_from.as_ref()));
                println!(
                    "  stands: {}",
                    change(r.conflict.as_ref().map(|c| &c.lost_to))
                );
            }
        }
        ConfigCommand::Set {
            path,
            class,
            attributes,
            client_id,
        } => {
            let path = normal(&path)?;
            let mut map = std::collections::BTreeMap::new();
            for pair in attributes {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| anyhow!("{pair:?} is not NAME=VALUE"))?;
                map.insert(name.to_string(), value.to_string());
            }
            let node = active(nodes)?;
            let put = PutBody {
                path: path.clone(),
                class,
                attributes: map,
                client_id,
            };
            let done: Changed = answer(
                agent()
                    .put(&format!("{}/api/config", node.url))
                    .header("authorization", &credentials(user, password)?)
                    .send_json(put)
                    .map_err(|e| anyhow!("{}: {e}", node.url))?,
            )?;
            println!("{path} set (change {})", done.seq);
        }
        ConfigCommand::Apply { file } => {
            let node = active(nodes)?;
            apply(node, &credentials(user, password)?, &file)?;
        }
        ConfigCommand::Rm { path } => {
            let path = normal(&path)?;
            let node = active(nodes)?;
            let done: Changed = answer(
                agent()
                    .delete(&format!("{}/api/config", node.url))
                    .query("path", &path)
                    .header("authorization", &credentials(user, password)?)
                    .call()
                    .map_err(|e| anyhow!("{}: {e}", node.url))?,
            )?;
            println!("{path} removed (change {})", done.seq);
        }
    }
    Ok(())
}

/// How long one batch may take to answer: its users' passwords are hashed
/// and each change acknowledged (10 s at most each, all at once).
const BATCH_WAIT: Duration = Duration::from_secs(60);

/// `config apply`: the file's changes, in batches of at most
/// [`duet_api::CONFIG_BATCH_MAX`]; each change's result printed; an error
/// when any was refused.
fn apply(node: &Node, auth: &str, file: &str) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let text = if file == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
    };
    let batch: duet_api::ConfigBatch = serde_json::from_str(&text)
        .with_context(|| format!("{file} is not {{\"changes\": [...]}} as the API takes it"))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let file_id = hex::encode(&digest.as_ref()[..8]);
    let mut changes = batch.changes;
    for (place, change) in changes.iter_mut().enumerate() {
        let client_id = match change {
            duet_api::ConfigChange::Put(put) => &mut put.client_id,
            duet_api::ConfigChange::Remove(remove) => &mut remove.client_id,
        };
        client_id.get_or_insert_with(|| format!("apply-{file_id}-{place}"));
    }
    let mut refused = 0;
    for (first, chunk) in changes
        .chunks(duet_api::CONFIG_BATCH_MAX)
        .enumerate()
        .map(|(n, chunk)| (n * duet_api::CONFIG_BATCH_MAX, chunk))
    {
        let answer: duet_api::BatchAnswer = answer(
            agent_waiting(BATCH_WAIT)
                .post(&format!("{}/api/config/batch", node.url))
                .header("authorization", auth)
                .send_json(duet_api::ConfigBatch {
                    changes: chunk.to_vec(),
                })
                .map_err(|e| anyhow!("{}: {e}", node.url))?,
        )?;
        for (offset, (change, result)) in chunk.iter().zip(&answer.results).enumerate() {
            let (verb, path) = match change {
                duet_api::ConfigChange::Put(put) => ("set", &put.path),
                duet_api::ConfigChange::Remove(remove) => ("removed", &remove.path),
            };
            match (&result.seq, &result.error) {
                (Some(seq), _) => println!("{path} {verb} (change {seq})"),
                (None, error) => {
                    refused += 1;
                    let why = error.as_ref().map_or("no answer", |e| e.error.as_str());
                    println!("change {} ({path}) refused: {why}", first + offset + 1);
                }
            }
        }
    }
    if refused > 0 {
        bail!(
            "{refused} of {} changes refused; apply the file again to retry those worth retrying (503s), the others are answered as before",
            changes.len()
        );
    }
    Ok(())
}

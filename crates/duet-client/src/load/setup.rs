//! The load's directory: its agents and its queue, made when absent (with
//! an administrator's credentials), else read as they are.

use super::{LoadSpec, QueueInfo};
use crate::Error;
use crate::directory::{self, User};
use crate::http::{Auth, Client};

/// Wrap-up codes of a queue the load makes.
const WRAP_UP_CODES: &str = "resolved,follow-up";

pub(crate) fn prepare(client: &Client, spec: &LoadSpec) -> Result<QueueInfo, Error> {
    let names: Vec<String> = (1..=spec.agents)
        .map(|n| format!("{}{n}", spec.agent_prefix))
        .collect();
    let admin = match &spec.admin {
        Some((user, password)) => Auth::Basic {
            user: user.clone(),
            password: password.clone(),
        },
        None => Auth::None,
    };
    if spec.admin.is_some() {
        for name in &names {
            // Made only when absent: a new password would end the
            // sessions of an agent already working.
            if directory::get(client, &admin, &format!("/config/Users/{name}"))?.is_none() {
                directory::put_user(
                    client,
                    &admin,
                    &User {
                        name: name.clone(),
                        roles: "agent".into(),
                        password: spec.agent_password.clone(),
                        skills: "load:5".into(),
                        capacity: "chat:3,email:5,callback:1".into(),
                    },
                )?;
            }
        }
        let path = format!("/config/Workgroups/{}", spec.queue);
        if directory::get(client, &admin, &path)?.is_none() {
            directory::put(
                client,
                &admin,
                &path,
                "Workgroup",
                [
                    ("strategy", "longest_idle".to_string()),
                    ("alerting_timeout_s", "10".to_string()),
                    ("max_no_answer", "0".to_string()),
                    ("wrap_up_codes", WRAP_UP_CODES.to_string()),
                    ("members", names.join(",")),
                    (
                        "addresses",
                        format!("{}@load.duet.test", spec.queue.to_ascii_lowercase()),
                    ),
                ]
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            )?;
        }
    }
    let path = format!("/config/Workgroups/{}", spec.queue);
    let queue = directory::get(client, &admin, &path)?.ok_or_else(|| Error::Refused {
        what: path.clone(),
        status: 404,
        message: "no such queue: give an administrator's credentials to make it".into(),
    })?;
    let list = |name: &str| -> Vec<String> {
        queue
            .get(name)
            .map_or("", String::as_str)
            .split(',')
            .map(|s| s.trim().split(':').next().unwrap_or_default().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let members = list("members");
    if let Some(missing) = names.iter().find(|n| !members.contains(n)) {
        return Err(Error::Refused {
            what: path,
            status: 409,
            message: format!("agent {missing} is not a member of the queue; name another queue"),
        });
    }
    Ok(QueueInfo {
        wrap_up_code: list("wrap_up_codes").into_iter().next().unwrap_or_default(),
        address: list("addresses").into_iter().next(),
    })
}

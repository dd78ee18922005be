//! The writer's reading of the configuration in effect. The committed
//! stream carries interaction changes only, so a thread of the writer
//! reads the tree as the node serves it (`GET /api/config`: users,
//! workgroup queues and the interaction settings, each with its history)
//! every so often, from either node, and records each object's versions
//! (`duet_report::config`) with a connection of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use duet_report::config::{ConfigView, FOLDERS, SETTINGS, versions};
use duet_report::database::AnyStore;
use duet_report::{Database, ReportStore};

/// One request's limit.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// Objects one reading may fetch, so a tree gone wrong is not followed
/// without end.
const OBJECTS_MAX: usize = 20_000;
/// How long the thread sleeps at a time, so a stop is noticed.
const SLEEP_SLICE: Duration = Duration::from_millis(250);

pub struct Reader {
    pub urls: [String; 2],
    pub authorization: String,
    pub database: Database,
    pub every: Duration,
}

fn view(
    agent: &ureq::Agent,
    url: &str,
    auth: &str,
    path: &str,
) -> anyhow::Result<Option<ConfigView>> {
    let mut response = agent
        .get(format!("{url}/api/config"))
        .query("path", path)
        .header("authorization", auth)
        .call()
        .with_context(|| format!("{url}: GET /api/config?path={path}"))?;
    match response.status().as_u16() {
        200 => {
            Ok(Some(response.body_mut().read_json().with_context(
                || format!("{url}: the configuration of {path}"),
            )?))
        }
        404 => Ok(None),
        code => bail!("{url}: GET /api/config?path={path} answered {code}"),
    }
}

/// Every object recorded: the folders' children, the settings, and what
/// the database holds as standing (to learn of a removal).
fn read_all(
    agent: &ureq::Agent,
    url: &str,
    auth: &str,
    standing: Vec<String>,
) -> anyhow::Result<Vec<ConfigView>> {
    let mut paths = std::collections::BTreeSet::from([SETTINGS.to_string()]);
    paths.extend(standing);
    for (folder, _) in FOLDERS {
        if let Some(folder_view) = view(agent, url, auth, folder)? {
            paths.extend(
                folder_view
                    .children
                    .iter()
                    .filter(|(_, class)| class.is_some())
                    .map(|(name, _)| format!("{folder}/{name}")),
            );
        }
    }
    if paths.len() > OBJECTS_MAX {
        bail!(
            "{} configuration objects; at most {OBJECTS_MAX} are read",
            paths.len()
        );
    }
    let mut views = Vec::new();
    for path in paths {
        views.extend(view(agent, url, auth, &path)?);
    }
    Ok(views)
}

impl Reader {
    /// Reads from the node that answered last, else the other; records.
    fn once(
        &self,
        agent: &ureq::Agent,
        store: &mut AnyStore,
        first: &mut usize,
    ) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        for turn in 0..2 {
            let node = (*first + turn) % 2;
            match read_all(
                agent,
                &self.urls[node],
                &self.authorization,
                store.standing_config_paths()?,
            ) {
                Ok(views) => {
                    let found: Vec<_> = views.iter().flat_map(versions).collect();
                    store.write_config(&found)?;
                    *first = node;
                    return Ok(());
                }
                Err(e) => failures.push(format!("{e:#}")),
            }
        }
        bail!("{}", failures.join("; "))
    }

    /// Reads every `every` until `stop` is set.
    pub fn spawn(self, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(HTTP_TIMEOUT))
                .http_status_as_error(false)
                .build()
                .into();
            let (mut first, mut store) = (0, None);
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let read = match store.take() {
                    Some(open) => Ok(open),
                    None => self.database.open(),
                }
                .map_err(anyhow::Error::from)
                .and_then(|mut open| {
                    self.once(&agent, &mut open, &mut first)?;
                    Ok(open)
                });
                match read {
                    // Kept while it works; opened again after a failure.
                    Ok(open) => store = Some(open),
                    Err(e) => {
                        tracing::warn!("the configuration in effect was not read this time: {e:#}")
                    }
                }
                while started.elapsed() < self.every && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(SLEEP_SLICE);
                }
            }
        })
    }
}

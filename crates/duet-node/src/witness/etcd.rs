//! The witness task's etcd side (the `witness` feature).

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
use tokio::sync::watch;

use super::{WitnessConfig, WitnessReport, WitnessSink};

/// Runs the task: holds the key while `wanted` says so.
pub async fn run(
    sink: impl WitnessSink,
    me: String,
    config: WitnessConfig,
    wanted: watch::Receiver<bool>,
) {
    Witness::new(sink, me, config).run(wanted).await;
}

/// Why one attempt with etcd failed.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("cannot connect to etcd at {endpoints}: {source}")]
    Connect {
        endpoints: String,
        source: etcd_client::Error,
    },
    #[error("etcd {what} failed: {source}")]
    Etcd {
        what: &'static str,
        source: etcd_client::Error,
    },
    #[error("etcd did not answer the {what} within {ms} ms")]
    Timeout { what: &'static str, ms: u64 },
    #[error("etcd refused the lease: {0}")]
    LeaseRefused(String),
    #[error("etcd ended the keep-alive stream")]
    KeepAliveEnded,
    #[error("the key {0:?} changed under every attempt to take it")]
    Contended(String),
}

/// etcd's TTL in seconds, in milliseconds (0 for a negative one).
fn ttl_ms(ttl_s: i64) -> u64 {
    u64::try_from(ttl_s).unwrap_or(0).saturating_mul(1000)
}

/// Maps an etcd client error from `what` to ours.
fn etcd_failed(what: &'static str) -> impl FnOnce(etcd_client::Error) -> WitnessError {
    move |source| WitnessError::Etcd { what, source }
}

/// Leases this task granted and may not have revoked; they expire by
/// themselves, so only the newest few are kept to revoke.
const STALE_LEASES_MAX: usize = 4;

/// A lease that holds the key, with its keep-alive stream.
struct Holding {
    lease: i64,
    revision: i64,
    keeper: etcd_client::LeaseKeeper,
    stream: etcd_client::LeaseKeepAliveStream,
}

/// What one attempt to take the key found.
enum Taken {
    Held {
        holding: Box<Holding>,
        sent_ms: u64,
        ttl_ms: u64,
    },
    ByPeer(String),
}

struct Witness<S> {
    sink: S,
    me: String,
    config: WitnessConfig,
    /// A third of the TTL: the rhythm of attempts and keep-alives, and
    /// the bound on each etcd call.
    step: Duration,
    client: Option<Client>,
    holding: Option<Holding>,
    /// Leases that may still carry the key (a keep-alive that failed) or
    /// were granted and not used; revoked when the key is let go.
    stale: Vec<i64>,
    /// The last failure logged, so a lasting one is logged once.
    last_failure: Option<String>,
}

impl<S: WitnessSink> Witness<S> {
    fn new(sink: S, me: String, config: WitnessConfig) -> Self {
        let step = Duration::from_millis((config.ttl_s.max(1).saturating_mul(1000) / 3).max(1));
        Witness {
            sink,
            me,
            config,
            step,
            client: None,
            holding: None,
            stale: Vec::new(),
            last_failure: None,
        }
    }

    fn step_ms(&self) -> u64 {
        self.step.as_millis() as u64
    }

    async fn run(mut self, mut wanted: watch::Receiver<bool>) {
        let mut released_reported = false;
        loop {
            let want = *wanted.borrow_and_update();
            if !want {
                self.let_go().await;
                if !released_reported {
                    self.sink.report(WitnessReport::Released);
                    released_reported = true;
                }
                if wanted.changed().await.is_err() {
                    return;
                }
                continue;
            }
            released_reported = false;
            let started = tokio::time::Instant::now();
            let report = if self.holding.is_some() {
                self.keep_alive().await
            } else {
                self.take().await
            };
            let again = match &report {
                // A lease that is gone: take the key again at once.
                WitnessReport::Released => started,
                _ => started + self.step,
            };
            let settled = matches!(
                report,
                WitnessReport::Held { .. } | WitnessReport::HeldByPeer { .. }
            );
            self.sink.report(report);
            if settled {
                // No lease of ours but the one now holding it (if any)
                // carries the key: the others can go. Never after a
                // failure: a lease that may still carry the key backs the
                // last `Held` until it runs out or the key is let go.
                self.revoke_stale().await;
            }
            tokio::select! {
                biased;
                changed = wanted.changed() => {
                    if changed.is_err() {
                        self.let_go().await;
                        self.sink.report(WitnessReport::Released);
                        return;
                    }
                }
                _ = tokio::time::sleep_until(again) => {}
            }
        }
    }

    fn failed(&mut self, error: WitnessError) -> WitnessReport {
        // A failed call may have left the connection unusable.
        self.client = None;
        let why = error.to_string();
        if self.last_failure.as_ref() != Some(&why) {
            tracing::warn!("witness: {why}");
            self.last_failure = Some(why.clone());
        }
        WitnessReport::Unreachable { why }
    }

    fn forget_lease(&mut self, lease: i64) {
        if self.stale.len() >= STALE_LEASES_MAX {
            self.stale.remove(0);
        }
        self.stale.push(lease);
    }

    /// One bounded attempt to take the key.
    async fn take(&mut self) -> WitnessReport {
        let ms = self.step_ms();
        let outcome = match tokio::time::timeout(self.step, self.try_take()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(WitnessError::Timeout {
                what: "attempt to take the key",
                ms,
            }),
        };
        match outcome {
            Ok(Taken::Held {
                holding,
                sent_ms,
                ttl_ms,
            }) => {
                let revision = holding.revision;
                self.holding = Some(*holding);
                self.last_failure = None;
                WitnessReport::Held {
                    sent_ms,
                    ttl_ms,
                    revision,
                }
            }
            Ok(Taken::ByPeer(holder)) => {
                self.last_failure = None;
                WitnessReport::HeldByPeer { holder }
            }
            Err(error) => self.failed(error),
        }
    }

    async fn client(&mut self) -> Result<Client, WitnessError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        // Calls are bounded here, not by the client (its timeout would cut
        // the keep-alive stream); a member cut off from its cluster's
        // leader must not answer.
        let options = etcd_client::ConnectOptions::new()
            .with_connect_timeout(self.step)
            .with_require_leader(true);
        let client = Client::connect(&self.config.endpoints, Some(options))
            .await
            .map_err(|source| WitnessError::Connect {
                endpoints: self.config.endpoints.join(", "),
                source,
            })?;
        self.client = Some(client.clone());
        Ok(client)
    }

    async fn try_take(&mut self) -> Result<Taken, WitnessError> {
        let mut client = self.client().await?;
        let sent_ms = self.sink.now_ms();
        let ttl_s = i64::try_from(self.config.ttl_s).unwrap_or(i64::MAX);
        let grant = client
            .lease_grant(ttl_s, None)
            .await
            .map_err(etcd_failed("lease grant"))?;
        if !grant.error().is_empty() {
            return Err(WitnessError::LeaseRefused(grant.error().to_string()));
        }
        if grant.ttl() <= 0 {
            return Err(WitnessError::LeaseRefused(format!(
                "it granted a lease of {} s",
                grant.ttl()
            )));
        }
        let lease = grant.id();
        let ttl_ms = ttl_ms(grant.ttl());
        // From here the lease is ours to clean up whatever happens.
        self.forget_lease(lease);
        let key = self.config.key.clone();
        // Absent: take it if still absent. Ours (an earlier lease of this
        // node): move it to this lease. The peer's: report it.
        let mut seen: Option<String> = None;
        for _ in 0..3 {
            let condition = match &seen {
                None => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                Some(holder) if *holder == self.me => {
                    Compare::value(key.clone(), CompareOp::Equal, self.me.clone())
                }
                Some(holder) => return Ok(Taken::ByPeer(holder.clone())),
            };
            let txn = Txn::new()
                .when([condition])
                .and_then([
                    TxnOp::put(
                        key.clone(),
                        self.me.clone(),
                        Some(PutOptions::new().with_lease(lease)),
                    ),
                    TxnOp::get(key.clone(), None),
                ])
                .or_else([TxnOp::get(key.clone(), None)]);
            let answer = client
                .txn(txn)
                .await
                .map_err(etcd_failed("transaction on the key"))?;
            let current = answer.op_responses().into_iter().find_map(|op| match op {
                TxnOpResponse::Get(get) => get.kvs().first().cloned(),
                _ => None,
            });
            if answer.succeeded() {
                let revision = current.map(|kv| kv.create_revision()).unwrap_or(0);
                self.stale.retain(|l| *l != lease);
                let (keeper, stream) = client
                    .lease_keep_alive(lease)
                    .await
                    .map_err(etcd_failed("lease keep-alive"))?;
                return Ok(Taken::Held {
                    holding: Box::new(Holding {
                        lease,
                        revision,
                        keeper,
                        stream,
                    }),
                    sent_ms,
                    ttl_ms,
                });
            }
            seen = current.map(|kv| String::from_utf8_lossy(kv.value()).into_owned());
        }
        Err(WitnessError::Contended(key))
    }

    /// One bounded keep-alive of the lease that holds the key.
    async fn keep_alive(&mut self) -> WitnessReport {
        let Some(mut holding) = self.holding.take() else {
            return WitnessReport::Released;
        };
        let sent_ms = self.sink.now_ms();
        let ms = self.step_ms();
        let answer = tokio::time::timeout(self.step, async {
            holding
                .keeper
                .keep_alive()
                .await
                .map_err(etcd_failed("lease keep-alive"))?;
            holding
                .stream
                .message()
                .await
                .map_err(etcd_failed("lease keep-alive"))?
                .ok_or(WitnessError::KeepAliveEnded)
        })
        .await
        .unwrap_or(Err(WitnessError::Timeout {
            what: "lease keep-alive",
            ms,
        }));
        match answer {
            Ok(answer) if answer.ttl() > 0 => {
                let report = WitnessReport::Held {
                    sent_ms,
                    ttl_ms: ttl_ms(answer.ttl()),
                    revision: holding.revision,
                };
                self.holding = Some(holding);
                report
            }
            Ok(_) => {
                tracing::warn!("witness: the lease holding {} expired", self.config.key);
                WitnessReport::Released
            }
            Err(error) => {
                // The lease may still hold the key: revoke it when letting
                // go; a new attempt moves the key to a new lease.
                self.forget_lease(holding.lease);
                self.failed(error)
            }
        }
    }

    /// Revokes every lease this task knows of, within one step; one that
    /// cannot be revoked expires with its TTL.
    async fn let_go(&mut self) {
        if let Some(holding) = self.holding.take() {
            self.forget_lease(holding.lease);
        }
        self.revoke_stale().await;
    }

    /// Revokes the stale leases, all within one step (a third of the TTL)
    /// so the next keep-alive is not late; those left expire by themselves.
    async fn revoke_stale(&mut self) {
        if self.stale.is_empty() {
            return;
        }
        let leases = std::mem::take(&mut self.stale);
        let step = self.step;
        let revoking = async {
            let mut client = self.client().await?;
            for lease in leases {
                if let Err(e) = client.lease_revoke(lease).await {
                    tracing::debug!("witness: revoking lease {lease}: {e}");
                }
            }
            Ok::<(), WitnessError>(())
        };
        match tokio::time::timeout(step, revoking).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!("witness: revoking leases: {e}"),
            Err(_) => tracing::debug!("witness: revoking leases timed out"),
        }
    }
}

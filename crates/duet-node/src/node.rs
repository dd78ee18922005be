//! Starts a node from its bootstrap: TLS, parameters, storage, listeners,
//! the driver, and runs until told to stop.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use duet_link::tls::{Identity, client_config, server_config};
use duet_rsm::Position;
use duet_switchover::{Config, Engine, Release, State};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::bootstrap::Bootstrap;
use crate::driver::Driver;
use crate::driver_inbox::DriverInbox;
use crate::epoch::EpochStore;
use crate::events::EventLog;
use crate::events::Journal;
use crate::probe::{EchoProber, IcmpProber, gateways};
use crate::secrets::Secrets;
use crate::shared::Shared;
use crate::status::{NodeStatus, PeerView, StatusView};
use crate::supervisor::Supervisor;
use crate::wire::Tls;

fn read(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Connections the kernel holds for a listener before it accepts them
/// (capped by `net.core.somaxconn`). Thousands of desktops come back at
/// once after a switchover; past tokio's 1,024 the kernel dropped their
/// connection attempts, and each one dropped waited a second to try again.
const LISTEN_BACKLOG: u32 = 8_192;

async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    let listen = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().with_context(|| {
        format!("cannot listen on {addr} for the {what}; is another process using the port?")
    })
}

/// What serves the node's HTTP API (`duet_http::serve`): given the node's
/// handles, its HTTP listener and, with `[http_tls]`, its TLS acceptor, a
/// task that serves until it is dropped. The node's runtime knows nothing
/// of HTTP beyond starting it.
pub type HttpApi = fn(
    Arc<Shared>,
    TcpListener,
    Option<tokio_rustls::TlsAcceptor>,
) -> futures::future::BoxFuture<'static, ()>;

/// Runs a node until `stop` resolves.
pub async fn run(
    boot: Bootstrap,
    http_api: HttpApi,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    run_with_prober(boot, http_api, Arc::new(IcmpProber::new()), stop).await
}

pub async fn run_with_prober(
    boot: Bootstrap,
    http_api: HttpApi,
    prober: Arc<dyn EchoProber>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    if boot.witness.is_some() && !crate::witness::AVAILABLE {
        anyhow::bail!(
            "the bootstrap file names an etcd witness, but this duet was built without it: build it with `cargo build --release --features witness` (needs Debian's protobuf-compiler), or remove the [witness] table"
        );
    }
    let identity = Identity {
        ca_pem: read(&boot.tls.ca)?,
        cert_pem: read(&boot.tls.cert)?,
        key_pem: read(&boot.tls.key)?,
    };
    let file_entries = match &boot.params_file {
        Some(path) => duet_params::toml_entries(&read(path)?)
            .map_err(|e| anyhow::anyhow!("{}:\n{e}", path.display()))?,
        None => Vec::new(),
    };
    let epochs = EpochStore::open(&boot.data_dir)
        .with_context(|| format!("cannot use the data directory {}", boot.data_dir.display()))?;
    let epoch = epochs.load().context("cannot read the stored epoch")?;
    let events = EventLog::open(&boot.data_dir).context("cannot open the event log")?;
    let store = crate::store::open(&boot.data_dir)?;
    let tree = store.load()?;
    let metrics = crate::metrics::Metrics::default();
    // Parameters in the replicated tree override the bootstrap's file.
    let params_at_start =
        crate::driver::merge_parameters(&file_entries, &duet_replica::server_parameters(&tree));
    let loaded = duet_params::load(
        params_at_start
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
    )
    .map_err(|e| anyhow::anyhow!("server parameters:\n{e}"))?;
    for warning in &loaded.warnings {
        tracing::warn!("server parameters: {warning}");
    }
    let params = loaded.params;
    let replication_settings =
        crate::replication::Settings::from_params(&params, duet_config::scope::Scope::Full);
    let replication = crate::replication::Replicator::new(
        store,
        tree,
        metrics.store_commit_seconds.clone(),
        duet_replica::NodeFacts {
            this: boot.this.clone(),
            peer: boot.peer().name.clone(),
            lease_ms: params.lease_ms(),
        },
        replication_settings.replica.clone(),
    );
    let me = boot.me().clone();
    let arbiter_listener = bind(me.arbiter_addr(), "role arbiter").await?;
    let link_listener = bind(me.link_addr(), "link").await?;
    let http_listener = bind(boot.http_listen_addr(), "HTTP API").await?;
    let smtp_listener = bind(boot.smtp_listen_addr(), "email intake (SMTP)").await?;
    let secret = |path: &Option<std::path::PathBuf>,
                  what: &str|
     -> anyhow::Result<Option<ring::hmac::Key>> {
        let Some(path) = path else {
            tracing::warn!(
                "no {what} in the bootstrap file's [contact_center]; the API that needs it is refused"
            );
            return Ok(None);
        };
        let text = read(path)?;
        let hex = text.trim();
        let bytes = hex::decode(hex)
            .ok()
            .filter(|b| b.len() >= 16)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: the {what} must be at least 16 bytes in hex",
                    path.display()
                )
            })?;
        Ok(Some(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes)))
    };
    let http_tls = crate::bootstrap::tls_acceptor(boot.http_tls.as_ref(), &boot.tls, "http_tls")?;
    let smtp_tls = crate::bootstrap::tls_acceptor(boot.smtp_tls.as_ref(), &boot.tls, "smtp_tls")?;
    let session_key = secret(&boot.contact_center.session_key, "session key")?;
    let webhook_key = secret(&boot.contact_center.webhook_secret, "webhook secret")?;

    let engine = Engine::new(
        Config {
            this: boot.server_id(),
            release: Release(boot.release()),
            modes: boot.modes(),
            gateways: gateways().iter().map(ToString::to_string).collect(),
            peer_address: Some(boot.peer().address.to_string()),
        },
        params.clone(),
    );
    let status = NodeStatus {
        node: boot.this.clone(),
        server: format!("{:?}", boot.server_id()),
        role: duet_link::protocol::Role::Starting,
        state: State::Init,
        serving: false,
        epoch,
        release: boot.release(),
        manual_switch_only: boot.manual_switch_only,
        automatic: !boot.manual_switch_only,
        main_link_up: false,
        aux_link_up: false,
        file_replication_running: true,
        last_switch_reason: None,
        switchovers: 0,
        peer: PeerView {
            name: boot.peer().name.clone(),
            ..PeerView::default()
        },
        replication: duet_stream::Replication::Alone,
        config_applied: Position::ZERO,
        config_digest: String::new(),
        longest_stall_ms: 0,
        right_to_serve: Default::default(),
    };
    let right = Arc::new(crate::right::RightToServe::new(
        params.lease_ms(),
        params.lease_promise_ms(),
    ));
    let view = StatusView::new(status, replication.view(), right);
    let (driver_inbox, driver_rx) = DriverInbox::new(view.clone());
    let (replication_tx, replication_rx) = crate::replication::inboxes();
    let (tree_parameters_tx, tree_parameters) = watch::channel(replication.server_parameters());
    let (file_monitor, monitor_handle) = crate::mirror::monitor::channel();
    let mirror = Arc::new(crate::mirror::MirrorState::new(
        crate::mirror::MirrorSetup::new(&params, &boot.data_dir, crate::mirror::FileScope::Full),
        monitor_handle,
    ));
    let shared = Arc::new(Shared {
        tls: Tls {
            server: server_config(&identity)?,
            client: client_config(&identity)?,
        },
        events: Journal::new(&boot.this, events),
        view,
        supervisor: Supervisor::default(),
        driver: driver_inbox,
        replication: replication_tx,
        presences: Default::default(),
        secrets: Arc::new(Secrets {
            session_key,
            webhook_key,
        }),
        metrics: Arc::new(metrics),
        mail_queues: Arc::new(std::sync::RwLock::new(replication.mail_queues())),
        monitored_module: params.monitored_module.subsystem(),
        mirror,
        sync_requests_held: Arc::new(AtomicBool::new(false)),
        answers_waiting: Default::default(),
        boot: Arc::new(boot),
    });
    tracing::info!(
        "node {} listening: arbiter {}, link {}, HTTP {}",
        me.name,
        me.arbiter_addr(),
        me.link_addr(),
        shared.boot.http_listen_addr()
    );
    let mut driver = Driver::new(
        shared.clone(),
        driver_rx,
        engine,
        epochs,
        epoch,
        prober,
        tree_parameters,
    )
    .with_parameters(file_entries, params_at_start);
    if let (Some(witness), Some(key)) = (&shared.boot.witness, shared.boot.witness_key()) {
        tracing::info!(
            "witness: etcd at {}, key {key:?}, lease TTL {} s",
            witness.endpoints.join(", "),
            params.witness_ttl_s
        );
        let config = crate::witness::WitnessConfig {
            endpoints: witness.endpoints.clone(),
            key,
            ttl_s: params.witness_ttl_s,
        };
        driver = driver.with_witness(crate::witness::spawn_with(
            shared.driver.clone(),
            shared.boot.this.clone(),
            config,
        ));
    }
    let (renew_every_ms, query_timeout_ms) = driver.renewal();
    let replication_task = tokio::spawn(crate::replication::run(
        shared.replication_handles(),
        replication,
        replication_rx,
        tree_parameters_tx,
        replication_settings,
    ));
    let tasks = [
        tokio::spawn(crate::arbiter::serve(
            shared.arbiter_handles(),
            arbiter_listener,
        )),
        tokio::spawn(crate::link::serve(shared.clone(), link_listener)),
        tokio::spawn(crate::driver::renew(
            shared.arbiter_handles(),
            shared.driver.clone(),
            renew_every_ms,
            query_timeout_ms,
        )),
        tokio::spawn(file_monitor.run(shared.events.clone(), shared.mirror.clone())),
        tokio::spawn(crate::intake::serve(
            shared.boot.this.clone(),
            crate::intake::Sink {
                mail_queues: shared.mail_queues.clone(),
                secrets: shared.secrets.clone(),
                replication: shared.replication.clone(),
            },
            smtp_listener,
            smtp_tls,
        )),
        tokio::spawn(http_api(shared.clone(), http_listener, http_tls)),
    ];
    let outcome = driver.run(stop).await;
    for task in tasks {
        task.abort();
    }
    // Replication commits what is queued before the node stops.
    if let Err(e) = shared.replication.stop().await {
        tracing::error!("{e}: what is queued may not be committed");
    }
    let _ = replication_task.await;
    shared.supervisor.stop();
    Ok(outcome?)
}

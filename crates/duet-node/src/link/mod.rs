//! The link (port 3634 by default): the backup opens a main and an auxiliary
//! connection to the active node, both mutual TLS with the pair's
//! certificates. The active node answers notifier pings itself and passes
//! module pings to the monitored module. A malformed or oversize frame
//! closes that connection with a logged reason.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use duet_link::protocol::{
    ActiveCodec, AdmitCodec, BackupCodec, Envelope, EventCopy, Hello, HelloCodec, MirrorAnswer,
    MirrorRequest, Refused, StreamToActive, SwitchoverToActive, SwitchoverToBackup, ToActive,
    ToBackup,
};
use duet_link::tls::peer_name;
use duet_switchover::{Conn, Event};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::Framed;

use crate::driver_inbox::DriverMsg;
use crate::events::unix_ms;
use crate::replication::{FromBackup, ReplicationMsg};
use crate::shared::Shared;
use crate::supervisor::ModuleAnswer;
use crate::wire::{Gate, Outbox, connect_from};

/// How long a connection attempt (TCP, TLS and the hello) may take.
pub const CONNECT_TIMEOUT_MS: u64 = 3_000;
/// The longest a module ping waits for the module on the active node.
const MODULE_PING_WAIT_MS: u64 = 60_000;
/// A connection whose socket gets no acknowledgement for this long fails
/// (TCP user timeout), so a vanished peer is noticed even without pings.
const TCP_USER_TIMEOUT_MS: u64 = 20_000;
/// Keepalive probes reap connections whose peer vanished while idle.
const KEEPALIVE_IDLE_MS: u64 = 10_000;
/// Module pings one connection may have waiting on the module at once.
const MODULE_PINGS_MAX: usize = 32;

fn tune(tcp: &TcpStream, dscp: Option<u8>) {
    let _ = tcp.set_nodelay(true);
    let sock = socket2::SockRef::from(tcp);
    let _ = sock.set_tcp_user_timeout(Some(Duration::from_millis(TCP_USER_TIMEOUT_MS)));
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_millis(KEEPALIVE_IDLE_MS))
        .with_interval(Duration::from_millis(KEEPALIVE_IDLE_MS / 2));
    let _ = sock.set_tcp_keepalive(&keepalive);
    if let Some(dscp) = dscp {
        // DSCP is the top six bits of the TOS (IPv4) or traffic class (IPv6).
        let value = u32::from(dscp) << 2;
        let set = match tcp.peer_addr() {
            Ok(a) if a.is_ipv6() => sock.set_tclass_v6(value),
            _ => sock.set_tos_v4(value),
        };
        if let Err(e) = set {
            tracing::warn!("cannot set DSCP {dscp} on the link socket: {e}");
        }
    }
}

/// Accepts link connections; only the active node welcomes them.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let acceptor = TlsAcceptor::from(shared.tls.server.clone());
    let gate = Gate::new(
        "link",
        shared.boot.peer().address,
        shared.metrics.link.refused_connections.clone(),
    );
    loop {
        let Some((tcp, from, permit)) = gate.accept(&listener).await else {
            continue;
        };
        tune(&tcp, None);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(
                Duration::from_millis(CONNECT_TIMEOUT_MS),
                acceptor.accept(tcp),
            )
            .await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::warn!(
                        "link: refused a connection from {from} without a valid pair certificate: {e}"
                    );
                    return;
                }
                Err(_) => {
                    tracing::warn!("link: TLS handshake from {from} took too long; closed");
                    return;
                }
            };
            drop(permit);
            if let Err(reason) =
                serve_connection(&shared, Framed::new(tls, AdmitCodec::default())).await
            {
                tracing::warn!("link: closing the connection from {from}: {reason}");
            }
        });
    }
}

async fn serve_connection<S>(
    shared: &Arc<Shared>,
    mut framed: Framed<S, AdmitCodec>,
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let hello = tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), framed.next())
        .await
        .map_err(|_| "no hello in time".to_string())?;
    let hello = match hello {
        Some(Ok(envelope)) => envelope,
        Some(Err(e)) => return Err(e.to_string()),
        None => return Ok(()),
    };
    let Hello { conn, server } = hello.body;
    if server == shared.boot.server_id() {
        let refused = Refused::SameServer {
            node: shared.boot.this.clone(),
            peer: hello.node.clone(),
            server,
        };
        tracing::error!("link: {refused}");
        let _ = framed
            .send(shared.view.envelope(Err(refused.clone())))
            .await;
        return Err(refused.to_string());
    }
    // Subscribe before checking, so a step-down in between is not missed.
    let mut serving = shared.view.subscribe();
    if !shared.view.holding() {
        let refused = Refused::NotActive {
            node: shared.boot.this.clone(),
        };
        let _ = framed
            .send(shared.view.envelope(Err(refused.clone())))
            .await;
        return Err(format!(
            "refused {} connection from {}: {refused}",
            conn.name(),
            hello.node
        ));
    }
    framed
        .send(shared.view.envelope(Ok(())))
        .await
        .map_err(|e| e.to_string())?;
    let (sink, mut stream) = framed.map_codec(|_| ActiveCodec::default()).split();
    tracing::info!(
        "link: {} connection from {} accepted",
        conn.name(),
        hello.node
    );
    let peer = hello.node.clone();
    // Numbers this connection, so a late close of an old one is told apart.
    static LINKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let link = LINKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let module_pings = Arc::new(tokio::sync::Semaphore::new(MODULE_PINGS_MAX));
    let (tx, queue) = Outbox::new(
        shared.metrics.link.send_failures.clone(),
        format!("{} connection from {peer}", conn.name()),
    );
    let writer = tokio::spawn({
        let tx = tx.clone();
        async move { tx.write(sink, queue).await }
    });
    // This node's own event-log entries go to the backup too.
    let mut own_events = shared.events.subscribe();
    let result = loop {
        tokio::select! {
            biased;
            changed = serving.changed() => {
                if changed.is_err() || !serving.borrow().serving {
                    break Err("this node stopped serving".to_string());
                }
            }
            // The outbox said why when it closed.
            () = tx.closed() => break Ok(()),
            event = own_events.recv() => {
                if let Some(e) = event.ok().filter(|e| e.node == shared.boot.this) {
                    let record = duet_switchover::Record { topic: e.topic, level: e.level, message: e.message };
                    tx.send(shared.view.envelope(EventCopy { at_unix_ms: e.at_unix_ms, record }));
                }
            }
            frame = stream.next() => {
                let envelope = match frame {
                    Some(Ok(envelope)) => envelope,
                    Some(Err(e)) => break Err(e.to_string()),
                    None => break Ok(()),
                };
                answer(shared, &peer, conn, link, envelope, &tx, &module_pings);
            }
        }
    };
    tx.finish();
    writer.abort();
    if conn == Conn::Main {
        shared
            .replication
            .offer(ReplicationMsg::FromBackup(FromBackup::Gone(link)));
    }
    result
}

/// Routes a message from the backup to the part of the node that owns its
/// concern.
fn answer(
    shared: &Arc<Shared>,
    peer: &str,
    conn: Conn,
    link: u64,
    envelope: Envelope<ToActive>,
    tx: &Outbox<ToBackup>,
    module_pings: &Arc<tokio::sync::Semaphore>,
) {
    match envelope.body {
        ToActive::Switchover(m) => {
            switchover_request(shared, envelope.epoch, peer, m, tx, module_pings)
        }
        ToActive::Stream(m) => stream_from_backup(shared, peer, conn, link, m, tx),
        ToActive::Mirror(m) => mirror_request(shared, m, tx),
        ToActive::EventCopy(EventCopy { at_unix_ms, record }) => {
            shared.events.append(peer, at_unix_ms, &record);
        }
    }
}

fn switchover_request(
    shared: &Arc<Shared>,
    epoch: u64,
    peer: &str,
    message: SwitchoverToActive,
    tx: &Outbox<ToBackup>,
    module_pings: &Arc<tokio::sync::Semaphore>,
) {
    match message {
        // Only the active node answers for the notifier (a lapse of its
        // lease alone is no reason for the backup to take over).
        SwitchoverToActive::NotifierPing { id } if shared.view.holding() => {
            tx.send(
                shared
                    .view
                    .envelope(SwitchoverToBackup::NotifierPong { id }),
            );
        }
        SwitchoverToActive::NotifierPing { .. } => {}
        SwitchoverToActive::ModulePing { id } => {
            let shared = shared.clone();
            let tx = tx.clone();
            let Ok(permit) = module_pings.clone().try_acquire_owned() else {
                tx.send(
                    shared
                        .view
                        .envelope(SwitchoverToBackup::ModuleRejected { id }),
                );
                return;
            };
            tokio::spawn(async move {
                let _permit = permit;
                let wait = Duration::from_millis(MODULE_PING_WAIT_MS);
                let answer = match shared.supervisor.ping(shared.monitored_module, wait).await {
                    ModuleAnswer::Alive { incarnation } => {
                        SwitchoverToBackup::ModulePong { id, incarnation }
                    }
                    ModuleAnswer::Rejected => SwitchoverToBackup::ModuleRejected { id },
                    ModuleAnswer::NoAnswer => return,
                };
                tx.send(shared.view.envelope(answer));
            });
        }
        SwitchoverToActive::Takeover => {
            tracing::warn!("link: {peer} has taken over in epoch {epoch}");
            shared.driver.peer_active_in(epoch);
        }
    }
}

fn stream_from_backup(
    shared: &Arc<Shared>,
    peer: &str,
    conn: Conn,
    link: u64,
    message: StreamToActive,
    tx: &Outbox<ToBackup>,
) {
    if matches!(message, StreamToActive::SyncRequest { .. })
        && shared.sync_requests_held.load(Ordering::Relaxed)
    {
        tracing::warn!("fault injection: a configuration sync request from {peer} is not answered");
        return;
    }
    let main = (conn == Conn::Main).then_some(link);
    let message = match FromBackup::from_stream(message, tx.clone(), main) {
        Ok(message) => message,
        Err(e) => {
            tracing::warn!("link: {peer} sent {e}; ignored");
            return;
        }
    };
    shared
        .replication
        .offer(ReplicationMsg::FromBackup(message));
}

/// The backup's mirror requests, each answered in a task of its own.
fn mirror_request(shared: &Arc<Shared>, message: MirrorRequest, tx: &Outbox<ToBackup>) {
    match message {
        MirrorRequest::List { id, root, after } => {
            answer_later(shared, tx, move |shared| async move {
                Some(
                    crate::mirror::list(shared.mirror.clone(), id, root, after)
                        .await
                        .into(),
                )
            })
        }
        MirrorRequest::Fetch {
            id,
            root,
            path,
            offset,
        } => answer_later(shared, tx, move |shared| async move {
            Some(
                crate::mirror::fetch(shared.mirror.clone(), id, root, path, offset)
                    .await
                    .into(),
            )
        }),
        MirrorRequest::Watch { id, known, hold_ms } => {
            answer_later(shared, tx, move |shared| async move {
                Some(
                    crate::mirror::watch(shared.mirror.clone(), id, known, hold_ms)
                        .await
                        .into(),
                )
            })
        }
        MirrorRequest::MonitorCheck { id } => answer_later(shared, tx, move |shared| {
            crate::mirror::health_check(shared.mirror.clone(), id)
        }),
    }
}

/// Opens one link connection to the peer and reports to the driver: the
/// connection up (with a sender for outgoing messages), then every answer as
/// an engine event, then the connection down; or the attempt failed.
pub async fn connect(shared: Arc<Shared>, conn: Conn, dscp: Option<u8>) {
    let peer = shared.boot.peer().clone();
    let attempt = async {
        let tcp = connect_from(shared.boot.me().address, peer.link_addr())
            .await
            .map_err(|e| e.to_string())?;
        tune(&tcp, dscp);
        let name = peer_name(&peer.name).map_err(|e| e.to_string())?;
        let tls = TlsConnector::from(shared.tls.client.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let mut framed = Framed::new(tls, HelloCodec::default());
        framed
            .send(shared.view.envelope(Hello {
                conn,
                server: shared.boot.server_id(),
            }))
            .await
            .map_err(|e| e.to_string())?;
        match framed.next().await {
            Some(Ok(envelope)) => match envelope.body {
                Ok(()) => Ok((framed.map_codec(|_| BackupCodec::default()), envelope.epoch)),
                Err(refused) => Err(refused.to_string()),
            },
            Some(Err(e)) => Err(e.to_string()),
            None => Err("the peer closed the connection".into()),
        }
    };
    let (framed, active_epoch) =
        match tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), attempt).await {
            Ok(Ok(ok)) => ok,
            Ok(Err(reason)) => {
                tracing::info!(
                    "link: {} connection to {} failed: {reason}",
                    conn.name(),
                    peer.name
                );
                shared
                    .driver
                    .send(DriverMsg::Engine(Event::ConnectFailed(conn)));
                return;
            }
            Err(_) => {
                shared
                    .driver
                    .send(DriverMsg::Engine(Event::ConnectFailed(conn)));
                return;
            }
        };
    let (sink, mut stream) = framed.split();
    let (tx, queue) = Outbox::new(
        shared.metrics.link.send_failures.clone(),
        format!("{} connection to {}", conn.name(), peer.name),
    );
    shared.driver.send(DriverMsg::LinkUp {
        conn,
        tx: tx.clone(),
        active_epoch,
    });
    let writer = tokio::spawn({
        let tx = tx.clone();
        async move { tx.write(sink, queue).await }
    });
    loop {
        let frame = tokio::select! {
            biased;
            // The outbox said why when it closed.
            () = tx.closed() => break,
            frame = stream.next() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        let envelope = match frame {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(
                    "link: closing the {} connection to {}: {e}",
                    conn.name(),
                    peer.name
                );
                break;
            }
        };
        match envelope.body {
            ToBackup::EventCopy(EventCopy { at_unix_ms, record }) => {
                shared.events.append(&peer.name, at_unix_ms, &record);
            }
            ToBackup::Stream(m) => {
                shared.replication.offer(ReplicationMsg::FromActive(m));
            }
            ToBackup::Mirror(MirrorAnswer::MonitorAlive { id }) => {
                let inbox = shared
                    .mirror
                    .monitor_answers
                    .lock()
                    .ok()
                    .and_then(|m| m.clone());
                if let Some(inbox) = inbox
                    && inbox.try_send(id).is_err()
                {
                    // The health check times out and says so.
                    dropped_answer(&shared, "Mirror::MonitorAlive");
                }
            }
            ToBackup::Mirror(answer) => {
                let inbox = shared.mirror.answers.lock().ok().and_then(|m| m.clone());
                if let Some(inbox) = inbox
                    && let Err(e) = inbox.try_send(answer)
                {
                    // The mirror's request times out and is asked again.
                    dropped_answer(&shared, e.into_inner().kind());
                }
            }
            ToBackup::Switchover(m) => {
                let event = match m {
                    SwitchoverToBackup::NotifierPong { id } => Event::NotifierReply { id },
                    SwitchoverToBackup::ModulePong { id, incarnation } => {
                        Event::ModuleReply { id, incarnation }
                    }
                    SwitchoverToBackup::ModuleRejected { id } => Event::ModuleRejected { id },
                };
                shared.driver.send(DriverMsg::Engine(event));
            }
        }
    }
    tx.finish();
    writer.abort();
    shared
        .driver
        .send(DriverMsg::Engine(Event::ConnectionDown(conn)));
}

/// An answer from the active node that its waiting task could not take
/// (its inbox full, or it gave up): counted and logged.
fn dropped_answer(shared: &Shared, kind: &'static str) {
    shared
        .metrics
        .link
        .send_failures
        .get_or_create(&vec![
            ("kind", kind.to_string()),
            ("reason", "inbox full".into()),
        ])
        .inc();
    tracing::warn!("link: a {kind} from the active node was dropped: its task's inbox is full");
}

/// Answers a request in a task of its own, so scans, reads and held
/// watches do not hold up the connection's reader; `None` sends nothing.
fn answer_later<F>(
    shared: &Arc<Shared>,
    tx: &Outbox<ToBackup>,
    answer: impl FnOnce(Arc<Shared>) -> F,
) where
    F: std::future::Future<Output = Option<MirrorAnswer>> + Send + 'static,
{
    let (task, shared, tx) = (answer(shared.clone()), shared.clone(), tx.clone());
    tokio::spawn(async move {
        if let Some(body) = task.await {
            // A closed connection is counted by the outbox; nobody waits for this.
            tx.send_waiting(shared.view.envelope(body)).await;
        }
    });
}

/// An event-log entry for the peer's log.
pub fn event_copy(shared: &Shared, record: duet_switchover::Record) -> Envelope<ToActive> {
    shared.view.envelope(EventCopy {
        at_unix_ms: unix_ms(),
        record,
    })
}

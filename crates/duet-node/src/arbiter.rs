//! The role arbiter (port 3633 by default, the seed's virtual switch port):
//! a node asks its peer for its role at start-up and keeps asking while
//! active, so two nodes agree on one active and a stale one steps down.

use std::sync::Arc;
use std::time::Duration;

use duet_link::protocol::{ArbiterCodec, QueryCodec, RoleQuery};
use duet_link::tls::peer_name;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_util::codec::Framed;

use duet_link::protocol::{Role, RoleInfo};

use crate::bootstrap::Bootstrap;
use crate::status::StatusView;
use crate::wire::Tls;

/// What the role arbiter uses of the node.
#[derive(Clone)]
pub struct Handles {
    pub boot: Arc<Bootstrap>,
    pub tls: Tls,
    pub view: StatusView,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// What the peer said about itself.
#[derive(Debug, Clone)]
pub struct PeerAnswer {
    pub node: String,
    pub epoch: u64,
    pub release: String,
    pub info: RoleInfo,
}

/// This node's role for the peer, with a promise when it gives one.
pub fn role_info(view: &StatusView, server: duet_params::ServerId) -> RoleInfo {
    let promise_ms = view.right().promise_for_answer();
    let (history, history_id) = view.history();
    let status = view.published();
    RoleInfo {
        role: status.role,
        state: status.state,
        manual_switch_only: status.manual_switch_only,
        server,
        promise_ms: promise_ms.filter(|_| status.role != Role::Active),
        history,
        history_id,
    }
}

/// How long one role query may take at start-up.
pub const QUERY_TIMEOUT_MS: u64 = 1_000;

/// Answers role queries from the peer.
pub async fn serve(node: Handles, listener: TcpListener) {
    let acceptor = TlsAcceptor::from(node.tls.server.clone());
    let gate = crate::wire::Gate::new(
        "role arbiter",
        node.boot.peer().address,
        node.metrics.link.refused_connections.clone(),
    );
    loop {
        let Some((tcp, from, permit)) = gate.accept(&listener).await else {
            continue;
        };
        let node = node.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let answered = tokio::time::timeout(Duration::from_millis(QUERY_TIMEOUT_MS * 3), async {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        tracing::warn!("role arbiter: refused a connection from {from} without a valid pair certificate: {e}");
                        return;
                    }
                };
                let mut framed = Framed::new(tls, ArbiterCodec::default());
                match framed.next().await {
                    Some(Ok(_query)) => {
                        // The promise counts from now, before the answer leaves.
                        let answer = node.view.envelope(role_info(&node.view, node.boot.server_id()));
                        // Unanswered, the peer counts this node silent.
                        if let Err(e) = framed.send(answer).await {
                            tracing::warn!("role arbiter: could not answer {from}: {e}");
                        }
                    }
                    Some(Err(e)) => tracing::warn!("role arbiter: closing the connection from {from}: {e}"),
                    None => {}
                }
            })
            .await;
            if answered.is_err() {
                tracing::warn!("role arbiter: the connection from {from} took too long; closed");
            }
            drop(permit);
        });
    }
}

/// Why a role query got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryFailure {
    /// Nothing answered in time: the peer is down or cut off.
    #[error("the peer did not answer in time")]
    Unreachable,
    /// The peer's host refused the connection: no process listens there.
    #[error("the peer's host refused the connection")]
    Refused,
    /// Something answered but the exchange failed; says what to fix.
    #[error("{0}")]
    Failed(String),
}

/// Asks the peer for its role, waiting at most `timeout_ms`.
pub async fn query(node: &Handles, timeout_ms: u64) -> Result<PeerAnswer, QueryFailure> {
    let peer = node.boot.peer();
    let attempt = async {
        let tcp = crate::wire::connect_from(node.boot.me().address, peer.arbiter_addr())
            .await
            .map_err(|e| match e.kind() {
                // Only a reset from the peer's host proves its process is
                // gone; an unreachable host or a timeout proves nothing.
                std::io::ErrorKind::ConnectionRefused => QueryFailure::Refused,
                _ => QueryFailure::Unreachable,
            })?;
        let _ = tcp.set_nodelay(true);
        let connector = TlsConnector::from(node.tls.client.clone());
        let name = peer_name(&peer.name).map_err(|e| QueryFailure::Failed(e.to_string()))?;
        let tls = connector.connect(name, tcp).await.map_err(|e| {
            QueryFailure::Failed(format!(
                "TLS with {} failed ({e}); check both nodes use certificates from the same `duet certs init`",
                peer.name
            ))
        })?;
        let mut framed = Framed::new(tls, QueryCodec::default());
        framed
            .send(node.view.envelope(RoleQuery))
            .await
            .map_err(|e| QueryFailure::Failed(e.to_string()))?;
        match framed.next().await {
            Some(Ok(envelope)) => Ok(PeerAnswer {
                node: envelope.node,
                epoch: envelope.epoch,
                release: envelope.release,
                info: envelope.body,
            }),
            Some(Err(e)) => Err(QueryFailure::Failed(format!(
                "{} answered with {e}",
                peer.name
            ))),
            None => Err(QueryFailure::Failed(format!(
                "{} closed the connection",
                peer.name
            ))),
        }
    };
    tokio::time::timeout(Duration::from_millis(timeout_ms), attempt)
        .await
        .unwrap_or(Err(QueryFailure::Unreachable))
}

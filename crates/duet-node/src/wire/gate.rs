//! The door of the pair's own ports (the role arbiter and the link): only
//! the peer's configured address gets in, before any TLS work, so a flood
//! of idle connections from anywhere else can neither take the handshake
//! slots the peer needs nor fill the log. Refusals are counted in a metric
//! and logged once per interval with how many there were.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Labels = Vec<(&'static str, String)>;

/// Connections in their TLS handshake at once, per port; more are closed.
pub const HANDSHAKES_MAX: usize = 32;
/// Refusals are logged at most once in this long (each is counted).
const REFUSAL_LOG_INTERVAL_MS: u64 = 60_000;

/// Accepts connections on one of the pair's ports.
pub struct Gate {
    port: &'static str,
    peer: IpAddr,
    handshakes: Arc<Semaphore>,
    refused: Family<Labels, Counter>,
    /// On a clock of this gate's own: since `started`.
    started: std::time::Instant,
    last_logged_ms: AtomicU64,
    unlogged: AtomicU64,
}

impl Gate {
    /// A gate for `port` ("link", "role arbiter") that lets in `peer` only.
    pub fn new(port: &'static str, peer: IpAddr, refused: Family<Labels, Counter>) -> Gate {
        Gate {
            port,
            peer: canonical(peer),
            handshakes: Arc::new(Semaphore::new(HANDSHAKES_MAX)),
            refused,
            started: std::time::Instant::now(),
            last_logged_ms: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
        }
    }

    /// The next connection from the peer, with a handshake slot; `None`
    /// when one was refused (not the peer, no slot) or accepting failed
    /// (for example, out of file descriptors: it backs off instead of
    /// spinning).
    pub async fn accept(
        &self,
        listener: &TcpListener,
    ) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
        let (tcp, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("{}: accept failed: {e}; retrying shortly", self.port);
                tokio::time::sleep(Duration::from_millis(100)).await;
                return None;
            }
        };
        if canonical(from.ip()) != self.peer {
            self.refuse(from, "not the peer's address");
            return None;
        }
        match self.handshakes.clone().try_acquire_owned() {
            Ok(permit) => Some((tcp, from, permit)),
            Err(_) => {
                self.refuse(from, "handshake slots full");
                None
            }
        }
    }

    fn refuse(&self, from: SocketAddr, reason: &'static str) {
        self.refused
            .get_or_create(&vec![
                ("port", self.port.to_string()),
                ("reason", reason.into()),
            ])
            .inc();
        let now_ms = self.started.elapsed().as_millis() as u64 + REFUSAL_LOG_INTERVAL_MS;
        let last = self.last_logged_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= REFUSAL_LOG_INTERVAL_MS
            && self
                .last_logged_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let others = self.unlogged.swap(0, Ordering::Relaxed);
            tracing::warn!(
                "{}: closed a connection from {from} ({reason}; only {} may connect){}",
                self.port,
                self.peer,
                if others > 0 {
                    format!("; {others} more refused since the last such line")
                } else {
                    String::new()
                }
            );
        } else {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An IPv4 address in its own form, whether it came as one or mapped into
/// IPv6 (a dual-stack listener).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Connects to the peer from this node's own configured address, so the
/// peer's gate sees the address it expects; if that address cannot be bound
/// here (behind NAT, say), from whatever address the system picks.
pub async fn connect_from(own: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = || {
        if to.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
    };
    let bound = socket()?;
    let socket = if own.is_ipv4() == to.is_ipv4() && bound.bind(SocketAddr::new(own, 0)).is_ok() {
        bound
    } else {
        socket()?
    };
    socket.connect(to).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(family: &Family<Labels, Counter>, reason: &str) -> u64 {
        family
            .get_or_create(&vec![
                ("port", "link".to_string()),
                ("reason", reason.into()),
            ])
            .get()
    }

    #[tokio::test]
    async fn only_the_peer_gets_a_slot_and_a_flood_from_elsewhere_takes_none() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = listener.local_addr().unwrap();
        let family = Family::<Labels, Counter>::default();
        let gate = Gate::new("link", "127.0.0.1".parse().unwrap(), family.clone());
        // 100 idle connections from another loopback address, held open.
        let mut flood = Vec::new();
        for _ in 0..100 {
            flood.push(
                connect_from("127.0.0.2".parse().unwrap(), to)
                    .await
                    .unwrap(),
            );
        }
        for _ in 0..100 {
            assert!(gate.accept(&listener).await.is_none());
        }
        assert_eq!(refused(&family, "not the peer's address"), 100);
        // The peer still gets in, with a slot.
        let _peer = connect_from("127.0.0.1".parse().unwrap(), to)
            .await
            .unwrap();
        let (_, from, _permit) = gate.accept(&listener).await.expect("the peer is let in");
        assert_eq!(from.ip(), "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(gate.handshakes.available_permits(), HANDSHAKES_MAX - 1);
    }

    #[test]
    fn a_mapped_address_is_the_same_peer() {
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert_eq!(canonical(mapped), "10.0.0.2".parse::<IpAddr>().unwrap());
    }
}

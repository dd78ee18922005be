//! The HTTP API over TLS (the bootstrap's `[http_tls]`): a listener that
//! completes handshakes off the accept loop, each within a deadline and
//! at most [`HANDSHAKES_AT_ONCE`] at a time, so a client that never
//! finishes one holds nothing for long and cannot stop others.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::connections::{Capped, Connections, Counted, accept_tcp};

/// Longest a client may take to complete its TLS handshake.
pub const HANDSHAKE_WAIT_MS: u64 = 10_000;
/// Handshakes in progress at once; more connections wait to be accepted.
pub const HANDSHAKES_AT_ONCE: usize = 256;
/// Connections handshaken and not yet taken by the server.
const READY_MAX: usize = 64;

/// A connection whose handshake completed, with its place among the
/// node's connections.
type Handshaken = Counted<TlsStream<TcpStream>>;

/// Accepts TCP connections and hands on those whose handshake completed.
pub struct TlsListener {
    ready: mpsc::Receiver<(Handshaken, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener` (the accepting task ends with the
    /// listener's owner: when this is dropped, handshaken connections have
    /// nowhere to go and the task stops at its next one). A connection
    /// over the node's cap is closed before its handshake.
    pub fn new(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        connections: Arc<Connections>,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (send, ready) = mpsc::channel(READY_MAX);
        let permits = Arc::new(Semaphore::new(HANDSHAKES_AT_ONCE));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = accept_tcp(&listener, "HTTPS").await;
                if send.is_closed() {
                    return;
                }
                let Some(place) = connections.admit(peer) else {
                    continue;
                };
                let (acceptor, send) = (acceptor.clone(), send.clone());
                tokio::spawn(async move {
                    let wait = Duration::from_millis(HANDSHAKE_WAIT_MS);
                    if let Ok(Ok(tls)) = tokio::time::timeout(wait, acceptor.accept(stream)).await {
                        drop(permit);
                        if send.send((Counted::new(tls, place), peer)).await.is_err() {
                            tracing::debug!("HTTPS: {peer} arrived as the server stopped");
                        }
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl Listener for TlsListener {
    type Io = Handshaken;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Serves the API on `listener`, over TLS when `tls` is given, with each
/// client's address for the per-source limits, holding at most
/// `connections_max` connections open at once.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    connections_max: usize,
) {
    let connections = Connections::new(connections_max);
    let served = match tls {
        None => {
            let app = app.into_make_service_with_connect_info::<Peer>();
            axum::serve(Capped::new(listener, connections), app).await
        }
        Some(acceptor) => match TlsListener::new(listener, acceptor, connections) {
            Ok(listener) => {
                let app = app.into_make_service_with_connect_info::<Peer>();
                axum::serve(listener, app).await
            }
            Err(e) => Err(e),
        },
    };
    if let Err(e) = served {
        tracing::error!("HTTP API stopped: {e}");
    }
}

/// The client's address on a connection, for the per-source limits.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_api_answers_over_tls_with_the_clients_address_and_a_silent_client_blocks_nobody() {
        let pki = duet_link::pki::create_pair("t", &["a", "b"]).expect("certificates");
        let node = &pki.nodes[0].1;
        let config = duet_link::tls::api_server_config(&node.cert_pem, &node.key_pem)
            .expect("a server config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let app = axum::Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<Peer>| async move { peer.0.ip().to_string() }),
        );
        tokio::spawn(serve(listener, app, Some(TlsAcceptor::from(config)), 16));

        // A client that connects and never says anything.
        let _silent = TcpStream::connect(address).await.expect("a connection");

        let identity = duet_link::tls::Identity {
            ca_pem: pki.ca.cert_pem.clone(),
            cert_pem: node.cert_pem.clone(),
            key_pem: node.key_pem.clone(),
        };
        let connector =
            tokio_rustls::TlsConnector::from(duet_link::tls::client_config(&identity).unwrap());
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            let tcp = TcpStream::connect(address).await.expect("a connection");
            let name = duet_link::tls::peer_name("a").unwrap();
            let mut tls = connector.connect(name, tcp).await.expect("a handshake");
            tls.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .await
                .expect("a request");
            let mut answer = String::new();
            tls.read_to_string(&mut answer).await.expect("an answer");
            answer
        })
        .await
        .expect("answered in time");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");

        // Plain HTTP to the TLS port gets no answer from the API.
        let mut plain = TcpStream::connect(address).await.expect("a connection");
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .expect("a request");
        let mut bytes = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut bytes)).await;
        assert!(!String::from_utf8_lossy(&bytes).contains("127.0.0.1"));
    }
}

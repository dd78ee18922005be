//! The cap on HTTP connections a node holds open at once (`[limits]
//! http_connections_max`): a place is taken when a connection is
//! accepted, before any TLS handshake or request is read, and held by the
//! connection's stream until it closes (WebSockets included). One more
//! connection is refused at once: on plain HTTP with a fixed `503` answer
//! (the error body, `Retry-After`), over TLS by closing it; no task is
//! started and nothing is read for it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::tls::Peer;

/// What a refused connection is asked to wait before trying again.
pub const REFUSED_RETRY_AFTER_S: u64 = 1;
/// Refusals are logged at most once per this long.
const WARN_EVERY_MS: u64 = 10_000;

/// The places for connections on one listener.
pub struct Connections {
    places: Arc<Semaphore>,
    max: usize,
    refused: AtomicU64,
    warned_at_ms: AtomicU64,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Connections> {
        Arc::new(Connections {
            places: Arc::new(Semaphore::new(max)),
            max,
            refused: AtomicU64::new(0),
            warned_at_ms: AtomicU64::new(0),
        })
    }

    /// A place for the connection just accepted from `peer`, or `None`
    /// (counted, and logged now and then) when every place is taken.
    pub fn admit(&self, peer: SocketAddr) -> Option<OwnedSemaphorePermit> {
        if let Ok(place) = self.places.clone().try_acquire_owned() {
            return Some(place);
        }
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now_ms = duet_node::events::unix_ms();
        let warned = self.warned_at_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(warned) >= WARN_EVERY_MS
            && self
                .warned_at_ms
                .compare_exchange(warned, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                "HTTP: {} connections are open, the most at once; refused {refused} so far, the latest from {peer}",
                self.max
            );
        }
        None
    }
}

/// The fixed answer to a plain HTTP connection over the cap.
fn refusal() -> &'static [u8] {
    static ANSWER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    ANSWER.get_or_init(|| {
        let body = serde_json::to_string(&duet_api::ErrorBody::new(
            503,
            "this node holds its most HTTP connections at once; try again shortly",
        ))
        .unwrap_or_default();
        format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nretry-after: {REFUSED_RETRY_AFTER_S}\r\n\
             x-content-type-options: nosniff\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

/// A connection's stream with its place, given back when it closes.
pub struct Counted<Io> {
    io: Io,
    _place: OwnedSemaphorePermit,
}

impl<Io> Counted<Io> {
    pub fn new(io: Io, place: OwnedSemaphorePermit) -> Counted<Io> {
        Counted { io, _place: place }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Counted<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Counted<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Accepts a TCP connection; waits a little after a failure (out of
/// descriptors and the like) rather than spin.
pub async fn accept_tcp(listener: &TcpListener, what: &str) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!("{what} accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Plain HTTP: accepts connections while there are places for them.
pub struct Capped {
    listener: TcpListener,
    connections: Arc<Connections>,
}

impl Capped {
    pub fn new(listener: TcpListener, connections: Arc<Connections>) -> Capped {
        Capped {
            listener,
            connections,
        }
    }
}

impl Listener for Capped {
    type Io = Counted<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, peer) = accept_tcp(&self.listener, "HTTP").await;
            match self.connections.admit(peer) {
                Some(place) => return (Counted::new(stream, place), peer),
                // A fresh socket's send buffer is empty: the answer fits,
                // and the socket is closed whatever happens.
                None => {
                    let _ = stream.try_write(refusal());
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl Connected<IncomingStream<'_, Capped>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Capped>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get_once(address: SocketAddr) -> String {
        let mut stream = TcpStream::connect(address).await.expect("a connection");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await
            .expect("a request");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        answer
    }

    /// Connections over the cap get the 503 at once, without a request
    /// read; one closed makes room for the next.
    #[tokio::test]
    async fn connections_over_the_cap_are_refused_until_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        let app = axum::Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<Peer>| async move { peer.0.ip().to_string() }),
        );
        tokio::spawn(super::super::tls::serve(listener, app, None, 2));
        let within = Duration::from_secs(10);
        let answer = tokio::time::timeout(within, get_once(address))
            .await
            .unwrap();
        assert!(answer.ends_with("127.0.0.1"), "{answer}");

        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(TcpStream::connect(address).await.expect("a connection"));
        }
        let mut refused = TcpStream::connect(address).await.expect("a connection");
        let mut answer = String::new();
        tokio::time::timeout(within, refused.read_to_string(&mut answer))
            .await
            .expect("refused at once")
            .expect("an answer");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let body: duet_api::ErrorBody = serde_json::from_str(body).expect("the error body");
        assert_eq!(body.status, 503);

        drop(held.pop());
        let answer = tokio::time::timeout(within, async {
            loop {
                let answer = get_once(address).await;
                if !answer.starts_with("HTTP/1.1 503") {
                    return answer;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("served again once a connection closed");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

//! What one link connection is made of, below the tasks that use it: the
//! pair's TLS configurations, the door of the pair's ports ([`Gate`]), and
//! the [`Outbox`] a connection's writer drains. The link's tasks, the
//! role arbiter, replication and the mirror all send through these.

use std::sync::Arc;

mod gate;
mod outbox;

pub use gate::{Gate, connect_from};
pub use outbox::Outbox;

/// The pair's mutual TLS, both ends.
#[derive(Clone)]
pub struct Tls {
    pub server: Arc<tokio_rustls::rustls::ServerConfig>,
    pub client: Arc<tokio_rustls::rustls::ClientConfig>,
}

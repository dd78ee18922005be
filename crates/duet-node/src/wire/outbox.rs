//! What one link connection sends: a bounded queue that the connection's
//! writer drains. A message that cannot be queued (the queue is full: the
//! peer does not read) or written (an encoding error, a message larger
//! than a frame, a broken socket) closes the whole connection, is logged
//! with its kind and counted. So a connection never lives on with a dead
//! writer, silently losing pongs, pages and heal answers: it closes, and
//! the pair's reconnect and catch-up take over.

use std::sync::Arc;

use duet_link::protocol::{Envelope, FrameError, Message};
use futures::{Sink, SinkExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

type Labels = Vec<(&'static str, String)>;

/// Frames waiting to be written on one connection.
pub const OUTBOX_MAX: usize = 256;

/// The sending half of one link connection, for messages `B` (what one
/// end of a connection may send the other); cheap to clone.
pub struct Outbox<B> {
    tx: mpsc::Sender<Envelope<B>>,
    closed: CancellationToken,
    failures: Family<Labels, Counter>,
    /// "main connection from b", for log lines.
    name: Arc<str>,
}

impl<B> Clone for Outbox<B> {
    fn clone(&self) -> Self {
        Outbox {
            tx: self.tx.clone(),
            closed: self.closed.clone(),
            failures: self.failures.clone(),
            name: self.name.clone(),
        }
    }
}

impl<B: Message> Outbox<B> {
    /// An outbox and the queue its writer drains.
    pub fn new(
        failures: Family<Labels, Counter>,
        name: impl Into<Arc<str>>,
    ) -> (Outbox<B>, mpsc::Receiver<Envelope<B>>) {
        let (tx, rx) = mpsc::channel(OUTBOX_MAX);
        let outbox = Outbox {
            tx,
            closed: CancellationToken::new(),
            failures,
            name: name.into(),
        };
        (outbox, rx)
    }

    /// Queues `envelope` without waiting. A message that cannot be queued
    /// is counted, and a full queue closes the connection: a peer that has
    /// not read 256 frames is not keeping up, and a message dropped while
    /// the connection lives would be lost without anyone knowing. The
    /// closed connection is the caller's signal (the reader ends, the
    /// backup reconnects and catches up), so there is nothing to return.
    pub fn send(&self, envelope: Envelope<B>) {
        if self.closed.is_cancelled() {
            self.failed(envelope.body.kind(), "closed");
            return;
        }
        match self.tx.try_send(envelope) {
            Ok(()) => {}
            Err(TrySendError::Full(envelope)) => {
                let kind = envelope.body.kind();
                self.failed(kind, "outbox full");
                self.close(&format!(
                    "{OUTBOX_MAX} frames are waiting to be written, so a {kind} cannot be queued"
                ));
            }
            Err(TrySendError::Closed(envelope)) => {
                self.failed(envelope.body.kind(), "closed");
            }
        }
    }

    /// Queues `envelope`, waiting for room while the connection lives
    /// (for answers made in a task of their own, which may wait); one that
    /// finds the connection closed is counted. Returns whether it was
    /// queued.
    pub async fn send_waiting(&self, envelope: Envelope<B>) -> bool {
        let kind = envelope.body.kind();
        let queued = tokio::select! {
            sent = self.tx.send(envelope) => sent.is_ok(),
            () = self.closed.cancelled() => false,
        };
        if !queued {
            self.failed(kind, "closed");
        }
        queued
    }

    /// Closes the connection, saying why.
    pub fn close(&self, reason: &str) {
        if !self.closed.is_cancelled() {
            tracing::warn!("link: closing the {}: {reason}", self.name);
            self.closed.cancel();
        }
    }

    /// Marks the connection closed once its reader has ended (nothing to
    /// say: the reader said why).
    pub fn finish(&self) {
        self.closed.cancel();
    }

    /// Resolves once the connection is to close.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled() || self.tx.is_closed()
    }

    fn failed(&self, kind: &'static str, reason: &'static str) {
        self.failures
            .get_or_create(&vec![("kind", kind.to_string()), ("reason", reason.into())])
            .inc();
    }

    /// Writes what is queued until the connection closes; a write that
    /// fails closes it, naming the message's kind (and size, when it was
    /// larger than a frame).
    pub async fn write<S>(&self, mut sink: S, mut queue: mpsc::Receiver<Envelope<B>>)
    where
        S: Sink<Envelope<B>, Error = FrameError> + Unpin,
    {
        loop {
            let envelope = tokio::select! {
                biased;
                () = self.closed.cancelled() => return,
                next = queue.recv() => match next {
                    Some(envelope) => envelope,
                    None => return,
                },
            };
            let kind = envelope.body.kind();
            if let Err(e) = sink.send(envelope).await {
                self.failed(kind, "write failed");
                self.close(&format!("a {kind} could not be written: {e}"));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use duet_link::protocol::{
        ActiveCodec, EventCopy, MAX_FRAME_BYTES, PROTOCOL_VERSION, ToBackup,
    };
    use futures::StreamExt;
    use tokio_util::codec::Framed;

    use super::*;

    fn envelope(message: String) -> Envelope<ToBackup> {
        Envelope {
            version: PROTOCOL_VERSION,
            node: "a".into(),
            epoch: 1,
            release: "2026.1.0".into(),
            body: ToBackup::EventCopy(EventCopy {
                at_unix_ms: 1,
                record: duet_switchover::Record {
                    topic: duet_switchover::Topic::Switchover,
                    level: duet_switchover::Level::Info,
                    message,
                },
            }),
        }
    }

    fn failures(family: &Family<Labels, Counter>, reason: &str) -> u64 {
        family
            .get_or_create(&vec![
                ("kind", "EventCopy".to_string()),
                ("reason", reason.into()),
            ])
            .get()
    }

    #[tokio::test]
    async fn a_message_larger_than_a_frame_closes_the_connection_and_is_counted() {
        let family = Family::<Labels, Counter>::default();
        let (outbox, queue) = Outbox::new(family.clone(), "main connection to b");
        let (near, far) = tokio::io::duplex(64 * 1024);
        let (sink, _) = Framed::new(near, ActiveCodec::default()).split();
        let writer = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.write(sink, queue).await }
        });
        outbox.send(envelope("x".repeat(MAX_FRAME_BYTES)));
        tokio::time::timeout(std::time::Duration::from_secs(5), outbox.closed())
            .await
            .expect("the connection closes");
        writer.await.unwrap();
        assert_eq!(failures(&family, "write failed"), 1);
        // Whatever is sent afterwards fails and is counted, never dropped
        // quietly on a connection that looks alive.
        outbox.send(envelope("pong".into()));
        assert_eq!(failures(&family, "closed"), 1);
        drop(far);
    }

    #[tokio::test]
    async fn a_peer_that_does_not_read_has_its_connection_closed() {
        let family = Family::<Labels, Counter>::default();
        let (outbox, _queue) = Outbox::new(family.clone(), "main connection from b");
        for _ in 0..OUTBOX_MAX {
            outbox.send(envelope("entry".into()));
        }
        assert!(!outbox.is_closed());
        outbox.send(envelope("entry".into()));
        assert!(outbox.is_closed());
        assert_eq!(failures(&family, "outbox full"), 1);
    }
}

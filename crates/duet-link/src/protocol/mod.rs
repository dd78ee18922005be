//! The link protocol: every frame carries one [`Envelope`] (protocol
//! version, sender's node name, epoch and release) with one message, encoded
//! with postcard inside a length-delimited frame of at most
//! [`MAX_FRAME_BYTES`]. A malformed, oversize or wrong-version frame is an
//! error that closes the connection; it never reaches the node's logic.

mod mirror;
mod stream;
mod switchover;

pub use mirror::Mirror;
pub use stream::{SNAPSHOT_CHUNK_BYTES, SnapshotPage, Stream};
pub use switchover::{Role, RoleInfo, Session, Switchover};

use bytes::{Bytes, BytesMut};
use duet_switchover::Record;
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// 2: mirror roots named by directory, the file monitor's watch and health
/// check, history in a resync, compressed sync requests and answers.
/// 3: the heal after both nodes served (`HealReplay`, `HealReplayed`),
/// conflict records and healed changes in the stream and history; role
/// answers carry the sender's promise not to serve.
/// 4: messages grouped by concern; stream entries carry any replicated
/// state's change.
/// 5: the interaction snapshot travels as chunks of its encoding, each
/// well under a frame, whatever the size of one interaction.
pub const PROTOCOL_VERSION: u16 = 6;
/// Frames larger than this are refused; large payloads are chunked.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub version: u16,
    pub node: String,
    pub epoch: u64,
    pub release: String,
    pub body: Body,
}

/// A message, by the concern it belongs to; the node routes each group to
/// the task that owns it, so a new concern adds a variant here and a route
/// there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Session(Session),
    Switchover(Switchover),
    Stream(Stream),
    Mirror(Mirror),
    /// An event-log entry, written on both nodes when they can reach each other.
    EventCopy {
        at_unix_ms: u64,
        record: Record,
    },
}

impl Body {
    /// The message's kind, for logs and metrics (`Stream::SnapshotPage`).
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Session(m) => m.kind(),
            Body::Switchover(m) => m.kind(),
            Body::Stream(m) => m.kind(),
            Body::Mirror(m) => m.kind(),
            Body::EventCopy { .. } => "EventCopy",
        }
    }
}

impl From<Session> for Body {
    fn from(m: Session) -> Body {
        Body::Session(m)
    }
}

impl From<Switchover> for Body {
    fn from(m: Switchover) -> Body {
        Body::Switchover(m)
    }
}

impl From<Stream> for Body {
    fn from(m: Stream) -> Body {
        Body::Stream(m)
    }
}

impl From<Mirror> for Body {
    fn from(m: Mirror) -> Body {
        Body::Mirror(m)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("link I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("the peer speaks link protocol version {0}, this node speaks {PROTOCOL_VERSION}")]
    Version(u16),
    #[error("malformed frame: {bytes} bytes after its message")]
    Trailing { bytes: usize },
    /// Never sent: a message this large is a bug in whatever built it.
    #[error("a {kind} message of {bytes} bytes is larger than a frame ({MAX_FRAME_BYTES} bytes)")]
    Oversize { kind: &'static str, bytes: usize },
}

/// Encodes and decodes envelopes in length-delimited frames.
pub struct FrameCodec {
    frames: LengthDelimitedCodec,
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec {
            frames: LengthDelimitedCodec::builder()
                .max_frame_length(MAX_FRAME_BYTES)
                .new_codec(),
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Envelope;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Envelope>, FrameError> {
        let Some(frame) = self.frames.decode(src)? else {
            return Ok(None);
        };
        // The version comes first, so a peer of another version is named as
        // such even if the rest of its layout differs.
        let (version, _) = postcard::take_from_bytes::<u16>(&frame)?;
        if version != PROTOCOL_VERSION {
            return Err(FrameError::Version(version));
        }
        // A frame is one message and nothing else: bytes after it would
        // be read differently by a later release, and two frames that
        // differ only there would carry the same message.
        let (envelope, rest) = postcard::take_from_bytes(&frame)?;
        if !rest.is_empty() {
            return Err(FrameError::Trailing { bytes: rest.len() });
        }
        Ok(Some(envelope))
    }
}

impl Encoder<Envelope> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: Envelope, dst: &mut BytesMut) -> Result<(), FrameError> {
        let bytes = postcard::to_allocvec(&item)?;
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FrameError::Oversize {
                kind: item.body.kind(),
                bytes: bytes.len(),
            });
        }
        self.frames.encode(Bytes::from(bytes), dst)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(body: Body) -> Envelope {
        Envelope {
            version: PROTOCOL_VERSION,
            node: "a".into(),
            epoch: 4,
            release: "2026.1.0".into(),
            body,
        }
    }

    #[test]
    fn envelopes_round_trip() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let sent = envelope(
            Switchover::ModulePong {
                id: 9,
                incarnation: 77,
            }
            .into(),
        );
        codec.encode(sent.clone(), &mut buf).unwrap();
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(sent));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_partial_frame_waits_for_more() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        codec
            .encode(envelope(Switchover::RoleQuery.into()), &mut buf)
            .unwrap();
        let mut partial = buf.split_to(buf.len() - 1);
        assert_eq!(codec.decode(&mut partial).unwrap(), None);
    }

    /// What `FrameCodec` decodes for a frame carrying `payload`.
    fn decode_payload(payload: Vec<u8>) -> Result<Option<Envelope>, FrameError> {
        let mut buf = BytesMut::new();
        LengthDelimitedCodec::new()
            .encode(Bytes::from(payload), &mut buf)
            .unwrap();
        FrameCodec::default().decode(&mut buf)
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(matches!(
            decode_payload(vec![0xff; 5]),
            Err(FrameError::Malformed(_))
        ));
    }

    /// Found by the link_frame fuzz target: a message followed by bytes
    /// of no meaning was taken as if they were not there.
    #[test]
    fn bytes_after_the_message_are_an_error() {
        let mut message = BytesMut::new();
        FrameCodec::default()
            .encode(envelope(Switchover::RoleQuery.into()), &mut message)
            .unwrap();
        let mut payload = message.split_off(4).to_vec();
        payload.extend_from_slice(b"junk");
        assert!(matches!(
            decode_payload(payload),
            Err(FrameError::Trailing { bytes: 4 })
        ));
    }

    #[test]
    fn oversize_frames_are_refused_before_reading_them() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&((MAX_FRAME_BYTES as u32) + 1).to_be_bytes());
        assert!(matches!(codec.decode(&mut buf), Err(FrameError::Io(_))));
    }

    #[test]
    fn an_oversize_message_is_a_typed_error_naming_its_kind() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let big = envelope(Body::EventCopy {
            at_unix_ms: 1,
            record: Record {
                topic: duet_switchover::Topic::Switchover,
                level: duet_switchover::Level::Info,
                message: "x".repeat(MAX_FRAME_BYTES),
            },
        });
        match codec.encode(big, &mut buf) {
            Err(FrameError::Oversize { kind, bytes }) => {
                assert_eq!(kind, "EventCopy");
                assert!(bytes > MAX_FRAME_BYTES);
            }
            other => panic!("expected an oversize error, got {other:?}"),
        }
        assert!(buf.is_empty(), "nothing of it was written");
    }

    #[test]
    fn a_full_snapshot_chunk_fits_a_frame() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let page = SnapshotPage {
            id: u64::MAX,
            page: u32::MAX,
            pages: u32::MAX,
            chunk: Some(vec![0xff; stream::SNAPSHOT_CHUNK_BYTES]),
            error: None,
        };
        codec
            .encode(envelope(Stream::SnapshotPage(page).into()), &mut buf)
            .unwrap();
        assert!(buf.len() <= MAX_FRAME_BYTES + 4);
    }

    #[test]
    fn another_protocol_version_is_refused() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let mut e = envelope(Switchover::RoleQuery.into());
        e.version = 99;
        codec.encode(e, &mut buf).unwrap();
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::Version(99))
        ));
    }
}

//! The link protocol: every frame carries one [`Envelope`] (protocol
//! version, sender's node name, epoch and release) with one message, encoded
//! with postcard inside a length-delimited frame of at most
//! [`MAX_FRAME_BYTES`]. A malformed, oversize or wrong-version frame is an
//! error that closes the connection; it never reaches the node's logic.
//!
//! Messages have a direction: a link connection opens with a [`Hello`]
//! answered by an [`Admission`], then carries [`ToActive`] one way and
//! [`ToBackup`] the other; the role arbiter takes a [`RoleQuery`] and
//! answers a [`RoleInfo`]. A [`FrameCodec`] decodes only the type its end
//! may receive, so the code that receives matches that type and nothing
//! else.

pub mod mirror;
mod stream;
mod switchover;

pub use mirror::{MirrorAnswer, MirrorRequest};
pub use stream::{SNAPSHOT_CHUNK_BYTES, SnapshotPage, StreamToActive, StreamToBackup};
pub use switchover::{
    Admission, Hello, Refused, Role, RoleInfo, RoleQuery, SwitchoverToActive, SwitchoverToBackup,
};

use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use duet_switchover::Record;
use serde::de::DeserializeOwned;
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
/// 7: messages by direction: the link's opening and its answer, what the
/// backup sends, what the active node sends, the arbiter's question and
/// answer are each a type of their own; a refusal is a typed reason.
/// 8: history ids (`duet_rsm::HistoryId`) in the stream's hello and
/// resync, a `History` message, and role answers, so two histories that
/// reuse epoch numbers (a node that lost its disk and served alone) are
/// told apart.
pub const PROTOCOL_VERSION: u16 = 9;
/// Frames larger than this are refused; large payloads are chunked.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// One message `B` with its sender: protocol version, node name, epoch and
/// release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<B> {
    pub version: u16,
    pub node: String,
    pub epoch: u64,
    pub release: String,
    pub body: B,
}

/// What travels in an envelope: a message of one direction.
pub trait Message: Serialize + DeserializeOwned {
    /// The message's kind, for logs and metrics (`Stream::SnapshotPage`).
    fn kind(&self) -> &'static str;
}

/// An event-log entry, written on both nodes when they can reach each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCopy {
    pub at_unix_ms: u64,
    pub record: Record,
}

/// What the backup sends the active node on a link connection once it is
/// welcome, by the concern it belongs to; the active node routes each
/// group to the task that owns it, so a new concern adds a variant here
/// and a route there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToActive {
    Switchover(SwitchoverToActive),
    Stream(StreamToActive),
    Mirror(MirrorRequest),
    EventCopy(EventCopy),
}

/// What the active node sends the backup on a link connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToBackup {
    Switchover(SwitchoverToBackup),
    Stream(StreamToBackup),
    Mirror(MirrorAnswer),
    EventCopy(EventCopy),
}

impl Message for ToActive {
    fn kind(&self) -> &'static str {
        match self {
            ToActive::Switchover(m) => m.kind(),
            ToActive::Stream(m) => m.kind(),
            ToActive::Mirror(m) => m.kind(),
            ToActive::EventCopy(_) => "EventCopy",
        }
    }
}

impl Message for ToBackup {
    fn kind(&self) -> &'static str {
        match self {
            ToBackup::Switchover(m) => m.kind(),
            ToBackup::Stream(m) => m.kind(),
            ToBackup::Mirror(m) => m.kind(),
            ToBackup::EventCopy(_) => "EventCopy",
        }
    }
}

impl Message for Hello {
    fn kind(&self) -> &'static str {
        "Hello"
    }
}

impl Message for Admission {
    fn kind(&self) -> &'static str {
        match self {
            Ok(()) => "Welcome",
            Err(_) => "Refused",
        }
    }
}

impl Message for RoleQuery {
    fn kind(&self) -> &'static str {
        "RoleQuery"
    }
}

impl Message for RoleInfo {
    fn kind(&self) -> &'static str {
        "RoleAnswer"
    }
}

macro_rules! into_body {
    ($body:ident: $($variant:ident($message:ty)),*) => {
        $(impl From<$message> for $body {
            fn from(m: $message) -> $body {
                $body::$variant(m)
            }
        })*
    };
}

into_body!(ToActive: Switchover(SwitchoverToActive), Stream(StreamToActive), Mirror(MirrorRequest), EventCopy(EventCopy));
into_body!(ToBackup: Switchover(SwitchoverToBackup), Stream(StreamToBackup), Mirror(MirrorAnswer), EventCopy(EventCopy));

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

/// Decodes envelopes of `In` and encodes envelopes of `Out`, each in a
/// length-delimited frame: each end of a connection reads only what the
/// other end may send it.
pub struct FrameCodec<In, Out> {
    frames: LengthDelimitedCodec,
    messages: PhantomData<fn(Out) -> In>,
}

/// The link connection's opening, at the active node: a hello in, an
/// admission out.
pub type AdmitCodec = FrameCodec<Hello, Admission>;
/// The link connection's opening, at the backup.
pub type HelloCodec = FrameCodec<Admission, Hello>;
/// A welcome link connection at the active node.
pub type ActiveCodec = FrameCodec<ToActive, ToBackup>;
/// A welcome link connection at the backup.
pub type BackupCodec = FrameCodec<ToBackup, ToActive>;
/// The role arbiter's side: a question in, the answer out.
pub type ArbiterCodec = FrameCodec<RoleQuery, RoleInfo>;
/// The side asking the arbiter.
pub type QueryCodec = FrameCodec<RoleInfo, RoleQuery>;

impl<In, Out> Default for FrameCodec<In, Out> {
    fn default() -> Self {
        FrameCodec {
            frames: LengthDelimitedCodec::builder()
                .max_frame_length(MAX_FRAME_BYTES)
                .new_codec(),
            messages: PhantomData,
        }
    }
}

impl<In: Message, Out> Decoder for FrameCodec<In, Out> {
    type Item = Envelope<In>;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Envelope<In>>, FrameError> {
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

impl<In, Out: Message> Encoder<Envelope<Out>> for FrameCodec<In, Out> {
    type Error = FrameError;

    fn encode(&mut self, item: Envelope<Out>, dst: &mut BytesMut) -> Result<(), FrameError> {
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

    fn envelope<B>(body: B) -> Envelope<B> {
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
        let mut codec = FrameCodec::<ToBackup, ToBackup>::default();
        let mut buf = BytesMut::new();
        let sent = envelope(ToBackup::from(SwitchoverToBackup::ModulePong {
            id: 9,
            incarnation: 77,
        }));
        codec.encode(sent.clone(), &mut buf).unwrap();
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(sent));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_partial_frame_waits_for_more() {
        let mut codec = FrameCodec::<RoleQuery, RoleQuery>::default();
        let mut buf = BytesMut::new();
        codec.encode(envelope(RoleQuery), &mut buf).unwrap();
        let mut partial = buf.split_to(buf.len() - 1);
        assert_eq!(codec.decode(&mut partial).unwrap(), None);
    }

    /// What `FrameCodec` decodes for a frame carrying `payload`.
    fn decode_payload(payload: Vec<u8>) -> Result<Option<Envelope<RoleQuery>>, FrameError> {
        let mut buf = BytesMut::new();
        LengthDelimitedCodec::new()
            .encode(Bytes::from(payload), &mut buf)
            .unwrap();
        ArbiterCodec::default().decode(&mut buf)
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
        QueryCodec::default()
            .encode(envelope(RoleQuery), &mut message)
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
        let mut codec = ActiveCodec::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&((MAX_FRAME_BYTES as u32) + 1).to_be_bytes());
        assert!(matches!(codec.decode(&mut buf), Err(FrameError::Io(_))));
    }

    #[test]
    fn an_oversize_message_is_a_typed_error_naming_its_kind() {
        let mut codec = ActiveCodec::default();
        let mut buf = BytesMut::new();
        let big = envelope(ToBackup::EventCopy(EventCopy {
            at_unix_ms: 1,
            record: Record {
                topic: duet_switchover::Topic::Switchover,
                level: duet_switchover::Level::Info,
                message: "x".repeat(MAX_FRAME_BYTES),
            },
        }));
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
        let mut codec = ActiveCodec::default();
        let mut buf = BytesMut::new();
        let page = SnapshotPage {
            id: u64::MAX,
            at: duet_rsm::Position::new(u64::MAX, u64::MAX),
            page: u32::MAX,
            pages: u32::MAX,
            chunk: Some(vec![0xff; stream::SNAPSHOT_CHUNK_BYTES]),
            error: None,
        };
        codec
            .encode(
                envelope(ToBackup::from(StreamToBackup::SnapshotPage(page))),
                &mut buf,
            )
            .unwrap();
        assert!(buf.len() <= MAX_FRAME_BYTES + 4);
    }

    #[test]
    fn another_protocol_version_is_refused() {
        let mut codec = FrameCodec::<RoleQuery, RoleQuery>::default();
        let mut buf = BytesMut::new();
        let mut e = envelope(RoleQuery);
        e.version = 99;
        codec.encode(e, &mut buf).unwrap();
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::Version(99))
        ));
    }

    #[test]
    fn a_refusal_says_why_in_words() {
        let refused: Admission = Err(Refused::NotActive { node: "b".into() });
        let mut codec = FrameCodec::<Admission, Admission>::default();
        let mut buf = BytesMut::new();
        codec.encode(envelope(refused.clone()), &mut buf).unwrap();
        let got = codec.decode(&mut buf).unwrap().unwrap().body;
        assert_eq!(got, refused);
        assert_eq!(got.unwrap_err().to_string(), "b is not the active node");
    }
}

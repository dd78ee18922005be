//! The link protocol: every frame carries one [`Envelope`] (protocol
//! version, sender's node name, epoch and release) with one message, encoded
//! with postcard inside a length-delimited frame of at most
//! [`MAX_FRAME_BYTES`]. A malformed, oversize or wrong-version frame is an
//! error that closes the connection; it never reaches the node's logic.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use duet_config::sync::{Answer, Request};
use duet_config::{Edit, HistoryRecord};
use duet_mirror::{FileMeta, RelPath};
use duet_params::ServerId;
use duet_stream::Entry;
use duet_switchover::{Conn, Record, State};
use serde::{Deserialize, Serialize};
use tokio_util::codec::{Decoder, Encoder, LengthDelimitedCodec};

/// 2: mirror roots named by directory, the file monitor's watch and health
/// check, history in a resync, compressed sync requests and answers.
/// 3: the heal after both nodes served (`HealReplay`, `HealReplayed`),
/// conflict records and healed changes in the stream and history; role
/// answers carry the sender's promise not to serve.
pub const PROTOCOL_VERSION: u16 = 3;
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

/// What a node says about itself to its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Still finding its role.
    Starting,
    /// Serving as the active node.
    Active,
    /// Watching the active node (Backup, Reconnecting, Upgrade, Stopping, Error).
    Backup,
    /// Not serving and not watching (a stale former active, or shut down).
    Inactive,
}

/// A node's answer to a role query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleInfo {
    pub role: Role,
    pub state: State,
    pub manual_switch_only: bool,
    /// Which of SwitchoverServer A and B the sender believes it is; two
    /// nodes claiming the same letter have mismatched bootstrap files.
    pub server: ServerId,
    /// The sender, not active, promises not to serve for this many
    /// milliseconds from its answer; `None` when it gives no promise (it
    /// serves, or has decided to take over).
    pub promise_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// The backup opens a link connection, saying which of A and B it is.
    Hello {
        conn: Conn,
        server: ServerId,
    },
    /// The active node accepts it.
    Welcome,
    /// A request the receiver will not serve, and why (for example, it is
    /// not the active node).
    Refused {
        reason: String,
    },
    NotifierPing {
        id: u64,
    },
    NotifierPong {
        id: u64,
    },
    ModulePing {
        id: u64,
    },
    ModulePong {
        id: u64,
        incarnation: u64,
    },
    ModuleRejected {
        id: u64,
    },
    /// The role arbiter: what is your role?
    RoleQuery,
    RoleAnswer(RoleInfo),
    /// Sent by a backup that has just become active, over the link it still
    /// has, so the former active learns the new epoch at once.
    Takeover,
    /// The backup, on its main connection: the last change it has applied.
    StreamHello {
        applied: (u64, u64),
        /// The backup's copy was filtered (an Upgrade state) and must be
        /// made whole by a resynchronisation.
        full_resync: bool,
    },
    /// A change of the configuration, in stream order.
    StreamEntry(Entry<Edit>),
    /// The backup has applied every change up to `seq`.
    StreamAck {
        seq: u64,
    },
    /// The active node to the backup: you have every change; your initial
    /// synchronisation is complete.
    CaughtUp,
    /// The backup must resynchronise by digests to `upto` (the active's
    /// root digest given), then say StreamHello again.
    ResyncStart {
        upto: (u64, u64),
        root: u128,
    },
    /// A resynchronisation request; the answer carries its `id`, so an
    /// answer to a request given up on is never taken for a later one.
    SyncRequest {
        id: u64,
        request: Request,
    },
    SyncAnswer {
        id: u64,
        answer: Answer,
    },
    /// The backup, before a resynchronisation would drop them: changes it
    /// made while it served on its own (after change `fork`, the last both
    /// nodes agree on), in order, for the active node to make as new
    /// changes (`duet_config::heal`). A page at a time; the next goes once
    /// this one is answered.
    HealReplay {
        id: u64,
        fork: u64,
        records: Vec<HistoryRecord>,
    },
    /// The active node has made (and stored) every change of the page `id`,
    /// or `error` says why not (the backup keeps its copies and tries again).
    HealReplayed {
        id: u64,
        error: Option<String>,
    },
    /// The backup asks for the files of the mirror root named `root` (its
    /// directory as the parameters give it), after `after`. Every mirror
    /// request carries an `id` its answer repeats, so a late answer to a
    /// request given up on is never taken for another.
    MirrorList {
        id: u64,
        root: String,
        after: Option<RelPath>,
    },
    /// A page of a root's files; `more` when another page follows; `error`
    /// when the root could not be read (the backup then changes nothing).
    /// `generation` is the file monitor's count for the root when the scan
    /// began, so a change during the scan is seen again.
    MirrorListing {
        id: u64,
        root: String,
        generation: u64,
        /// The root does not exist on the active node (not the same as an
        /// empty one: the backup keeps its copy).
        missing: bool,
        files: Vec<FileMeta>,
        more: bool,
        error: Option<String>,
    },
    /// The backup asks for a file's bytes from `offset`.
    MirrorFetch {
        id: u64,
        root: String,
        path: RelPath,
        offset: u64,
    },
    /// Up to one chunk of a file; an empty chunk at the file's end, or
    /// `error` when it cannot be read.
    MirrorChunk {
        id: u64,
        root: String,
        path: RelPath,
        offset: u64,
        bytes: Vec<u8>,
        error: Option<String>,
    },
    /// The backup waits for a change: answered by [`Body::MirrorChanged`]
    /// as soon as a root's generation differs from `known`, or after
    /// `hold_ms` with nothing changed.
    MirrorWatch {
        id: u64,
        known: BTreeMap<String, u64>,
        hold_ms: u64,
    },
    /// The file monitor's generation of every mirror root.
    MirrorChanged {
        id: u64,
        generations: BTreeMap<String, u64>,
    },
    /// The backup's health check of the active node's file monitor (the
    /// seed's File Monitor health check).
    FileMonitorCheck {
        id: u64,
    },
    /// The file monitor's answer to a health check.
    FileMonitorAlive {
        id: u64,
    },
    /// An event-log entry, written on both nodes when they can reach each other.
    EventCopy {
        at_unix_ms: u64,
        record: Record,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("link I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("the peer speaks link protocol version {0}, this node speaks {PROTOCOL_VERSION}")]
    Version(u16),
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
        Ok(Some(postcard::from_bytes(&frame)?))
    }
}

impl Encoder<Envelope> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, item: Envelope, dst: &mut BytesMut) -> Result<(), FrameError> {
        let bytes = postcard::to_allocvec(&item)?;
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
        let sent = envelope(Body::ModulePong {
            id: 9,
            incarnation: 77,
        });
        codec.encode(sent.clone(), &mut buf).unwrap();
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(sent));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_partial_frame_waits_for_more() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        codec.encode(envelope(Body::RoleQuery), &mut buf).unwrap();
        let mut partial = buf.split_to(buf.len() - 1);
        assert_eq!(codec.decode(&mut partial).unwrap(), None);
    }

    #[test]
    fn malformed_frames_are_errors() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        LengthDelimitedCodec::new()
            .encode(
                Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff]),
                &mut buf,
            )
            .unwrap();
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::Malformed(_))
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
    fn another_protocol_version_is_refused() {
        let mut codec = FrameCodec::default();
        let mut buf = BytesMut::new();
        let mut e = envelope(Body::RoleQuery);
        e.version = 99;
        codec.encode(e, &mut buf).unwrap();
        assert!(matches!(
            codec.decode(&mut buf),
            Err(FrameError::Version(99))
        ));
    }
}

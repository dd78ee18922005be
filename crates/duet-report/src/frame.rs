//! The frames of `GET /api/stream/ws`, as a writer reads them.

use duet_interactions::change::Command;

use crate::Position;

/// One frame of the committed stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// Every change after `after` follows: no gap.
    Resume {
        position: Position,
        at_ms: u64,
    },
    /// The node cannot vouch for `after` (or none was given): changes
    /// follow from `position`, and what lay between is a gap.
    Gap {
        position: Position,
        at_ms: u64,
    },
    Change {
        at: Position,
        command: Box<Command>,
    },
    /// Idle, and caught up to `position` at `at_ms` (the node's clock).
    Heartbeat {
        position: Position,
        at_ms: u64,
    },
    /// The socket fell behind and is closed: connect again.
    Resync,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a stream frame that is not JSON of a known shape: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("a frame of type {0:?}, which the stream does not send")]
    UnknownType(&'static str),
    #[error("a {0:?} frame without at_ms")]
    NoTime(&'static str),
}

impl Frame {
    /// A frame as the node writes it (`duet_api::Frame`); the frames of
    /// other sockets are refused.
    pub fn parse(text: &str) -> Result<Frame, FrameError> {
        use duet_api::{ChangeFrame, Frame as Api};
        let timed = |kind: &'static str, at_ms: Option<u64>| at_ms.ok_or(FrameError::NoTime(kind));
        Ok(match serde_json::from_str::<Api>(text)? {
            Api::Resume(r) => Frame::Resume {
                position: r.position,
                at_ms: timed("resume", r.at_ms)?,
            },
            Api::Gap(r) => Frame::Gap {
                position: r.position,
                at_ms: timed("gap", r.at_ms)?,
            },
            Api::Heartbeat { position, at_ms } => Frame::Heartbeat { position, at_ms },
            Api::Resync { .. } => Frame::Resync,
            Api::Change(ChangeFrame::Committed {
                seq,
                epoch,
                at_ms,
                actor,
                change,
                ..
            }) => Frame::Change {
                at: Position::new(epoch, seq),
                command: Box::new(Command {
                    // The stream does not carry client ids: reports have
                    // no use for them.
                    client: String::new(),
                    at_ms,
                    actor,
                    change: *change,
                }),
            },
            Api::Change(ChangeFrame::Told { .. }) => return Err(FrameError::UnknownType("change")),
            Api::State(_) => return Err(FrameError::UnknownType("state")),
            Api::Ack { .. } => return Err(FrameError::UnknownType("ack")),
            Api::Error { .. } => return Err(FrameError::UnknownType("error")),
            Api::Moved { .. } => return Err(FrameError::UnknownType("moved")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_interactions::change::Actor;

    #[test]
    fn frames_read_as_the_node_writes_them() {
        let change = r#"{"type":"change","seq":7,"epoch":2,"at_ms":5,"actor":"Customer","change":{"Disconnect":{"id":"c1"}}}"#;
        match Frame::parse(change).unwrap() {
            Frame::Change { at, command } => {
                assert_eq!(at, Position::new(2, 7));
                assert_eq!(command.actor, Actor::Customer);
            }
            other => panic!("{other:?}"),
        }
        let gap = r#"{"type":"gap","after":null,"position":[2,9],"at_ms":1}"#;
        assert_eq!(
            Frame::parse(gap).unwrap(),
            Frame::Gap {
                position: Position::new(2, 9),
                at_ms: 1
            }
        );
        assert!(Frame::parse(r#"{"type":"heartbeat"}"#).is_err());
        assert!(Frame::parse(r#"{"type":"what"}"#).is_err());
        assert!(Frame::parse(r#"{"type":"gap","after":null,"position":[2,9]}"#).is_err());
        assert!(matches!(
            Frame::parse(r#"{"type":"moved","active":"b"}"#),
            Err(FrameError::UnknownType("moved"))
        ));
        assert!(Frame::parse("not json").is_err());
    }
}

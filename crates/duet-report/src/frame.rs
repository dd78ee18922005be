//! The frames of `GET /api/stream/ws`, as a writer reads them.

use duet_interactions::change::{Actor, Change, Command};
use serde::Deserialize;

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
    #[error("a stream frame of unknown type {0:?}")]
    UnknownType(String),
}

#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    position: Option<(u64, u64)>,
    #[serde(default)]
    at_ms: Option<u64>,
    #[serde(default)]
    epoch: Option<u64>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    actor: Option<Actor>,
    #[serde(default)]
    change: Option<Change>,
}

impl Frame {
    pub fn parse(text: &str) -> Result<Frame, FrameError> {
        let w: Wire = serde_json::from_str(text)?;
        let missing = |what: &str| {
            FrameError::Malformed(serde::de::Error::custom(format!(
                "a {:?} frame without {what}",
                w.kind
            )))
        };
        let position = || {
            w.position
                .map(|(e, s)| Position::new(e, s))
                .ok_or_else(|| missing("position"))
        };
        let at_ms = || w.at_ms.ok_or_else(|| missing("at_ms"));
        Ok(match w.kind.as_str() {
            "resume" => Frame::Resume {
                position: position()?,
                at_ms: at_ms()?,
            },
            "gap" => Frame::Gap {
                position: position()?,
                at_ms: at_ms()?,
            },
            "heartbeat" => Frame::Heartbeat {
                position: position()?,
                at_ms: at_ms()?,
            },
            "resync" => Frame::Resync,
            "change" => {
                let at = Position::new(
                    w.epoch.ok_or_else(|| missing("epoch"))?,
                    w.seq.ok_or_else(|| missing("seq"))?,
                );
                let command = Command {
                    // The stream does not carry client ids: reports have
                    // no use for them.
                    client: String::new(),
                    at_ms: at_ms()?,
                    actor: w.actor.clone().ok_or_else(|| missing("actor"))?,
                    change: w.change.clone().ok_or_else(|| missing("change"))?,
                };
                Frame::Change {
                    at,
                    command: Box::new(command),
                }
            }
            other => return Err(FrameError::UnknownType(other.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(Frame::parse("not json").is_err());
    }
}

//! A change's place in the stream: `(epoch, seq)`. Sequence numbers rise
//! across epochs, so positions order by `seq`; the epoch tells two
//! changes apart that two nodes gave the same number (after a partition).
//!
//! Not `duet_rsm::Position`: an open interaction's state, stored as JSON,
//! holds this as `{"epoch", "seq"}`, where that type is `[epoch, seq]`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Position {
    pub epoch: u64,
    pub seq: u64,
}

impl Position {
    pub fn new(epoch: u64, seq: u64) -> Position {
        Position { epoch, seq }
    }
}

impl fmt::Display for Position {
    /// `<epoch>.<seq>`, as the stream's `?after=` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.seq)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a position is <epoch>.<seq> (two whole numbers), not {0:?}")]
pub struct BadPosition(String);

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Position, BadPosition> {
        let bad = || BadPosition(s.to_string());
        let (epoch, seq) = s.split_once('.').ok_or_else(bad)?;
        Ok(Position::new(
            epoch.parse().map_err(|_| bad())?,
            seq.parse().map_err(|_| bad())?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_reads_as_it_prints() {
        let p = Position::new(3, 41);
        assert_eq!(p.to_string().parse::<Position>().unwrap(), p);
        assert!("41".parse::<Position>().is_err());
        assert!("a.1".parse::<Position>().is_err());
    }
}

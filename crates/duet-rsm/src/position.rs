//! A change's place on the stream.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which history a node's changes belong to: drawn at random when a store
/// is created, and taken from the active node once the store is a copy of
/// its (caught up, or resynchronised). Two changes at one [`Position`] are
/// the same change only within one history: a node whose disk was
/// replaced, serving alone, numbers its epochs from the start again.
pub type HistoryId = u64;

/// A change's place on the stream. Sequence numbers rise by one for every
/// change of every machine; the epoch is the active node's when it made
/// the change. Ordered by epoch, then sequence number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub epoch: u64,
    pub seq: u64,
}

impl Position {
    /// Before the first change.
    pub const ZERO: Position = Position { epoch: 0, seq: 0 };

    pub const fn new(epoch: u64, seq: u64) -> Position {
        Position { epoch, seq }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.seq)
    }
}

/// Text that is not `<epoch>.<seq>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a position is <epoch>.<seq> (two whole numbers), not {0:?}")]
pub struct BadPosition(pub String);

impl FromStr for Position {
    type Err = BadPosition;

    fn from_str(s: &str) -> Result<Position, BadPosition> {
        let bad = || BadPosition(s.to_string());
        let (epoch, seq) = s.split_once('.').ok_or_else(bad)?;
        let number = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u64>().map_err(|_| bad())
        };
        Ok(Position::new(number(epoch)?, number(seq)?))
    }
}

// The tuple `(epoch, seq)` on the wire and in the stores, as before the
// type existed: link frames, stored records and JSON stay as they were.
// Read from JSON, `{"epoch", "seq"}` is taken too: reporting databases
// written before it used this type hold positions so.
impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.epoch, self.seq).serialize(serializer)
    }
}

/// The tuple `[epoch, seq]`, as it is written.
#[cfg(feature = "schema")]
impl utoipa::PartialSchema for Position {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            ArrayBuilder, ArrayItems, KnownFormat, ObjectBuilder, SchemaFormat, Type,
        };
        let number = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .description(Some(description))
        };
        ArrayBuilder::new()
            .description(Some("A change's place on the stream: `[epoch, seq]`."))
            .items(ArrayItems::False)
            .prefix_items([number("The epoch"), number("The sequence number")])
            .min_items(Some(2))
            .max_items(Some(2))
            .into()
    }
}

#[cfg(feature = "schema")]
impl utoipa::ToSchema for Position {}

/// A position as text formats may hold it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Tuple((u64, u64)),
    Named { epoch: u64, seq: u64 },
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Position, D::Error> {
        // Binary formats (postcard) do not say what they hold: the tuple.
        let (epoch, seq) = if deserializer.is_human_readable() {
            match Written::deserialize(deserializer)? {
                Written::Tuple(pair) => pair,
                Written::Named { epoch, seq } => (epoch, seq),
            }
        } else {
            <(u64, u64)>::deserialize(deserializer)?
        };
        Ok(Position { epoch, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_it_prints() {
        let p = Position::new(3, 41);
        assert_eq!(p.to_string(), "3.41");
        assert_eq!("3.41".parse::<Position>(), Ok(p));
        for bad in [
            "", "3", "3.", ".41", "3.41.5", "a.1", "-1.2", "+1.2", "1 .2",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serialises_as_the_tuple() {
        let p = Position::new(3, 41);
        assert_eq!(serde_json::to_string(&p).unwrap(), "[3,41]");
        assert_eq!(serde_json::from_str::<Position>("[3,41]").unwrap(), p);
        let bytes = postcard::to_allocvec(&p).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&(3u64, 41u64)).unwrap());
        assert_eq!(postcard::from_bytes::<Position>(&bytes).unwrap(), p);
    }

    #[test]
    fn orders_by_epoch_then_seq() {
        assert!(Position::new(1, 9) < Position::new(2, 0));
        assert!(Position::new(2, 0) < Position::new(2, 1));
        assert_eq!(Position::ZERO, Position::default());
    }

    #[test]
    fn json_reads_the_tuple_and_the_named_form_postcard_the_tuple() {
        let p = Position::new(3, 41);
        assert_eq!(serde_json::to_string(&p).unwrap(), "[3,41]");
        assert_eq!(serde_json::from_str::<Position>("[3,41]").unwrap(), p);
        assert_eq!(
            serde_json::from_str::<Position>(r#"{"epoch":3,"seq":41}"#).unwrap(),
            p
        );
        assert!(serde_json::from_str::<Position>(r#"{"epoch":3}"#).is_err());
        let bytes = postcard::to_allocvec(&p).unwrap();
        assert_eq!(postcard::from_bytes::<Position>(&bytes).unwrap(), p);
    }
}

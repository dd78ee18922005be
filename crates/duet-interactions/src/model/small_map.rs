//! A map of few entries kept sorted in one vector (an interaction's skills
//! and attributes): serialised as a map, like a `BTreeMap`, but without
//! the B-tree's first node of about 600 bytes however few its entries.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, MapAccess, Visitor};
use serde::{Deserializer, Serialize, Serializer};

pub type SmallMap<K, V> = litemap::LiteMap<K, V>;

/// Writes a [`SmallMap`] (`#[serde(with = "small_map")]`) as a map, as a
/// `BTreeMap` is written: litemap writes an empty one as a sequence (`[]`)
/// in JSON, which a reader of the API's interactions refuses (a client
/// that read them stalled after a switchover).
pub fn serialize<S, K, V>(map: &SmallMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    K: Serialize,
    V: Serialize,
{
    serializer.collect_map(map.iter())
}

/// Reads a [`SmallMap`] (`#[serde(with = "small_map")]`) growing it entry by
/// entry: litemap's own reader reserves what the input says its length is,
/// and a link frame or a stored record is not trusted that far.
pub fn deserialize<'de, D, K, V>(deserializer: D) -> Result<SmallMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    struct Entries<K, V>(PhantomData<fn() -> (K, V)>);

    impl<'de, K, V> Visitor<'de> for Entries<K, V>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
    {
        type Value = SmallMap<K, V>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Self::Value, A::Error> {
            // As many as the input says, up to a few: a small map's
            // vector would otherwise grow to four entries for one.
            let mut map = SmallMap::with_capacity(entries.size_hint().unwrap_or(0).min(16));
            while let Some((key, value)) = entries.next_entry()? {
                map.insert(key, value);
            }
            Ok(map)
        }
    }

    deserializer.deserialize_map(Entries(PhantomData))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Small {
        #[serde(serialize_with = "serialize", deserialize_with = "deserialize")]
        map: SmallMap<String, u32>,
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Tree {
        map: BTreeMap<String, u32>,
    }

    /// litemap's own writer makes an empty map `[]` in JSON.
    #[test]
    fn an_empty_map_is_written_as_a_map() {
        let small = Small {
            map: SmallMap::new(),
        };
        let tree = Tree {
            map: BTreeMap::new(),
        };
        let json = serde_json::to_string(&small).unwrap();
        assert_eq!(json, r#"{"map":{}}"#);
        assert_eq!(json, serde_json::to_string(&tree).unwrap());
        let back: Small = serde_json::from_str(&json).unwrap();
        assert!(back.map.is_empty());
        assert_eq!(
            postcard::to_allocvec(&small).unwrap(),
            postcard::to_allocvec(&tree).unwrap()
        );
    }

    #[test]
    fn it_reads_and_writes_as_a_b_tree_map_does_in_any_order() {
        let json = r#"{"map":{"zulu":3,"alpha":1,"alpha":2}}"#;
        let small: Small = serde_json::from_str(json).unwrap();
        let tree: Tree = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_string(&small).unwrap(),
            serde_json::to_string(&tree).unwrap()
        );
        assert_eq!(small.map.get("alpha"), Some(&2));
        let bytes = postcard::to_allocvec(&tree).unwrap();
        assert_eq!(postcard::to_allocvec(&small).unwrap(), bytes);
        let back: Small = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.map, small.map);
    }

    #[test]
    fn a_length_the_input_cannot_hold_is_an_error_not_an_allocation() {
        // A map said to hold 2^62 entries, with none.
        let bytes = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
        assert!(postcard::from_bytes::<Small>(&bytes).is_err());
    }
}

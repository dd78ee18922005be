//! A set of few names kept sorted in one thin vector (the agents
//! conferenced into an interaction, those who declined it): one pointer
//! wide and no allocation while empty, where a `BTreeSet` is three words;
//! written and read as a sequence, as a `BTreeSet` is.

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

use super::Seq;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SmallSet<T>(Seq<T>);

impl<T> Default for SmallSet<T> {
    fn default() -> Self {
        SmallSet(Seq::new())
    }
}

impl<T: Ord> SmallSet<T> {
    pub fn new() -> Self {
        SmallSet::default()
    }

    fn find<Q: Ord + ?Sized>(&self, value: &Q) -> Result<usize, usize>
    where
        T: Borrow<Q>,
    {
        self.0.binary_search_by(|held| held.borrow().cmp(value))
    }

    /// Adds `value`; false when it was there already.
    pub fn insert(&mut self, value: T) -> bool {
        match self.find(&value) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, value);
                true
            }
        }
    }

    /// Takes `value` out; false when it was not there.
    pub fn remove<Q: Ord + ?Sized>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        match self.find(value) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub fn contains<Q: Ord + ?Sized>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
    {
        self.find(value).is_ok()
    }

    /// In order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl<T: Ord> FromIterator<T> for SmallSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut set = SmallSet::new();
        for item in items {
            set.insert(item);
        }
        set
    }
}

impl<T: Ord, const N: usize> From<[T; N]> for SmallSet<T> {
    fn from(items: [T; N]) -> Self {
        items.into_iter().collect()
    }
}

impl<'a, T> IntoIterator for &'a SmallSet<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: fmt::Debug> fmt::Debug for SmallSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl<T: Serialize> Serialize for SmallSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

/// Read item by item (in any order, repeats once), so a frame or a row
/// that claims a length reserves nothing for it.
impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for SmallSet<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Items<T>(PhantomData<fn() -> T>);

        impl<'de, T: Deserialize<'de> + Ord> Visitor<'de> for Items<T> {
            type Value = SmallSet<T>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
                let mut set = SmallSet::new();
                while let Some(item) = items.next_element()? {
                    set.insert(item);
                }
                Ok(set)
            }
        }

        deserializer.deserialize_seq(Items(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn it_keeps_each_name_once_in_order() {
        let mut set = SmallSet::new();
        assert!(set.insert("bob".to_string()));
        assert!(set.insert("ann".to_string()));
        assert!(!set.insert("bob".to_string()));
        assert_eq!(set.iter().collect::<Vec<_>>(), ["ann", "bob"]);
        assert!(set.contains("ann") && !set.contains("cy"));
        assert!(set.remove("ann") && !set.remove("ann"));
        assert_eq!(set.len(), 1);
    }

    /// Written and read byte for byte as the `BTreeSet` it replaced, so
    /// stored rows and frames of before still read.
    #[test]
    fn it_is_written_as_a_btree_set_is() {
        let tree = BTreeSet::from(["cy".to_string(), "ann".to_string()]);
        let small = SmallSet::from(["cy".to_string(), "ann".to_string()]);
        let bytes = postcard::to_stdvec(&tree).unwrap();
        assert_eq!(postcard::to_stdvec(&small).unwrap(), bytes);
        assert_eq!(
            postcard::from_bytes::<SmallSet<String>>(&bytes).unwrap(),
            small
        );
        assert_eq!(serde_json::to_string(&small).unwrap(), r#"["ann","cy"]"#);
    }
}

//! Containers that remember what changed since it was last taken, so the
//! node stores only those rows. Their only mutable access marks what it
//! hands out: a change that forgot to mark would be lost at the next
//! start, so there is no way to change an item without marking it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::{Deref, Range};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Name;

/// A map by name whose changed keys (inserted, changed, removed) are
/// marked until taken. Items are shared (`Arc`), so taking one for the
/// store is a reference, not a copy; a change copies an item only while
/// the store still holds it. Keys are [`Name`]s: an interaction's id,
/// kept inline, costs no allocation for its place in the map.
#[derive(Debug, Clone)]
pub struct Keyed<V> {
    map: BTreeMap<Name, Arc<V>>,
    /// Keys changed since the last `take`.
    changed: BTreeSet<Name>,
    /// Every key counts as changed at the next `take`: a change to most
    /// of the map (a takeover's), marked once instead of key by key.
    every: bool,
}

impl<V> Default for Keyed<V> {
    fn default() -> Self {
        Keyed {
            map: BTreeMap::new(),
            changed: BTreeSet::new(),
            every: false,
        }
    }
}

/// Reads: there is no mutable access but the marking methods below.
impl<V> Keyed<V> {
    /// A map nothing of which is marked: for a state loaded from the
    /// store, or installed whole (the next take is all of it), where
    /// marking every key would be work thrown away.
    pub fn unmarked(map: BTreeMap<Name, Arc<V>>) -> Self {
        Keyed {
            map,
            changed: BTreeSet::new(),
            every: false,
        }
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key).map(|v| &**v)
    }

    /// The value shared, not copied (a later change copies it then).
    pub fn get_shared(&self, key: &str) -> Option<&Arc<V>> {
        self.map.get(key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Name, &V)> {
        self.map.iter().map(|(k, v)| (k, &**v))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values().map(|v| &**v)
    }

    /// The items themselves, to refer to without a copy.
    pub fn shared(&self) -> impl Iterator<Item = &Arc<V>> {
        self.map.values()
    }

    /// The same, with their keys.
    pub fn iter_shared(&self) -> impl Iterator<Item = (&Name, &Arc<V>)> {
        self.map.iter()
    }
}

/// The marks are bookkeeping, not state: two maps are equal by content.
impl<V: PartialEq> PartialEq for Keyed<V> {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl<V: Eq> Eq for Keyed<V> {}

/// Serialised as the map alone (digests see the content only).
impl<V: Serialize> Serialize for Keyed<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<V: Clone> Keyed<V> {
    fn mark(&mut self, key: &str) {
        if !self.changed.contains(key) {
            self.changed.insert(key.into());
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        if self.map.contains_key(key) {
            self.mark(key);
        }
        self.map.get_mut(key).map(Arc::make_mut)
    }

    pub fn insert(&mut self, key: impl Into<Name>, value: impl Into<Arc<V>>) -> Option<Arc<V>> {
        let key = key.into();
        self.mark(&key);
        self.map.insert(key, value.into())
    }

    pub fn remove(&mut self, key: &str) -> Option<Arc<V>> {
        let removed = self.map.remove(key);
        if removed.is_some() {
            self.mark(key);
        }
        removed
    }

    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        self.mark(key);
        let value = self
            .map
            .entry(key.into())
            .or_insert_with(|| Arc::new(make()));
        Arc::make_mut(value)
    }

    /// Calls `change` on every item `wanted` selects (with its key),
    /// marking each.
    pub fn change_where(
        &mut self,
        wanted: impl Fn(&V) -> bool,
        mut change: impl FnMut(&str, &mut V),
    ) {
        for (key, value) in self.map.iter_mut() {
            if wanted(value) {
                if !self.changed.contains(key) {
                    self.changed.insert(key.clone());
                }
                change(key, Arc::make_mut(value));
            }
        }
    }

    /// Calls `change` on every item `wanted` selects, marking the whole
    /// map changed at once: for a change to most of it, where a mark per
    /// key would cost more than the change (the next take is every item).
    pub fn change_every_where(
        &mut self,
        wanted: impl Fn(&V) -> bool,
        mut change: impl FnMut(&mut V),
    ) {
        self.every = true;
        for value in self.map.values_mut() {
            if wanted(value) {
                change(Arc::make_mut(value));
            }
        }
    }

    /// Every key changed since the last take with its item (`None`: it
    /// was removed), or with `all` every item; the marks are cleared.
    pub fn take(&mut self, all: bool) -> Vec<(Name, Option<&Arc<V>>)> {
        let changed = std::mem::take(&mut self.changed);
        let every = std::mem::take(&mut self.every);
        if all || every {
            let items = self.map.iter().map(|(k, v)| (k.clone(), Some(v)));
            // Without `all` the rows not given are kept: a key marked
            // when it was removed is given as removed.
            let removed = changed
                .into_iter()
                .filter(|k| !all && !self.map.contains_key(k))
                .map(|k| (k, None));
            return items.chain(removed).collect();
        }
        changed
            .into_iter()
            .map(|key| {
                let value = self.map.get(&key);
                (key, value)
            })
            .collect()
    }
}

impl<V: Clone + Default> Keyed<V> {
    pub fn get_or_default(&mut self, key: &str) -> &mut V {
        self.get_or_insert_with(key, V::default)
    }
}

/// A bounded log, added to at the back and dropped from the front, whose
/// items are rows numbered in order (the front's number rises as items
/// go). What was added and dropped since the last take follows from the
/// numbers the store holds; an item once added never changes, since
/// there is no mutable access to one.
#[derive(Debug, Clone)]
pub struct RowLog<T> {
    items: VecDeque<T>,
    /// The row number of the front item.
    first: u64,
    /// The row numbers the store holds as of the last take.
    stored: Range<u64>,
}

impl<T> Default for RowLog<T> {
    fn default() -> Self {
        RowLog {
            items: VecDeque::new(),
            first: 0,
            stored: 0..0,
        }
    }
}

impl<T> Deref for RowLog<T> {
    type Target = VecDeque<T>;
    fn deref(&self) -> &Self::Target {
        &self.items
    }
}

impl<T: PartialEq> PartialEq for RowLog<T> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items
    }
}

impl<T: Eq> Eq for RowLog<T> {}

/// Serialised as the sequence alone, as the `VecDeque` it replaced (the
/// snapshot pages on the link are unchanged).
impl<T: Serialize> Serialize for RowLog<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RowLog<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(VecDeque::deserialize(d)?.into())
    }
}

impl<T> From<VecDeque<T>> for RowLog<T> {
    /// Rows numbered from 0, none stored yet.
    fn from(items: VecDeque<T>) -> Self {
        RowLog {
            items,
            first: 0,
            stored: 0..0,
        }
    }
}

impl<T> RowLog<T> {
    /// What it holds is stored, numbered from `first`: nothing to take.
    pub fn mark_stored_from(&mut self, first: u64) {
        self.first = first;
        self.stored = first..self.end();
    }

    fn end(&self) -> u64 {
        self.first + self.items.len() as u64
    }

    pub fn push_back(&mut self, item: T) {
        self.items.push_back(item);
    }

    pub fn pop_front(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.first += 1;
        Some(item)
    }

    /// The row numbers dropped and the rows added since the last take,
    /// or with `all` every row (and nothing dropped: the store starts
    /// afresh).
    pub fn take(&mut self, all: bool) -> (Range<u64>, Vec<(u64, &T)>) {
        let (dropped, added_from) = if all {
            (0..0, self.first)
        } else {
            (
                self.stored.start..self.stored.end.min(self.first),
                self.stored.end.max(self.first),
            )
        };
        self.stored = self.first..self.end();
        let skip = (added_from - self.first) as usize;
        let first = self.first;
        let added = self
            .items
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, item)| (first + i as u64, item))
            .collect();
        (dropped, added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(map: &mut Keyed<u32>, all: bool) -> Vec<(Name, Option<u32>)> {
        map.take(all)
            .into_iter()
            .map(|(k, v)| (k, v.map(|v| **v)))
            .collect()
    }

    #[test]
    fn a_map_marks_what_it_hands_out_changed() {
        let mut map: Keyed<u32> = Keyed::default();
        map.insert("a", 1);
        map.insert("b", 2);
        let both = [("a".into(), Some(1)), ("b".into(), Some(2))];
        assert_eq!(taken(&mut map, false), both);
        assert_eq!(taken(&mut map, false), [], "taken once");
        assert_eq!(taken(&mut map, true), both, "all of it");
        *map.get_or_default("c") += 5;
        map.remove("a");
        map.remove("nobody");
        assert!(map.get_mut("nobody").is_none());
        map.change_where(|v| *v == 2, |_, v| *v += 1);
        assert_eq!(
            taken(&mut map, false),
            [
                ("a".into(), None),
                ("b".into(), Some(3)),
                ("c".into(), Some(5))
            ]
        );
        let mut loaded = Keyed::unmarked(BTreeMap::from([("d".into(), Arc::new(4))]));
        assert_eq!(taken(&mut loaded, false), []);
        assert_eq!(taken(&mut loaded, true), [("d".into(), Some(4))]);
    }

    /// A change to most of the map marks it whole: the next take gives
    /// every item, and still the ones removed since the last.
    #[test]
    fn a_map_changed_everywhere_gives_every_item_and_what_left() {
        let mut map: Keyed<u32> = Keyed::default();
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            map.insert(k, v);
        }
        taken(&mut map, false);
        map.remove("a");
        map.change_every_where(|v| *v > 2, |v| *v += 10);
        assert_eq!(
            taken(&mut map, false),
            [
                ("b".into(), Some(2)),
                ("c".into(), Some(13)),
                ("a".into(), None)
            ]
        );
        assert_eq!(taken(&mut map, false), [], "taken once");
    }

    #[test]
    fn a_log_gives_what_was_added_and_dropped_since_the_last_take() {
        let mut log: RowLog<char> = RowLog::default();
        log.push_back('a');
        log.push_back('b');
        let (dropped, added) = log.take(false);
        assert!(dropped.is_empty());
        assert_eq!(added, [(0, &'a'), (1, &'b')]);
        log.pop_front();
        log.push_back('c');
        let (dropped, added) = log.take(false);
        assert_eq!(dropped, 0..1);
        assert_eq!(added, [(2, &'c')]);
        assert_eq!(log.take(true), (0..0, vec![(1, &'b'), (2, &'c')]));
        // Added and dropped again before a take: never stored, never
        // deleted.
        log.push_back('d');
        log.pop_front();
        log.pop_front();
        log.pop_front();
        let (dropped, added) = log.take(false);
        assert_eq!(dropped, 1..3);
        assert_eq!(added, []);
        let mut loaded = RowLog::from(VecDeque::from(['x', 'y']));
        loaded.mark_stored_from(7);
        assert_eq!(
            loaded.take(false),
            (7..7, vec![]),
            "what was loaded is stored"
        );
        loaded.pop_front();
        assert_eq!(loaded.take(false), (7..8, vec![]));
    }
}

//! Digests for resynchronisation: a Merkle trie over the hashes of entry
//! paths, [`FANOUT`]-ary and [`LEVELS`] deep. Each entry's hash is added
//! (wrapping) into the bucket at every level along its path hash, so an
//! update costs O(levels) and two trees agree on a bucket exactly when they
//! hold the same entries in it (but for hash collisions). A resync compares
//! the root, then descends only into buckets that differ: its cost follows
//! what changed, not the size of the tree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::TreePath;
use crate::object::Object;

pub const FANOUT: u32 = 16;
/// Deep enough that a leaf bucket of a million-entry tree holds one or two.
pub const LEVELS: u8 = 5;

/// A bucket: `level` nibbles of the path hash, `prefix` their value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Bucket {
    pub level: u8,
    pub prefix: u32,
}

impl Bucket {
    pub const ROOT: Bucket = Bucket {
        level: 0,
        prefix: 0,
    };

    pub fn children(self) -> impl Iterator<Item = Bucket> {
        (0..FANOUT).map(move |n| Bucket {
            level: self.level + 1,
            prefix: self.prefix * FANOUT + n,
        })
    }

    pub fn is_leaf(self) -> bool {
        self.level == LEVELS
    }

    /// The bucket at `level` that holds `path_hash`.
    pub fn of(path_hash: u64, level: u8) -> Bucket {
        let bits = 4 * u32::from(level);
        let prefix = if bits == 0 {
            0
        } else {
            (path_hash >> (64 - bits)) as u32
        };
        Bucket { level, prefix }
    }
}

pub fn path_hash(path: &TreePath) -> u64 {
    let digest = blake3::hash(path.to_string().as_bytes());
    u64::from_be_bytes(digest.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// The hash of an entry: its path and its object.
pub fn entry_hash(path: &TreePath, object: &Object) -> u128 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(path.to_string().as_bytes());
    hasher.update(&[0]);
    hasher.update(object.class.name().as_bytes());
    for (name, value) in &object.attributes {
        hasher.update(&[0]);
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&(value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    }
    u128::from_le_bytes(
        hasher.finalize().as_bytes()[..16]
            .try_into()
            .expect("16 bytes"),
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digests {
    buckets: BTreeMap<Bucket, u128>,
}

impl Digests {
    /// Replaces an entry's contribution (`old` and `new` are entry hashes;
    /// `None` for absent).
    pub fn update(&mut self, path: &TreePath, old: Option<u128>, new: Option<u128>) {
        let h = path_hash(path);
        for level in 0..=LEVELS {
            let bucket = Bucket::of(h, level);
            let digest = self.buckets.entry(bucket).or_insert(0);
            if let Some(old) = old {
                *digest = digest.wrapping_sub(old);
            }
            if let Some(new) = new {
                *digest = digest.wrapping_add(new);
            }
            if *digest == 0 {
                self.buckets.remove(&bucket);
            }
        }
    }

    pub fn get(&self, bucket: Bucket) -> u128 {
        self.buckets.get(&bucket).copied().unwrap_or(0)
    }

    /// The digests of a bucket's children.
    pub fn children(&self, bucket: Bucket) -> Vec<(Bucket, u128)> {
        bucket.children().map(|b| (b, self.get(b))).collect()
    }
}

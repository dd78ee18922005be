//! The fencing epoch, persisted before a node serves. SwitchoverServer A
//! only ever takes even epochs and B odd ones, so two nodes can never serve
//! in the same epoch, even if both start active while cut off from each
//! other.

use std::io::Write;
use std::path::{Path, PathBuf};

use duet_params::ServerId;

/// The smallest epoch above `seen` that belongs to `server`; `None` if the
/// epochs are exhausted (never in practice: one per takeover).
pub fn next_epoch(seen: u64, server: ServerId) -> Option<u64> {
    let parity = epoch_parity(server);
    let candidate = seen.checked_add(1)?;
    if candidate % 2 == parity {
        Some(candidate)
    } else {
        candidate.checked_add(1)
    }
}

/// `epoch % 2` of the epochs `server` serves in.
pub fn epoch_parity(server: ServerId) -> u64 {
    match server {
        ServerId::A => 0,
        ServerId::B => 1,
    }
}

/// The epoch on disk, written atomically and synced.
pub struct EpochStore {
    path: PathBuf,
}

impl EpochStore {
    pub fn open(data_dir: &Path) -> std::io::Result<EpochStore> {
        crate::private::dir(data_dir)?;
        Ok(EpochStore {
            path: data_dir.join("epoch"),
        })
    }

    /// The stored epoch, 0 when none is stored yet.
    pub fn load(&self) -> std::io::Result<u64> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text.trim().parse().map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} does not hold an epoch number", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Writes `epoch` and returns only once it is on disk.
    pub fn store(&self, epoch: u64) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut file = crate::private::create(&tmp)?;
        writeln!(file, "{epoch}")?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_of_a_and_b_never_coincide() {
        for seen in 0..100 {
            let a = next_epoch(seen, ServerId::A).unwrap();
            let b = next_epoch(seen, ServerId::B).unwrap();
            assert!(a > seen && b > seen && a != b);
            assert_eq!(a % 2, 0);
            assert_eq!(b % 2, 1);
            assert!(a <= seen + 2 && b <= seen + 2);
        }
        assert_eq!(next_epoch(u64::MAX - 1, ServerId::A), None);
    }

    #[test]
    fn the_epoch_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = EpochStore::open(dir.path()).unwrap();
        assert_eq!(store.load().unwrap(), 0);
        store.store(7).unwrap();
        assert_eq!(EpochStore::open(dir.path()).unwrap().load().unwrap(), 7);
    }
}

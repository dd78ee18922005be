//! Files the node writes hold password hashes, customers' data, keys and
//! the pair's history: they are the owner's only (files 0600, the data
//! directory 0700), whatever the umask, and files from an older release
//! are tightened when the node opens them.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` (and its parents) and makes it the owner's only.
pub fn dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Makes an existing file the owner's only.
pub fn file(path: &Path) -> io::Result<()> {
    std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
}

/// Options that create a file as the owner's only.
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Creates (or truncates) a file as the owner's only.
pub fn create(path: &Path) -> io::Result<File> {
    let created = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    // A file that existed keeps its mode through `open`.
    file(path)?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn what_the_node_writes_is_the_owners_only() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        dir(&data).unwrap();
        assert_eq!(mode(&data), DIR_MODE);
        let old = data.join("old");
        std::fs::write(&old, "x").unwrap();
        std::fs::set_permissions(&old, Permissions::from_mode(0o644)).unwrap();
        create(&old).unwrap();
        assert_eq!(mode(&old), FILE_MODE);
        let new = data.join("new");
        options().append(true).create(true).open(&new).unwrap();
        assert_eq!(mode(&new), FILE_MODE);
    }
}

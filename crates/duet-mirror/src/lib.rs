//! Mirrored directories (the seed's CustomMirrorDir, InitialMirrorDir and
//! the default set): paths confined to their mirror roots ([`RelPath`]),
//! scans of a root ([`scan`]), the plan that brings a backup's copy up to
//! date ([`plan`]), and files written in chunks then replaced atomically
//! ([`Incoming`]). The link and the file watcher that drive these live in
//! the node.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Bytes in one chunk of a file on the link (below the link's frame limit).
pub const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("refused path {path:?}: {why}")]
    Refused { path: String, why: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: chunk at {offset} does not follow the {expected} bytes received")]
    OutOfOrder {
        path: String,
        offset: u64,
        expected: u64,
    },
    /// Not the same as an empty root: a copy elsewhere is not to be deleted
    /// because of it.
    #[error("mirror root {} does not exist", path.display())]
    NoRoot { path: PathBuf },
    #[error("{path}: the received file does not match the sender's hash")]
    HashMismatch { path: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MirrorError + '_ {
    move |source| MirrorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file's path relative to its mirror root: plain segments only, so it
/// can never name anything outside the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RelPath(Vec<String>);

impl RelPath {
    pub fn parse(text: &str) -> Result<RelPath, MirrorError> {
        let refuse = |why: &str| MirrorError::Refused {
            path: text.to_string(),
            why: why.to_string(),
        };
        if text.is_empty() || text.len() > 4096 {
            return Err(refuse("empty or longer than 4096 bytes"));
        }
        let path = Path::new(text);
        let mut segments = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(s) => {
                    let s = s.to_str().ok_or_else(|| refuse("not UTF-8"))?;
                    if s.contains('\0') || s.contains('\\') {
                        return Err(refuse("a NUL or backslash in a name"));
                    }
                    segments.push(s.to_string());
                }
                Component::ParentDir => return Err(refuse("it climbs out with ..")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refuse("it is absolute"));
                }
                Component::CurDir => {}
            }
        }
        if segments.is_empty() {
            return Err(refuse("it names the root itself"));
        }
        Ok(RelPath(segments))
    }

    /// How many names the path has (1: a file directly in the root).
    pub fn depth(&self) -> usize {
        self.0.len()
    }

    /// Whether this path lies under `prefix` (or is it).
    pub fn starts_with(&self, prefix: &RelPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The file's extension, lower case.
    pub fn extension(&self) -> Option<String> {
        let name = self.0.last()?;
        let (stem, ext) = name.rsplit_once('.')?;
        (!stem.is_empty()).then(|| ext.to_ascii_lowercase())
    }

    /// Where this path lies under `root`, refusing a location that a
    /// symlinked directory would lead outside the root.
    pub fn under(&self, root: &Path) -> Result<PathBuf, MirrorError> {
        let mut path = root.to_path_buf();
        for segment in &self.0 {
            path.push(segment);
        }
        let root_real = root.canonicalize().map_err(io(root))?;
        // The deepest existing ancestor must resolve inside the root.
        let mut existing = path.parent().map(Path::to_path_buf);
        while let Some(dir) = existing {
            if dir.exists() {
                let real = dir.canonicalize().map_err(io(&dir))?;
                if !real.starts_with(&root_real) {
                    return Err(MirrorError::Refused {
                        path: self.to_string(),
                        why: format!("a symlink leads outside the mirror root {}", root.display()),
                    });
                }
                break;
            }
            existing = dir.parent().map(Path::to_path_buf);
        }
        if let Ok(meta) = std::fs::symlink_metadata(&path)
            && meta.file_type().is_symlink()
        {
            return Err(MirrorError::Refused {
                path: self.to_string(),
                why: "it is a symlink".into(),
            });
        }
        Ok(path)
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

/// One file of a mirror root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub path: RelPath,
    pub size: u64,
    pub hash: [u8; 32],
}

/// Whether MirrorExceptions leaves this file out (by extension).
pub fn excepted(path: &RelPath, exceptions: &[String]) -> bool {
    path.extension()
        .is_some_and(|ext| exceptions.contains(&ext))
}

fn hash_file(path: &Path) -> Result<[u8; 32], MirrorError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Hashes already computed, by path, size and modification time, so a
/// rescan hashes only files that changed.
#[derive(Debug, Default, Clone)]
pub struct HashCache {
    known: BTreeMap<RelPath, Hashed>,
}

#[derive(Debug, Clone)]
struct Hashed {
    size: u64,
    modified: std::time::SystemTime,
    hash: [u8; 32],
    /// The hash is trusted again only if the file's modification time was
    /// well before this: a rewrite of the same size within the clock's
    /// granularity leaves the modification time as it was.
    trusted: bool,
}

/// How long before hashing a file's modification time must lie for the
/// hash to be trusted on the next scan.
const RACY_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The files under `root` (its subdirectories too when `recursive`), less
/// the excepted ones. Symlinks are not followed or mirrored; their paths are
/// returned in the second list so they can be logged.
pub fn scan(
    root: &Path,
    recursive: bool,
    exceptions: &[String],
) -> Result<(Vec<FileMeta>, Vec<String>), MirrorError> {
    scan_cached(root, recursive, exceptions, &mut HashCache::default())
}

/// [`scan`], hashing only files whose size or modification time changed
/// since `cache` last saw them.
pub fn scan_cached(
    root: &Path,
    recursive: bool,
    exceptions: &[String],
    cache: &mut HashCache,
) -> Result<(Vec<FileMeta>, Vec<String>), MirrorError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((dir, prefix)) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir == root => {
                return Err(MirrorError::NoRoot {
                    path: root.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(MirrorError::Io {
                    path: dir,
                    source: e,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                skipped.push(format!("{}/{:?}", dir.display(), entry.file_name()));
                continue;
            };
            let mut rel = prefix.clone();
            rel.push(name);
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            if kind.is_symlink() {
                skipped.push(rel.join("/"));
            } else if kind.is_dir() {
                if recursive {
                    dirs.push((entry.path(), rel));
                }
            } else if kind.is_file() {
                let path = RelPath(rel);
                if excepted(&path, exceptions) {
                    continue;
                }
                let meta = entry.metadata().map_err(io(&entry.path()))?;
                let size = meta.len();
                let modified = meta.modified().map_err(io(&entry.path()))?;
                let hash = match cache.known.get(&path) {
                    Some(k) if k.trusted && k.size == size && k.modified == modified => k.hash,
                    _ => {
                        let hashed_at = std::time::SystemTime::now();
                        let hash = hash_file(&entry.path())?;
                        let trusted = hashed_at
                            .duration_since(modified)
                            .is_ok_and(|age| age >= RACY_MARGIN);
                        let hashed = Hashed {
                            size,
                            modified,
                            hash,
                            trusted,
                        };
                        cache.known.insert(path.clone(), hashed);
                        hash
                    }
                };
                files.push(FileMeta { path, size, hash });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    cache
        .known
        .retain(|p, _| files.binary_search_by(|f| f.path.cmp(p)).is_ok());
    Ok((files, skipped))
}

/// What the backup must do to match the active node's copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MirrorOp {
    /// Fetch this file (new or changed).
    Fetch(FileMeta),
    Delete(RelPath),
}

/// The operations that make `backup` equal `active`: only what differs.
pub fn plan(active: &[FileMeta], backup: &[FileMeta]) -> Vec<MirrorOp> {
    let theirs: BTreeMap<&RelPath, &FileMeta> = backup.iter().map(|f| (&f.path, f)).collect();
    let ours: BTreeMap<&RelPath, &FileMeta> = active.iter().map(|f| (&f.path, f)).collect();
    let mut ops: Vec<MirrorOp> = active
        .iter()
        .filter(|f| {
            theirs
                .get(&f.path)
                .is_none_or(|b| b.hash != f.hash || b.size != f.size)
        })
        .map(|f| MirrorOp::Fetch(f.clone()))
        .collect();
    ops.extend(
        backup
            .iter()
            .filter(|f| !ours.contains_key(&f.path))
            .map(|f| MirrorOp::Delete(f.path.clone())),
    );
    ops
}

/// A file arriving in chunks: written to a temporary file beside its
/// destination, checked against the sender's hash, then renamed into place,
/// so the backup never sees a half-written file.
pub struct Incoming {
    meta: FileMeta,
    destination: PathBuf,
    temporary: PathBuf,
    file: std::fs::File,
    received: u64,
    hasher: blake3::Hasher,
}

impl Incoming {
    pub fn begin(root: &Path, meta: FileMeta) -> Result<Incoming, MirrorError> {
        let destination = meta.path.under(root)?;
        let dir = destination.parent().unwrap_or(root).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        // Re-check now the directories exist.
        meta.path.under(root)?;
        let temporary = dir.join(format!(
            ".duet-incoming-{}",
            destination
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("file")
        ));
        let file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
        Ok(Incoming {
            meta,
            destination,
            temporary,
            file,
            received: 0,
            hasher: blake3::Hasher::new(),
        })
    }

    pub fn chunk(&mut self, offset: u64, bytes: &[u8]) -> Result<(), MirrorError> {
        if offset != self.received {
            return Err(MirrorError::OutOfOrder {
                path: self.meta.path.to_string(),
                offset,
                expected: self.received,
            });
        }
        self.file.write_all(bytes).map_err(io(&self.temporary))?;
        self.hasher.update(bytes);
        self.received += bytes.len() as u64;
        Ok(())
    }

    /// Checks the whole file and puts it in place.
    pub fn finish(self) -> Result<PathBuf, MirrorError> {
        if self.received != self.meta.size || *self.hasher.finalize().as_bytes() != self.meta.hash {
            let _ = std::fs::remove_file(&self.temporary);
            return Err(MirrorError::HashMismatch {
                path: self.meta.path.to_string(),
            });
        }
        self.file.sync_all().map_err(io(&self.temporary))?;
        std::fs::rename(&self.temporary, &self.destination).map_err(io(&self.destination))?;
        Ok(self.destination)
    }
}

/// Reads a file's chunks for sending.
pub fn read_chunk(root: &Path, path: &RelPath, offset: u64) -> Result<Vec<u8>, MirrorError> {
    use std::io::Seek;
    let full = path.under(root)?;
    let mut file = std::fs::File::open(&full).map_err(io(&full))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .map_err(io(&full))?;
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut filled = 0;
    while filled < CHUNK_BYTES {
        let n = file.read(&mut buf[filled..]).map_err(io(&full))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Removes a mirrored file (refusing paths outside the root).
pub fn delete(root: &Path, path: &RelPath) -> Result<(), MirrorError> {
    let full = path.under(root)?;
    match std::fs::remove_file(&full) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(MirrorError::Io {
            path: full,
            source: e,
        }),
    }
}

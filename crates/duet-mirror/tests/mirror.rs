//! Mirrored directories: confinement, scans, plans, and atomic transfer.

use duet_mirror::{
    HashCache, Incoming, MirrorOp, RelPath, delete, excepted, plan, read_chunk, scan, scan_cached,
};

#[test]
fn paths_are_confined_to_their_root() {
    for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", "", "."] {
        assert!(RelPath::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        RelPath::parse("./prompts/welcome.wav").unwrap().to_string(),
        "prompts/welcome.wav"
    );
}

#[test]
fn a_symlink_leading_outside_the_root_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    let path = RelPath::parse("escape/evil.txt").unwrap();
    let err = path.under(root.path()).unwrap_err().to_string();
    assert!(err.contains("symlink leads outside"), "{err}");
    assert!(delete(root.path(), &path).is_err());
    assert!(!outside.path().join("evil.txt").exists());
}

#[test]
fn mirror_exceptions_go_by_extension() {
    // The seed: "txt; gif; myext".
    let exceptions = vec!["txt".to_string(), "gif".to_string()];
    assert!(excepted(
        &RelPath::parse("notes/README.TXT").unwrap(),
        &exceptions
    ));
    assert!(!excepted(
        &RelPath::parse("prompts/hello.wav").unwrap(),
        &exceptions
    ));
    assert!(
        !excepted(&RelPath::parse(".txt").unwrap(), &exceptions),
        "a dot file has no extension"
    );
}

#[test]
fn a_backup_copy_is_brought_up_to_date_with_only_what_differs() {
    let active = tempfile::tempdir().unwrap();
    let backup = tempfile::tempdir().unwrap();
    let write = |root: &std::path::Path, rel: &str, bytes: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    write(active.path(), "same.wav", b"same");
    write(backup.path(), "same.wav", b"same");
    write(active.path(), "sub/changed.wav", b"new contents");
    write(backup.path(), "sub/changed.wav", b"old");
    write(active.path(), "big.bin", &vec![7u8; 600 * 1024]);
    write(backup.path(), "gone.wav", b"deleted on the active node");
    write(active.path(), "skip.txt", b"excepted");
    std::os::unix::fs::symlink("/etc", active.path().join("link")).unwrap();
    let exceptions = vec!["txt".to_string()];
    let (ours, skipped) = scan(active.path(), true, &exceptions).unwrap();
    assert_eq!(skipped, vec!["link"], "symlinks are not mirrored");
    let (theirs, _) = scan(backup.path(), true, &exceptions).unwrap();
    let ops = plan(&ours, &theirs);
    let fetched: Vec<String> = ops
        .iter()
        .filter_map(|o| match o {
            MirrorOp::Fetch(f) => Some(f.path.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(fetched, vec!["big.bin", "sub/changed.wav"]);
    assert!(ops.contains(&MirrorOp::Delete(RelPath::parse("gone.wav").unwrap())));
    for op in ops {
        match op {
            MirrorOp::Fetch(meta) => {
                let path = meta.path.clone();
                let size = meta.size;
                let mut incoming = Incoming::begin(backup.path(), meta).unwrap();
                let mut offset = 0;
                while offset < size {
                    let chunk = read_chunk(active.path(), &path, offset).unwrap();
                    incoming.chunk(offset, &chunk).unwrap();
                    offset += chunk.len() as u64;
                }
                incoming.finish().unwrap();
            }
            MirrorOp::Delete(path) => delete(backup.path(), &path).unwrap(),
        }
    }
    let (theirs, _) = scan(backup.path(), true, &exceptions).unwrap();
    assert_eq!(plan(&ours, &theirs), vec![], "the copies now agree");
}

#[test]
fn a_damaged_or_reordered_transfer_never_replaces_the_file() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("prompt.wav"), b"the old prompt").unwrap();
    let meta = duet_mirror::FileMeta {
        path: RelPath::parse("prompt.wav").unwrap(),
        size: 5,
        hash: *blake3::hash(b"hello").as_bytes(),
    };
    let mut incoming = Incoming::begin(root.path(), meta.clone()).unwrap();
    assert!(incoming.chunk(3, b"lo").is_err(), "out of order");
    incoming.chunk(0, b"jello").unwrap();
    assert!(incoming.finish().is_err(), "wrong hash");
    assert_eq!(
        std::fs::read(root.path().join("prompt.wav")).unwrap(),
        b"the old prompt"
    );
}

#[test]
fn a_same_size_rewrite_keeping_the_modification_time_is_hashed_again() {
    // A rewrite within the file system's timestamp granularity leaves size
    // and modification time as they were; the cache must not hide it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prompt.wav");
    std::fs::write(&file, b"first").unwrap();
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    let mut cache = HashCache::default();
    let (before, _) = scan_cached(dir.path(), false, &[], &mut cache).unwrap();

    std::fs::write(&file, b"other").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let (after, _) = scan_cached(dir.path(), false, &[], &mut cache).unwrap();
    assert_ne!(before[0].hash, after[0].hash, "the rewrite went unseen");
}

#[test]
fn a_missing_root_is_not_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("Resources");
    assert!(matches!(
        scan(&missing, true, &[]),
        Err(duet_mirror::MirrorError::NoRoot { .. })
    ));
}

//! Mirrored directories between two real nodes: files added, changed and
//! removed on the active node appear, change and go on the backup; excepted
//! extensions and symlinks are not mirrored.

mod harness;

use std::time::Duration;

use harness::{Pair, Setup};

#[test]
fn the_backup_mirrors_the_active_nodes_directories() {
    let mut pair = Pair::loopback(Setup {
        params: "\"MirrorExceptions\" = \"tmp\"\n".into(),
        ..Setup::default()
    });
    let (a, b) = (pair.data_dir(0), pair.data_dir(1));
    let resources = a.join("Resources");
    std::fs::create_dir_all(resources.join("prompts")).unwrap();
    std::fs::write(resources.join("prompts/hello.wav"), b"hello, caller").unwrap();
    let big: Vec<u8> = (0..700 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(resources.join("big.bin"), &big).unwrap();
    std::fs::write(resources.join("scratch.tmp"), b"not mirrored").unwrap();
    std::os::unix::fs::symlink("/etc", resources.join("elsewhere")).unwrap();
    pair.start();

    let mirrored = |rel: &str| std::fs::read(b.join("Resources").join(rel)).ok();
    pair.wait_until(Duration::from_secs(10), "the files on b", |_| {
        mirrored("prompts/hello.wav").as_deref() == Some(b"hello, caller".as_slice())
            && mirrored("big.bin").as_deref() == Some(big.as_slice())
    });
    assert!(mirrored("scratch.tmp").is_none(), "MirrorExceptions");
    assert!(
        !b.join("Resources/elsewhere").exists(),
        "symlinks are not mirrored"
    );

    std::fs::write(resources.join("prompts/hello.wav"), b"hello again").unwrap();
    std::fs::write(resources.join("prompts/new.wav"), b"new").unwrap();
    std::fs::remove_file(resources.join("big.bin")).unwrap();
    pair.wait_until(Duration::from_secs(10), "changes on b", |_| {
        mirrored("prompts/hello.wav").as_deref() == Some(b"hello again".as_slice())
            && mirrored("prompts/new.wav").is_some()
            && mirrored("big.bin").is_none()
    });
    assert!(pair.nodes[1].log().contains("Mirrored"), "{}", pair.logs());

    // The active node's root becomes unreadable: the backup keeps its copy
    // (an unreadable root is not an empty one) and reports replication
    // stopped, as the seed's file replication warnings do.
    std::fs::rename(&resources, a.join("Resources.moved")).unwrap();
    std::fs::write(&resources, b"not a directory").unwrap();
    pair.wait_until(
        Duration::from_secs(10),
        "replication reported stopped",
        |p| {
            p.nodes[1]
                .status()
                .is_some_and(|s| !s.file_replication_running)
        },
    );
    assert_eq!(
        mirrored("prompts/hello.wav").as_deref(),
        Some(b"hello again".as_slice())
    );
    let out = pair.ctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("file replication from the primary has stopped"),
        "{text}"
    );
    std::fs::remove_file(&resources).unwrap();
    std::fs::rename(a.join("Resources.moved"), &resources).unwrap();
    pair.wait_until(Duration::from_secs(10), "replication running again", |p| {
        p.nodes[1]
            .status()
            .is_some_and(|s| s.file_replication_running)
    });
    pair.assert_invariants();
}

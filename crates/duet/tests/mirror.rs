//! Mirrored directories between two real nodes: files added, changed and
//! removed on the active node appear, change and go on the backup; excepted
//! extensions and symlinks are not mirrored; the Upgrade states mirror their
//! share; a watcher overflow still converges; a hung file monitor is
//! reported by the health check; a start-up that cannot copy its mirrored
//! directories in time fails clearly.

mod harness;

use std::time::Duration;

use harness::{Pair, Setup, serving};

/// Files under `dir`, recursively.
fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => count_files(&e.path()),
                    Ok(t) if t.is_file() => 1,
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The kernel's inotify queue limit lowered, and put back when dropped
/// (even when the test fails).
struct QueueLimit {
    saved: String,
}

const QUEUE_LIMIT: &str = "/proc/sys/fs/inotify/max_queued_events";

impl QueueLimit {
    fn lower_to(events: u32) -> QueueLimit {
        let saved = std::fs::read_to_string(QUEUE_LIMIT).expect("read the inotify queue limit");
        std::fs::write(QUEUE_LIMIT, events.to_string()).expect(
            "lowering fs.inotify.max_queued_events needs root (scripts/test.sh runs as root)",
        );
        QueueLimit {
            saved: saved.trim().to_string(),
        }
    }
}

impl Drop for QueueLimit {
    fn drop(&mut self) {
        let _ = std::fs::write(QUEUE_LIMIT, &self.saved);
    }
}

fn write_files(dir: &std::path::Path, count: usize, bytes: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        std::fs::write(
            dir.join(format!("f{i:05}.dat")),
            vec![(i % 251) as u8; bytes],
        )
        .unwrap();
    }
}

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

    // A rename: the old name goes, the new one comes, with the same bytes.
    std::fs::rename(
        resources.join("prompts/new.wav"),
        resources.join("prompts/renamed.wav"),
    )
    .unwrap();
    pair.wait_until(Duration::from_secs(10), "the rename on b", |_| {
        mirrored("prompts/renamed.wav").as_deref() == Some(b"new".as_slice())
            && mirrored("prompts/new.wav").is_none()
    });

    // The active node's root goes away: not the same as an empty one, so
    // the backup keeps its copy.
    std::fs::rename(&resources, a.join("Resources.moved")).unwrap();
    pair.holds_for(Duration::from_secs(2), "b keeps its copy", |_| {
        mirrored("prompts/hello.wav").as_deref() == Some(b"hello again".as_slice())
    });
    // It becomes unreadable: the backup keeps its copy and reports
    // replication stopped, as the seed's file replication warnings do.
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

#[test]
fn upgrade_states_mirror_only_what_appendix_c_allows() {
    // Appendix C: Upgrade Higher mirrors everything but handlers and
    // Switchover Upgrade Higher File Exclusions; Upgrade Lower only Custom
    // Upgrade File Synchronization Directories (+Flows by default).
    let params = "\"CustomMirrorDir\" = \"+Custom\"\n\
                  \"Switchover Upgrade Higher File Exclusions\" = \"+Custom/secret;Custom/flat\"\n";
    let files = [
        "Handlers/h.txt",
        "Resources/r.txt",
        "Custom/keep/k.txt",
        "Custom/secret/s.txt",
        "Custom/secret/deep/s.txt",
        "Custom/flat/f.txt",
        "Custom/flat/deep/d.txt",
        "Flows/sub/f.txt",
    ];
    for (backup_release, mirrored) in [
        (
            "2026.2.0",
            &[
                "Resources/r.txt",
                "Custom/keep/k.txt",
                // Custom/flat is excluded without +: its subdirectories stay.
                "Custom/flat/deep/d.txt",
            ][..],
        ),
        ("2025.9.0", &["Flows/sub/f.txt"][..]),
    ] {
        let mut pair = Pair::loopback(Setup {
            params: params.into(),
            releases: ["2026.1.0".into(), backup_release.into()],
            ..Setup::default()
        });
        let (a, b) = (pair.data_dir(0), pair.data_dir(1));
        for file in files {
            let path = a.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, file).unwrap();
        }
        pair.start();
        pair.wait_until(Duration::from_secs(15), "b's first mirror pass", |p| {
            p.nodes[1]
                .log()
                .contains("Start-up: the mirrored directories are copied")
        });
        for file in files {
            assert_eq!(
                b.join(file).exists(),
                mirrored.contains(&file),
                "{backup_release}: {file}\n{}",
                pair.logs()
            );
        }
        // Continuous mirroring keeps to the same share: once the files of
        // the share are there, the others were passed over.
        let later = [
            "Custom/secret/later.txt",
            "Custom/keep/later.txt",
            "Flows/later.txt",
            "Resources/later.txt",
        ];
        for file in later {
            std::fs::write(a.join(file), b"later").unwrap();
        }
        let share: &[&str] = if backup_release == "2026.2.0" {
            &["Custom/keep/later.txt", "Resources/later.txt"]
        } else {
            &["Flows/later.txt"]
        };
        pair.wait_until(Duration::from_secs(10), "the share's later files", |_| {
            share.iter().all(|f| b.join(f).exists())
        });
        for file in later {
            assert_eq!(
                b.join(file).exists(),
                share.contains(&file),
                "{backup_release}: {file}"
            );
        }
        pair.assert_invariants();
    }
}

#[test]
fn a_watcher_overflow_forces_a_full_rescan_and_still_converges() {
    // Nodes started while the kernel's inotify queue limit is tiny keep it:
    // a burst of changes overflows their watcher's queue.
    let queue = QueueLimit::lower_to(16);
    let mut pair = Pair::loopback(Setup::default());
    pair.start();
    drop(queue);

    let (a, b) = (pair.data_dir(0), pair.data_dir(1));
    write_files(&a.join("Resources/burst"), 2_000, 64);
    pair.wait_until(Duration::from_secs(60), "2,000 files on b", |_| {
        count_files(&b.join("Resources/burst")) == 2_000
    });
    assert!(
        pair.nodes[0]
            .log()
            .contains("File Monitor: change notifications were lost"),
        "{}",
        pair.logs()
    );
    pair.assert_invariants();
}

#[test]
fn a_hung_file_monitor_is_reported_by_the_health_check() {
    let mut pair = Pair::loopback(Setup {
        params: "\"Switchover File Monitor Health Check Interval\" = \"1\"\n\
                 \"Switchover File Monitor Health Check Timeout\" = \"1\"\n"
            .into(),
        ..Setup::default()
    });
    pair.start();
    let (a, b) = (pair.data_dir(0), pair.data_dir(1));
    std::fs::create_dir_all(a.join("Resources")).unwrap();
    std::fs::write(a.join("Resources/before.txt"), b"before").unwrap();
    pair.wait_until(Duration::from_secs(10), "before.txt on b", |_| {
        b.join("Resources/before.txt").exists()
    });

    pair.nodes[0].fault("file-monitor", "hang");
    pair.wait_until(
        Duration::from_secs(10),
        "file replication reported stopped",
        |p| {
            p.nodes[1]
                .status()
                .is_some_and(|s| !s.file_replication_running)
        },
    );
    assert!(
        pair.nodes[1]
            .log()
            .contains("File Monitor health check: the File Monitor on a did not answer within 1 s"),
        "{}",
        pair.logs()
    );
    let out = pair.ctl(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("file replication from the primary has stopped"),
        "{text}"
    );
    std::fs::write(a.join("Resources/during.txt"), b"during").unwrap();

    // Health checks turned off: nothing is reported against the monitor.
    let set_interval = |seconds: &str| {
        let (code, body) = pair.config_put(
            0,
            "/config/Server Parameters/Switchover File Monitor Health Check Interval",
            "ServerParameter",
            serde_json::json!({ "value": seconds }),
            None,
        );
        assert_eq!(code, 200, "{body}");
    };
    set_interval("0");
    pair.wait_until(
        Duration::from_secs(10),
        "no health check, no warning",
        |p| {
            p.nodes[1]
                .status()
                .is_some_and(|s| s.file_replication_running)
        },
    );
    set_interval("1");
    pair.wait_until(Duration::from_secs(10), "reported stopped again", |p| {
        p.nodes[1]
            .status()
            .is_some_and(|s| !s.file_replication_running)
    });

    pair.nodes[0].fault("file-monitor", "recover");
    pair.wait_until(Duration::from_secs(10), "file replication running", |p| {
        p.nodes[1]
            .status()
            .is_some_and(|s| s.file_replication_running)
    });
    pair.wait_until(Duration::from_secs(10), "during.txt on b", |_| {
        b.join("Resources/during.txt").exists()
    });
    assert!(
        pair.nodes[1]
            .log()
            .contains("the File Monitor on a answers again")
    );
    pair.assert_invariants();
}

#[test]
fn a_backup_that_cannot_copy_its_mirrored_directories_in_time_fails_to_start() {
    // The seed: "If all the changed files are not copied within the maximum
    // startup time allocated by the Switchover system, it does not start".
    let mut pair = Pair::loopback(Setup {
        params: "\"InitialMirrorDir\" = \"+Recordings\"\n\
                 \"Duet Startup Mirror Timeout\" = \"1\"\n"
            .into(),
        ..Setup::default()
    });
    let (a, b) = (pair.data_dir(0), pair.data_dir(1));
    write_files(&a.join("Recordings"), 5_000, 1_024);
    pair.nodes[0].start(&[]);
    pair.wait_until(Duration::from_secs(10), "a active", |p| {
        serving(&p.nodes[0].status())
    });
    pair.nodes[1].start(&[]);
    let exit = pair.nodes[1].wait_exit(Duration::from_secs(60));
    assert!(
        exit.is_some_and(|status| !status.success()),
        "b should stop with a failure: {exit:?}\n{}",
        pair.logs()
    );
    let log = pair.nodes[1].log();
    assert!(
        log.contains("Start-up failed: the mirrored directories were not all copied from a within Duet Startup Mirror Timeout (1 s)")
            && log.contains("Recordings"),
        "{log}"
    );
    let copied = count_files(&b.join("Recordings"));
    assert!(copied < 5_000, "all {copied} copied within the limit");
    assert!(serving(&pair.nodes[0].status()), "a carries on");

    // With time enough, the next start goes on from what was copied.
    let params_file = pair.nodes[1].config.with_file_name("params.toml");
    let config = std::fs::read_to_string(&params_file).unwrap();
    let relaxed = config.replace(
        "\"Duet Startup Mirror Timeout\" = \"1\"",
        "\"Duet Startup Mirror Timeout\" = \"600\"",
    );
    assert_ne!(config, relaxed, "the limit is in b's parameter file");
    std::fs::write(&params_file, relaxed).unwrap();
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(120), "b started", |p| {
        p.nodes[1].log().contains("Start-up complete")
    });
    assert_eq!(count_files(&b.join("Recordings")), 5_000);
    assert!(
        pair.nodes[1]
            .status()
            .is_some_and(|s| !s.serving && s.main_link_up)
    );
}

#[test]
fn an_active_node_lost_while_the_backup_copies_at_start_up_is_taken_over_at_once() {
    // The seed schedules a switchover requested during start-up for after
    // it; start-up must not then wait for copies from a node that is gone.
    let mut pair = Pair::loopback(Setup {
        params: format!(
            "{}\"InitialMirrorDir\" = \"+Recordings\"\n",
            harness::fast_params()
        ),
        ..Setup::default()
    });
    write_files(&pair.data_dir(0).join("Recordings"), 5_000, 1_024);
    pair.nodes[0].start(&[]);
    pair.wait_until(Duration::from_secs(10), "a active", |p| {
        serving(&p.nodes[0].status())
    });
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(10), "b copying", |p| {
        count_files(&p.data_dir(1).join("Recordings")) > 0
    });
    pair.nodes[0].kill9();
    pair.wait_until(Duration::from_secs(10), "b active", |p| {
        serving(&p.nodes[1].status())
    });
    let log = pair.nodes[1].log();
    assert!(
        log.contains(
            "before the initial synchronisation with a ended; continuing with what was copied"
        ),
        "{log}"
    );
    assert!(count_files(&pair.data_dir(1).join("Recordings")) < 5_000);
}

#[test]
fn a_mirrored_directory_replaced_by_another_is_watched_again() {
    let mut pair = Pair::loopback(Setup::default());
    let (a, b) = (pair.data_dir(0), pair.data_dir(1));
    std::fs::create_dir_all(a.join("Resources")).unwrap();
    std::fs::write(a.join("Resources/old.txt"), b"old").unwrap();
    pair.start();
    pair.wait_until(Duration::from_secs(10), "old.txt on b", |_| {
        b.join("Resources/old.txt").exists()
    });
    // A directory swapped in: its content is mirrored, and so are changes
    // made in it afterwards (the watch follows the new directory).
    std::fs::create_dir_all(a.join("Resources.new")).unwrap();
    std::fs::write(a.join("Resources.new/new.txt"), b"new").unwrap();
    std::fs::rename(a.join("Resources"), a.join("Resources.old")).unwrap();
    std::fs::rename(a.join("Resources.new"), a.join("Resources")).unwrap();
    pair.wait_until(
        Duration::from_secs(10),
        "the swapped-in directory on b",
        |_| b.join("Resources/new.txt").exists() && !b.join("Resources/old.txt").exists(),
    );
    std::fs::write(a.join("Resources/after.txt"), b"after").unwrap();
    pair.wait_until(Duration::from_secs(10), "a later change on b", |_| {
        b.join("Resources/after.txt").exists()
    });
    // The old directory is not watched as Resources any more.
    std::fs::write(a.join("Resources.old/stray.txt"), b"stray").unwrap();
    std::fs::write(a.join("Resources/last.txt"), b"last").unwrap();
    pair.wait_until(Duration::from_secs(10), "last.txt on b", |_| {
        b.join("Resources/last.txt").exists()
    });
    assert!(!b.join("Resources/stray.txt").exists());
    pair.assert_invariants();
}

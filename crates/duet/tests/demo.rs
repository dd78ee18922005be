//! `duet demo` as a person runs it: its standard input flooded with empty
//! lines, it stays small and stops on time; a SIGTERM stops it and both
//! of its nodes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn demo(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_duet"))
        .arg("demo")
        .args(["--customers", "0"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start duet demo")
}

/// The process's resident memory now, in KiB (none once it is gone).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits for the child's end; kills it and fails after `limit`.
fn wait_exit(child: &mut Child, limit: Duration, mut each: impl FnMut()) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        if child.try_wait().expect("the demo's state").is_some() {
            return started.elapsed();
        }
        each();
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the demo did not stop within {limit:?}");
}

/// Memory the demo may hold while it runs no load: its own pair is other
/// processes.
const RSS_MAX_KIB: u64 = 100 * 1024;

#[test]
fn the_demo_flooded_with_empty_lines_stays_small_and_stops_on_time() {
    let mut child = demo(&["--seconds", "8"]);
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    // `yes ""`: empty lines as fast as the demo takes them.
    let flood = std::thread::spawn(move || {
        let lines = vec![b'\n'; 64 * 1024];
        while stdin.write_all(&lines).is_ok() {}
    });
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || BufReader::new(stdout).lines().count());
    let mut peak_kib = 0;
    let took = wait_exit(&mut child, Duration::from_secs(30), || {
        peak_kib = peak_kib.max(rss_kib(pid).unwrap_or(0));
    });
    flood.join().expect("the flood ends with the demo");
    reader.join().expect("its output read");
    assert!(child.wait().expect("status").success());
    assert!(
        peak_kib < RSS_MAX_KIB,
        "the demo grew to {peak_kib} KiB under the flood"
    );
    assert!(
        took < Duration::from_secs(20),
        "the demo asked to run 8 s took {took:?}"
    );
}

#[test]
fn a_sigterm_stops_the_demo_and_both_its_nodes() {
    let mut child = demo(&[]);
    let stdout = child.stdout.take().expect("stdout");
    let (urls_tx, urls) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.trim().split(" API: ").nth(1) {
                let _ = urls_tx.send(url.to_string());
            }
        }
    });
    let status_urls: Vec<String> = (0..2)
        .map(|_| {
            urls.recv_timeout(Duration::from_secs(20))
                .expect("the demo names its nodes")
        })
        .collect();
    // The demo's own nodes, whatever proxy the environment names.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let answers = |url: &str| agent.get(url).call().is_ok();
    let started = Instant::now();
    while !status_urls.iter().all(|u| answers(u)) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the demo's nodes never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_exit(&mut child, Duration::from_secs(20), || {});
    let started = Instant::now();
    while status_urls.iter().any(|u| answers(u)) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a node still answers after the demo stopped: {status_urls:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

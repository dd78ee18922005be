//! The backup's statistics log data (seed 004, "Location of log data"):
//! "During normal operations, the primary server (Server A) sends its log
//! data to the database. The backup server (Server B) sends its log data
//! to a CSV file. When a switchover occurs, Server B becomes the primary
//! server, it flushes log data collected before switchover to CSV file."
//! With `StatServer_DisableQPSLoggingOnBackup` the backup stops (here at
//! once, where the seed needs a restart), and a takeover's record is
//! still written "regardless of the setting".

mod harness;

use std::path::Path;
use std::time::Duration;

use harness::contact::{set_up_directory, wait_for};
use harness::{Pair, Setup, fast_params};
use serde_json::{Value, json};

/// The CSV lines (header left out) of every file in a node's log folder.
fn csv_lines(data_dir: &Path) -> Vec<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("statistics-log")) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rows = text.lines();
        assert!(
            rows.next()
                .unwrap()
                .starts_with("queue,start,end,start_ms,end_ms,ended_by"),
            "{text}"
        );
        lines.extend(rows.map(|r| r.split(',').map(str::to_string).collect()));
    }
    lines
}

fn column(header: &str) -> usize {
    "queue,start,end,start_ms,end_ms,ended_by,takeovers,entered,answered,answered_within_sl,answer_wait_ms_total,handled,handle_ms_total,abandoned,lost_at_switchover,logged_by"
        .split(',')
        .position(|c| c == header)
        .unwrap()
}

fn params(pair: &Pair, node: usize) -> Value {
    let mut r = harness::api_agent()
        .get(&format!("{}/api/params", pair.nodes[node].url()))
        .call()
        .expect("params");
    r.body_mut().read_json::<Value>().unwrap()
}

#[test]
fn the_backup_keeps_its_statistics_in_csv_files_until_told_not_to_and_a_takeover_flushes_them() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    let (code, body) = pair.config_put(
        0,
        "/config/Interactions",
        "Folder",
        json!({"statistics_interval_s": "1"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    // A chat that waits in Sales: counted as entered in its interval.
    let (code, chat) = harness::contact::Api::new(&pair.nodes[0].url())
        .post("/api/chats", json!({"queue": "Sales", "name": "Ida"}));
    assert_eq!(code, 200, "{chat}");
    let (a_dir, b_dir) = (pair.data_dir(0), pair.data_dir(1));

    // The backup logs each interval's record; the active one does not.
    let entered = column("entered");
    wait_for(
        &pair,
        Duration::from_secs(15),
        "b's log counts the chat",
        || {
            csv_lines(&b_dir)
                .iter()
                .any(|l| l[0] == "Sales" && l[entered] == "1")
                .then_some(())
        },
    );
    let (ended_by, logged_by) = (column("ended_by"), column("logged_by"));
    let b_lines = csv_lines(&b_dir);
    assert!(
        b_lines
            .iter()
            .all(|l| l[ended_by] == "boundary" && l[logged_by] == "b")
    );
    let total: u64 = b_lines
        .iter()
        .filter(|l| l[0] == "Sales")
        .map(|l| l[entered].parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 1, "the chat counted once: {b_lines:?}");
    assert!(
        csv_lines(&a_dir).is_empty(),
        "the active node sends its figures to the databases"
    );

    // StatServer_DisableQPSLoggingOnBackup = Yes: the backup stops, at once.
    let (code, body) = pair.config_put(
        0,
        "/config/Server Parameters/StatServer_DisableQPSLoggingOnBackup",
        "ServerParameter",
        json!({"value": "Yes"}),
        None,
    );
    assert_eq!(code, 200, "{body}");
    pair.wait_until(Duration::from_secs(5), "the setting on b", |p| {
        params(p, 1)["disable_qps_logging_on_backup"] == true
    });
    // A record in flight as the setting came may still land.
    std::thread::sleep(Duration::from_millis(1_500));
    let stopped_at = csv_lines(&b_dir).len();
    pair.holds_for(Duration::from_secs(3), "b logs no more", |_| {
        csv_lines(&b_dir).len() == stopped_at
    });

    // A switchover: b flushes the log data collected before it, whatever
    // the setting.
    pair.nodes[0].kill9();
    wait_for(
        &pair,
        Duration::from_secs(15),
        "b's takeover record",
        || {
            csv_lines(&b_dir)
                .iter()
                .any(|l| l[ended_by] == "takeover")
                .then_some(())
        },
    );
    let takeover: Vec<Vec<String>> = csv_lines(&b_dir)
        .into_iter()
        .filter(|l| l[ended_by] == "takeover")
        .collect();
    assert_eq!(takeover.len(), 1, "one queue, one takeover: {takeover:?}");
    assert_eq!(takeover[0][0], "Sales");
    assert!(csv_lines(&a_dir).is_empty());
}

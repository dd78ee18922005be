//! Large content through a real pair on loopback (the LAN profile), the
//! backup in sync: a 25 MiB file shared by HTTP, from the request to its
//! acknowledgement (both nodes hold it), and downloaded back; an email of
//! 25 MiB by SMTP (an 18 MiB attachment, base64) from the client's first
//! command to its 250;
//! then the same email cut off by a kill -9 of the active node 300 ms in,
//! sent again by the sender to the new active node: the kill to the 250.
//! Each `--runs` times (3 by default); the killed node starts again and
//! the pair is back in sync before the next run. Beside each upload and
//! email: the backup's slowest notifier ping round trip meanwhile (the
//! upper bound of its `duet_link_round_trip_seconds` bucket), which the
//! LAN profile gives 60 ms.
//!
//! cargo bench -p duet --bench content -- [--runs N]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::contact::{Api, set_up_directory};
use harness::content::{bytes as content, email};
use harness::{Pair, Setup, bench_number};
use serde_json::json;

const MIB: usize = 1024 * 1024;

fn wait(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serving(pair: &Pair) -> usize {
    let mut node = 0;
    wait("a node serving", Duration::from_secs(30), || {
        match (0..2).find(|&i| harness::serving(&pair.nodes[i].status())) {
            Some(i) => {
                node = i;
                true
            }
            None => false,
        }
    });
    node
}

fn smtp(pair: &Pair, node: usize) -> lettre::SmtpTransport {
    lettre::SmtpTransport::builder_dangerous("127.0.0.1")
        .port(pair.nodes[node].placement.smtp_port)
        .timeout(Some(Duration::from_secs(120)))
        .build()
}

/// The backup's notifier round trips so far, by bucket: (upper bound in
/// seconds, how many within it), from its `/metrics`.
fn round_trips(pair: &Pair, backup: usize) -> Vec<(f64, u64)> {
    let (_, text) = Api::new(&pair.nodes[backup].url()).get("/metrics");
    let text = text.as_str().unwrap_or_default().to_string();
    text.lines()
        .filter_map(|line| line.strip_prefix("duet_link_round_trip_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            Some((
                le.parse().unwrap_or(f64::INFINITY),
                count.trim().parse().ok()?,
            ))
        })
        .collect()
}

/// The upper bound of the slowest round trip between two readings, ms.
fn slowest_ms(before: &[(f64, u64)], after: &[(f64, u64)]) -> String {
    let within = |readings: &[(f64, u64)], le: f64| {
        readings
            .iter()
            .find(|(l, _)| *l == le)
            .map_or(0, |(_, n)| *n)
    };
    let total = |r: &[(f64, u64)]| r.last().map_or(0, |(_, n)| *n);
    let pings = total(after) - total(before);
    match after
        .iter()
        .find(|(le, _)| total(after) - within(after, *le) == total(before) - within(before, *le))
    {
        Some((le, _)) if pings > 0 => format!("≤{:.1} ms ({pings} pings)", le * 1000.0),
        _ => "no pings".to_string(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn main() {
    use lettre::Transport;
    let runs: usize = bench_number("--runs", 3);
    let mut pair = Pair::loopback(Setup {
        params: include_str!("../../../profiles/lan.toml").to_string(),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    wait("the pair in sync", Duration::from_secs(30), || {
        harness::in_sync(&pair)
    });
    println!(
        "run (active) | file upload ms | MB/s | slowest ping meanwhile | download ms | email 250 ms | slowest ping meanwhile | MiB of MIME | kill -9 to 250 on the new node ms"
    );
    for run in 0..runs {
        let active = serving(&pair);
        let backup = 1 - active;
        let base = pair.nodes[active].url();
        let (code, chat) =
            Api::new(&base).post("/api/chats", json!({"queue": "Sales", "name": "Carol"}));
        assert_eq!(code, 200, "{chat}");
        let (id, token) = (
            chat["id"].as_str().unwrap(),
            chat["token"].as_str().unwrap(),
        );
        let file = content(25 * MIB, run as u32 * 3 + 1);
        let pings_before = round_trips(&pair, backup);
        let started = Instant::now();
        let answer = harness::agent(Duration::from_secs(120))
            .post(&format!(
                "{base}/api/chats/{id}/files?name=photo.jpg&message_id=f{run}"
            ))
            .header("x-duet-token", token)
            .send(&file[..])
            .expect("upload");
        let upload = started.elapsed();
        assert_eq!(answer.status().as_u16(), 200);
        let upload_pings = slowest_ms(&pings_before, &round_trips(&pair, backup));
        let started = Instant::now();
        let mut got = harness::agent(Duration::from_secs(120))
            .get(&format!("{base}/api/chats/{id}/files/f{run}"))
            .header("x-duet-token", token)
            .call()
            .expect("download");
        let bytes = got
            .body_mut()
            .with_config()
            .limit(64 * MIB as u64)
            .read_to_vec()
            .unwrap();
        let download = started.elapsed();
        assert!(bytes == file, "the file back whole");

        let message = email(
            &content(18 * MIB, run as u32 * 3 + 2),
            &format!("scans-{run}"),
        );
        let mime_mib = message.formatted().len() as f64 / MIB as f64;
        let pings_before = round_trips(&pair, backup);
        let started = Instant::now();
        if let Err(e) = smtp(&pair, active).send(&message) {
            panic!("the email refused: {e:?}\n{}", pair.logs());
        }
        let email_250 = started.elapsed();
        let email_pings = slowest_ms(&pings_before, &round_trips(&pair, backup));

        // The next, cut off by a kill -9 of the active node part way.
        let cut = email(
            &content(18 * MIB, run as u32 * 3 + 3),
            &format!("cut-{run}"),
        );
        let port = pair.nodes[active].placement.smtp_port;
        let sending = cut.clone();
        let sender = std::thread::spawn(move || {
            lettre::SmtpTransport::builder_dangerous("127.0.0.1")
                .port(port)
                .timeout(Some(Duration::from_secs(120)))
                .build()
                .send(&sending)
                .is_ok()
        });
        std::thread::sleep(Duration::from_millis(300));
        pair.nodes[active].kill9();
        let killed = Instant::now();
        let first_try = sender.join().expect("the sender");
        let other = 1 - active;
        let mut taken = None;
        wait(
            "the email taken by the new active node",
            Duration::from_secs(60),
            || {
                if smtp(&pair, other).send(&cut).is_ok() {
                    taken = Some(killed.elapsed());
                }
                taken.is_some()
            },
        );
        let to_250 = taken.expect("taken");
        println!(
            "{run} ({}) | {} | {:.1} | {upload_pings} | {} | {} | {email_pings} | {mime_mib:.1} | {}{}",
            ["a", "b"][active],
            ms(upload),
            25.0 * 1.048_576 / upload.as_secs_f64(),
            ms(download),
            ms(email_250),
            ms(to_250),
            if first_try {
                " (the cut try was taken)"
            } else {
                ""
            }
        );
        pair.nodes[active].start(&[]);
        wait("the pair in sync again", Duration::from_secs(120), || {
            harness::in_sync(&pair)
        });
    }
}

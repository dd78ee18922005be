//! Agent desktops after a switchover, through a real pair on loopback (the
//! fast profile, or `--profile lan`): `--desktops N` agents (2,000 by default) are signed in,
//! each with its desktop WebSocket open (an async client, `desk.rs`: 2,000
//! desktops on two runtime threads, as 2,000 browsers would be on their own
//! machines). The active node is killed (-9); from that moment, per desktop:
//! its feed connected again and resumed on the other node, and its first
//! action there acknowledged (a log-in to chat, with its session from
//! before: no new sign-in). Then how long until the new active node holds
//! every desktop as attached. Prints p50/p99/max of each.
//!
//! cargo bench -p duet --bench desktops -- [--desktops N] [--profile fast|lan]

#[path = "desktops/desk.rs"]
mod desk;
#[path = "../tests/harness/mod.rs"]
mod harness;

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use duet_client::http::{Auth, Client};
use duet_client::nodes::{Nodes, Retry};
use duet_client::{agent, directory};
use harness::{PASSWORD, Pair, Setup, USER, bench_number as number, percentile};
use serde_json::Value;

const AGENT_PASSWORD: &str = "desk-password";

fn client(pair: &Pair) -> Client {
    let nodes = Nodes::new([pair.nodes[0].url(), pair.nodes[1].url()]).expect("the nodes");
    Client::new(Arc::new(nodes), Retry::default())
}

/// `n` agents made through the configuration API, with one password hash
/// made here (the configuration API shows a hash only as "(set)"); the
/// first is a supervisor too, to watch the others.
fn make_agents(pair: &Pair, n: usize) {
    let c = client(pair);
    let admin = Auth::Basic {
        user: USER.into(),
        password: PASSWORD.into(),
    };
    let hash = duet_node::passwords::hash(AGENT_PASSWORD).expect("a hash");
    for i in 0..n {
        let roles = if i == 0 { "agent,supervisor" } else { "agent" };
        directory::put(
            &c,
            &admin,
            &format!("/config/Users/desk-{i}"),
            "User",
            [
                ("roles", roles.to_string()),
                ("password_hash", hash.clone()),
                ("capacity", "chat:1".to_string()),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect(),
        )
        .expect("an agent");
    }
}

fn desktop_census(c: &Client, session: &Auth) -> std::collections::BTreeMap<String, usize> {
    let mut census = std::collections::BTreeMap::new();
    if let Ok(agents) = c.get::<Value>("/api/agents", session) {
        for a in agents.as_array().into_iter().flatten() {
            let key = format!("{} {}", a["desktop"], a["status"]);
            *census.entry(key.chars().take(60).collect()).or_insert(0) += 1;
        }
    }
    census
}

fn attached_on(c: &Client, session: &Auth) -> usize {
    let agents: Value = match c.get("/api/agents", session) {
        Ok(agents) => agents,
        Err(e) => {
            eprintln!("agents: {e}");
            return 0;
        }
    };
    agents
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["desktop"] == "Attached")
        .count()
}

/// Milliseconds from `t0` until the node at `url` says it serves.
fn serving_after(url: &str, t0: Instant) -> f64 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(200)))
        .build()
        .into();
    loop {
        let status: Option<Value> = agent
            .get(&format!("{url}/api/status"))
            .call()
            .ok()
            .and_then(|mut answer| answer.body_mut().read_json().ok());
        if status.is_some_and(|s| s["serving"] == true) {
            return t0.elapsed().as_secs_f64() * 1000.0;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{url} never served");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stats(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| {name} | {} | {:.0} | {:.0} | {:.0} |",
        ms.len(),
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN)
    );
}

/// One desktop: open on the active node, then, from the kill, until it
/// is back on the other node (one still on that node at the kill, a view
/// the backup had not yet told to leave, is back with its first event
/// there after it: the takeover's change), and its first action there
/// acknowledged (a log-in to chat with the session from before, asked
/// again while the node is busy). When it was back, when it worked, and
/// whether it was on the backup at the kill.
async fn desktop(
    i: usize,
    addresses: [String; 2],
    token: String,
    opened: mpsc::Sender<()>,
    t0: &std::sync::OnceLock<Instant>,
) -> Result<(Duration, Duration, bool), String> {
    let mut desk = desk::Desk::new(addresses.clone(), token.clone());
    while !matches!(
        desk.next(Duration::from_secs(30)).await,
        Some((_, desk::Seen::State))
    ) {}
    opened.send(()).map_err(|e| e.to_string())?;
    let mut on_before_kill = None;
    let mut on_at_kill = None;
    let back = loop {
        let event = desk.next(Duration::from_millis(100)).await;
        let Some(t0) = t0.get() else {
            on_before_kill = desk.node();
            continue;
        };
        let on_backup = *on_at_kill.get_or_insert(on_before_kill == Some(1));
        let back = match event {
            Some((_, desk::Seen::Resumed | desk::Seen::State)) => true,
            Some(_) => on_backup,
            None => false,
        };
        if back && desk.node() == Some(1) {
            break t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(format!("desktop {i} not back in 60 s"));
        }
    };
    let t0 = *t0.get().expect("the kill's time");
    let login = serde_json::json!({ "client_id": format!("desk-{i}-login"), "media": ["chat"] });
    loop {
        match desk::post(
            &addresses[1],
            "/api/agent/login",
            &token,
            &login.to_string(),
        )
        .await
        {
            Some(200..300) => break,
            Some(503) | None => tokio::time::sleep(Duration::from_millis(20)).await,
            Some(status) => return Err(format!("desktop {i}'s log-in answered {status}")),
        }
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(format!("desktop {i}'s log-in not acknowledged in 60 s"));
        }
    }
    let working = t0.elapsed();
    // Keep the desktop open until the bench ends (it exits).
    tokio::spawn(async move {
        loop {
            desk.next(Duration::from_secs(5)).await;
        }
    });
    Ok((back, working, on_at_kill.unwrap_or(false)))
}

fn main() {
    let desktops = number("--desktops", 2_000);
    let profile = harness::bench_arg("--profile").unwrap_or_else(|| "fast".into());
    let params = match profile.as_str() {
        "lan" => include_str!("../../../profiles/lan.toml").to_string(),
        _ => harness::fast_params(),
    };
    let mut pair = Pair::loopback(Setup {
        params,
        ..Setup::default()
    });
    pair.start();
    pair.wait_until(
        Duration::from_secs(10),
        "replication in sync",
        harness::in_sync,
    );
    let setup = Instant::now();
    make_agents(&pair, desktops);
    // Sign-ins hash the password on the node: a few threads at once.
    let (session_tx, session_rx) = mpsc::channel();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (c, tx) = (client(&pair), session_tx.clone());
            s.spawn(move || {
                for i in (t..desktops).step_by(8) {
                    let session =
                        agent::sign_in(&c, &format!("desk-{i}"), AGENT_PASSWORD).expect("sign in");
                    tx.send((i, session)).expect("send");
                }
            });
        }
    });
    drop(session_tx);
    let mut sessions: Vec<(usize, Auth)> = session_rx.into_iter().collect();
    sessions.sort_by_key(|(i, _)| *i);
    let watcher = sessions[0].1.clone();
    eprintln!(
        "{desktops} agents made and signed in in {:.0} s",
        setup.elapsed().as_secs_f64()
    );

    // Every desktop open on the active node.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let addresses = [0, 1].map(|n| {
        pair.nodes[n]
            .url()
            .trim_start_matches("http://")
            .to_string()
    });
    let (opened_tx, opened_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let t0 = Arc::new(std::sync::OnceLock::<Instant>::new());
    for (i, session) in sessions {
        let Auth::Bearer(token) = session else {
            panic!("an agent's session is a bearer token")
        };
        let (addresses, opened, tx, t0) = (
            addresses.clone(),
            opened_tx.clone(),
            result_tx.clone(),
            t0.clone(),
        );
        runtime.spawn(async move {
            let outcome = desktop(i, addresses, token, opened, &t0).await;
            tx.send(outcome).expect("send");
        });
    }
    drop(result_tx);
    for _ in 0..desktops {
        opened_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("every desktop open within 60 s");
    }
    let c = client(&pair);
    let all_attached = Instant::now();
    loop {
        let attached = attached_on(&c, &watcher);
        if attached == desktops {
            break;
        }
        assert!(
            all_attached.elapsed() < Duration::from_secs(60),
            "only {attached} of {desktops} desktops attached: {}",
            pair.logs()
                .lines()
                .filter(|l| !l.contains("arbiter"))
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "pair on loopback ({profile} profile); {desktops} desktops attached on the active node\n"
    );
    let new_active = pair.nodes[1].url();
    pair.nodes[0].kill9();
    t0.set(Instant::now()).expect("once");
    // When the other node serves: the takeover's part of each figure.
    let serving = {
        let t0 = t0.clone();
        std::thread::spawn(move || serving_after(&new_active, *t0.get().expect("set")))
    };
    let mut back = Vec::new();
    let mut working = Vec::new();
    let mut on_backup_at_kill = 0;
    for _ in 0..desktops {
        let outcome = result_rx
            .recv_timeout(Duration::from_secs(90))
            .expect("every desktop's outcome within 90 s");
        let (b, w, on_backup) = outcome.unwrap_or_else(|e| panic!("{e}"));
        back.push(b.as_secs_f64() * 1000.0);
        working.push(w.as_secs_f64() * 1000.0);
        on_backup_at_kill += usize::from(on_backup);
    }
    eprintln!("{on_backup_at_kill} desktops were on the backup at the kill");
    eprintln!(
        "every desktop back and working after {:.0} ms",
        t0.get().expect("set").elapsed().as_secs_f64() * 1000.0
    );
    let t = *t0.get().expect("set");
    let b_client = {
        let nodes = Nodes::new([pair.nodes[1].url(), pair.nodes[0].url()]).expect("nodes");
        Client::new(Arc::new(nodes), Retry::default())
    };
    loop {
        let attached = attached_on(&b_client, &watcher);
        if attached == desktops {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "only {attached} of {desktops} desktops attached on the new active node: {:?} {}",
            desktop_census(&b_client, &watcher),
            pair.nodes[1]
                .log()
                .lines()
                .filter(|l| l.contains("WARN") && !l.contains("arbiter"))
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let attached_ms = t.elapsed().as_secs_f64() * 1000.0;
    let serving_ms = serving.join().expect("the status watcher");
    println!("the new active node serving: {serving_ms:.0} ms after the kill\n");
    drop(runtime);
    println!("| from the kill -9, ms | desktops | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    stats("desktop connected and resumed on the new active node", back);
    stats("its first action there acknowledged", working.clone());
    println!(
        "\nall {desktops} desktops attached on the new active node: {attached_ms:.0} ms after the kill\n"
    );
    // The desktops' tasks never end by themselves: exit without waiting
    // for them, but stop the nodes first (exit runs no destructors, and a
    // node left running would take CPU from the next run).
    drop(pair);
    std::process::exit(0);
}

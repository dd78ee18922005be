//! The pair's own ports (role arbiter and link) belong to the pair: a
//! flood of idle connections from another address takes none of the
//! handshake slots the peer needs, does not move the active node, and
//! leaves a counter rather than a log line per connection.

mod harness;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use harness::{api_agent, in_sync, serving};

/// An idle connection to `to` from 127.0.0.2 (another address than the
/// pair's 127.0.0.1), held open.
fn idle_from_elsewhere(to: SocketAddr) -> Option<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .ok()?;
    socket
        .connect_timeout(&to.into(), Duration::from_secs(1))
        .ok()?;
    Some(socket.into())
}

#[test]
fn a_flood_of_idle_connections_from_elsewhere_neither_moves_nor_deafens_the_pair() {
    let mut pair = harness::fast_pair();
    let epoch = pair.nodes[0].status().expect("a's status").epoch;
    let placement = &pair.nodes[0].placement;
    let ports = [placement.link_port, placement.arbiter_port];
    // 200 idle connections on each port, more than the 32 handshake slots.
    let mut flood = Vec::new();
    for port in ports {
        for _ in 0..200 {
            if let Some(c) = idle_from_elsewhere(SocketAddr::from(([127, 0, 0, 1], port))) {
                flood.push(c);
            }
        }
    }
    assert!(flood.len() >= 300, "the flood connected: {}", flood.len());
    // The backup's links break and come back: it reconnects through the
    // flood, and nobody switches.
    pair.nodes[1].kill9();
    pair.nodes[1].start(&[]);
    pair.wait_until(Duration::from_secs(20), "b linked again", in_sync);
    pair.holds_for(Duration::from_secs(3), "a serving, b in sync", |p| {
        in_sync(p) && serving(&p.nodes[0].status())
    });
    assert_eq!(
        pair.nodes[0].status().unwrap().epoch,
        epoch,
        "no switchover"
    );
    let metrics = api_agent()
        .get(&format!("{}/metrics", pair.nodes[0].url()))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let refused: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("duet_link_refused_connections_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused >= 300.0, "refusals counted: {refused}\n{metrics}");
    // Logged once a minute per port, not once per connection.
    let log = pair.nodes[0].log();
    let lines = log.matches("only 127.0.0.1 may connect").count();
    assert!((1..=4).contains(&lines), "{lines} refusal lines");
    drop(flood);
    pair.assert_invariants();
}

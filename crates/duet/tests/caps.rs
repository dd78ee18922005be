//! A node's caps against a real pair, from plain clients (raw TCP and a
//! WebSocket library, not `duet-client`): WebSockets from one address and
//! on the whole node, each refused one over its cap with `Retry-After`
//! and the error body, and served again once one closes.

mod harness;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use harness::contact::{AGENT_PASSWORD, Api, set_up_directory};
use harness::{Pair, Setup, fast_params};

type Socket = tungstenite::WebSocket<TcpStream>;

/// A WebSocket to alice's live view from `source` (a loopback address),
/// or the refusal's status, `Retry-After` and body.
fn open(node: &str, source: Ipv4Addr, token: &str) -> Result<Socket, (u16, String, String)> {
    let address: SocketAddr = node
        .trim_start_matches("http://")
        .parse()
        .expect("an address");
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    socket
        .bind(&SocketAddr::from((source, 0)).into())
        .expect("bound to the source");
    socket.connect(&address.into()).expect("connected");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let url = format!("ws://{address}/api/agent/ws?token={token}");
    match tungstenite::client(url.as_str(), stream) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(answer))) => {
            let retry = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let body = String::from_utf8_lossy(answer.body().as_deref().unwrap_or_default());
            Err((answer.status().as_u16(), retry, body.into_owned()))
        }
        Err(other) => panic!("the handshake from {source}: {other}"),
    }
}

fn close(mut socket: Socket) {
    let _ = socket.close(None);
    while socket.read().is_ok() {}
}

/// Opens from `source` again until the node has noticed a close.
fn reopened(node: &str, source: Ipv4Addr, token: &str) -> Socket {
    for _ in 0..100 {
        if let Ok(socket) = open(node, source, token) {
            return socket;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no place came back for {source}");
}

#[test]
fn websockets_over_a_sources_or_the_nodes_cap_are_refused_until_one_closes() {
    let mut pair = Pair::loopback(Setup {
        params: fast_params(),
        limits: Some(duet_node::limits::Limits {
            creations_burst: 1_000,
            sign_in_failures_per_address_burst: 1_000,
            sign_in_failures_per_user_burst: 1_000,
            websockets_max: 3,
            websockets_per_source_max: 2,
            ..Default::default()
        }),
        ..Setup::default()
    });
    pair.start();
    set_up_directory(&pair, 0);
    let a = pair.nodes[0].url();
    let alice = Api::login(&a, "alice", AGENT_PASSWORD);
    let token = alice.token.clone().expect("a session");
    let [one, two, three] = [1, 2, 3].map(|n| Ipv4Addr::new(127, 0, 0, n));

    // Two from one address, then 429 for that address only.
    let first = open(&a, one, &token).expect("the first socket");
    let _second = open(&a, one, &token).expect("the second socket");
    let (status, retry, body) = open(&a, one, &token).expect_err("over the source's cap");
    assert_eq!((status, retry.as_str()), (429, "1"), "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("the error body");
    assert_eq!(body["status"], 429);

    // Another address takes the node's last place; then the node is full
    // for everyone: 503.
    let _third = open(&a, two, &token).expect("another address");
    let (status, retry, body) = open(&a, three, &token).expect_err("over the node's cap");
    assert_eq!((status, retry.as_str()), (503, "1"), "{body}");

    // A socket closed makes room, for its own address too.
    close(first);
    let _again = reopened(&a, three, &token);
    assert!(open(&a, one, &token).is_err(), "the node is full again");
    drop(pair);
}

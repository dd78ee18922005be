//! Mutual TLS with the pair's certificates: the pair connects; anything
//! without a pair certificate is refused.

use duet_link::pki::create_pair;
use duet_link::tls::{Identity, client_config, peer_name, server_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn identity(pki: &duet_link::pki::PairPki, node: usize) -> Identity {
    Identity {
        ca_pem: pki.ca.cert_pem.clone(),
        cert_pem: pki.nodes[node].1.cert_pem.clone(),
        key_pem: pki.nodes[node].1.key_pem.clone(),
    }
}

/// Serves one connection as node `a` and says whether the handshake and a
/// byte exchange succeeded on both sides.
async fn handshake(server: Identity, client: Identity, server_name: &str) -> (bool, bool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server_config(&server).unwrap());
    let served = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        match acceptor.accept(tcp).await {
            Ok(mut tls) => {
                let mut byte = [0u8; 1];
                tls.read_exact(&mut byte).await.is_ok() && tls.write_all(&byte).await.is_ok()
            }
            Err(_) => false,
        }
    });
    let connector = TlsConnector::from(client_config(&client).unwrap());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let client_ok = match connector
        .connect(peer_name(server_name).unwrap(), tcp)
        .await
    {
        Ok(mut tls) => {
            let mut byte = [0u8; 1];
            tls.write_all(b"x").await.is_ok() && tls.read_exact(&mut byte).await.is_ok()
        }
        Err(_) => false,
    };
    (served.await.unwrap(), client_ok)
}

#[tokio::test]
async fn the_pair_connects_with_its_own_certificates() {
    let pki = create_pair("test", &["a", "b"]).unwrap();
    assert_eq!(
        handshake(identity(&pki, 0), identity(&pki, 1), "a").await,
        (true, true)
    );
}

#[tokio::test]
async fn a_client_with_another_authoritys_certificate_is_refused() {
    let pki = create_pair("test", &["a", "b"]).unwrap();
    let stranger = create_pair("other", &["b"]).unwrap();
    let mut client = identity(&stranger, 0);
    // It even trusts our CA; its own certificate is what gives it away.
    client.ca_pem = pki.ca.cert_pem.clone();
    let (server_ok, _) = handshake(identity(&pki, 0), client, "a").await;
    assert!(!server_ok);
}

#[tokio::test]
async fn a_server_with_another_authoritys_certificate_is_refused() {
    let pki = create_pair("test", &["a", "b"]).unwrap();
    let stranger = create_pair("other", &["a"]).unwrap();
    let mut server = identity(&stranger, 0);
    server.ca_pem = pki.ca.cert_pem.clone();
    let (_, client_ok) = handshake(server, identity(&pki, 1), "a").await;
    assert!(!client_ok);
}

#[tokio::test]
async fn the_peer_must_hold_the_certificate_for_its_name() {
    let pki = create_pair("test", &["a", "b"]).unwrap();
    // Node b's certificate does not name "a".
    let (_, client_ok) = handshake(identity(&pki, 1), identity(&pki, 0), "a").await;
    assert!(!client_ok);
}

//! STARTTLS: offered in EHLO when the intake has a certificate; after it
//! the session starts afresh over TLS and a message is stored as before;
//! plain text pipelined behind STARTTLS is not taken as commands.

mod common;

use std::sync::Arc;

use common::{RecordingSink, bounded, config, simple_message};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

/// One reply (all its lines): the code and the text.
async fn reply<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut BufReader<S>) -> (u16, String) {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.expect("a reply line");
        assert!(line.len() >= 4, "a short reply: {line:?}");
        text.push_str(&line);
        if line.as_bytes()[3] == b' ' {
            return (line[..3].parse().expect("a code"), text);
        }
    }
}

async fn say<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    line: &str,
) -> (u16, String) {
    stream
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .expect("a command");
    reply(stream).await
}

#[tokio::test]
async fn a_message_is_taken_over_tls_after_starttls() {
    bounded(async {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert_der = certified.cert.der().clone();
        let key_der =
            rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
                .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert_der.clone()], key_der)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert_der).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();

        let sink = Arc::new(RecordingSink::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        tokio::spawn({
            let sink = sink.clone();
            async move {
                let _ =
                    duet_smtp::serve_with_starttls(listener, config(), sink, Some(acceptor)).await;
            }
        });

        let mut plain = BufReader::new(TcpStream::connect(addr).await.unwrap());
        assert_eq!(reply(&mut plain).await.0, 220);
        let (code, ehlo) = say(&mut plain, "EHLO client.test").await;
        assert!(code == 250 && ehlo.contains("STARTTLS"), "{ehlo}");
        // A command pipelined behind STARTTLS in plain text is dropped.
        plain
            .get_mut()
            .write_all(b"STARTTLS\r\nMAIL FROM:<smuggled@example.com>\r\n")
            .await
            .unwrap();
        assert_eq!(reply(&mut plain).await.0, 220);
        let tcp = plain.into_inner();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
            .connect(name, tcp)
            .await
            .expect("a handshake");
        let mut tls = BufReader::new(tls);
        let (code, ehlo) = say(&mut tls, "EHLO client.test").await;
        assert!(code == 250 && !ehlo.contains("STARTTLS"), "{ehlo}");
        assert_eq!(say(&mut tls, "STARTTLS").await.0, 503);
        assert_eq!(say(&mut tls, "MAIL FROM:<carol@example.org>").await.0, 250);
        assert_eq!(say(&mut tls, "RCPT TO:<support@example.com>").await.0, 250);
        assert_eq!(say(&mut tls, "DATA").await.0, 354);
        let message = simple_message("over tls");
        tls.get_mut().write_all(message.as_bytes()).await.unwrap();
        let (code, text) = say(&mut tls, ".").await;
        assert_eq!(code, 250, "{text}");
        assert_eq!(sink.delivered().len(), 1);
        assert_eq!(sink.delivered()[0].envelope_from, "carol@example.org");
    })
    .await;
}

#[tokio::test]
async fn starttls_is_refused_where_there_is_no_certificate() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = common::start(config(), sink).await;
        let mut plain = BufReader::new(TcpStream::connect(addr).await.unwrap());
        assert_eq!(reply(&mut plain).await.0, 220);
        let (_, ehlo) = say(&mut plain, "EHLO client.test").await;
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        assert_eq!(say(&mut plain, "STARTTLS").await.0, 502);
    })
    .await;
}

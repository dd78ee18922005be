//! The SMTP intake against real clients on loopback: lettre for whole
//! messages, a raw client for the protocol's corners.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, RecordingSink, bounded, config, simple_message, start};
use duet_smtp::DeliveryRefusal;
use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

fn lettre_client(addr: std::net::SocketAddr) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(addr.port())
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

fn binary_attachment() -> Vec<u8> {
    (0..3000u32).map(|i| (i * 7 % 256) as u8).collect()
}

fn rich_message() -> Message {
    let text = "Hello,\r\n.a line that starts with a dot\r\n..and two dots\r\nbye\r\n";
    let html = r#"<p>Hello <b>there</b></p><script>alert('x')</script><img src="cid:logo@example.org" onerror="alert(1)"><a href="javascript:alert(2)">x</a>"#;
    Message::builder()
        .from("Ann Customer <ann@example.org>".parse().unwrap())
        .to("support@example.com".parse().unwrap())
        .subject("My order")
        .message_id(Some("<order-1@example.org>".to_string()))
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(
                    text.to_string(),
                    html.to_string(),
                ))
                .singlepart(Attachment::new("receipt.bin".to_string()).body(
                    binary_attachment(),
                    ContentType::parse("application/octet-stream").unwrap(),
                )),
        )
        .unwrap()
}

#[tokio::test]
async fn lettre_message_with_html_and_attachment_is_stored_sanitised() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let message = rich_message();
        let sent = message.formatted();
        let envelope = Envelope::new(
            Some("ann@example.org".parse().unwrap()),
            vec!["support@example.com".parse().unwrap()],
        )
        .unwrap();
        let response = lettre_client(addr)
            .send_raw(&envelope, &sent)
            .await
            .expect("message accepted");
        assert_eq!(response.code().to_string(), "250");
        let said: String = response.message().collect::<Vec<_>>().join(" ");
        assert!(said.contains("queued as em-1"), "{said}");

        let delivered = sink.delivered();
        assert_eq!(delivered.len(), 1);
        let email = &delivered[0];
        // lettre dot-stuffs on the wire and we unstuff; it also ends DATA
        // with "\r\n.\r\n" after the message's own final CRLF, so by
        // SMTP's rules the message it sent carries one more CRLF.
        let mut expected = sent.clone();
        expected.extend_from_slice(b"\r\n");
        assert!(
            email.raw == expected,
            "raw bytes differ from what was sent:\n{}\n---\n{}",
            String::from_utf8_lossy(&email.raw),
            String::from_utf8_lossy(&expected)
        );
        assert_eq!(email.envelope_from, "ann@example.org");
        assert_eq!(email.from, "ann@example.org");
        assert_eq!(email.from_name.as_deref(), Some("Ann Customer"));
        assert_eq!(email.to.len(), 1);
        assert_eq!(email.to[0].address, "support@example.com");
        assert_eq!(email.to[0].queue, "support");
        assert_eq!(email.subject.as_deref(), Some("My order"));
        assert_eq!(email.message_id.as_deref(), Some("order-1@example.org"));
        let text = email.text.as_deref().unwrap();
        assert!(
            text.contains("\n.a line that starts with a dot"),
            "{text:?}"
        );
        assert!(text.contains("\n..and two dots"), "{text:?}");

        let raw_html = email.html_raw.as_deref().unwrap();
        assert!(raw_html.contains("<script>"), "{raw_html}");
        let safe = email.html_sanitised.as_deref().unwrap();
        assert!(safe.contains("<b>there</b>"), "{safe}");
        assert!(safe.contains(r#"src="cid:logo@example.org""#), "{safe}");
        for gone in ["script", "onerror", "alert", "javascript"] {
            assert!(!safe.contains(gone), "{gone} survived: {safe}");
        }

        assert_eq!(email.attachments.len(), 1);
        let attachment = &email.attachments[0];
        assert_eq!(attachment.name.as_deref(), Some("receipt.bin"));
        assert_eq!(attachment.content_type, "application/octet-stream");
        assert_eq!(attachment.bytes, binary_attachment());
    })
    .await;
}

/// Sends a full transaction on a raw client; returns DATA's final reply.
async fn send_message(client: &mut Client, body: &str) -> (u16, String) {
    client.expect("MAIL FROM:<ann@example.org>", 250).await;
    client.expect("RCPT TO:<support@example.com>", 250).await;
    client.expect("DATA", 354).await;
    client.write(body.as_bytes()).await;
    client.cmd(".").await
}

#[tokio::test]
async fn unknown_recipient_is_550_and_the_transaction_goes_on() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("EHLO client.test", 250).await;
        c.expect("MAIL FROM:<ann@example.org>", 250).await;
        let text = c.expect("RCPT TO:<nobody@example.com>", 550).await;
        assert!(text.contains("nobody@example.com"), "{text}");
        assert!(text.contains("no such mailbox"), "{text}");
        c.expect("RCPT TO:<SALES@example.com>", 250).await;
        c.expect("DATA", 354).await;
        c.write(simple_message("s1").as_bytes()).await;
        let text = c.expect(".", 250).await;
        assert!(text.contains("queued as em-1"), "{text}");
        let delivered = sink.delivered();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].to.len(), 1);
        assert_eq!(delivered[0].to[0].queue, "sales");
        c.expect("QUIT", 221).await;
    })
    .await;
}

#[tokio::test]
async fn commands_out_of_order_are_503() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("MAIL FROM:<ann@example.org>", 503).await;
        c.expect("HELO client.test", 250).await;
        c.expect("RCPT TO:<support@example.com>", 503).await;
        c.expect("DATA", 503).await;
        c.expect("MAIL FROM:<ann@example.org>", 250).await;
        c.expect("MAIL FROM:<ann@example.org>", 503).await;
        c.expect("DATA", 503).await;
        c.expect("RSET", 250).await;
        let (code, text) = send_message(&mut c, &simple_message("after-503")).await;
        assert_eq!(code, 250, "{text}");
        assert_eq!(sink.calls(), 1);
    })
    .await;
}

#[tokio::test]
async fn unknown_unsupported_and_simple_commands() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("FROBNICATE now", 500).await;
        c.expect("VRFY ann", 502).await;
        c.expect("STARTTLS", 502).await;
        c.expect("NOOP", 250).await;
        let ehlo = c.expect("EHLO client.test", 250).await;
        assert!(ehlo.contains("SIZE 65536"), "{ehlo}");
        assert!(ehlo.contains("PIPELINING"), "{ehlo}");
        c.expect("MAIL FROM:<ann@example.org> BOGUS=1", 504).await;
        c.expect("MAIL FROM:ann", 501).await;
        c.expect("QUIT", 221).await;
        assert_eq!(c.reply().await.0, 0, "closed after QUIT");
    })
    .await;
}

#[tokio::test]
async fn a_line_too_long_is_500_and_the_session_goes_on() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        let long = format!("NOOP {}", "x".repeat(20_000));
        let text = c.expect(&long, 500).await;
        assert!(text.contains("too long"), "{text}");
        c.expect("EHLO client.test", 250).await;
        let (code, _) = send_message(&mut c, &simple_message("after-long")).await;
        assert_eq!(code, 250);
    })
    .await;
}

#[tokio::test]
async fn oversize_message_is_552_nothing_stored_and_the_connection_goes_on() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("EHLO client.test", 250).await;
        // Declared too large: refused at MAIL.
        c.expect("MAIL FROM:<ann@example.org> SIZE=1000000", 552)
            .await;
        // Not declared, but too large: read to the end, discarded.
        let big = format!(
            "{}{}\r\n",
            simple_message("big"),
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n".repeat(2000)
        );
        let (code, text) = send_message(&mut c, &big).await;
        assert_eq!(code, 552, "{text}");
        assert!(text.contains("65536"), "{text}");
        assert_eq!(sink.calls(), 0, "nothing half-stored");
        c.expect("RSET", 250).await;
        let (code, _) = send_message(&mut c, &simple_message("small")).await;
        assert_eq!(code, 250);
        assert_eq!(sink.delivered().len(), 1);
        assert_eq!(sink.delivered()[0].subject.as_deref(), Some("small"));
    })
    .await;
}

#[tokio::test]
async fn malformed_message_is_554_and_nothing_stored() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("EHLO client.test", 250).await;
        // No headers at all.
        let (code, text) = send_message(&mut c, "this is not an email\r\n").await;
        assert_eq!(code, 554, "{text}");
        // Headers, but no From.
        let (code, text) = send_message(
            &mut c,
            "To: support@example.com\r\nSubject: x\r\n\r\nbody\r\n",
        )
        .await;
        assert_eq!(code, 554, "{text}");
        assert!(text.contains("From"), "{text}");
        // Empty message: the end marker straight after DATA.
        let (code, _) = send_message(&mut c, "").await;
        assert_eq!(code, 554);
        assert_eq!(sink.calls(), 0);
        c.expect("RSET", 250).await;
        let (code, _) = send_message(&mut c, &simple_message("good")).await;
        assert_eq!(code, 250);
        assert_eq!(sink.calls(), 1);
    })
    .await;
}

#[tokio::test]
async fn sink_refusal_is_passed_through() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("EHLO client.test", 250).await;

        sink.refuse_with(Some(DeliveryRefusal::Temporary(
            "this node is the backup;\r\n250 active is b".to_string(),
        )));
        let (code, text) = send_message(&mut c, &simple_message("t1")).await;
        assert_eq!(code, 451, "{text}");
        assert!(text.contains("this node is the backup"), "{text}");
        assert_eq!(text.lines().count(), 1, "one reply line: {text:?}");

        sink.refuse_with(Some(DeliveryRefusal::Permanent(
            "queue support is closed".to_string(),
        )));
        let (code, text) = send_message(&mut c, &simple_message("t2")).await;
        assert_eq!(code, 554, "{text}");
        assert!(text.contains("queue support is closed"), "{text}");

        // A full live state is "try later", never a bounce.
        sink.refuse_with(Some(DeliveryRefusal::Full(
            "the live state holds 95 interactions".to_string(),
        )));
        let (code, text) = send_message(&mut c, &simple_message("t4")).await;
        assert_eq!(code, 452, "{text}");
        assert!(text.contains("holds 95"), "{text}");

        sink.refuse_with(None);
        let (code, _) = send_message(&mut c, &simple_message("t3")).await;
        assert_eq!(code, 250);
        assert_eq!(sink.calls(), 4);
        assert_eq!(sink.delivered().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn too_many_recipients_is_452() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let mut cfg = config();
        cfg.max_recipients = 1;
        let addr = start(cfg, sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("EHLO client.test", 250).await;
        c.expect("MAIL FROM:<ann@example.org>", 250).await;
        c.expect("RCPT TO:<support@example.com>", 250).await;
        c.expect("RCPT TO:<sales@example.com>", 452).await;
        c.expect("DATA", 354).await;
        c.write(simple_message("one-rcpt").as_bytes()).await;
        c.expect(".", 250).await;
        assert_eq!(sink.delivered()[0].to.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn pipelined_commands_and_dot_stuffing() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        let body = "From: ann@example.org\r\nSubject: dots\r\n\r\n..one dot\r\n...two dots\r\n.\r\n";
        let batch = format!(
            "EHLO client.test\r\nMAIL FROM:<ann@example.org>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n{body}NOOP\r\n"
        );
        c.write(batch.as_bytes()).await;
        for expected in [250, 250, 250, 354, 250, 250] {
            let (code, text) = c.reply().await;
            assert_eq!(code, expected, "{text}");
        }
        let raw = &sink.delivered()[0].raw;
        assert_eq!(
            raw.as_slice(),
            b"From: ann@example.org\r\nSubject: dots\r\n\r\n.one dot\r\n..two dots\r\n"
        );
    })
    .await;
}

#[tokio::test]
async fn idle_client_gets_421_while_another_completes_a_message() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let mut cfg = config();
        cfg.idle_timeout_ms = 400;
        let addr = start(cfg, sink.clone()).await;

        let mut slow = Client::connect(addr).await;
        slow.expect("EHLO slow.test", 250).await;
        slow.expect("MAIL FROM:<ann@example.org>", 250).await;
        slow.expect("RCPT TO:<support@example.com>", 250).await;
        slow.expect("DATA", 354).await;
        slow.write(b"From: ann@example.org\r\nSubject: never finished\r\n")
            .await;
        let started = Instant::now();

        // Meanwhile a well-behaved client is served.
        let response = lettre_client(addr)
            .send(rich_message())
            .await
            .expect("other connection is served");
        assert!(response.is_positive());

        let (code, text) = slow.reply().await;
        assert_eq!(code, 421, "{text}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(slow.reply().await.0, 0, "closed after 421");
        let delivered = sink.delivered();
        assert_eq!(delivered.len(), 1, "only the finished message is stored");
        assert_eq!(delivered[0].subject.as_deref(), Some("My order"));
    })
    .await;
}

#[tokio::test]
async fn one_host_cannot_take_every_connection() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let mut cfg = config();
        cfg.max_connections = 4;
        cfg.max_connections_per_host = 2;
        let addr = start(cfg, sink.clone()).await;
        // Loopback answers from all of 127.0.0.0/8: 127.0.0.2 is another host.
        let greeting = |from: &'static str| async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
            let stream = socket.connect(addr).await.unwrap();
            let mut reader = tokio::io::BufReader::new(stream);
            let mut line = String::new();
            tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line)
                .await
                .unwrap();
            (reader, line)
        };
        let (_a1, first) = greeting("127.0.0.1").await;
        let (_a2, second) = greeting("127.0.0.1").await;
        let (_a3, third) = greeting("127.0.0.1").await;
        assert!(first.starts_with("220 ") && second.starts_with("220 "));
        assert!(
            third.starts_with("421 ") && third.contains("from your address"),
            "{third:?}"
        );
        let (_b1, other) = greeting("127.0.0.2").await;
        assert!(
            other.starts_with("220 "),
            "another host still gets in: {other:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn connections_over_the_limit_get_421() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let mut cfg = config();
        cfg.max_connections = 1;
        let addr = start(cfg, sink.clone()).await;
        let mut first = Client::connect(addr).await;
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut second = tokio::io::BufReader::new(stream);
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut second, &mut line)
            .await
            .unwrap();
        assert!(line.starts_with("421 "), "{line:?}");
        first.expect("NOOP", 250).await;
        first.expect("QUIT", 221).await;
        // The slot is free again once the first connection has ended.
        let mut third = None;
        for _ in 0..50 {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut reader = tokio::io::BufReader::new(stream);
            let mut line = String::new();
            tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut line)
                .await
                .unwrap();
            if line.starts_with("220 ") {
                third = Some(line);
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(third.is_some(), "a slot was freed");
    })
    .await;
}

#[tokio::test]
async fn garbage_input_never_breaks_the_server() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        // A fixed pseudo-random sequence, so a failure replays.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20 {
            let mut c = Client::connect(addr).await;
            let mut bytes = Vec::new();
            for _ in 0..2000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push((state >> 24) as u8);
            }
            bytes.extend_from_slice(b"\r\nQUIT\r\n");
            c.write(&bytes).await;
            // Read replies until the server closes (after QUIT or otherwise).
            let mut last = 0;
            loop {
                let (code, _) = c.reply().await;
                if code == 0 {
                    break;
                }
                last = code;
            }
            assert!(last == 221 || last >= 500, "last reply {last}");
        }
        // The server still serves.
        let mut c = Client::connect(addr).await;
        c.expect("EHLO client.test", 250).await;
        let (code, _) = send_message(&mut c, &simple_message("after-garbage")).await;
        assert_eq!(code, 250);
    })
    .await;
}

#[tokio::test]
async fn a_sink_too_slow_to_confirm_gets_451() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let mut cfg = config();
        cfg.deliver_timeout_ms = 200;
        let addr = start(cfg, sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("EHLO client.test", 250).await;
        *sink.delay_ms.lock().unwrap() = 2_000;
        let (code, text) = send_message(&mut c, &simple_message("slow")).await;
        assert_eq!(code, 451, "{text}");
        assert!(text.contains("200 ms"), "{text}");
        *sink.delay_ms.lock().unwrap() = 0;
        let (code, _) = send_message(&mut c, &simple_message("fast")).await;
        assert_eq!(code, 250);
    })
    .await;
}

/// Only CRLF.CRLF ends DATA: a bare-LF variant cannot smuggle a second
/// message past us.
#[tokio::test]
async fn bare_lf_dot_does_not_end_the_message() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("EHLO client.test", 250).await;
        let body = "From: ann@example.org\r\nSubject: one\r\n\r\nbody\n.\r\nMAIL FROM:<eve@example.org>\r\nRCPT TO:<support@example.com>\r\nDATA\r\nFrom: eve@example.org\r\n\r\nsmuggled\r\n.\nRSET\r\n";
        let (code, text) = send_message(&mut c, body).await;
        assert_eq!(code, 250, "{text}");
        c.expect("NOOP", 250).await;
        let delivered = sink.delivered();
        assert_eq!(delivered.len(), 1, "one message, not two");
        // The dot after CRLF is taken as dot-stuffing and removed; nothing
        // else changes.
        let expected = body.replace("\r\n.\nRSET", "\r\n\nRSET");
        assert_eq!(String::from_utf8_lossy(&delivered[0].raw), expected);
    })
    .await;
}

#[tokio::test]
async fn a_client_dripping_data_is_cut_off_with_421() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let mut cfg = config();
        cfg.idle_timeout_ms = 300;
        cfg.data_timeout_ms = 800;
        let addr = start(cfg, sink.clone()).await;
        let mut c = Client::connect(addr).await;
        c.expect("EHLO drip.test", 250).await;
        c.expect("MAIL FROM:<ann@example.org>", 250).await;
        c.expect("RCPT TO:<support@example.com>", 250).await;
        c.expect("DATA", 354).await;
        let started = Instant::now();
        // One byte every 100 ms: never idle, never finished. Stop once the
        // server has closed (a write then fails or the reply is there).
        let (mut read, mut write) = c.into_parts();
        let drip = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for _ in 0..100 {
                if write.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let (code, text) = common::read_reply(&mut read).await;
        assert_eq!(code, 421, "{text}");
        assert!(text.contains("800 ms"), "{text}");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        drip.abort();
        assert_eq!(sink.calls(), 0);
    })
    .await;
}

//! The outbound relay, sending to our own intake on loopback as a capture.

mod common;

use std::sync::Arc;

use common::{RecordingSink, bounded, config, start};
use duet_smtp::{OutboundAttachment, OutboundEmail, RelayConfig, RelayError, send};

fn relay_to(addr: std::net::SocketAddr) -> RelayConfig {
    RelayConfig {
        host: "127.0.0.1".to_string(),
        port: addr.port(),
        credentials: None,
        tls: false,
        timeout_ms: 10_000,
    }
}

fn pdf_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    bytes.extend((0..2048u32).map(|i| (i * 31 % 251) as u8));
    bytes
}

fn reply() -> OutboundEmail {
    OutboundEmail {
        from: "Support <support@example.com>".to_string(),
        to: vec!["Sales <sales@example.com>".to_string()],
        subject: "Re: My order".to_string(),
        text: "Your order has shipped.\r\n.dot line kept\r\n".to_string(),
        html: Some("<p>Your order has <b>shipped</b>.</p>".to_string()),
        attachments: vec![OutboundAttachment {
            name: "invoice.pdf".to_string(),
            content_type: "application/pdf".to_string(),
            bytes: pdf_bytes(),
        }],
        in_reply_to: Some("order-1@example.org".to_string()),
        references: vec!["order-0@example.org".to_string()],
    }
}

#[tokio::test]
async fn relayed_reply_arrives_with_text_html_attachment_and_thread() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let id = send(&relay_to(addr), &reply()).await.expect("relayed");

        let delivered = sink.delivered();
        assert_eq!(delivered.len(), 1);
        let email = &delivered[0];
        assert_eq!(email.message_id.as_deref(), Some(id.as_str()));
        assert_eq!(email.from, "support@example.com");
        assert_eq!(email.to[0].address, "sales@example.com");
        assert_eq!(email.subject.as_deref(), Some("Re: My order"));
        let text = email.text.as_deref().unwrap();
        assert!(text.contains("Your order has shipped."), "{text:?}");
        assert!(text.contains("\n.dot line kept"), "{text:?}");
        assert_eq!(
            email.html_raw.as_deref(),
            Some("<p>Your order has <b>shipped</b>.</p>")
        );
        assert_eq!(email.attachments.len(), 1);
        assert_eq!(email.attachments[0].name.as_deref(), Some("invoice.pdf"));
        assert_eq!(email.attachments[0].content_type, "application/pdf");
        assert_eq!(email.attachments[0].bytes, pdf_bytes());
        assert_eq!(email.in_reply_to, vec!["order-1@example.org"]);
        assert_eq!(
            email.references,
            vec!["order-0@example.org", "order-1@example.org"]
        );
    })
    .await;
}

#[tokio::test]
async fn text_only_reply_without_attachments() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut email = reply();
        email.html = None;
        email.attachments.clear();
        email.in_reply_to = None;
        email.references.clear();
        send(&relay_to(addr), &email).await.expect("relayed");
        let got = &sink.delivered()[0];
        assert!(got.text.as_deref().unwrap().contains("shipped"));
        assert_eq!(got.html_raw, None);
        assert!(got.attachments.is_empty());
        assert!(got.in_reply_to.is_empty());
    })
    .await;
}

#[tokio::test]
async fn refusal_by_the_relay_is_a_typed_error() {
    bounded(async {
        let sink = Arc::new(RecordingSink::default());
        let addr = start(config(), sink.clone()).await;
        let mut email = reply();
        email.to = vec!["nobody@example.com".to_string()];
        let err = send(&relay_to(addr), &email).await.unwrap_err();
        assert!(matches!(err, RelayError::Smtp { .. }), "{err:?}");
        assert!(err.to_string().contains("127.0.0.1"), "{err}");
        assert_eq!(sink.calls(), 0);
    })
    .await;
}

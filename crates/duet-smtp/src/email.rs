//! An email as received: the MIME exactly as it arrived, and what an agent
//! needs from it (sender, subject, bodies, attachments), parsed with
//! mail-parser.

use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

use crate::sanitise::sanitise_html;

/// A recipient accepted at `RCPT TO`, with the queue its address resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address as the client gave it in `RCPT TO`.
    pub address: String,
    /// The queue that takes mail for this address.
    pub queue: String,
}

/// An attachment (or inline part, such as an image referenced by `cid:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name from Content-Disposition or Content-Type, if the sender gave one.
    pub name: Option<String>,
    /// `type/subtype`, lower case; `application/octet-stream` when absent.
    pub content_type: String,
    /// Content-ID without angle brackets, for parts an HTML body shows inline.
    pub content_id: Option<String>,
    /// The decoded bytes.
    pub bytes: Vec<u8>,
}

/// An email accepted by the intake, handed to a [`MailSink`](crate::MailSink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEmail {
    /// The message exactly as received, after dot-unstuffing. This is the
    /// record: everything below is derived from it.
    pub raw: Vec<u8>,
    /// The envelope sender (`MAIL FROM`); empty for a bounce (`<>`).
    pub envelope_from: String,
    /// The address in the From header.
    pub from: String,
    /// The display name in the From header, if any.
    pub from_name: Option<String>,
    /// The envelope recipients (`RCPT TO`) with their queues.
    pub to: Vec<Recipient>,
    pub subject: Option<String>,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To message ids, for threading a reply onto an interaction.
    pub in_reply_to: Vec<String>,
    /// References message ids, oldest first.
    pub references: Vec<String>,
    /// The plain-text body; derived from the HTML when only HTML was sent.
    pub text: Option<String>,
    /// The HTML body as sent. Never show it to an agent: use `html_sanitised`.
    pub html_raw: Option<String>,
    /// The HTML body through [`sanitise_html`](crate::sanitise_html).
    pub html_sanitised: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// Why a message was refused after DATA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the message could not be parsed as MIME")]
    Unparseable,
    #[error("the message has no header section")]
    NoHeaders,
    #[error("the message has no From address")]
    NoFrom,
}

/// Parses a received message. `raw` is kept as the record; the rest is
/// derived from it.
pub fn parse_email(
    raw: Vec<u8>,
    envelope_from: String,
    to: Vec<Recipient>,
) -> Result<ReceivedEmail, ParseError> {
    let message = MessageParser::default()
        .parse(&raw)
        .ok_or(ParseError::Unparseable)?;
    if message.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }
    let sender = message
        .from()
        .and_then(|from| from.first())
        .ok_or(ParseError::NoFrom)?;
    let from = sender
        .address()
        .filter(|address| !address.trim().is_empty())
        .ok_or(ParseError::NoFrom)?
        .to_string();
    let from_name = sender.name().map(str::to_string);

    // mail-parser turns a text-only body into HTML on request; only an HTML
    // part the sender actually wrote counts as HTML here.
    let html_raw = message
        .html_bodies()
        .find(|part| part.is_text_html())
        .and_then(|part| part.text_contents())
        .map(str::to_string);
    let html_sanitised = html_raw.as_deref().map(sanitise_html);
    let text = message.body_text(0).map(|text| text.into_owned());

    let attachments = message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().map(str::to_string),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_string())
                .to_ascii_lowercase(),
            content_id: part
                .content_id()
                .map(|id| id.trim_matches(|c| c == '<' || c == '>').to_string()),
            bytes: part.contents().to_vec(),
        })
        .collect();

    Ok(ReceivedEmail {
        envelope_from,
        from,
        from_name,
        to,
        subject: message.subject().map(str::to_string),
        message_id: message.message_id().map(str::to_string),
        in_reply_to: id_list(message.in_reply_to()),
        references: id_list(message.references()),
        text,
        html_raw,
        html_sanitised,
        attachments,
        raw,
    })
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(ids) => ids.iter().map(|id| id.to_string()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpt() -> Vec<Recipient> {
        vec![Recipient {
            address: "support@example.com".into(),
            queue: "support".into(),
        }]
    }

    #[test]
    fn text_only_message_has_no_html() {
        let raw = b"From: Ann <ann@example.org>\r\nTo: support@example.com\r\nSubject: hi\r\nMessage-ID: <1@example.org>\r\nIn-Reply-To: <0@example.com>\r\nReferences: <a@x> <0@example.com>\r\n\r\nhello\r\n".to_vec();
        let email = parse_email(raw.clone(), "ann@example.org".into(), rcpt()).unwrap();
        assert_eq!(email.raw, raw);
        assert_eq!(email.from, "ann@example.org");
        assert_eq!(email.from_name.as_deref(), Some("Ann"));
        assert_eq!(email.subject.as_deref(), Some("hi"));
        assert_eq!(email.message_id.as_deref(), Some("1@example.org"));
        assert_eq!(email.in_reply_to, vec!["0@example.com"]);
        assert_eq!(email.references, vec!["a@x", "0@example.com"]);
        assert_eq!(email.text.as_deref(), Some("hello\r\n"));
        assert_eq!(email.html_raw, None);
        assert_eq!(email.html_sanitised, None);
        assert!(email.attachments.is_empty());
    }

    #[test]
    fn message_without_from_is_refused() {
        let raw = b"To: support@example.com\r\nSubject: hi\r\n\r\nhello\r\n".to_vec();
        assert_eq!(
            parse_email(raw, String::new(), rcpt()),
            Err(ParseError::NoFrom)
        );
    }

    #[test]
    fn garbage_is_refused() {
        let raw = b"\x00\x01\x02 not mail at all\r\n".to_vec();
        assert!(parse_email(raw, String::new(), rcpt()).is_err());
        assert!(parse_email(Vec::new(), String::new(), rcpt()).is_err());
    }
}

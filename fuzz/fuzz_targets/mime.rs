//! MIME mail as the SMTP intake hands it to `parse_email`. Beyond "no
//! panic": the raw message is kept byte for byte, content types are lower
//! case, and the sanitised HTML an agent sees has no element the sanitiser
//! drops, no event handler and no image from outside the message.
#![no_main]

use duet_smtp::{Recipient, parse_email};
use libfuzzer_sys::fuzz_target;

/// Elements that must never reach an agent's page.
const DROPPED_ELEMENTS: &[&str] = &[
    "script", "iframe", "frame", "frameset", "object", "embed", "svg", "math", "form", "style",
    "link", "meta", "base",
];

/// One start tag of serialised HTML: its name and attributes, lower case.
struct Tag {
    name: String,
    attributes: Vec<(String, String)>,
}

/// The start tags of HTML as html5ever serialises it (the sanitiser's
/// output): text escapes `<`, attribute values are double-quoted and may
/// hold `<` and `>`, so a plain scan that honours quotes finds every tag.
fn start_tags(html: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let (name, after) = word(&rest[open + 1..], &['>', '/']);
        rest = after;
        let mut attributes = Vec::new();
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if rest.is_empty() || rest.starts_with('>') {
                break;
            }
            let (attr, after) = word(rest, &['=', '>']);
            rest = after;
            let mut value = String::new();
            if let Some(quoted) = rest.strip_prefix("=\"") {
                let end = quoted.find('"').expect("a closed attribute value");
                value = quoted[..end].to_string();
                rest = &quoted[end + 1..];
            }
            attributes.push((attr, value));
        }
        if !name.is_empty() && !name.starts_with('/') {
            tags.push(Tag { name, attributes });
        }
    }
    tags
}

/// The word `text` starts with, lower case, up to white space or one of
/// `ends`, and what follows it.
fn word<'a>(text: &'a str, ends: &[char]) -> (String, &'a str) {
    let len = text
        .find(|c: char| c.is_whitespace() || ends.contains(&c))
        .unwrap_or(text.len());
    (text[..len].to_ascii_lowercase(), &text[len..])
}

fuzz_target!(|data: &[u8]| {
    let to = vec![Recipient {
        address: "support@example.com".into(),
        queue: "Support".into(),
    }];
    let Ok(email) = parse_email(data.to_vec(), "ann@example.org".into(), to) else {
        return;
    };
    assert_eq!(email.raw, data, "the raw message is the record");
    assert!(!email.from.trim().is_empty());
    assert_eq!(email.html_raw.is_some(), email.html_sanitised.is_some());
    for tag in start_tags(email.html_sanitised.as_deref().unwrap_or_default()) {
        assert!(
            !DROPPED_ELEMENTS.contains(&tag.name.as_str()),
            "<{}> kept",
            tag.name
        );
        for (attr, value) in &tag.attributes {
            assert!(
                !attr.starts_with("on"),
                "handler {attr} kept on <{}>",
                tag.name
            );
            if tag.name == "img" && attr == "src" {
                assert!(
                    value.to_ascii_lowercase().starts_with("cid:"),
                    "image {value} kept"
                );
            }
        }
    }
    for attachment in &email.attachments {
        assert_eq!(
            attachment.content_type,
            attachment.content_type.to_ascii_lowercase()
        );
    }
});

//! Headers that make answers safe to show in a browser: every answer
//! says not to sniff its type, not to send a referrer and not to be
//! framed; a shared file is served as an attachment in a sandbox, with a
//! type a browser will not run.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

const EVERY_ANSWER: [(&str, &str); 3] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
];

/// Adds the security headers to every answer (a handler's own value of
/// one of them wins).
pub(super) async fn security(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in EVERY_ANSWER {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// What a file's answer carries besides its type and name: no script,
/// form, plugin or same-origin access, even if a browser renders it.
pub(super) const FILE_POLICY: (&str, &str) = ("content-security-policy", "sandbox");

/// Types a browser shows but never runs; anything else (HTML, SVG, XML,
/// scripts, text in UTF-7 or other charsets) is served as bytes.
const SHOWN_AS_IS: [&str; 10] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "audio/mpeg",
    "audio/ogg",
    "video/mp4",
    "video/webm",
    "application/octet-stream",
];

/// The type to serve a file with, from the type its uploader gave.
pub(super) fn safe_content_type(given: &str) -> String {
    let mut parts = given.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if SHOWN_AS_IS.contains(&essence.as_str()) {
        return essence;
    }
    if essence == "text/plain" {
        let charset_ok = parts.all(|p| {
            let p = p.trim().to_ascii_lowercase();
            !p.starts_with("charset=")
                || matches!(
                    p.trim_start_matches("charset=").trim_matches('"'),
                    "utf-8" | "us-ascii"
                )
        });
        if charset_ok {
            return "text/plain; charset=utf-8".into();
        }
    }
    "application/octet-stream".into()
}

/// A file name for `Content-Disposition`: printable ASCII without quotes
/// or backslashes (anything else becomes `_`).
pub(super) fn attachment(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_browser_could_run_is_served_as_bytes() {
        for risky in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "image/svg+xml",
            "application/xml",
            "text/xml",
            "application/javascript",
            "text/javascript",
            "text/plain; charset=utf-7",
            "text/plain; charset=\"UTF-7\"",
            "application/xhtml+xml",
            "",
            "nonsense",
        ] {
            assert_eq!(
                safe_content_type(risky),
                "application/octet-stream",
                "{risky}"
            );
        }
    }

    #[test]
    fn images_documents_and_plain_text_keep_their_type() {
        assert_eq!(safe_content_type("image/PNG"), "image/png");
        assert_eq!(safe_content_type("application/pdf"), "application/pdf");
        assert_eq!(safe_content_type("text/plain"), "text/plain; charset=utf-8");
        assert_eq!(
            safe_content_type("text/plain; charset=US-ASCII"),
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn a_file_name_cannot_break_out_of_its_header() {
        assert_eq!(
            attachment("a\"b\\c\r\nSet-Cookie: x=1 é.html"),
            "attachment; filename=\"a_b_c__Set-Cookie: x=1 _.html\""
        );
    }
}

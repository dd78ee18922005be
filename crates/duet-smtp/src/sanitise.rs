//! HTML shown to agents, made safe with ammonia: an allow-list of tags and
//! attributes, so anything not listed (scripts, event handlers, `style`,
//! forms, frames, SVG, MathML) is dropped rather than escaped.
//!
//! Images are kept only when they point inside the message (`cid:`): a remote
//! image is a tracking pixel that tells the sender when an agent opened the
//! email, and a relative one would be fetched from our own server.

use std::borrow::Cow;
use std::sync::LazyLock;

/// URL schemes allowed in links (`a href` and the like). `javascript:` and
/// `data:` are not among them.
const URL_SCHEMES: &[&str] = &["http", "https", "mailto", "tel", "cid"];

/// Built once: the allow-lists are the same for every message.
static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(URL_SCHEMES.iter().copied().collect())
        // Agents open links from strangers: never hand them our page.
        .link_rel(Some("noopener noreferrer"))
        .attribute_filter(|element, attribute, value| {
            if element == "img" && attribute == "src" {
                let inline = value
                    .get(..4)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("cid:"));
                return inline.then_some(Cow::Borrowed(value));
            }
            Some(Cow::Borrowed(value))
        });
    // Not in ammonia's default allow-list today; removed explicitly so a
    // change of defaults cannot bring them back (SVG and MathML can carry
    // scripts and remote references of their own).
    builder.rm_tags(["svg", "math"]);
    builder
});

/// Sanitises an email's HTML body for display to an agent. Keeps basic
/// formatting, tables, links (with `rel="noopener noreferrer"`) and inline
/// images by `cid:`; removes scripts, event handlers, `javascript:` URLs,
/// SVG, MathML and anything that would fetch a remote resource.
pub fn sanitise_html(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::sanitise_html;

    #[test]
    fn scripts_and_their_content_are_removed() {
        let out = sanitise_html("<p>hi</p><script>alert('x')</script>");
        assert_eq!(out, "<p>hi</p>");
    }

    #[test]
    fn event_handlers_are_removed() {
        let out = sanitise_html(r#"<img src="cid:logo" onerror="alert(1)"><b onclick="x()">b</b>"#);
        assert!(!out.contains("onerror"), "{out}");
        assert!(!out.contains("onclick"), "{out}");
        assert!(out.contains(r#"<img src="cid:logo">"#), "{out}");
        assert!(out.contains("<b>b</b>"), "{out}");
    }

    #[test]
    fn javascript_urls_are_removed() {
        let out = sanitise_html(r#"<a href="javascript:alert(1)">click</a>"#);
        assert!(!out.contains("javascript"), "{out}");
        assert!(out.contains("click"), "{out}");
        let out = sanitise_html(r#"<a href="JaVaScRiPt:alert(1)">click</a>"#);
        assert!(!out.to_ascii_lowercase().contains("javascript"), "{out}");
    }

    #[test]
    fn svg_and_math_are_removed() {
        let out = sanitise_html(
            r#"<svg onload="alert(1)"><script>alert(2)</script><circle r="5"/></svg><math><mi>x</mi></math><p>ok</p>"#,
        );
        assert!(!out.contains("<svg"), "{out}");
        assert!(!out.contains("<circle"), "{out}");
        assert!(!out.contains("<math"), "{out}");
        assert!(!out.contains("<mi"), "{out}");
        assert!(!out.contains("alert"), "{out}");
        assert!(out.contains("<p>ok</p>"), "{out}");
    }

    #[test]
    fn remote_resources_are_removed() {
        let out = sanitise_html(
            r#"<img src="https://tracker.example/pixel.gif" alt="t"><img src="/local.png"><iframe src="https://x.example"></iframe><link rel="stylesheet" href="https://x.example/a.css"><style>body{background:url(https://x.example/b)}</style><p style="background:url(https://x.example/c)">p</p>"#,
        );
        assert!(!out.contains("tracker"), "{out}");
        assert!(!out.contains("local.png"), "{out}");
        assert!(!out.contains("iframe"), "{out}");
        assert!(!out.contains("x.example"), "{out}");
        assert!(out.contains("<p>p</p>"), "{out}");
    }

    #[test]
    fn formatting_links_tables_and_cid_images_are_kept() {
        let html = concat!(
            r#"<h1>Order</h1><p><b>bold</b> <i>it</i> <u>u</u><br></p>"#,
            r#"<ul><li>one</li></ul>"#,
            r#"<table><thead><tr><th>a</th></tr></thead><tbody><tr><td colspan="2">1</td></tr></tbody></table>"#,
            r#"<a href="https://example.com/x">link</a>"#,
            r#"<img src="cid:part1.abc@example.com" alt="logo">"#,
        );
        let out = sanitise_html(html);
        for kept in [
            "<h1>Order</h1>",
            "<b>bold</b>",
            "<i>it</i>",
            "<u>u</u>",
            "<br>",
            "<ul><li>one</li></ul>",
            "<table>",
            "<th>a</th>",
            r#"<td colspan="2">1</td>"#,
            r#"<a href="https://example.com/x" rel="noopener noreferrer">link</a>"#,
            r#"<img src="cid:part1.abc@example.com" alt="logo">"#,
        ] {
            assert!(out.contains(kept), "{kept:?} missing from {out}");
        }
    }

    #[test]
    fn mailto_links_are_kept() {
        let out = sanitise_html(r#"<a href="mailto:help@example.com">mail us</a>"#);
        assert!(out.contains(r#"href="mailto:help@example.com""#), "{out}");
    }
}

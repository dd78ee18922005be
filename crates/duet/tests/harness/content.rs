//! Large content for tests and benches: bytes that do not repeat, and an
//! email carrying them as an attachment, as a sending server would.

/// `n` bytes that do not repeat within a chunk (equal chunks are kept
/// once), from `seed`.
pub fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// An email to Sales with a line of HTML and `attachment` (a PDF, base64
/// in the message: about 4/3 of its size), Message-ID `<message_id@customer.test>`.
pub fn email(attachment: &[u8], message_id: &str) -> lettre::Message {
    use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
    lettre::Message::builder()
        .from("Dave <dave@customer.test>".parse().unwrap())
        .to("sales@example.test".parse().unwrap())
        .subject("Scans")
        .message_id(Some(format!("<{message_id}@customer.test>")))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::html("<p>The <b>scans</b>.</p>".to_string()))
                .singlepart(Attachment::new("scans.pdf".into()).body(
                    attachment.to_vec(),
                    ContentType::parse("application/pdf").unwrap(),
                )),
        )
        .unwrap()
}

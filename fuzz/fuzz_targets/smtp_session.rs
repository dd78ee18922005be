//! A whole SMTP session from a client's bytes, through the intake's
//! sans-IO dialogue, arriving in reads of a size the input's first byte
//! picks. Beyond "no panic": every reply is one or more well-formed reply
//! lines (a code from 2xx to 5xx, the same on each line, `-` on all but the
//! last) of at most 512 octets with no CR or LF inside; between lines the
//! session holds at most one command line's bytes; a message handed on
//! is within the size and recipient limits.
#![no_main]

use duet_smtp::{
    Data, Dialogue, Input, IntakeConfig, MAX_COMMAND_LINE_BYTES, MAX_REPLY_LINE_BYTES, Step, Tls,
};
use libfuzzer_sys::fuzz_target;

/// Small limits, so the fuzzer reaches them.
const MAX_MESSAGE_BYTES: usize = 2048;
const MAX_RECIPIENTS: usize = 3;

fn check_reply(reply: &str) {
    let lines: Vec<&str> = reply.split("\r\n").collect();
    let code = &reply.as_bytes()[..3];
    for (i, line) in lines.iter().enumerate() {
        let bytes = line.as_bytes();
        assert!(
            bytes.len() + 2 <= MAX_REPLY_LINE_BYTES,
            "a reply line of {} octets: {line:?}",
            bytes.len() + 2
        );
        assert!(!line.contains(['\r', '\n']), "a line break inside {line:?}");
        assert!(matches!(bytes[0], b'2'..=b'5'), "reply code in {line:?}");
        assert!(
            bytes[1..3].iter().all(u8::is_ascii_digit),
            "reply code in {line:?}"
        );
        assert_eq!(&bytes[..3], code, "one code per reply: {reply:?}");
        let last = i + 1 == lines.len();
        let separator = if last { b' ' } else { b'-' };
        assert_eq!(bytes.get(3), Some(&separator), "separator in {line:?}");
    }
}

/// Queues take mail for addresses at example.com.
fn resolve(address: &str) -> Option<String> {
    address
        .ends_with("@example.com")
        .then(|| "Support".to_string())
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let read_bytes = usize::from(first & 0x7f) + 1;
    let tls = if first & 0x80 == 0 {
        Tls::Offered
    } else {
        Tls::NotOffered
    };
    let config = IntakeConfig {
        hostname: "mx.example.com".into(),
        max_message_bytes: MAX_MESSAGE_BYTES,
        max_recipients: MAX_RECIPIENTS,
        ..IntakeConfig::default()
    };
    let mut dialogue = Dialogue::new(&config, tls);
    check_reply(&dialogue.greeting());
    let mut input = Input::default();
    let mut data: Option<Data> = None;
    for read in bytes.chunks(read_bytes) {
        input.push(read);
        loop {
            if let Some(message) = data.as_mut() {
                if !message.ingest(&mut input) {
                    break;
                }
                let message = data.take().expect("a message being read");
                match dialogue.message(message) {
                    Ok(email) => {
                        assert!(email.raw.len() <= MAX_MESSAGE_BYTES);
                        assert!(!email.to.is_empty() && email.to.len() <= MAX_RECIPIENTS);
                    }
                    Err(reply) => check_reply(&reply),
                }
                continue;
            }
            let Some(line) = input.next_line() else {
                assert!(
                    input.len() <= MAX_COMMAND_LINE_BYTES,
                    "{} bytes held",
                    input.len()
                );
                break;
            };
            match dialogue.line(line, resolve) {
                Step::Reply(reply) => check_reply(&reply),
                Step::Data(reply) => {
                    check_reply(&reply);
                    data = Some(Data::new(MAX_MESSAGE_BYTES));
                }
                Step::StartTls(reply) => {
                    check_reply(&reply);
                    assert_eq!(tls, Tls::Offered);
                    input.clear();
                    dialogue.tls_started();
                }
                Step::Quit(reply) => {
                    check_reply(&reply);
                    return;
                }
            }
        }
    }
});

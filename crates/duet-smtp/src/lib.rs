//! Email for duet: the SMTP intake that takes customers' email in, the
//! sanitiser that makes its HTML safe to show an agent, and the relay that
//! sends replies out.
//!
//! Guarantees of the intake ([`serve`]):
//! - A message is answered `250 ... queued as <id>` only after the
//!   [`MailSink`] confirmed it stored the message (on a duet node: durably
//!   replicated). Until then the client keeps its copy.
//! - A message is stored whole or not at all: one over `max_message_bytes`
//!   is read to its end, discarded and answered 552; one that does not parse
//!   as an email (no From, say) is answered 554 and logged.
//! - [`ReceivedEmail::raw`] is the message exactly as received (after
//!   dot-unstuffing); everything else in it is derived.
//! - Every limit is stated and bounded: line length, message size,
//!   recipients, connections, idle time, the wait for the sink. One slow or
//!   broken client affects only its own connection, and input never panics.
//!
//! - With a TLS acceptor ([`serve_with_starttls`]) EHLO offers STARTTLS;
//!   after it the session starts afresh over TLS (what the client sent
//!   before the handshake is discarded, as RFC 3207 asks).
//!
//! HTML from outside is shown only through [`sanitise_html`].
//!
//! What a session says is decided without I/O ([`Dialogue`], [`Input`],
//! [`Data`]); the intake only reads, writes and waits around it.

mod email;
mod intake;
mod relay;
mod sanitise;
mod session;
mod stream;

pub use email::{Attachment, ParseError, ReceivedEmail, Recipient, parse_email};
pub use intake::{
    DeliveryFuture, DeliveryReceipt, DeliveryRefusal, IntakeConfig, IntakeError, MailSink, serve,
    serve_with_starttls,
};
pub use relay::{
    OutboundAttachment, OutboundEmail, RelayConfig, RelayCredentials, RelayError, build_message,
    send,
};
pub use sanitise::sanitise_html;
pub use session::{
    Data, Dialogue, Input, Line, MAX_COMMAND_LINE_BYTES, MAX_REPLY_LINE_BYTES, Received, Step, Tls,
};

//! Real traffic for process and fault tests: the load engine of
//! `duet-client` (customers chatting over REST and WebSocket, emails by
//! SMTP with HTML and an attachment, callbacks, agents accepting,
//! replying, transferring and wrapping up) against a pair, and what must
//! hold of its report once it has drained.

use duet_client::load::{LoadSpec, Report, Tally};

use super::{PASSWORD, Pair, USER};

/// Six customers and three agents on both nodes (HTTP and SMTP), with
/// emails, callbacks and transfers mixed in; the queue and agents are made
/// by the bootstrap administrator.
pub fn spec(pair: &Pair) -> LoadSpec {
    let mut spec = LoadSpec::new([pair.nodes[0].url(), pair.nodes[1].url()]);
    spec.smtp = pair
        .nodes
        .iter()
        .map(|n| format!("{}:{}", n.placement.control, n.placement.smtp_port))
        .collect();
    spec.customers = 6;
    spec.agents = 3;
    spec.rate_per_customer = 4.0;
    spec.email_every = 3;
    spec.callback_every = 4;
    spec.transfer_percent = 30;
    spec.admin = Some((USER.into(), PASSWORD.into()));
    spec
}

/// Nothing acknowledged lost, doubled or out of order in the final
/// transcripts; every accepted email and acknowledged callback found once.
/// (A message a node acknowledged while it served cut off from its peer is
/// in the transcript once the pair heals, in the place it was taken, but
/// reaches the other party only if the conversation is still open then.)
pub fn assert_nothing_lost(report: &Report, context: &str) {
    let t: &Tally = &report.tally;
    let shown = format!("{report:#?}\n{context}");
    assert_eq!(t.messages_lost, 0, "{shown}");
    assert_eq!(t.messages_doubled, 0, "{shown}");
    assert_eq!(t.messages_out_of_order, 0, "{shown}");
    assert_eq!(t.emails_present, t.emails_accepted, "{shown}");
    assert_eq!(t.emails_doubled, 0, "{shown}");
    assert_eq!(t.callbacks_present, t.callbacks_acknowledged, "{shown}");
}

/// All of the above, and every acknowledged message delivered live to the
/// other party. (A message may still come twice on a feed, shown once by
/// its id: one the failing node applied but had not acknowledged, then
/// its resend on the new active node.)
pub fn assert_all_delivered(report: &Report, context: &str) {
    assert_nothing_lost(report, context);
    let t: &Tally = &report.tally;
    let shown = format!("{report:#?}\n{context}");
    assert!(report.settled, "the load did not settle: {shown}");
    assert_eq!(t.messages_delivered, t.messages_acknowledged, "{shown}");
}

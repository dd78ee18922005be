//! A node that takes over acknowledges a client's retry of a change it
//! holds only once that change is stored: it may have applied it as the
//! backup and not stored it yet, and a crash would lose what the client
//! was told (a loss the pair simulation found).

use duet_config::{Class, Edit, Object, Op, TreePath};
use duet_link::Change;
use duet_link::protocol::StreamToBackup;
use duet_replica::{Context, Input, Output};
use duet_stream::Entry;

mod common;

use common::{Node, empty_node};

fn backup() -> Node {
    empty_node("b", "a")
}

fn put(client: &str) -> (String, Op) {
    let op = Op::Put {
        path: TreePath::parse("/config/Sim/k").unwrap(),
        object: Object::new(Class::Folder).with("v", "1"),
    };
    (client.to_string(), op)
}

/// The node's store: tickets in the order of its writes.
#[derive(Default)]
struct Store {
    written: u64,
}

impl Store {
    /// Takes the outputs' writes; returns the answers.
    fn carry_out(&mut self, outputs: Vec<Output<u8, u32>>) -> Vec<(u32, Result<u64, String>)> {
        let mut answers = Vec::new();
        for output in outputs {
            match output {
                Output::Persist(_) => self.written += 1,
                Output::Answer { to, result } => {
                    answers.push((to, result.map_err(|e| e.to_string())))
                }
                _ => {}
            }
        }
        answers
    }
}

#[test]
fn a_retry_of_a_change_applied_but_not_stored_waits_for_the_store() {
    let ctx = Context {
        mono_ms: 1_000,
        unix_ms: 1_800_000_000_000,
        serving: true,
        active_elsewhere: None,
    };
    let mut node = backup();
    let mut store = Store::default();
    store.carry_out(node.take_outputs());
    // As the backup it applies the active node's change 1 (client c1)...
    let (client, op) = put("c1");
    let edit = Edit {
        at_unix_ms: ctx.unix_ms,
        who: "admin".into(),
        client: client.clone(),
        op: op.clone(),
        healed_from: None,
    };
    let entry = Entry {
        epoch: 2,
        seq: 1,
        change: Change::Config(edit),
    };
    let applied = node.handle(&ctx, Input::FromActive(StreamToBackup::Entry(entry)));
    assert!(store.carry_out(applied).is_empty());
    // ...and takes over before its store has made it durable.
    let outputs = node.handle(
        &ctx,
        Input::BecomeActive {
            epoch: 3,
            desktops_here: Vec::new(),
        },
    );
    store.carry_out(outputs);
    // The client retries it here: known, but not yet stored.
    let retry = Input::ConfigWrite {
        client,
        who: "admin".into(),
        op,
        reply: 7,
    };
    let answers = store.carry_out(node.handle(&ctx, retry));
    assert!(
        answers.is_empty(),
        "acknowledged before it was stored: {answers:?}"
    );
    // Once the store has it, the retry is answered with the change's number.
    let answers = store.carry_out(node.handle(&ctx, Input::Durable(store.written)));
    assert_eq!(answers, vec![(7, Ok(1))]);
}

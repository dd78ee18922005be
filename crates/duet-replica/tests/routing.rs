//! When the active node's router decides: after a change that may give it
//! something to do (a new chat, a new directory), not after a chat message,
//! which only adds to a transcript: an idle decision walks every queue's
//! members, and chat traffic would pay it on every batch.

mod common;

use common::{Node, empty_node};
use duet_config::{Class, Object, Op, TreePath};
use duet_interactions::model::{Content, Party, Sender};
use duet_interactions::{Actor, Change, Command, MediaType, NewInteraction};
use duet_replica::directory::{USERS, WORKGROUPS};
use duet_replica::{Context, Input, Output};

const UNIX_MS: u64 = 1_800_000_000_000;

fn ctx() -> Context {
    Context {
        mono_ms: 1_000,
        unix_ms: UNIX_MS,
        serving: true,
        active_elsewhere: None,
    }
}

/// A node and its store's count of writes (the runtime numbers each
/// `Persist` as it comes: its ticket).
struct Active {
    node: Node,
    written: u64,
}

impl Active {
    /// Hands the node `input`, then makes durable what it asked to store;
    /// the answers to the test's writes.
    fn handle(&mut self, input: Input<u8, u32>) -> Vec<Result<u64, String>> {
        let mut answers = Vec::new();
        let mut outputs = self.node.handle(&ctx(), input);
        while !outputs.is_empty() {
            let written = self.written;
            for output in outputs {
                match output {
                    Output::Persist(_) => self.written += 1,
                    Output::Answer { result, .. } => {
                        answers.push(result.map_err(|e| e.to_string()))
                    }
                    _ => {}
                }
            }
            outputs = if self.written > written {
                self.node.handle(&ctx(), Input::Durable(self.written))
            } else {
                Vec::new()
            };
        }
        answers
    }
}

/// An active node alone, with agent ann in queue Sales, and nothing left
/// to route.
fn active() -> Active {
    let mut node = empty_node("a", "b");
    node.take_outputs();
    let mut node = Active { node, written: 0 };
    node.handle(Input::BecomeActive {
        epoch: 2,
        desktops_here: Vec::new(),
    });
    let puts = [
        (
            format!("{USERS}/ann"),
            Object::new(Class::User)
                .with("roles", "agent")
                .with("capacity", "chat:3"),
        ),
        (
            format!("{WORKGROUPS}/Sales"),
            Object::new(Class::Workgroup).with("members", "ann"),
        ),
    ];
    for (n, (path, object)) in puts.into_iter().enumerate() {
        let op = Op::Put {
            path: TreePath::parse(&path).expect("a path"),
            object,
        };
        let answers = node.handle(Input::ConfigWrite {
            client: format!("setup-{n}"),
            who: "test".into(),
            op,
            reply: 0,
        });
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    }
    node.handle(Input::Tick);
    node.handle(Input::Route);
    node
}

fn customer(client: &str, change: Change) -> Input<u8, u32> {
    Input::InteractionWrite {
        command: Box::new(Command::new(
            client.to_string(),
            UNIX_MS,
            Actor::Customer,
            change,
        )),
        reply: 1,
    }
}

#[test]
fn a_new_chat_makes_the_router_decide_and_its_messages_do_not() {
    let mut node = active();
    assert!(!node.node.routing_wanted(), "nothing to route yet");
    let chat = NewInteraction {
        id: "chat-1".into(),
        media: MediaType::Chat,
        queue: "Sales".into(),
        priority: 0,
        skills: Default::default(),
        attributes: Default::default(),
        customer: Party {
            name: "Ida".into(),
            address: Default::default(),
        },
        content: Content::Transcript(Default::default()),
    };
    let answers = node.handle(customer("c-1", Change::Create(Box::new(chat))));
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert!(node.node.routing_wanted(), "a new chat may be offered");
    node.handle(Input::Route);
    assert!(
        !node.node.routing_wanted(),
        "decided (nobody is logged in to take it)"
    );

    for n in 0..3 {
        let message = Change::Message {
            id: "chat-1".into(),
            message_id: format!("m{n}"),
            sender: Sender::Customer,
            body: "hello?".into(),
        };
        let answers = node.handle(customer(&format!("m-{n}"), message));
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        assert!(
            !node.node.routing_wanted(),
            "a message gives the router nothing to decide"
        );
    }
}

#[test]
fn a_new_directory_makes_the_router_decide() {
    let mut node = active();
    assert!(!node.node.routing_wanted());
    let op = Op::Put {
        path: TreePath::parse(&format!("{USERS}/bob")).expect("a path"),
        object: Object::new(Class::User)
            .with("roles", "agent")
            .with("capacity", "chat:3"),
    };
    let answers = node.handle(Input::ConfigWrite {
        client: "bob".into(),
        who: "test".into(),
        op,
        reply: 0,
    });
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    node.handle(Input::Tick);
    assert!(
        node.node.routing_wanted(),
        "a new agent may take what waits"
    );
}

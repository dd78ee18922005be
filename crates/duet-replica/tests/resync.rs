//! A backup's resync while the active node goes on changing things: the
//! configuration's resync is answered from the active node's tree as it
//! is then, so the backup may take settings made after the resync's
//! position. Every interaction change must still be applied on the backup
//! under the same settings as on the active node: both states alike at
//! every position they share.

use std::collections::VecDeque;

use duet_config::{Class, Object, Op, TreePath};
use duet_interactions::model::chunk_name;
use duet_interactions::{Actor, Change, Command};
use duet_link::protocol::{StreamToActive, StreamToBackup};
use duet_replica::directory::SETTINGS;
use duet_replica::{Context, FromBackup, Input, Output};
use duet_rsm::StateMachine;

mod common;

use common::{Node, empty_node};

/// More than the common node's `catch_up_changes` (100).
const CHANGES_PAST_CATCH_UP: usize = 110;
/// When the first chunk is stored, unix ms.
const START_UNIX_MS: u64 = 1_800_000_000_000;

/// Hands `node` `input` and what follows from it: its store makes
/// everything durable at once, a snapshot is encoded at once, and its
/// messages wait in `to_backup` and `to_active`.
fn drive(
    node: &mut Node,
    ctx: &Context,
    input: Input<u8, u32>,
    to_backup: &mut VecDeque<StreamToBackup>,
    to_active: &mut VecDeque<StreamToActive>,
) {
    let mut inputs = VecDeque::from([input]);
    while let Some(input) = inputs.pop_front() {
        let mut persisted = false;
        for output in node.handle(ctx, input) {
            match output {
                Output::Send { message, .. } => to_backup.push_back(message),
                Output::ToActive(message) => to_active.push_back(message),
                Output::Persist(_) => persisted = true,
                Output::EncodeSnapshot { at, items } => {
                    let chunks = std::sync::Arc::new(duet_replica::snapshot::encode(items));
                    inputs.push_back(Input::SnapshotEncoded { at, chunks });
                }
                _ => {}
            }
        }
        if persisted {
            inputs.push_back(Input::Durable(u64::MAX));
        }
    }
}

/// Two nodes and the messages between them, delivered when the test says.
struct Pair {
    active: Node,
    backup: Node,
    to_backup: VecDeque<StreamToBackup>,
    to_active: VecDeque<StreamToActive>,
    unix_ms: u64,
}

impl Pair {
    fn ctx(&self, serving: bool) -> Context {
        Context {
            mono_ms: 1_000,
            unix_ms: self.unix_ms,
            serving,
            active_elsewhere: None,
        }
    }

    /// Hands the active node `input`.
    fn on_active(&mut self, input: Input<u8, u32>) {
        let ctx = self.ctx(true);
        let (to_backup, to_active) = (&mut self.to_backup, &mut self.to_active);
        drive(&mut self.active, &ctx, input, to_backup, to_active);
    }

    fn on_backup(&mut self, input: Input<u8, u32>) {
        let ctx = self.ctx(false);
        let (to_backup, to_active) = (&mut self.to_backup, &mut self.to_active);
        drive(&mut self.backup, &ctx, input, to_backup, to_active);
    }

    /// Delivers the active node's next message to the backup.
    fn deliver_to_backup(&mut self) -> bool {
        let Some(message) = self.to_backup.pop_front() else {
            return false;
        };
        self.on_backup(Input::FromActive(message));
        true
    }

    /// Delivers the backup's next message to the active node.
    fn deliver_to_active(&mut self) -> bool {
        let Some(message) = self.to_active.pop_front() else {
            return false;
        };
        let from = FromBackup::from_stream(message, 1, Some(1)).expect("on the main connection");
        self.on_active(Input::FromBackup(from));
        true
    }

    /// Delivers everything either way until nothing is in flight.
    fn settle(&mut self) {
        while self.deliver_to_backup() || self.deliver_to_active() {}
    }

    /// A chunk of content nobody refers to yet, stored at `unix_ms`.
    fn store_chunk(&mut self, client: &str, bytes: &[u8], unix_ms: u64) {
        self.unix_ms = unix_ms;
        let change = Change::Chunk {
            name: chunk_name(bytes),
            bytes: bytes.to_vec().into(),
        };
        self.on_active(Input::InteractionWrite {
            command: Box::new(Command::new(client, unix_ms, Actor::Customer, change)),
            reply: 1,
        });
    }

    /// The administrator sets how long content nobody refers to is kept.
    fn set_keep_s(&mut self, client: &str, keep_s: u64) {
        let op = Op::Put {
            path: TreePath::parse(SETTINGS).expect("a path"),
            object: Object::new(Class::Folder)
                .with("unreferenced_chunk_keep_s", &keep_s.to_string()),
        };
        self.on_active(Input::ConfigWrite {
            client: client.into(),
            who: "admin".into(),
            op,
            reply: 2,
        });
    }
}

#[test]
fn a_setting_made_while_a_backup_resynchronises_applies_on_the_backup_where_it_did_on_the_active_node()
 {
    let mut pair = Pair {
        active: empty_node("a", "b"),
        backup: empty_node("b", "a"),
        to_backup: VecDeque::new(),
        to_active: VecDeque::new(),
        unix_ms: START_UNIX_MS,
    };
    pair.active.take_outputs();
    pair.backup.take_outputs();
    pair.on_active(Input::BecomeActive {
        epoch: 1,
        desktops_here: Vec::new(),
    });
    pair.set_keep_s("keep-1h", 3_600);
    // More changes than the active node keeps for a backup to catch up
    // from (`catch_up_changes`): the backup is resynchronised.
    for n in 0..CHANGES_PAST_CATCH_UP {
        pair.on_active(Input::ConfigWrite {
            client: format!("filler-{n}"),
            who: "admin".into(),
            op: Op::Put {
                path: TreePath::parse(&format!("/config/Filler/f{n}")).expect("a path"),
                object: Object::new(Class::Folder),
            },
            reply: 3,
        });
    }
    let first = b"the first upload, cut off";
    pair.store_chunk("chunk-1", first, START_UNIX_MS);

    // The backup, holding nothing of it, is resynchronised to the active
    // node's position now.
    pair.on_backup(Input::ActiveLinkUp);
    pair.deliver_to_active();
    while !matches!(
        pair.to_backup.front(),
        Some(StreamToBackup::ResyncStart { .. })
    ) {
        assert!(pair.deliver_to_backup(), "a resync starts");
    }
    pair.deliver_to_backup();

    // Its first request is under way when, on the active node, a second
    // chunk comes ten seconds later (under an hour's keep the first is
    // kept), then the keep becomes 2 s, before the answer is made.
    pair.store_chunk("chunk-2", b"the second upload", START_UNIX_MS + 10_000);
    assert!(
        pair.active
            .interactions()
            .state
            .chunk(&chunk_name(first))
            .is_some(),
        "kept under an hour's keep"
    );
    pair.set_keep_s("keep-2s", 2);
    pair.settle();

    // Both nodes at one position, with one state: the backup did not apply
    // the second chunk's change under the keep made after it.
    assert_eq!(pair.backup.position(), pair.active.position());
    let (active, backup) = (
        &pair.active.interactions().state,
        &pair.backup.interactions().state,
    );
    assert_eq!(backup.position(), active.position());
    assert_eq!(
        backup.chunk(&chunk_name(first)).is_some(),
        active.chunk(&chunk_name(first)).is_some(),
        "the first chunk held alike"
    );
    assert_eq!(backup.digest(), active.digest(), "one interaction state");
    assert!(
        !pair.active.snapshot_held(),
        "the snapshot is let go once the backup installed it"
    );

    // The next change lets the first chunk go on both, under the keep now.
    pair.store_chunk("chunk-3", b"the third upload", START_UNIX_MS + 20_000);
    pair.settle();
    let (active, backup) = (
        &pair.active.interactions().state,
        &pair.backup.interactions().state,
    );
    assert!(active.chunk(&chunk_name(first)).is_none(), "let go");
    assert_eq!(backup.digest(), active.digest(), "one interaction state");
}

//! The interaction state in the store: rows written a few at a time,
//! deletions, a start equal to the live state, a resync replacing
//! everything, and a store of the layout before rows.

use std::collections::BTreeMap;

use duet_interactions::model::{AgentConfig, Content, Party, QueueConfig, QueueMember};
use duet_interactions::{
    Actor, Change, Command, DEFAULT_LIMITS, Directory, Interactions, MediaType, NewInteraction,
};
use duet_rsm::{Position, StateMachine};
use duet_stream::Entry;
use redb::{ReadableDatabase, ReadableTable};

use super::{LOG, META, ROWS, SNAPSHOT, SNAPSHOT_AT};
use crate::{Store, StoreWrite};

fn directory() -> Directory {
    let member = || ("ann".to_string(), QueueMember::default());
    Directory {
        queues: BTreeMap::from([(
            "sales".to_string(),
            QueueConfig {
                members: BTreeMap::from([member()]),
                ..QueueConfig::default()
            },
        )]),
        agents: BTreeMap::from([(
            "ann".to_string(),
            AgentConfig {
                capacity: BTreeMap::from([(MediaType::Chat, 3)]),
                ..AgentConfig::default()
            },
        )]),
        ..Directory::default()
    }
}

fn chat(id: &str) -> Change {
    Change::Create(Box::new(NewInteraction {
        id: id.into(),
        media: MediaType::Chat,
        queue: "sales".into(),
        priority: 0,
        skills: BTreeMap::new(),
        attributes: BTreeMap::new(),
        customer: Party {
            address: "visitor".into(),
            name: "Visitor".into(),
        },
        content: Content::Transcript(Default::default()),
    }))
}

fn message(id: &str, n: u64) -> Change {
    Change::Message {
        id: id.into(),
        message_id: format!("m{n}"),
        sender: duet_interactions::model::Sender::Customer,
        body: format!("text {n}"),
    }
}

/// A live state and its store, changed the way the replication task
/// changes them: each command logged, the rows taken when asked.
struct Node {
    dir: tempfile::TempDir,
    /// Taken out to open the store again, as a start does.
    store: Option<Store>,
    state: Interactions,
    seq: u64,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        Node {
            dir,
            store: Some(store),
            state: Interactions::new(directory(), DEFAULT_LIMITS),
            seq: 0,
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("open")
    }

    fn run(&mut self, change: Change) {
        self.seq += 1;
        let command = Command::new(
            format!("c{}", self.seq),
            self.seq * 1000,
            Actor::System,
            change,
        );
        self.state
            .apply(Position::new(2, self.seq), &command)
            .unwrap();
        let entry = Entry {
            epoch: 2,
            seq: self.seq,
            change: command,
        };
        self.store()
            .commit(&[StoreWrite::Interaction(entry)])
            .unwrap();
    }

    /// `replaced`: the state was replaced (a resync).
    fn store_rows(&mut self, replaced: bool) {
        let rows = self.state.take_rows();
        let at = self.state.position();
        self.store()
            .commit(&[StoreWrite::InteractionRows { at, rows, replaced }])
            .unwrap();
    }

    fn reopen(&mut self) -> crate::LoadedInteractions {
        self.reopen_with(directory()).unwrap()
    }

    fn reopen_with(
        &mut self,
        directory: Directory,
    ) -> Result<crate::LoadedInteractions, crate::StoreError> {
        self.store = None;
        self.store = Some(Store::open(self.dir.path()).unwrap());
        self.store().load_interactions(directory)
    }

    fn row_keys(&self) -> Vec<String> {
        let txn = self.store().db.begin_read().unwrap();
        let table = txn.open_table(ROWS).unwrap();
        table
            .iter()
            .unwrap()
            .map(|row| row.unwrap().0.value().to_string())
            .collect()
    }
}

#[test]
fn rows_written_a_few_at_a_time_load_as_the_live_state_and_replay_only_the_tail() {
    let mut node = Node::new();
    node.run(chat("x"));
    node.run(chat("y"));
    node.store_rows(false);
    for n in 0..5 {
        node.run(message("x", n));
    }
    node.run(Change::AgentLogin {
        agent: "ann".into(),
        media: vec![],
    });
    node.store_rows(false);
    let stored_at = node.state.position();
    node.run(message("y", 9));
    node.run(chat("z"));
    let loaded = node.reopen();
    assert_eq!(
        loaded.from, stored_at.seq,
        "the rows stand where last taken"
    );
    let replayed: Vec<u64> = loaded
        .logged
        .iter()
        .map(|(e, _)| e.seq)
        .filter(|seq| *seq > loaded.from)
        .collect();
    assert_eq!(replayed, [9, 10], "only the tail is replayed");
    assert_eq!(
        loaded.logged.len(),
        10,
        "the log before the rows is kept for a heal"
    );
    assert_eq!(loaded.state.digest(), node.state.digest());
    assert!(loaded.state == node.state, "every item and the history");
}

#[test]
fn a_forgotten_interaction_is_deleted_from_the_rows() {
    let mut node = Node::new();
    node.run(chat("x"));
    node.run(chat("y"));
    node.store_rows(false);
    assert!(node.row_keys().contains(&"interaction/x".to_string()));
    node.run(Change::Disconnect { id: "x".into() });
    node.run(Change::Forget { id: "x".into() });
    node.store_rows(false);
    let keys = node.row_keys();
    assert!(!keys.contains(&"interaction/x".to_string()), "{keys:?}");
    assert!(keys.contains(&"interaction/y".to_string()), "{keys:?}");
    let loaded = node.reopen();
    assert!(loaded.state.get("x").is_none());
    assert!(loaded.state == node.state, "every item and the history");
}

#[test]
fn a_state_replaced_by_a_resync_replaces_every_row() {
    let mut node = Node::new();
    for id in ["old-1", "old-2"] {
        node.run(chat(id));
    }
    node.store_rows(false);
    // Logged past the position the resync brings (it served alone).
    for n in 3..=9 {
        node.run(chat(&format!("old-{n}")));
    }
    // The active node's state, another history: one chat of its own.
    let mut active = Interactions::new(directory(), DEFAULT_LIMITS);
    let command = Command::new("a1", 5_000, Actor::System, chat("new"));
    active.apply(Position::new(3, 7), &command).unwrap();
    let at: Position = active.position();
    node.state
        .install(&active.snapshot_pages(1024), at)
        .unwrap();
    node.store_rows(true);
    let keys = node.row_keys();
    assert!(keys.contains(&"interaction/new".to_string()), "{keys:?}");
    assert!(
        !keys.iter().any(|k| k.starts_with("interaction/old")),
        "{keys:?}"
    );
    let loaded = node.reopen();
    assert_eq!(loaded.from, 7);
    assert!(
        loaded.logged.is_empty(),
        "the log of the replaced history goes"
    );
    assert_eq!(loaded.state.digest(), active.digest());
    assert!(loaded.state == active, "every item and the history");
}

#[test]
fn a_store_of_snapshot_pages_still_loads_and_its_first_rows_replace_them() {
    let mut node = Node::new();
    node.run(chat("x"));
    node.run(message("x", 1));
    // The layout before rows: the whole state as pages at a position,
    // then the log after it.
    let at = node.state.position();
    let pages = node.state.snapshot_pages(1024);
    {
        let txn = node.store().db.begin_write().unwrap();
        let mut snapshot = txn.open_table(SNAPSHOT).unwrap();
        for (i, page) in pages.iter().enumerate() {
            let bytes = postcard::to_allocvec(page).unwrap();
            snapshot.insert(i as u64, bytes.as_slice()).unwrap();
        }
        drop(snapshot);
        let bytes = postcard::to_allocvec(&at).unwrap();
        let mut meta = txn.open_table(META).unwrap();
        meta.insert(SNAPSHOT_AT, bytes.as_slice()).unwrap();
        drop(meta);
        txn.open_table(LOG)
            .unwrap()
            .retain(|seq, _| seq > at.seq)
            .unwrap();
        txn.commit().unwrap();
    }
    node.run(chat("y"));
    let loaded = node.reopen();
    assert_eq!(loaded.from, at.seq);
    assert!(loaded.state == node.state, "every item and the history");
    // The node takes it on and stores its rows: all of them, once.
    node.state = loaded.state;
    let rows = node.state.take_rows();
    assert!(rows.whole, "a state from pages is stored whole");
    let at = node.state.position();
    node.store()
        .commit(&[StoreWrite::InteractionRows {
            at,
            rows,
            replaced: false,
        }])
        .unwrap();
    {
        let txn = node.store().db.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        assert!(meta.get(SNAPSHOT_AT).unwrap().is_none());
        assert!(txn.open_table(SNAPSHOT).is_err(), "the pages are gone");
    }
    let reloaded = node.reopen();
    assert_eq!(reloaded.from, at.seq);
    assert_eq!(
        reloaded.logged.len(),
        1,
        "the log the pages did not hold is kept"
    );
    assert!(reloaded.state == node.state, "every item and the history");
    assert_eq!(reloaded.state.get("y").map(|ix| ix.id.as_str()), Some("y"));
}

#[test]
fn rows_stored_at_a_directory_change_leave_only_changes_checked_against_the_new_one_to_replay() {
    let mut node = Node::new();
    node.run(chat("x"));
    // The queue is renamed: a chat created in "sales" cannot be replayed
    // against the new directory, so the rows are stored first (as the
    // replication task does), and only what follows is replayed.
    let mut renamed = directory();
    let sales = renamed.queues.remove("sales").unwrap();
    renamed.queues.insert("support".into(), sales);
    node.store_rows(false);
    node.state.set_directory(renamed.clone());
    let mut created = chat("y");
    if let Change::Create(new) = &mut created {
        new.queue = "support".into();
    }
    node.run(created);
    let loaded = node.reopen_with(renamed.clone()).unwrap();
    assert!(loaded.state == node.state, "every item and the history");
    // Without those rows the log would be replayed from the start, and
    // its first change no longer checks.
    let mut fresh = Node::new();
    fresh.run(chat("x"));
    assert!(matches!(
        fresh.reopen_with(renamed),
        Err(crate::StoreError::Damaged(_))
    ));
}

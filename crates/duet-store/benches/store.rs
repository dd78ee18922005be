//! The interaction state's store under a large state, in process: a
//! directory with one queue, `--chats` chats waiting in it, each with
//! `--messages` messages from its customer, all stored as rows. Then,
//! `--rounds` times, one more message to one chat (logged) and the rows
//! changed since the last take taken on the replication task and
//! committed by the store: what the node does every replication tick.
//! Beside it what the whole state costs: taking every row (a resync's
//! install, a store of the earlier layout) and committing them, and what
//! the node did before rows at every directory change and every 20,000
//! commands, `snapshot_pages` of the whole state on the replication
//! task (then encoded and written by the store). Last, a start: the rows
//! read and installed.
//!
//! cargo bench -p duet-store --bench store -- [--chats N] [--messages M] [--rounds R]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use duet_interactions::model::{Content, Party, QueueConfig, Sender};
use duet_interactions::{
    Actor, Change, Command, DEFAULT_LIMITS, Directory, Interactions, MediaType, NewInteraction,
};
use duet_rsm::{Position, StateMachine};
use duet_store::{SNAPSHOT_PAGE_BYTES, Store, StoreWrite};
use duet_stream::Entry;

fn number(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn directory(chats: usize) -> Directory {
    let mut directory = Directory::default();
    directory
        .queues
        .insert("sales".into(), QueueConfig::default());
    // Room to spare: creation stops short of the limit.
    directory.settings.live_interactions_max = chats * 2;
    directory
}

fn create(id: usize) -> Change {
    Change::Create(Box::new(NewInteraction {
        id: format!("chat-{id:06}"),
        media: MediaType::Chat,
        queue: "sales".into(),
        priority: 0,
        skills: BTreeMap::new(),
        attributes: BTreeMap::new(),
        customer: Party {
            address: format!("visitor-{id}").into(),
            name: "Visitor".into(),
        },
        content: Content::Transcript(Default::default()),
    }))
}

fn message(id: usize, n: usize) -> Change {
    Change::Message {
        id: format!("chat-{id:06}"),
        message_id: format!("m{n}"),
        sender: Sender::Customer,
        body: format!("message {n}: where is my order? It was due on Monday."),
    }
}

struct Bench {
    state: Interactions,
    store: Store,
    seq: u64,
}

impl Bench {
    fn apply(&mut self, change: Change) -> Entry<Command> {
        self.seq += 1;
        let command = Command::new(
            format!("c{}", self.seq),
            1_800_000_000_000 + self.seq,
            Actor::System,
            change,
        );
        self.state
            .apply(Position::new(2, self.seq), &command)
            .expect("the change applies");
        Entry {
            epoch: 2,
            seq: self.seq,
            change: command,
        }
    }

    /// Takes the changed rows (the replication task's part) and commits
    /// them (the store writer's part).
    fn store_rows(&mut self) -> (Duration, Duration, usize) {
        let t = Instant::now();
        let rows = self.state.take_rows();
        let take = t.elapsed();
        let count = rows.changed.len();
        let write = StoreWrite::InteractionRows {
            at: self.state.position(),
            rows,
            replaced: false,
        };
        let t = Instant::now();
        self.store.commit(&[write]).expect("the rows commit");
        (take, t.elapsed(), count)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let chats = number("--chats", 100_000);
    let messages = number("--messages", 3);
    let rounds = number("--rounds", 20).max(1);
    let dir = std::env::temp_dir().join(format!("duet-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the store");
    let store = Store::open(&dir).expect("a store");
    let mut b = Bench {
        state: Interactions::new(directory(chats), DEFAULT_LIMITS),
        store,
        seq: 0,
    };
    let t = Instant::now();
    for id in 0..chats {
        b.apply(create(id));
        for n in 0..messages {
            b.apply(message(id, n));
        }
    }
    println!(
        "{chats} chats with {messages} messages each: {} commands applied in {:.0} ms",
        b.seq,
        ms(t.elapsed())
    );

    let (take, commit, count) = b.store_rows();
    println!(
        "every row ({count}): taken in {:.1} ms, committed in {:.1} ms",
        ms(take),
        ms(commit)
    );
    let t = Instant::now();
    let pages = b.state.snapshot_pages(SNAPSHOT_PAGE_BYTES);
    let snapshot = t.elapsed();
    println!(
        "before rows, snapshot_pages of the whole state ({} pages) on the replication task: {:.1} ms",
        pages.len(),
        ms(snapshot)
    );
    // A resync's install of the same state, three times: every row taken
    // again (committed once: the rows are those above, numbered anew).
    let mut takes = Vec::new();
    for _ in 0..3 {
        let position = b.state.position();
        b.state.install(&pages, position).expect("installs");
        let t = Instant::now();
        let rows = b.state.take_rows();
        takes.push(t.elapsed());
        assert!(rows.whole);
        let write = StoreWrite::InteractionRows {
            at: position,
            rows,
            replaced: true,
        };
        if takes.len() == 3 {
            b.store.commit(&[write]).expect("the rows commit");
        }
    }
    takes.sort();
    println!(
        "every row taken again after an install: {:.1} ms median ({:.1}-{:.1})",
        ms(takes[1]),
        ms(takes[0]),
        ms(takes[2])
    );
    drop(pages);

    let (mut takes, mut commits) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let id = round * 7919 % chats.max(1);
        let entry = b.apply(message(id, messages + round));
        b.store
            .commit(&[StoreWrite::Interaction(entry)])
            .expect("the log commits");
        let (take, commit, count) = b.store_rows();
        assert!(
            count <= 3,
            "one chat, the meta and the history: {count} rows"
        );
        takes.push(take);
        commits.push(commit);
    }
    takes.sort();
    commits.sort();
    println!(
        "one message, then the changed rows ({rounds} rounds): taken in {:.3} ms median ({:.3} max), committed in {:.2} ms median ({:.2} max)",
        ms(takes[rounds / 2]),
        ms(takes[rounds - 1]),
        ms(commits[rounds / 2]),
        ms(commits[rounds - 1])
    );

    let expected = b.state.digest();
    drop(b);
    let t = Instant::now();
    let store = Store::open(&dir).expect("the store again");
    let loaded = store
        .load_interactions(directory(chats))
        .expect("the state loads");
    println!(
        "a start: rows read and installed, the log replayed, in {:.0} ms",
        ms(t.elapsed())
    );
    assert_eq!(loaded.state.digest(), expected, "loaded as it was");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

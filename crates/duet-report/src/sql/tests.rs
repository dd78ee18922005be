//! The store's behaviour on every database: each test body runs on
//! SQLite and on a throwaway PostgreSQL cluster (`crate::testing`),
//! which a machine without PostgreSQL fails on unless
//! `DUET_SKIP_POSTGRES=1`.

use std::sync::atomic::{AtomicUsize, Ordering};

use duet_interactions::change::{Actor, Change, Command};
use duet_interactions::model::MediaType;

use crate::Position;
use crate::config::{ConfigKind, ConfigVersion};
use crate::database::{AnyStore, Database};
use crate::frame::Frame;
use crate::ingest::Ingest;
use crate::store::{ReportStore, StoreError};
use crate::testing::{Cluster, accept, agent, create, disconnect, offer};

/// Where test databases are made.
pub(crate) enum Place {
    Sqlite(tempfile::TempDir, AtomicUsize),
    Postgres(Cluster),
}

/// SQLite, and PostgreSQL unless skipped.
pub(crate) fn places() -> Vec<Place> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut places = vec![Place::Sqlite(dir, AtomicUsize::new(0))];
    places.extend(Cluster::start_or_skip().map(Place::Postgres));
    places
}

impl Place {
    /// A new empty database.
    pub(crate) fn fresh(&self) -> Database {
        match self {
            Place::Sqlite(dir, n) => {
                let name = format!("r{}.db", n.fetch_add(1, Ordering::SeqCst));
                Database::Sqlite(dir.path().join(name))
            }
            Place::Postgres(cluster) => cluster.database(),
        }
    }
}

#[test]
fn a_database_migrated_by_a_newer_duet_is_refused() {
    for place in places() {
        let database = place.fresh();
        let db = database.open().unwrap();
        assert_eq!(db.schema_version().unwrap(), 5);
        drop(db);
        let bump = match &database {
            Database::Sqlite(_) => "PRAGMA user_version = 99",
            Database::Postgres(_) => "UPDATE schema_version SET version = 99",
        };
        crate::sql::Backend::write(&mut database.open().unwrap().db, |tx| tx.batch(bump)).unwrap();
        for opened in [database.open(), database.open_read_only()] {
            assert!(
                matches!(
                    opened,
                    Err(StoreError::TooNew {
                        found: 99,
                        known: 5
                    })
                ),
                "{database}: {:?}",
                opened.err()
            );
        }
    }
}

fn version(seq: u64, valid_from_ms: u64, name: Option<&str>) -> ConfigVersion {
    ConfigVersion {
        path: "/config/Users/alice".into(),
        kind: ConfigKind::User,
        name: "alice".into(),
        epoch: 1,
        seq,
        valid_from_ms,
        valid_to_ms: None,
        attributes: name.map(|n| [("display_name".to_string(), n.to_string())].into()),
    }
}

#[test]
fn versions_chain_and_a_history_the_node_shortened_loses_nothing() {
    for place in places() {
        config_versions_chain(&mut place.fresh().open().unwrap());
    }
}

fn config_versions_chain(db: &mut AnyStore) {
    db.write_config(&[version(7, 1_000, Some("Alice"))])
        .unwrap();
    // The node has since dropped record 7 from its history: record 9
    // and the version before it (seq 0) are all it shows.
    db.write_config(&[
        version(0, 0, Some("Alice")),
        version(9, 5_000, Some("Alicia")),
    ])
    .unwrap();
    let plain: Vec<(u64, u64, Option<u64>)> = db
        .config_versions(ConfigKind::User)
        .unwrap()
        .iter()
        .map(|v| (v.seq, v.valid_from_ms, v.valid_to_ms))
        .collect();
    assert_eq!(plain, [(7, 1_000, Some(5_000)), (9, 5_000, None)]);
    assert_eq!(db.standing_config_paths().unwrap(), ["/config/Users/alice"]);
    db.write_config(&[version(12, 8_000, None)]).unwrap();
    assert!(db.standing_config_paths().unwrap().is_empty(), "removed");
    assert!(db.config_versions(ConfigKind::Queue).unwrap().is_empty());
}

/// A PostgreSQL server stopped under a writer: the write fails whole (no
/// row, the cursor where it was); once the server is back a new store
/// carries on from the cursor, and the session the write failed under
/// ends as `database_lost`, not as a writer lost.
/// Change `seq` of epoch 1, made at `seq` seconds.
fn change(seq: u64, actor: Actor, change: Change) -> Frame {
    Frame::Change {
        at: Position::new(1, seq),
        command: Box::new(Command::new("", seq * 1_000, actor, change)),
    }
}

/// A writer's first session on `database`, from the stream's start.
fn started(database: &Database) -> Ingest<AnyStore> {
    let mut ingest = Ingest::new(database.open().unwrap()).unwrap();
    ingest.connected("a", 0).unwrap();
    let gap = Frame::Gap {
        position: Position::new(1, 0),
        at_ms: 0,
    };
    ingest.frame(gap, 0).unwrap();
    ingest
}

#[test]
fn a_postgresql_server_stopped_under_a_writer_loses_no_change() {
    let Some(cluster) = Cluster::start_or_skip() else {
        return;
    };
    let database = cluster.database();
    let mut ingest = started(&database);
    ingest
        .frame(change(1, Actor::System, create("c1", MediaType::Chat)), 0)
        .unwrap();
    let session = ingest.session().expect("a session");
    cluster.stop().unwrap();
    let failed = ingest.frame(change(2, Actor::Router, offer("c1", "ann")), 0);
    assert!(failed.is_err(), "a write with the server stopped");
    assert!(database.open().is_err(), "no store while it is down");
    cluster.resume().unwrap();

    let mut ingest = Ingest::new(database.open().unwrap()).unwrap();
    assert_eq!(
        ingest.cursor(),
        Some(Position::new(1, 1)),
        "the last commit"
    );
    ingest.database_lost(session, 5).unwrap();
    ingest.connected("a", 6).unwrap();
    let resume = Frame::Resume {
        position: Position::new(1, 1),
        at_ms: 6,
    };
    ingest.frame(resume, 6).unwrap();
    ingest
        .frame(change(2, Actor::Router, offer("c1", "ann")), 6)
        .unwrap();
    ingest
        .frame(change(3, agent("ann"), accept("c1", "ann")), 6)
        .unwrap();
    let store = ingest.store();
    assert_eq!(store.cursor().unwrap(), Some(Position::new(1, 3)));
    assert!(store.gaps().unwrap().is_empty());
    let ends: Vec<_> = store
        .sessions()
        .unwrap()
        .into_iter()
        .map(|s| s.end_reason)
        .collect();
    assert_eq!(ends, [Some("database_lost".to_string()), None]);
    let answered = store
        .queue_events(0, u64::MAX >> 1)
        .unwrap()
        .iter()
        .filter(|e| e.kind == crate::rows::QueueEventKind::Answered)
        .count();
    assert_eq!(answered, 1);
}

#[test]
fn of_interactions_asked_about_those_held_closed_are_named() {
    for place in places() {
        closed_among(&place.fresh());
    }
}

fn closed_among(database: &Database) {
    let mut ingest = started(database);
    // c2's customer leaves while it waits: closed; c1 stays open.
    let steps = [
        (Actor::System, create("c1", MediaType::Chat)),
        (Actor::System, create("c2", MediaType::Chat)),
        (Actor::Customer, disconnect("c2")),
    ];
    for (seq, (actor, c)) in (1..).zip(steps) {
        ingest.frame(change(seq, actor, c), 0).unwrap();
    }
    let asked = ["c1", "c2", "c9"].map(String::from);
    assert_eq!(ingest.store().closed_among(&asked).unwrap(), ["c2"]);
    assert!(ingest.store().closed_among(&[]).unwrap().is_empty());
}

#[test]
fn a_first_session_resumed_from_the_first_change_covers_the_time_before_it() {
    for place in places() {
        resumed_from_the_first(&place.fresh());
    }
}

/// A writer that first connects at 50 s to a node holding every change
/// since the first: sent all of them, its database has each, and its
/// coverage starts before the first (nothing was made before it), not
/// at the connection; a later gap still starts a span of its own.
fn resumed_from_the_first(database: &Database) {
    let mut ingest = Ingest::new(database.open().unwrap()).unwrap();
    ingest.connected("a", 50_000).unwrap();
    let resume = Frame::Resume {
        position: Position::new(1, 2),
        at_ms: 50_000,
    };
    ingest.frame(resume, 50_000).unwrap();
    assert_eq!(ingest.cursor(), None, "nothing written yet");
    for (seq, (actor, c)) in (1..).zip([
        (Actor::System, create("c1", MediaType::Chat)),
        (Actor::Router, offer("c1", "ann")),
    ]) {
        ingest.frame(change(seq, actor, c), 50_000).unwrap();
    }
    assert_eq!(ingest.cursor(), Some(Position::new(1, 2)));
    let open: Vec<String> = ingest
        .store()
        .open_interactions()
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(open, ["c1"]);
    let spans = ingest.store().coverage().unwrap();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].start_ms, 0, "{spans:?}");
    assert_eq!(spans[0].end_ms, 2_000, "{spans:?}");

    let gap = Frame::Gap {
        position: Position::new(2, 9),
        at_ms: 90_000,
    };
    ingest.frame(gap, 90_000).unwrap();
    let spans = ingest.store().coverage().unwrap();
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert_eq!(spans[1].start_ms, 90_000, "{spans:?}");
    assert_eq!(ingest.cursor(), Some(Position::new(2, 9)));
}

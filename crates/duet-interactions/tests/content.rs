//! Content kept as chunks (`model::blob`): a chunk is stored by a change
//! of its own, named by its hash, before the change that refers to it;
//! what refers to a chunk not held, or to more than the settings allow,
//! is refused; chunks nobody refers to are let go after
//! `UNREFERENCED_CHUNK_KEEP_MS`, on every node alike; rows and snapshots
//! carry them.

mod support;

use duet_interactions::model::blob::split;
use duet_interactions::model::{
    Blob, CHUNK_BYTES_MAX, FileRef, Sender, UNREFERENCED_CHUNK_KEEP_MS, chunk_name,
};
use duet_interactions::state::{PageItem, RowKey};
use duet_interactions::{Actor, Change, Error, Interactions, MediaType};
use duet_rsm::StateMachine;
use support::*;

fn file(message_id: &str, content: &Blob) -> Change {
    Change::FileShared {
        id: "chat1".into(),
        message_id: message_id.into(),
        sender: Sender::Customer,
        file: FileRef {
            file_id: format!("chat1/{message_id}"),
            name: "photo.jpg".into(),
            size_bytes: content.size_bytes,
            content_type: "image/jpeg".into(),
        },
        content: content.clone(),
    }
}

fn chat(h: &mut Harness) {
    h.sys(1_000, create("chat1", MediaType::Chat, "sales"));
}

/// `n` bytes that do not repeat within a chunk (equal chunks are one).
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) + 1;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn a_chunk_is_named_by_its_hash_and_bounded() {
    let mut h = Harness::new(directory());
    let chunk = |name: String, bytes: Vec<u8>| Change::Chunk {
        name,
        bytes: bytes.into(),
    };
    let wrong = chunk(chunk_name(b"other"), b"these".to_vec());
    assert!(matches!(
        h.run(1_000, Actor::Customer, wrong),
        Err(Error::Invalid { what: "chunk", .. })
    ));
    assert!(matches!(
        h.run(1_000, Actor::Customer, chunk(chunk_name(b""), Vec::new())),
        Err(Error::Invalid { what: "chunk", .. })
    ));
    let big = bytes(CHUNK_BYTES_MAX + 1, 1);
    assert!(matches!(
        h.run(1_000, Actor::Customer, chunk(chunk_name(&big), big)),
        Err(Error::Invalid { what: "chunk", .. })
    ));
    let whole = bytes(CHUNK_BYTES_MAX, 2);
    h.sys(1_000, chunk(chunk_name(&whole), whole.clone()));
    assert_eq!(h.state.chunk_bytes(), CHUNK_BYTES_MAX as u64);
    // The same chunk again (a resent upload) is kept once: nobody
    // refers to it yet, so it is stored afresh (its keep starts again).
    h.state.take_rows();
    h.sys(2_000, chunk(chunk_name(&whole), whole.clone()));
    assert_eq!(h.state.chunk_bytes(), CHUNK_BYTES_MAX as u64);
    let rows = h.state.take_rows();
    let stored_again: Vec<u64> = (rows.changed.iter())
        .filter_map(|(_, item)| match item {
            Some(PageItem::Chunk { chunk, .. }) => Some(chunk.stored_at_ms),
            _ => None,
        })
        .collect();
    assert_eq!(stored_again, [2_000]);
    // Sent again earlier than it was last stored: nothing changes.
    h.sys(1_500, chunk(chunk_name(&whole), whole));
    let rows = h.state.take_rows();
    assert!(
        !rows
            .changed
            .iter()
            .any(|(k, _)| matches!(k, RowKey::Chunk(_))),
        "no chunk row written again: {:?}",
        rows.changed.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
}

#[test]
fn content_is_referred_to_only_once_every_chunk_is_held_and_within_the_settings() {
    let mut dir = directory();
    dir.settings.content_bytes_max = 3 * CHUNK_BYTES_MAX as u64;
    dir.settings.content_held_bytes_max = 3 * CHUNK_BYTES_MAX as u64 + 200;
    let mut h = Harness::new(dir);
    chat(&mut h);
    let photo = bytes(2 * CHUNK_BYTES_MAX + 100, 3);
    let (blob, pieces) = split(&photo.clone().into());
    assert_eq!(blob.chunks.len(), 3);
    // The last chunk missing: refused, naming it.
    for (name, piece) in &pieces[..2] {
        h.sys(
            2_000,
            Change::Chunk {
                name: name.clone(),
                bytes: piece.clone(),
            },
        );
    }
    match h.run(2_100, Actor::Customer, file("m1", &blob)) {
        Err(Error::ContentMissing { chunk }) => assert_eq!(chunk, blob.chunks[2]),
        other => panic!("{other:?}"),
    }
    h.store(2_200, &photo);
    // Sizes that do not add up: refused.
    let mut lying = blob.clone();
    lying.size_bytes += 1;
    assert!(h.run(2_300, Actor::Customer, file("m1", &lying)).is_err());
    h.run(2_300, Actor::Customer, file("m1", &blob)).unwrap();
    // Past the largest content: refused before any chunk is looked at.
    let huge = Blob {
        size_bytes: 3 * CHUNK_BYTES_MAX as u64 + 1,
        chunks: vec![],
    };
    assert!(matches!(
        h.run(2_400, Actor::Customer, file("m2", &huge)),
        Err(Error::ContentTooLarge { .. })
    ));
    // Past what the state holds in all: refused until some is let go.
    h.store(2_500, &bytes(CHUNK_BYTES_MAX / 2, 4));
    let more = bytes(CHUNK_BYTES_MAX, 5);
    assert!(matches!(
        h.run(
            2_600,
            Actor::Customer,
            Change::Chunk {
                name: chunk_name(&more),
                bytes: more.clone().into(),
            }
        ),
        Err(Error::ContentFull { .. })
    ));
    // The half chunk nobody refers to goes after its keep; then there
    // is room.
    h.sys(2_500 + UNREFERENCED_CHUNK_KEEP_MS, login("ann"));
    h.store(2_600 + UNREFERENCED_CHUNK_KEEP_MS, &more);
}

#[test]
fn chunks_nobody_refers_to_go_after_their_keep_and_those_referred_to_stay() {
    let mut h = Harness::new(directory());
    chat(&mut h);
    let kept = bytes(1_000, 6);
    let blob = h.store(2_000, &kept);
    h.run(2_000, Actor::Customer, file("m1", &blob)).unwrap();
    let orphan = h.store(3_000, &bytes(500, 7));
    let later = 3_000 + UNREFERENCED_CHUNK_KEEP_MS;
    h.sys(later - 1, login("ann"));
    assert!(
        h.state.chunk(&orphan.chunks[0]).is_some(),
        "kept until then"
    );
    h.sys(later, login("bob"));
    assert!(h.state.chunk(&orphan.chunks[0]).is_none(), "let go");
    assert!(h.state.chunk(&blob.chunks[0]).is_some(), "referred to");
    assert_eq!(h.state.chunk_bytes(), 1_000);
    h.state.take_rows();
    // The chat ends and is forgotten: its file's chunk goes with it (it
    // was stored long enough ago).
    h.sys(later + 1, Change::Disconnect { id: "chat1".into() });
    h.sys(later + 2, Change::Forget { id: "chat1".into() });
    assert!(h.state.chunk(&blob.chunks[0]).is_none());
    assert_eq!(h.state.chunk_bytes(), 0);
    let rows = h.state.take_rows();
    let gone = RowKey::Chunk(blob.chunks[0].clone());
    assert!(rows.changed.contains(&(gone, None)), "its row is deleted");
}

#[test]
fn rows_and_snapshots_carry_chunks_and_their_references() {
    let mut h = Harness::new(directory());
    chat(&mut h);
    let blob = h.store(2_000, &bytes(CHUNK_BYTES_MAX + 7, 8));
    h.run(2_000, Actor::Customer, file("m1", &blob)).unwrap();
    let orphan = h.store(2_500, &bytes(10, 9));
    let rows = h.state.take_rows();
    let chunk_rows = rows
        .changed
        .iter()
        .filter(|(k, item)| matches!((k, item), (RowKey::Chunk(_), Some(PageItem::Chunk { .. }))))
        .count();
    assert_eq!(chunk_rows, 3);
    let mut from_rows = Interactions::from_rows(
        directory(),
        duet_interactions::DEFAULT_LIMITS,
        rows.changed.into_iter().map(|(k, item)| (k, item.unwrap())),
        h.state.position(),
    )
    .unwrap();
    let mut from_snapshot = Interactions::new(directory(), duet_interactions::DEFAULT_LIMITS);
    from_snapshot
        .install(&h.state.snapshot_pages(512 * 1024), h.state.position())
        .unwrap();
    for copy in [&mut from_rows, &mut from_snapshot] {
        assert!(*copy == h.state);
        assert_eq!(copy.digest(), h.state.digest());
        assert_eq!(copy.chunk_bytes(), h.state.chunk_bytes());
        // The copy lets the same chunk go at the same change.
        let later = 2_500 + UNREFERENCED_CHUNK_KEEP_MS;
        let at = duet_rsm::Position::new(1, h.seq + 1);
        let cmd = duet_interactions::Command::new("x", later, Actor::System, login("ann"));
        copy.apply(at, &cmd).unwrap();
        assert!(copy.chunk(&orphan.chunks[0]).is_none());
        assert!(copy.chunk(&blob.chunks[1]).is_some());
    }
}

/// Content sent again after an upload was cut off: a chunk held but
/// nobody's, stored again, keeps for another hour from then (it is not
/// let go between it and the change that names it), and one held for a
/// while yet is reported kept so it need not be sent.
#[test]
fn a_chunk_sent_again_is_kept_afresh_and_one_about_to_go_is_not_reported_kept() {
    let mut h = Harness::new(directory());
    chat(&mut h);
    let photo = bytes(1_000, 10);
    let blob = h.store(2_000, &photo);
    let name = &blob.chunks[0];
    assert!(
        h.state
            .chunk_kept(name, 2_000 + UNREFERENCED_CHUNK_KEEP_MS / 2 - 1)
    );
    let late = 2_000 + UNREFERENCED_CHUNK_KEEP_MS - 10;
    assert!(
        !h.state.chunk_kept(name, late),
        "about to go: send it again"
    );
    h.store(late, &photo);
    assert!(h.state.chunk_kept(name, late + 1));
    // Past the first keep, it is still there, and the file takes it.
    h.sys(2_000 + UNREFERENCED_CHUNK_KEEP_MS + 5, login("ann"));
    assert!(h.state.chunk(name).is_some());
    h.run(late + 20, Actor::Customer, file("m1", &blob))
        .unwrap();
    assert!(
        h.state
            .chunk_kept(name, late + 10 * UNREFERENCED_CHUNK_KEEP_MS)
    );
}

/// A reply is sent whole: its attachments together are at most the
/// largest content, however often they name the same chunks.
#[test]
fn a_drafts_attachments_together_are_bounded_like_an_email() {
    use duet_interactions::model::Attachment;
    let mut dir = directory();
    dir.settings.content_bytes_max = 3 * CHUNK_BYTES_MAX as u64;
    let mut h = Harness::new(dir);
    h.sys(1_000, login("ann"));
    h.sys(1_000, create("e1", MediaType::Email, "sales"));
    h.route(1_000);
    h.run(
        1_100,
        Actor::Agent("ann".into()),
        Change::Accept {
            id: "e1".into(),
            agent: "ann".into(),
        },
    )
    .unwrap();
    let blob = h.store(1_200, &bytes(2 * CHUNK_BYTES_MAX, 11));
    let attachment = |id: &str| Attachment {
        id: id.into(),
        name: format!("{id}.pdf"),
        content_type: "application/pdf".into(),
        content: blob.clone(),
    };
    let draft = |attachments| Change::EmailDraft {
        id: "e1".into(),
        reply_id: "r1".into(),
        agent: "ann".into(),
        html: String::new(),
        text: "here".into(),
        attachments,
    };
    let ann = || Actor::Agent("ann".into());
    h.run(1_300, ann(), draft(vec![attachment("a")])).unwrap();
    assert!(matches!(
        h.run(1_400, ann(), draft(vec![attachment("a"), attachment("b")])),
        Err(Error::ContentTooLarge { .. })
    ));
}

//! Shared by the tests and the sync benchmark.

use duet_config::Tree;
use duet_config::digest::Bucket;
use duet_config::sync::{Resync, answer};

/// Runs a resynchronisation of `local` from `active` in memory; returns the
/// number of requests and the bytes exchanged (postcard, as the link sends
/// them).
pub fn resync(active: &Tree, local: &mut Tree) -> (usize, usize) {
    let root = active.digests().get(Bucket::ROOT);
    let (mut session, mut request) = Resync::start(local, root);
    let mut bytes = 16;
    while let Some(r) = request {
        let a = answer(active, &r);
        bytes +=
            postcard::to_allocvec(&r).unwrap().len() + postcard::to_allocvec(&a).unwrap().len();
        request = session.on_answer(local, a);
    }
    local.synchronised_to(active.last_applied());
    (session.requests, bytes)
}

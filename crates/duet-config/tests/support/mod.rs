//! Shared by the tests and the sync benchmark.

use duet_config::Tree;
use duet_config::digest::Bucket;
use duet_config::scope::Scope;
use duet_config::sync::{Resync, answer};

/// Runs a resynchronisation of `local` from `active` in memory, both sides
/// compressing their messages when `compress`; returns the number of
/// requests and the bytes exchanged (postcard, as the link sends them).
pub fn resync_with(active: &Tree, local: &mut Tree, compress: bool) -> (usize, usize) {
    let root = active.digests().get(Bucket::ROOT);
    let upto = active.last_applied();
    let (mut session, mut request) = Resync::start(local, root, upto, Scope::Full, compress);
    let mut bytes = 16;
    while let Some(r) = request {
        bytes += postcard::to_allocvec(&r).unwrap().len();
        let a = answer(active, r, compress).unwrap();
        bytes += postcard::to_allocvec(&a).unwrap().len();
        request = session.on_answer(local, a).unwrap();
    }
    local.synchronised_to(upto);
    (session.requests, bytes)
}

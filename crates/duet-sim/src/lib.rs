//! Deterministic simulations. Of the switchover engine: the real engine
//! on a virtual clock against a simulated active node and network
//! ([`world`], [`sim`]), named scenarios for timelines ([`scenario`]), and
//! randomised fault schedules checked against the invariants ([`random`]).
//! Of a whole pair's replication ([`pair`]): two replica cores with their
//! stores, the link, crashes and clients, from a seed, checked against the
//! pair's promise.

pub mod pair;
pub mod random;
pub mod scenario;
pub mod sim;
pub mod world;

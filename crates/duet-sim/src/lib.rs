//! Deterministic simulation of the switchover engine: the real engine on a
//! virtual clock against a simulated active node and network
//! ([`world`], [`sim`]), named scenarios for timelines ([`scenario`]), and
//! randomised fault schedules checked against the invariants ([`random`]).

pub mod random;
pub mod scenario;
pub mod sim;
pub mod world;

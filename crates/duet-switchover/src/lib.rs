//! The switchover engine: a sans-IO state machine that decides, on the
//! backup, when the active node has failed and a switchover must happen.
//!
//! It reads no clock, opens no socket and spawns nothing. The caller feeds
//! [`Event`]s with the current time in milliseconds to [`Engine::handle`] and
//! carries out the returned [`Command`]s; [`Engine::next_deadline`] says when
//! to send the next [`Event::Tick`].
//!
//! Parts: the module monitor ([`module_monitor`]), the primary monitor's
//! notifier pings ([`primary_monitor`]), its network diagnosis
//! ([`diagnosis`]), and the state machine ([`engine`]). [`bounds`] derives
//! from the parameters how long detection may take.

pub mod bounds;
mod ctx;
mod diagnosis;
mod engine;
mod io;
mod module_monitor;
mod primary_monitor;

pub use ctx::Links;
pub use engine::{Config, Engine, State, Status};
pub use io::{
    Activation, Command, Conn, Event, Level, Record, Release, RequestId, ServiceMode, SwitchReason,
    SwitchRefusal, Topic,
};

#[cfg(test)]
mod tests;

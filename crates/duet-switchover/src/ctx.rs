//! The context a sub-machine works in while the engine handles one event:
//! the time, the parameters, where commands go and the request counter.

use duet_params::ServerParams;

use crate::diagnosis::EchoTargets;
use crate::io::{Command, Conn, Level, Record, RequestId, Topic};

/// Which link connections are up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Links {
    pub main_up: bool,
    pub aux_up: bool,
}

impl Links {
    pub fn up(self, conn: Conn) -> bool {
        match conn {
            Conn::Main => self.main_up,
            Conn::Aux => self.aux_up,
        }
    }

    pub fn set(&mut self, conn: Conn, up: bool) {
        match conn {
            Conn::Main => self.main_up = up,
            Conn::Aux => self.aux_up = up,
        }
    }

    pub fn any_up(self) -> bool {
        self.main_up || self.aux_up
    }

    /// The connection to use: main when up, else auxiliary.
    pub fn first_up(self) -> Option<Conn> {
        [Conn::Main, Conn::Aux].into_iter().find(|c| self.up(*c))
    }
}

pub(crate) struct Ctx<'a> {
    pub now_ms: u64,
    pub params: &'a ServerParams,
    pub targets: &'a EchoTargets,
    pub out: &'a mut Vec<Command>,
    pub next_id: &'a mut RequestId,
}

impl Ctx<'_> {
    pub fn request_id(&mut self) -> RequestId {
        *self.next_id += 1;
        *self.next_id
    }

    pub fn send(&mut self, command: Command) {
        self.out.push(command);
    }

    pub fn record(&mut self, topic: Topic, level: Level, message: impl Into<String>) {
        self.out.push(Command::Record(Record {
            topic,
            level,
            message: message.into(),
        }));
    }

    pub fn module_name(&self) -> &'static str {
        self.params.monitored_module.seed_name()
    }
}

/// A request waiting for its answer until `deadline_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    pub id: RequestId,
    pub deadline_ms: u64,
}

impl Pending {
    pub fn new(ctx: &mut Ctx, timeout_ms: u64) -> Pending {
        Pending {
            id: ctx.request_id(),
            deadline_ms: ctx.now_ms + timeout_ms,
        }
    }

    pub fn is(&self, id: RequestId) -> bool {
        self.id == id
    }

    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms >= self.deadline_ms
    }
}

/// The earliest of several optional deadlines.
pub(crate) fn earliest(deadlines: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    deadlines.into_iter().flatten().min()
}

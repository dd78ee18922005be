//! Frames of the stream into a [`ReportStore`]: the data-source session
//! they belong to, gaps and coverage, and each change's rows with its
//! position, in one write. No clock and no socket here: the caller says
//! when a connection began and ended and passes its clock's time.
//!
//! After a store error the caller drops the [`Ingest`] and makes a new
//! one from the store, whose cursor and open interactions are as the
//! last committed write left them: the fold may have moved past a write
//! that failed.

use crate::Position;
use crate::fold::Fold;
use crate::frame::Frame;
use crate::store::{ReportStore, Result, SessionEnd, Written};

pub struct Ingest<S> {
    store: S,
    fold: Fold,
    cursor: Option<Position>,
    session: Option<i64>,
}

/// What the caller does after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Read,
    /// The node closed the socket behind us: connect again.
    Reconnect,
}

impl<S: ReportStore> Ingest<S> {
    pub fn new(store: S) -> Result<Ingest<S>> {
        let fold = Fold::restore(store.open_interactions()?);
        let cursor = store.cursor()?;
        Ok(Ingest {
            store,
            fold,
            cursor,
            session: None,
        })
    }

    /// Where the stream is to resume: `?after=` of the next connection.
    pub fn cursor(&self) -> Option<Position> {
        self.cursor
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The data-source session open now, if any: the one a failed write
    /// ends (as [`SessionEnd::DatabaseLost`], once the database is back).
    pub fn session(&self) -> Option<i64> {
        self.session
    }

    /// Ends `session`, whose database failed under it at `at_ms`, as
    /// [`SessionEnd::DatabaseLost`] (the store was opened again since).
    pub fn database_lost(&mut self, session: i64, at_ms: u64) -> Result<()> {
        self.store
            .session_end(session, SessionEnd::DatabaseLost, at_ms)
    }

    /// A connection to `node` is open (the one before, if any, ended).
    pub fn connected(&mut self, node: &str, now_ms: u64) -> Result<()> {
        self.disconnected(SessionEnd::Disconnected, now_ms)?;
        self.session = Some(self.store.session_start(node, now_ms)?);
        Ok(())
    }

    /// The connection ended, for `end`.
    pub fn disconnected(&mut self, end: SessionEnd, now_ms: u64) -> Result<()> {
        // Kept open until ended: a database that fails here leaves it for
        // the caller to end as `database_lost`.
        if let Some(session) = self.session {
            self.store.session_end(session, end, now_ms)?;
            self.session = None;
        }
        Ok(())
    }

    pub fn frame(&mut self, frame: Frame, now_ms: u64) -> Result<Next> {
        self.frames(std::iter::once(frame), now_ms)
    }

    /// Frames in the order read: the changes among them written a run at
    /// a time, each run in one transaction (a writer behind catches up
    /// in large writes, not one commit per change).
    pub fn frames(&mut self, frames: impl IntoIterator<Item = Frame>, now_ms: u64) -> Result<Next> {
        let mut run = Vec::new();
        for frame in frames {
            let Frame::Change { at, command } = frame else {
                self.write(&mut run)?;
                if self.other(frame, now_ms)? == Next::Reconnect {
                    return Ok(Next::Reconnect);
                }
                continue;
            };
            // Written already (a node sends again what came after the
            // `after` it was given): never applied twice.
            if self.cursor.is_some_and(|c| at.seq <= c.seq) {
                continue;
            }
            let rows = self.fold.apply(at, &command);
            run.push(Written {
                at,
                at_ms: command.at_ms,
                rows,
            });
            self.cursor = Some(at);
        }
        self.write(&mut run)?;
        Ok(Next::Read)
    }

    fn write(&mut self, run: &mut Vec<Written>) -> Result<()> {
        if !run.is_empty() {
            self.store.write_changes(run)?;
            run.clear();
        }
        Ok(())
    }

    /// A frame that is not a change.
    fn other(&mut self, frame: Frame, now_ms: u64) -> Result<Next> {
        match frame {
            Frame::Resume { position, at_ms } | Frame::Gap { position, at_ms } => {
                let gap = matches!(frame, Frame::Gap { .. });
                if let Some(session) = self.session {
                    let crossed = if gap {
                        self.fold.cross_gap()
                    } else {
                        Vec::new()
                    };
                    self.store
                        .session_hello(session, gap, position, at_ms, &crossed)?;
                }
                self.cursor = self.store.cursor()?;
            }
            Frame::Change { .. } => {}
            Frame::Heartbeat { position, at_ms } => self.store.heartbeat(position, at_ms)?,
            Frame::Resync => {
                self.disconnected(SessionEnd::Resync, now_ms)?;
                return Ok(Next::Reconnect);
            }
        }
        Ok(Next::Read)
    }
}

//! The replica's event-log records, typed: the runtime logs each at its
//! level, the simulation reads them as they are, and a test can match on
//! what happened rather than on its wording.

use std::fmt;
use std::time::Duration;

use duet_config::{Conflict, Origin, TreePath};
use duet_interactions::heal::Overridden;
use duet_stream::Replication;
use duet_switchover::Level;

/// What the replica tells the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The stream's replication state changed.
    Replication { state: Replication, why: String },
    /// The backup: a change from the active node could not be applied.
    ReplicatedNotApplied { seq: u64, error: String },
    /// The active node: a change it made could not be applied.
    NotApplied { seq: u64, error: String },
    /// The backup's resync: the configuration up to `upto_seq` is compared.
    ResyncStarted { upto_seq: u64 },
    /// A sync request went unanswered for `timeout_s`: the resync starts
    /// over.
    SyncRequestTimedOut { timeout_s: u64 },
    /// The active node's sync answer cannot be read: the resync starts
    /// over later.
    SyncAnswerUnreadable { error: String },
    /// The active node cannot answer the backup's sync request.
    SyncRequestNotAnswered { error: String },
    /// The configuration is resynchronised.
    ConfigResynchronised {
        entries: usize,
        history_records: usize,
        requests: usize,
        compressed_answers: usize,
    },
    /// The interaction snapshot could not be fetched: resynchronising again.
    SnapshotNotFetched { error: String },
    /// The interaction snapshot cannot be installed: resynchronising again.
    SnapshotNotInstalled { error: String },
    /// The interaction state is resynchronised.
    InteractionsResynchronised {
        interactions: usize,
        pages: usize,
        bytes: usize,
        chunks: usize,
    },
    /// A heal: comparing the histories failed (tried again later).
    HealCompareFailed { error: String },
    /// A heal: this node made `changes` configuration changes after
    /// change `fork` that the active node lacks; they are made there.
    HealOrphans { changes: usize, fork: u64 },
    /// A heal: the active node made this node's `changes` configuration
    /// changes.
    HealReplayed { changes: usize },
    /// A heal: the active node did not make this node's configuration
    /// changes (offered again later).
    HealReplayRefused { error: String },
    /// A heal: this node offers the `changes` it holds, a page at a time.
    HealOffering { changes: usize },
    /// A heal: the active node did not make this node's interaction
    /// changes (offered again later).
    HealInteractionsRefused { error: String },
    /// A heal, on the active node: a configuration change of the other
    /// node's lost to one made here, and is kept as a conflict record
    /// (the record says both changes, who made them when, with which
    /// client id, in which epoch at which number).
    ConfigConflict {
        path: TreePath,
        lost: Box<Origin>,
        conflict: Box<Conflict>,
    },
    /// A heal, on the active node: a configuration change of the other
    /// node's cannot be made here.
    ConfigChangeRefused { client: String, error: String },
    /// A heal, on the active node: an interaction change `node` made was
    /// overridden by the state here, and is kept as a conflict record.
    InteractionConflict { node: String, lost: Overridden },
    /// A heal, on the active node: an interaction change `node` made
    /// cannot be kept even as a fact or a conflict record.
    InteractionChangeUnkept {
        node: String,
        client: String,
        why: String,
    },
    /// A heal, on the active node: a page of `node`'s interaction changes
    /// made here.
    InteractionsHealed {
        node: String,
        made: usize,
        as_facts: usize,
        conflicts: usize,
        passed_over: usize,
    },
    /// The store fails to commit: new client writes are refused.
    StoreFailing { error: String },
    /// The store commits again.
    StoreCommits,
}

impl Event {
    /// How the event log files it.
    pub fn level(&self) -> Level {
        use Event::*;
        match self {
            Replication { state, .. } if *state == duet_stream::Replication::Alone => {
                Level::Warning
            }
            Replication { .. }
            | ResyncStarted { .. }
            | ConfigResynchronised { .. }
            | InteractionsResynchronised { .. }
            | HealReplayed { .. }
            | HealOffering { .. }
            | StoreCommits => Level::Info,
            SyncRequestTimedOut { .. }
            | SnapshotNotFetched { .. }
            | HealOrphans { .. }
            | ConfigConflict { .. }
            | InteractionConflict { .. }
            | InteractionsHealed { .. } => Level::Warning,
            ReplicatedNotApplied { .. }
            | NotApplied { .. }
            | SyncAnswerUnreadable { .. }
            | SyncRequestNotAnswered { .. }
            | SnapshotNotInstalled { .. }
            | HealCompareFailed { .. }
            | HealReplayRefused { .. }
            | HealInteractionsRefused { .. }
            | ConfigChangeRefused { .. }
            | InteractionChangeUnkept { .. }
            | StoreFailing { .. } => Level::Error,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Event::*;
        match self {
            Replication { state, why } => write!(f, "Configuration replication: {state:?} ({why})"),
            ReplicatedNotApplied { seq, error } => {
                write!(f, "Replicated change {seq} could not be applied: {error}")
            }
            NotApplied { seq, error } => write!(f, "Change {seq} could not be applied: {error}"),
            ResyncStarted { upto_seq } => write!(
                f,
                "Resynchronising the configuration with the active node up to change {upto_seq}"
            ),
            SyncRequestTimedOut { timeout_s } => write!(
                f,
                "A configuration sync request to the active node was not answered within Switchover DS Request Timeout ({timeout_s} s); resynchronising again"
            ),
            SyncAnswerUnreadable { error } => write!(
                f,
                "Configuration resynchronisation stopped: the active node's answer cannot be read: {error}"
            ),
            SyncRequestNotAnswered { error } => {
                write!(f, "The backup's sync request is not answered: {error}")
            }
            ConfigResynchronised {
                entries,
                history_records,
                requests,
                compressed_answers,
            } => write!(
                f,
                "Configuration resynchronised: {entries} entries and {history_records} history records updated in {requests} requests ({compressed_answers} answers compressed)"
            ),
            SnapshotNotFetched { error } => write!(
                f,
                "The interaction snapshot could not be fetched: {error}; resynchronising again"
            ),
            SnapshotNotInstalled { error } => write!(
                f,
                "The interaction snapshot cannot be installed ({error}); resynchronising again"
            ),
            InteractionsResynchronised {
                interactions,
                pages,
                bytes,
                chunks,
            } => write!(
                f,
                "Interactions resynchronised: {interactions} live interactions in {pages} pages ({bytes} bytes in {chunks} chunks)"
            ),
            HealCompareFailed { error } => write!(
                f,
                "Comparing configuration histories with the active node failed: {error}"
            ),
            HealOrphans { changes, fork } => write!(
                f,
                "This node made {changes} configuration changes the active node does not have (after change {fork}, while both nodes served): making them on the active node before resynchronising"
            ),
            HealReplayed { changes } => write!(
                f,
                "The active node has made the {changes} configuration changes this node made while both nodes served"
            ),
            HealReplayRefused { error } => write!(
                f,
                "The active node did not make this node's configuration changes ({error}); they are kept here and offered again after Switchover DS Request Timeout"
            ),
            HealOffering { changes } => write!(
                f,
                "Offering the active node the {changes} interaction changes this node holds (it makes those it lacks), before resynchronising"
            ),
            HealInteractionsRefused { error } => write!(
                f,
                "The active node did not make this node's interaction changes ({error}); they are offered again after Switchover DS Request Timeout"
            ),
            ConfigConflict {
                path,
                lost,
                conflict,
            } => {
                let when = |ms: u64| {
                    humantime::format_rfc3339_millis(
                        std::time::UNIX_EPOCH + Duration::from_millis(ms),
                    )
                };
                let won = &conflict.lost_to;
                write!(
                    f,
                    "Configuration conflict at {path}: the change by {} at {} (client id {:?}, epoch {}, change {}), made on the other node while both nodes served, lost to the change by {} at {} (client id {:?}, epoch {}, change {}); the latter stands and the other is kept as a conflict record (duet ctl config conflicts)",
                    lost.who,
                    when(lost.at_unix_ms),
                    lost.client,
                    lost.epoch,
                    lost.seq,
                    won.who,
                    when(won.at_unix_ms),
                    won.client,
                    won.epoch,
                    won.seq
                )
            }
            ConfigChangeRefused { client, error } => write!(
                f,
                "A configuration change the other node made while both served (client id {client}) cannot be made here: {error}"
            ),
            InteractionConflict { node, lost } => write!(
                f,
                "Interaction conflict: a change {node} made while both nodes served (client id {}, change {} of epoch {}) is overridden by the state here ({}); kept as a conflict record (duet ctl interaction conflicts)",
                lost.client, lost.seq, lost.epoch, lost.why
            ),
            InteractionChangeUnkept { node, client, why } => write!(
                f,
                "A change {node} made while both nodes served (client id {client}) cannot be kept even as a fact or a conflict record: {why}"
            ),
            InteractionsHealed {
                node,
                made,
                as_facts,
                conflicts,
                passed_over,
            } => write!(
                f,
                "Made {made} interaction changes {node} acknowledged while both nodes served: {as_facts} messages or files joined transcripts that had moved on here, {conflicts} kept as conflict records, {passed_over} routing decisions passed over"
            ),
            StoreFailing { error } => write!(
                f,
                "The state store cannot commit ({error}): new changes are refused until it can (check the data directory's disk)"
            ),
            StoreCommits => write!(f, "The state store commits again; changes are taken again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_carrying_on_alone_is_a_warning_and_in_sync_is_news() {
        let alone = Event::Replication {
            state: Replication::Alone,
            why: "the backup is gone".into(),
        };
        assert_eq!(alone.level(), Level::Warning);
        assert_eq!(
            alone.to_string(),
            "Configuration replication: Alone (the backup is gone)"
        );
        let in_sync = Event::Replication {
            state: Replication::InSync,
            why: "the backup has caught up".into(),
        };
        assert_eq!(in_sync.level(), Level::Info);
        let failing = Event::StoreFailing {
            error: "disk full".into(),
        };
        assert_eq!(failing.level(), Level::Error);
        assert!(failing.to_string().contains("(disk full)"));
    }
}

//! Defects put in on purpose.

/// Defects the pair simulation puts into a replica on purpose, to prove
/// its checks find them; a node never sets one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// The feed shows a change once applied, before it is committed.
    FeedBeforeCommit,
    /// A resume is vouched for by the sequence number alone, whatever the
    /// epoch of the change the client saw there.
    ResumeBySeqOnly,
    /// A write is acknowledged whether or not this node holds the right
    /// to serve.
    AckWithoutLease,
    /// The heal drops a change the winner's state refuses, instead of
    /// keeping it as a fact or a conflict record.
    HealDropsRefused,
    /// The interaction snapshot travels as one message, however large (the
    /// runtime's encoding, which the simulation carries out, does not cut
    /// it into chunks).
    SnapshotInOneMessage,
    /// A snapshot installed under the feed does not close the sockets
    /// following it ([`crate::Output::FeedReset`]): they carry on past the
    /// changes the snapshot brought, which they never see.
    NoFeedResetAtInstall,
    /// The active node takes a backup's hello as its own history by the
    /// sequence numbers alone: a backup that holds another epoch's changes
    /// at those numbers (a former active node's, never acknowledged) is
    /// caught up from there instead of resynchronised.
    HelloBySeqOnly,
}

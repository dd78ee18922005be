-- duet reporting schema, version 1. Every row names the stream position
-- (epoch, seq) of the change that made it; rows made by one change are
-- keyed by its seq and what they are about, so writing them again
-- replaces them with themselves.

-- The last change written; one row.
CREATE TABLE writer_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL
);

-- One row per interaction, rewritten by each change to it. `state` holds
-- the writer's whole record of an open interaction (JSON), to carry on
-- from after a restart.
CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    media TEXT NOT NULL,
    queue TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    answered_ms INTEGER,
    wait_ms INTEGER,
    ended_ms INTEGER,
    closed_ms INTEGER,
    talk_ms INTEGER NOT NULL,
    hold_ms INTEGER NOT NULL,
    wrap_ms INTEGER NOT NULL,
    disposition TEXT,
    disposition_code INTEGER,
    agents TEXT NOT NULL,
    transfers INTEGER NOT NULL,
    seqno INTEGER NOT NULL,
    wrap_code TEXT,
    open INTEGER NOT NULL,
    state TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX interactions_open ON interactions (open) WHERE open = 1;
CREATE INDEX interactions_created ON interactions (created_ms);

CREATE TABLE segments (
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    interaction TEXT NOT NULL,
    kind TEXT NOT NULL,
    agent TEXT,
    queue TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    seqno INTEGER NOT NULL,
    PRIMARY KEY (seq, interaction)
);

CREATE TABLE wrap_ups (
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    interaction TEXT NOT NULL,
    agent TEXT NOT NULL,
    code TEXT NOT NULL,
    notes TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    seqno INTEGER NOT NULL,
    PRIMARY KEY (seq, interaction)
);

CREATE TABLE agent_activity (
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    agent TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT,
    reason TEXT,
    media TEXT NOT NULL,
    PRIMARY KEY (seq, agent)
);

-- What queue interval statistics are summed from: one row per countable
-- event (offered, answered, abandoned, handled, wrapped, transferred,
-- lost), at its time, so any interval length can be reported.
CREATE TABLE queue_events (
    epoch INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    interaction TEXT NOT NULL,
    queue TEXT NOT NULL,
    media TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (seq, interaction, kind)
);
CREATE INDEX queue_events_at ON queue_events (at_ms);

-- Data-source sessions (the seed's session-control tables): each
-- connection of the writer to a node, by the writer's clock for the
-- connection and by the node's for the changes.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    connected_ms INTEGER NOT NULL,
    hello TEXT,
    start_epoch INTEGER,
    start_seq INTEGER,
    first_change_ms INTEGER,
    first_epoch INTEGER,
    first_seq INTEGER,
    last_change_ms INTEGER,
    last_epoch INTEGER,
    last_seq INTEGER,
    ended_ms INTEGER,
    end_reason TEXT
);

-- Where the node could not vouch for the writer's cursor: the changes
-- after `after` up to `resumed` are not in this database.
CREATE TABLE gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session INTEGER NOT NULL REFERENCES sessions (id),
    after_epoch INTEGER NOT NULL,
    after_seq INTEGER NOT NULL,
    resumed_epoch INTEGER NOT NULL,
    resumed_seq INTEGER NOT NULL,
    noticed_ms INTEGER NOT NULL
);

-- Stretches of stream time (the node's clock) this database holds every
-- change of; a gap ends one and starts the next.
CREATE TABLE coverage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    start_epoch INTEGER NOT NULL,
    start_seq INTEGER NOT NULL,
    end_epoch INTEGER NOT NULL,
    end_seq INTEGER NOT NULL
);

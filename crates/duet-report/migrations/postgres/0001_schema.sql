-- duet reporting schema (PostgreSQL), version 1. Every row names the stream position
-- (epoch, seq) of the change that made it; rows made by one change are
-- keyed by its seq and what they are about, so writing them again
-- replaces them with themselves.

-- The last change written; one row.
CREATE TABLE writer_cursor (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL
);

-- One row per interaction, rewritten by each change to it. `state` holds
-- the writer's whole record of an open interaction (JSON), to carry on
-- from after a restart.
CREATE TABLE interactions (
    id TEXT PRIMARY KEY,
    media TEXT NOT NULL,
    queue TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    answered_ms BIGINT,
    wait_ms BIGINT,
    ended_ms BIGINT,
    closed_ms BIGINT,
    talk_ms BIGINT NOT NULL,
    hold_ms BIGINT NOT NULL,
    wrap_ms BIGINT NOT NULL,
    disposition TEXT,
    disposition_code BIGINT,
    agents TEXT NOT NULL,
    transfers BIGINT NOT NULL,
    seqno BIGINT NOT NULL,
    wrap_code TEXT,
    open BIGINT NOT NULL,
    state TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX interactions_open ON interactions (open) WHERE open = 1;
CREATE INDEX interactions_created ON interactions (created_ms);

CREATE TABLE segments (
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    interaction TEXT NOT NULL,
    kind TEXT NOT NULL,
    agent TEXT,
    queue TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    seqno BIGINT NOT NULL,
    PRIMARY KEY (seq, interaction)
);

CREATE TABLE wrap_ups (
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    interaction TEXT NOT NULL,
    agent TEXT NOT NULL,
    code TEXT NOT NULL,
    notes TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    seqno BIGINT NOT NULL,
    PRIMARY KEY (seq, interaction)
);

CREATE TABLE agent_activity (
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    agent TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
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
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    interaction TEXT NOT NULL,
    queue TEXT NOT NULL,
    media TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    PRIMARY KEY (seq, interaction, kind)
);
CREATE INDEX queue_events_at ON queue_events (at_ms);

-- Data-source sessions (the seed's session-control tables): each
-- connection of the writer to a node, by the writer's clock for the
-- connection and by the node's for the changes.
CREATE TABLE sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node TEXT NOT NULL,
    connected_ms BIGINT NOT NULL,
    hello TEXT,
    start_epoch BIGINT,
    start_seq BIGINT,
    first_change_ms BIGINT,
    first_epoch BIGINT,
    first_seq BIGINT,
    last_change_ms BIGINT,
    last_epoch BIGINT,
    last_seq BIGINT,
    ended_ms BIGINT,
    end_reason TEXT
);

-- Where the node could not vouch for the writer's cursor: the changes
-- after `after` up to `resumed` are not in this database.
CREATE TABLE gaps (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session BIGINT NOT NULL REFERENCES sessions (id),
    after_epoch BIGINT NOT NULL,
    after_seq BIGINT NOT NULL,
    resumed_epoch BIGINT NOT NULL,
    resumed_seq BIGINT NOT NULL,
    noticed_ms BIGINT NOT NULL
);

-- Stretches of stream time (the node's clock) this database holds every
-- change of; a gap ends one and starts the next.
CREATE TABLE coverage (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    start_epoch BIGINT NOT NULL,
    start_seq BIGINT NOT NULL,
    end_epoch BIGINT NOT NULL,
    end_seq BIGINT NOT NULL
);

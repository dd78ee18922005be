-- duet reporting schema (PostgreSQL), version 3: the configuration in effect. One row
-- per version of a user, a workgroup queue or the interaction settings,
-- keyed by its path and the sequence number of the change that made it
-- (0: the version before the oldest change the node kept), with the
-- time it held from and to (NULL: still holds); attributes as JSON,
-- NULL once removed. Secrets are never written (the node shows them as
-- "(set)").
CREATE TABLE config_versions (
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    valid_from_ms BIGINT NOT NULL,
    valid_to_ms BIGINT,
    attributes TEXT,
    PRIMARY KEY (path, seq)
);
CREATE INDEX config_versions_kind ON config_versions (kind, valid_from_ms);

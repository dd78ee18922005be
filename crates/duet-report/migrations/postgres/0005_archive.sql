-- duet reporting schema (PostgreSQL), version 5: the archive. An interaction's header
-- (its customer, attributes and what it opened with, as JSON) is written
-- when it is created; each message, file, status line, email reply step
-- or callback attempt is an entry appended under the position of the
-- change that made it and its place among that change's entries (`n`),
-- so a long chat is a row per message, never a growing blob. Bytes of
-- files and attachments are not kept: their references (name, type,
-- size, BLAKE3) are.
CREATE TABLE archive_headers (
    id TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    media TEXT NOT NULL,
    customer_address TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    message_id TEXT,
    header TEXT NOT NULL
);
CREATE INDEX archive_headers_message_id ON archive_headers (message_id)
    WHERE message_id IS NOT NULL;

CREATE TABLE archive_entries (
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    interaction TEXT NOT NULL,
    n BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (interaction, seq, n)
);

-- An interaction's stretches and wrap-ups, read with it whole.
CREATE INDEX segments_interaction ON segments (interaction);
CREATE INDEX wrap_ups_interaction ON wrap_ups (interaction);
CREATE INDEX interactions_created_id ON interactions (created_ms DESC, id DESC);

-- duet reporting schema (PostgreSQL), version 4: changes this database cannot count
-- for sure (about an interaction open across a gap, or one it never saw
-- created). A report takes no interval holding one from this database
-- while another database covers it surely.
CREATE TABLE uncertain (
    epoch BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    interaction TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (seq, interaction)
);
CREATE INDEX uncertain_at ON uncertain (at_ms);

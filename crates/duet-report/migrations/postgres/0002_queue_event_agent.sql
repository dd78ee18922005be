-- duet reporting schema (PostgreSQL), version 2: a queue event names the agent it is
-- about (who answered, handled, wrapped up or transferred it), so agent
-- reports count from the same events as queue reports.
ALTER TABLE queue_events ADD COLUMN agent TEXT;
CREATE INDEX agent_activity_at ON agent_activity (agent, at_ms);
CREATE INDEX segments_end ON segments (end_ms);

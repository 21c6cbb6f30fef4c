-- How each delivery was verified (scheme, key used, the source's note), whether
-- its endpoint is configured unsigned, and whether it is a capture-mode sample.
ALTER TABLE events ADD COLUMN unsigned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE events ADD COLUMN captured BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE events ADD COLUMN verification TEXT NOT NULL DEFAULT '';
CREATE INDEX events_flow_captured ON events (flow, captured, received_at);

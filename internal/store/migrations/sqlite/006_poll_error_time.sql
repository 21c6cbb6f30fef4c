-- When a poll last failed (last_error says how); a failure before the first
-- baseline is recorded too, so the dashboard can show it.
ALTER TABLE poll_state ADD COLUMN last_error_at INTEGER;

-- Server settings that other commands on the same database follow, e.g. the
-- personal-data fields `serve --redact-fields` masks, so `ghlsync runs`
-- shows history the way the dashboard does.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

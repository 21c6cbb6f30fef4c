-- Engine tables: trigger events, runs and their checkpointed steps, poll state.
-- Times are unix microseconds (BIGINT) so both dialects compare them the same way.

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    flow            TEXT NOT NULL,
    source          TEXT NOT NULL,
    type            TEXT NOT NULL DEFAULT '',
    source_event_id TEXT NOT NULL DEFAULT '',
    body_hash       TEXT NOT NULL,
    -- "id:<source event id>" or "sha256:<body hash>"; one event per flow and key.
    dedupe_key      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    raw             BYTEA,
    raw_size        BIGINT NOT NULL DEFAULT 0,
    headers         TEXT NOT NULL DEFAULT '{}',
    occurred_at     BIGINT NOT NULL,
    received_at     BIGINT NOT NULL,
    UNIQUE (flow, dedupe_key)
);
CREATE INDEX events_received_at ON events (received_at);

CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    flow        TEXT NOT NULL,
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    job_id      BIGINT,
    replay_of   TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX runs_created_at ON runs (created_at);
CREATE INDEX runs_flow_created_at ON runs (flow, created_at);
CREATE INDEX runs_status_created_at ON runs (status, created_at);
CREATE INDEX runs_event_id ON runs (event_id);

CREATE TABLE steps (
    run_id          TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_id         TEXT NOT NULL,
    idx             INTEGER NOT NULL,
    op              TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    outcome_unknown BOOLEAN NOT NULL DEFAULT FALSE,
    reconciled      TEXT NOT NULL DEFAULT '',
    http_status     INTEGER NOT NULL DEFAULT 0,
    request         TEXT NOT NULL DEFAULT '',
    response        TEXT NOT NULL DEFAULT '',
    result          TEXT NOT NULL DEFAULT '',
    error           TEXT NOT NULL DEFAULT '',
    started_at      BIGINT,
    finished_at     BIGINT,
    PRIMARY KEY (run_id, step_id)
);

CREATE TABLE poll_state (
    flow         TEXT PRIMARY KEY,
    trigger_key  TEXT NOT NULL,
    cursor_ts    BIGINT NOT NULL DEFAULT 0,
    cursor_id    TEXT NOT NULL DEFAULT '',
    seen         TEXT NOT NULL DEFAULT '[]',
    baseline_at  BIGINT,
    last_poll_at BIGINT,
    last_error   TEXT NOT NULL DEFAULT '',
    updated_at   BIGINT NOT NULL
);

-- Keyed steps: which GoHighLevel object an external key (such as a source's
-- appointment id) stands for, per location. A row with an empty ghl_id is a
-- claim: run_id is creating the object and others wait for it.
CREATE TABLE object_keys (
    scope      TEXT NOT NULL,
    ext_key    TEXT NOT NULL,
    ghl_id     TEXT NOT NULL DEFAULT '',
    id_path    TEXT NOT NULL DEFAULT '',
    op         TEXT NOT NULL DEFAULT '',
    flow       TEXT NOT NULL DEFAULT '',
    run_id     TEXT NOT NULL DEFAULT '',
    claimed_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, ext_key)
);

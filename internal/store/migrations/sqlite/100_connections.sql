-- Connections to GoHighLevel and the vault's named secrets.
-- Every column ending in _sealed holds a vault value ("ghv1:<key id>:<base64>"),
-- never a token in clear. Times are unix microseconds.

CREATE TABLE ghl_connections (
    name                 TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL,               -- oauth | pit
    user_type            TEXT NOT NULL,               -- Location | Company
    location_id          TEXT NOT NULL DEFAULT '',
    company_id           TEXT NOT NULL DEFAULT '',
    user_id              TEXT NOT NULL DEFAULT '',
    scopes               TEXT NOT NULL DEFAULT '',    -- space-separated, as granted
    scopes_known         INTEGER NOT NULL DEFAULT 1,  -- 0: a PIT whose scopes were not declared
    status               TEXT NOT NULL,               -- active | reauth_required | revoked
    status_reason        TEXT NOT NULL DEFAULT '',
    base_url             TEXT NOT NULL DEFAULT '',
    token_url            TEXT NOT NULL DEFAULT '',
    client_id            TEXT NOT NULL DEFAULT '',
    client_secret_sealed TEXT,
    access_token_sealed  TEXT,
    refresh_token_sealed TEXT,
    expires_at           INTEGER,                     -- NULL: never (PIT)
    generation           INTEGER NOT NULL DEFAULT 1,  -- bumped on every new token
    refresh_failures     INTEGER NOT NULL DEFAULT 0,
    next_refresh_at      INTEGER,                     -- no refresh attempt before this (back-off)
    last_error           TEXT NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    refreshed_at         INTEGER
);

-- Location tokens obtained from an agency connection (POST /oauth/locationToken),
-- cached until they expire; they carry no refresh token.
CREATE TABLE ghl_location_tokens (
    connection          TEXT NOT NULL REFERENCES ghl_connections (name) ON DELETE CASCADE,
    location_id         TEXT NOT NULL,
    access_token_sealed TEXT NOT NULL,
    scopes              TEXT NOT NULL DEFAULT '',
    expires_at          INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (connection, location_id)
);

-- Named secrets (webhook signing secrets, ...) referenced as "vault:NAME".
CREATE TABLE vault_secrets (
    name         TEXT PRIMARY KEY,
    value_sealed TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

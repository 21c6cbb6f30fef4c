package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Connection kinds.
const (
	ConnOAuth = "oauth" // OAuth 2.0 tokens that refresh
	ConnPIT   = "pit"   // a Private Integration Token, static
)

// Connection statuses.
const (
	ConnActive         = "active"
	ConnReauthRequired = "reauth_required"
	ConnRevoked        = "revoked"
)

// User types, as GoHighLevel spells them.
const (
	UserLocation = "Location"
	UserCompany  = "Company"
)

// Connection is one GoHighLevel credential as stored. Fields ending in
// Sealed hold vault values; the store never sees a token in clear.
type Connection struct {
	Name       string
	Kind       string // ConnOAuth or ConnPIT
	UserType   string // UserLocation or UserCompany
	LocationID string
	CompanyID  string
	UserID     string
	Scopes     []string
	// ScopesKnown is false for a Private Integration Token whose scopes were
	// not declared: scope checks cannot judge it.
	ScopesKnown  bool
	Status       string
	StatusReason string
	BaseURL      string // API base the token belongs to
	TokenURL     string // OAuth token endpoint
	ClientID     string

	ClientSecretSealed string
	AccessTokenSealed  string
	RefreshTokenSealed string

	ExpiresAt       time.Time // zero: never expires (PIT)
	Generation      int64     // bumped on every new token
	RefreshFailures int
	NextRefreshAt   time.Time // no refresh attempt before this
	LastError       string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	RefreshedAt     time.Time
}

// ResourceID is the location id of a location connection, else the company id.
func (c *Connection) ResourceID() string {
	if c.UserType == UserCompany {
		return c.CompanyID
	}
	return c.LocationID
}

// Labels bind each sealed value to its record and field (the vault's
// additional authenticated data), so a value copied elsewhere will not open.

// ConnectionLabel is the label of a connection's sealed field
// ("access_token", "refresh_token" or "client_secret").
func ConnectionLabel(name, field string) string { return "connection/" + name + "/" + field }

// LocationTokenLabel is the label of a cached location token.
func LocationTokenLabel(conn, locationID string) string {
	return "location-token/" + conn + "/" + locationID
}

// SecretLabel is the label of a named vault secret.
func SecretLabel(name string) string { return "secret/" + name }

const connColumns = `name, kind, user_type, location_id, company_id, user_id, scopes, scopes_known,
	status, status_reason, base_url, token_url, client_id, client_secret_sealed, access_token_sealed,
	refresh_token_sealed, expires_at, generation, refresh_failures, next_refresh_at, last_error,
	created_at, updated_at, refreshed_at`

func scanConnection(sc interface{ Scan(...any) error }) (*Connection, error) {
	var (
		c                               Connection
		scopes                          string
		known                           int64
		secret, access, refresh         sql.NullString
		expires, nextRefresh, refreshed sql.NullInt64
		created, updated                int64
	)
	err := sc.Scan(&c.Name, &c.Kind, &c.UserType, &c.LocationID, &c.CompanyID, &c.UserID, &scopes, &known,
		&c.Status, &c.StatusReason, &c.BaseURL, &c.TokenURL, &c.ClientID, &secret, &access,
		&refresh, &expires, &c.Generation, &c.RefreshFailures, &nextRefresh, &c.LastError,
		&created, &updated, &refreshed)
	if err != nil {
		return nil, err
	}
	c.Scopes = strings.Fields(scopes)
	c.ScopesKnown = known != 0
	c.ClientSecretSealed, c.AccessTokenSealed, c.RefreshTokenSealed = secret.String, access.String, refresh.String
	c.ExpiresAt = fromNullMicros(expires)
	c.NextRefreshAt = fromNullMicros(nextRefresh)
	c.RefreshedAt = fromNullMicros(refreshed)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// SaveConnection inserts c or, when a connection of that name exists,
// replaces it (a fresh login or token for the same name). The generation
// is bumped past the stored one and the back-off state is cleared, so every
// process drops tokens it holds for the old credential. CreatedAt is kept.
func (q queries) SaveConnection(ctx context.Context, c *Connection) error {
	now := time.Now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = now
	if c.Status == "" {
		c.Status = ConnActive
	}
	_, err := q.exec(ctx, `INSERT INTO ghl_connections (`+connColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, NULL, '', ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			kind = excluded.kind, user_type = excluded.user_type, location_id = excluded.location_id,
			company_id = excluded.company_id, user_id = excluded.user_id, scopes = excluded.scopes,
			scopes_known = excluded.scopes_known, status = excluded.status, status_reason = excluded.status_reason,
			base_url = excluded.base_url, token_url = excluded.token_url, client_id = excluded.client_id,
			client_secret_sealed = excluded.client_secret_sealed, access_token_sealed = excluded.access_token_sealed,
			refresh_token_sealed = excluded.refresh_token_sealed, expires_at = excluded.expires_at,
			generation = ghl_connections.generation + 1, refresh_failures = 0, next_refresh_at = NULL,
			last_error = '', updated_at = excluded.updated_at, refreshed_at = excluded.refreshed_at`,
		c.Name, c.Kind, c.UserType, c.LocationID, c.CompanyID, c.UserID, strings.Join(c.Scopes, " "), boolInt(c.ScopesKnown),
		c.Status, c.StatusReason, c.BaseURL, c.TokenURL, c.ClientID, nullString(c.ClientSecretSealed),
		nullString(c.AccessTokenSealed), nullString(c.RefreshTokenSealed), nullMicros(c.ExpiresAt),
		micros(c.CreatedAt), micros(c.UpdatedAt), nullMicros(c.RefreshedAt))
	if err != nil {
		return fmt.Errorf("save connection %s: %w", c.Name, err)
	}
	// A replaced connection's cached location tokens belong to the old credential.
	if _, err := q.exec(ctx, `DELETE FROM ghl_location_tokens WHERE connection = ?`, c.Name); err != nil {
		return fmt.Errorf("save connection %s: %w", c.Name, err)
	}
	got, err := q.GetConnection(ctx, c.Name)
	if err != nil {
		return err
	}
	c.Generation, c.CreatedAt = got.Generation, got.CreatedAt
	return nil
}

// GetConnection returns the connection or an error wrapping ErrNotFound.
func (q queries) GetConnection(ctx context.Context, name string) (*Connection, error) {
	c, err := scanConnection(q.queryRow(ctx, `SELECT `+connColumns+` FROM ghl_connections WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("connection %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", name, err)
	}
	return c, nil
}

// LockConnection reads a connection inside a transaction and holds it so
// that no other transaction, in this or any process, can change it until
// this one ends: SELECT ... FOR UPDATE on Postgres; on SQLite the database
// write lock, taken first by a no-op write so the read that follows sees
// the latest commit.
func (t *Tx) LockConnection(ctx context.Context, name string) (*Connection, error) {
	q := `SELECT ` + connColumns + ` FROM ghl_connections WHERE name = ?`
	if t.dialect == Postgres {
		q += ` FOR UPDATE`
	} else if _, err := t.exec(ctx, `UPDATE ghl_connections SET generation = generation WHERE name = ?`, name); err != nil {
		return nil, fmt.Errorf("lock connection %q: %w", name, err)
	}
	c, err := scanConnection(t.queryRow(ctx, q, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("connection %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lock connection %q: %w", name, err)
	}
	return c, nil
}

// ListConnections returns every connection by name.
func (q queries) ListConnections(ctx context.Context) ([]*Connection, error) {
	rows, err := q.query(ctx, `SELECT `+connColumns+` FROM ghl_connections ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	var out []*Connection
	for rows.Next() {
		c, err := scanConnection(rows)
		if err != nil {
			return nil, fmt.Errorf("list connections: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// TokenUpdate is a refreshed token pair.
type TokenUpdate struct {
	AccessTokenSealed  string
	RefreshTokenSealed string // "" keeps the stored refresh token
	ExpiresAt          time.Time
	Scopes             []string // nil keeps the stored scopes
	RefreshedAt        time.Time
}

// UpdateConnectionTokens stores a new token pair if the stored generation is
// still fromGen, bumps the generation, clears back-off state and marks the
// connection active. It returns the new generation, or an error wrapping
// ErrConflict when another writer got there first.
func (q queries) UpdateConnectionTokens(ctx context.Context, name string, fromGen int64, u TokenUpdate) (int64, error) {
	set := `access_token_sealed = ?, expires_at = ?, generation = generation + 1, refresh_failures = 0,
		next_refresh_at = NULL, last_error = '', status = ?, status_reason = '', updated_at = ?, refreshed_at = ?`
	args := []any{u.AccessTokenSealed, nullMicros(u.ExpiresAt), ConnActive, micros(time.Now()), nullMicros(u.RefreshedAt)}
	if u.RefreshTokenSealed != "" {
		set += `, refresh_token_sealed = ?`
		args = append(args, u.RefreshTokenSealed)
	}
	if u.Scopes != nil {
		set += `, scopes = ?`
		args = append(args, strings.Join(u.Scopes, " "))
	}
	args = append(args, name, fromGen)
	res, err := q.exec(ctx, `UPDATE ghl_connections SET `+set+` WHERE name = ? AND generation = ?`, args...)
	if err != nil {
		return 0, fmt.Errorf("store tokens of connection %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return 0, fmt.Errorf("store tokens of connection %q: %w", name, ErrConflict)
	}
	return fromGen + 1, nil
}

// ErrConflict means a row changed under a conditional update.
var ErrConflict = errors.New("changed by another writer")

// RecordRefreshFailure notes a failed refresh: the error (already free of
// secrets), the failure count and the earliest next attempt. A non-empty
// status (ConnReauthRequired) also changes the status, with reason.
func (q queries) RecordRefreshFailure(ctx context.Context, name string, failures int, next time.Time, errMsg, status, reason string) error {
	set := `refresh_failures = ?, next_refresh_at = ?, last_error = ?, updated_at = ?`
	args := []any{failures, nullMicros(next), errMsg, micros(time.Now())}
	if status != "" {
		set += `, status = ?, status_reason = ?`
		args = append(args, status, reason)
	}
	args = append(args, name)
	if _, err := q.exec(ctx, `UPDATE ghl_connections SET `+set+` WHERE name = ?`, args...); err != nil {
		return fmt.Errorf("record refresh failure of connection %q: %w", name, err)
	}
	return nil
}

// SetConnectionStatus changes a connection's status and reason.
func (q queries) SetConnectionStatus(ctx context.Context, name, status, reason string) error {
	res, err := q.exec(ctx, `UPDATE ghl_connections SET status = ?, status_reason = ?, updated_at = ? WHERE name = ?`,
		status, reason, micros(time.Now()), name)
	if err != nil {
		return fmt.Errorf("connection %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("connection %q: %w", name, ErrNotFound)
	}
	return nil
}

// RevokeConnection deletes every token and secret of a connection (and its
// cached location tokens) and marks it revoked. The row stays, so flows
// naming it report "revoked" rather than "unknown connection".
func (q queries) RevokeConnection(ctx context.Context, name, reason string) error {
	res, err := q.exec(ctx, `UPDATE ghl_connections SET access_token_sealed = NULL, refresh_token_sealed = NULL,
		client_secret_sealed = NULL, expires_at = NULL, status = ?, status_reason = ?, generation = generation + 1,
		next_refresh_at = NULL, updated_at = ? WHERE name = ?`, ConnRevoked, reason, micros(time.Now()), name)
	if err != nil {
		return fmt.Errorf("revoke connection %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("connection %q: %w", name, ErrNotFound)
	}
	if _, err := q.exec(ctx, `DELETE FROM ghl_location_tokens WHERE connection = ?`, name); err != nil {
		return fmt.Errorf("revoke connection %q: %w", name, err)
	}
	return nil
}

// DeleteConnection removes a connection entirely.
func (q queries) DeleteConnection(ctx context.Context, name string) error {
	if _, err := q.exec(ctx, `DELETE FROM ghl_location_tokens WHERE connection = ?`, name); err != nil {
		return fmt.Errorf("delete connection %q: %w", name, err)
	}
	res, err := q.exec(ctx, `DELETE FROM ghl_connections WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete connection %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("connection %q: %w", name, ErrNotFound)
	}
	return nil
}

// LocationToken is a cached location token obtained from an agency connection.
type LocationToken struct {
	Connection        string
	LocationID        string
	AccessTokenSealed string
	Scopes            []string
	ExpiresAt         time.Time
	CreatedAt         time.Time
}

// GetLocationToken returns a cached location token or ErrNotFound.
func (q queries) GetLocationToken(ctx context.Context, conn, locationID string) (*LocationToken, error) {
	var (
		t                LocationToken
		scopes           string
		expires, created int64
	)
	err := q.queryRow(ctx, `SELECT connection, location_id, access_token_sealed, scopes, expires_at, created_at
		FROM ghl_location_tokens WHERE connection = ? AND location_id = ?`, conn, locationID).
		Scan(&t.Connection, &t.LocationID, &t.AccessTokenSealed, &scopes, &expires, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("location token %s/%s: %w", conn, locationID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("location token %s/%s: %w", conn, locationID, err)
	}
	t.Scopes = strings.Fields(scopes)
	t.ExpiresAt, t.CreatedAt = fromMicros(expires), fromMicros(created)
	return &t, nil
}

// PutLocationToken stores (or replaces) a cached location token.
func (q queries) PutLocationToken(ctx context.Context, t *LocationToken) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now().UTC()
	}
	_, err := q.exec(ctx, `INSERT INTO ghl_location_tokens (connection, location_id, access_token_sealed, scopes, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (connection, location_id) DO UPDATE SET access_token_sealed = excluded.access_token_sealed,
			scopes = excluded.scopes, expires_at = excluded.expires_at, created_at = excluded.created_at`,
		t.Connection, t.LocationID, t.AccessTokenSealed, strings.Join(t.Scopes, " "), micros(t.ExpiresAt), micros(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("store location token %s/%s: %w", t.Connection, t.LocationID, err)
	}
	return nil
}

// DeleteLocationToken drops a cached location token (for example after GHL
// rejected it).
func (q queries) DeleteLocationToken(ctx context.Context, conn, locationID string) error {
	if _, err := q.exec(ctx, `DELETE FROM ghl_location_tokens WHERE connection = ? AND location_id = ?`, conn, locationID); err != nil {
		return fmt.Errorf("delete location token %s/%s: %w", conn, locationID, err)
	}
	return nil
}

// VaultSecret is a named secret as stored.
type VaultSecret struct {
	Name        string
	ValueSealed string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// PutSecret stores or replaces a named sealed secret.
func (q queries) PutSecret(ctx context.Context, name, sealed string) error {
	now := micros(time.Now())
	_, err := q.exec(ctx, `INSERT INTO vault_secrets (name, value_sealed, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value_sealed = excluded.value_sealed, updated_at = excluded.updated_at`,
		name, sealed, now, now)
	if err != nil {
		return fmt.Errorf("store secret %q: %w", name, err)
	}
	return nil
}

// GetSecret returns a named secret or an error wrapping ErrNotFound.
func (q queries) GetSecret(ctx context.Context, name string) (*VaultSecret, error) {
	var (
		s                VaultSecret
		created, updated int64
	)
	err := q.queryRow(ctx, `SELECT name, value_sealed, created_at, updated_at FROM vault_secrets WHERE name = ?`, name).
		Scan(&s.Name, &s.ValueSealed, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, err)
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &s, nil
}

// ListSecrets returns the named secrets (still sealed) by name.
func (q queries) ListSecrets(ctx context.Context) ([]*VaultSecret, error) {
	rows, err := q.query(ctx, `SELECT name, value_sealed, created_at, updated_at FROM vault_secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	var out []*VaultSecret
	for rows.Next() {
		var (
			s                VaultSecret
			created, updated int64
		)
		if err := rows.Scan(&s.Name, &s.ValueSealed, &created, &updated); err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
		out = append(out, &s)
	}
	return out, rows.Err()
}

// DeleteSecret removes a named secret.
func (q queries) DeleteSecret(ctx context.Context, name string) error {
	res, err := q.exec(ctx, `DELETE FROM vault_secrets WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete secret %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("secret %q: %w", name, ErrNotFound)
	}
	return nil
}

// ResealFunc returns the value to store for a sealed value with its label,
// and whether it changed.
type ResealFunc func(sealed, label string) (string, bool, error)

// SealedValue names one sealed value in the database.
type SealedValue struct {
	Table, Key, Column, Label, Sealed string
}

// SealedValues returns every sealed value in the database with its label, for
// key rotation and audits. Inside a transaction on Postgres the rows are
// locked (FOR UPDATE) so a concurrent refresh waits for the rotation.
func (q queries) SealedValues(ctx context.Context) ([]SealedValue, error) {
	lock := ""
	if _, inTx := q.db.(*sql.Tx); inTx && q.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	var out []SealedValue
	rows, err := q.query(ctx, `SELECT name, client_secret_sealed, access_token_sealed, refresh_token_sealed FROM ghl_connections ORDER BY name`+lock)
	if err != nil {
		return nil, fmt.Errorf("read sealed values: %w", err)
	}
	for rows.Next() {
		var name string
		var vals [3]sql.NullString
		if err := rows.Scan(&name, &vals[0], &vals[1], &vals[2]); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read sealed values: %w", err)
		}
		for i, col := range []string{"client_secret", "access_token", "refresh_token"} {
			if vals[i].Valid && vals[i].String != "" {
				out = append(out, SealedValue{"ghl_connections", name, col + "_sealed", ConnectionLabel(name, col), vals[i].String})
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.query(ctx, `SELECT connection, location_id, access_token_sealed FROM ghl_location_tokens ORDER BY connection, location_id`+lock)
	if err != nil {
		return nil, fmt.Errorf("read sealed values: %w", err)
	}
	for rows.Next() {
		var conn, loc, v string
		if err := rows.Scan(&conn, &loc, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read sealed values: %w", err)
		}
		out = append(out, SealedValue{"ghl_location_tokens", conn + "/" + loc, "access_token_sealed", LocationTokenLabel(conn, loc), v})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.query(ctx, `SELECT name, value_sealed FROM vault_secrets ORDER BY name`+lock)
	if err != nil {
		return nil, fmt.Errorf("read sealed values: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, v string
		if err := rows.Scan(&name, &v); err != nil {
			return nil, fmt.Errorf("read sealed values: %w", err)
		}
		out = append(out, SealedValue{"vault_secrets", name, "value_sealed", SecretLabel(name), v})
	}
	return out, rows.Err()
}

// ResealAll passes every sealed value through fn and writes back the ones
// that changed. Run it in a transaction (Store.InTx) so a rotation is all or
// nothing. It returns how many values were examined and rewritten.
func (t *Tx) ResealAll(ctx context.Context, fn ResealFunc) (total, changed int, err error) {
	if t.dialect == SQLite {
		// Take the write lock before reading, like LockConnection.
		if _, err := t.exec(ctx, `UPDATE vault_secrets SET name = name WHERE 1 = 0`); err != nil {
			return 0, 0, fmt.Errorf("reseal: %w", err)
		}
	}
	vals, err := t.SealedValues(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, v := range vals {
		out, ch, err := fn(v.Sealed, v.Label)
		if err != nil {
			return len(vals), changed, fmt.Errorf("reseal %s %s %s: %w", v.Table, v.Key, v.Column, err)
		}
		if !ch {
			continue
		}
		var q string
		var args []any
		switch v.Table {
		case "ghl_connections":
			q, args = `UPDATE ghl_connections SET `+v.Column+` = ? WHERE name = ?`, []any{out, v.Key}
		case "ghl_location_tokens":
			conn, loc, _ := strings.Cut(v.Key, "/")
			q, args = `UPDATE ghl_location_tokens SET access_token_sealed = ? WHERE connection = ? AND location_id = ?`, []any{out, conn, loc}
		case "vault_secrets":
			q, args = `UPDATE vault_secrets SET value_sealed = ? WHERE name = ?`, []any{out, v.Key}
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return len(vals), changed, fmt.Errorf("reseal %s %s %s: %w", v.Table, v.Key, v.Column, err)
		}
		changed++
	}
	return len(vals), changed, nil
}

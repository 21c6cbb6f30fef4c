package auth

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// secretSet collects every secret a run handled, in clear.
type secretSet map[string]bool

// collect opens every sealed value in the database and remembers it.
func (s secretSet) collect(t *testing.T, m *Manager) {
	t.Helper()
	vals, err := m.Store().SealedValues(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vals {
		plain, err := m.Vault().OpenString(v.Sealed, v.Label)
		if err != nil {
			t.Fatalf("open %s: %v", v.Label, err)
		}
		s[plain] = true
	}
}

func (s secretSet) find(data []byte) string {
	for sec := range s {
		if len(sec) >= 8 && bytes.Contains(data, []byte(sec)) {
			return sec
		}
	}
	return ""
}

// fullRun exercises every path that handles a secret: OAuth login,
// refresh (twice), agency login and location token, a PIT, a named secret,
// a revoke and a key rotation. It returns every secret seen.
func fullRun(t *testing.T, e *env, s *sbx) (*Manager, secretSet) {
	t.Helper()
	ctx := context.Background()
	seen := secretSet{"sandbox-client-secret": true, "pit-sandbox-location": true, "pit-sandbox-agency": true}
	m := sandboxManager(t, e, s)
	sandboxLogin(t, m, s, "main", "location:sbx-location-1", "contacts.write")
	seen.collect(t, m)
	for i := 0; i < 2; i++ {
		expire(t, m.Store(), "main")
		m.Forget("main")
		c, _, err := m.Client(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(ctx, "contacts.upsert", ghl.Params{Body: map[string]any{"email": "rest@example.com"}}); err != nil {
			t.Fatal(err)
		}
		seen.collect(t, m)
	}
	sandboxLogin(t, m, s, "agency", "company:sbx-company-1", "oauth.write", "contacts.write")
	if _, err := m.LocationToken(ctx, "agency", "sbx-location-1"); err != nil {
		t.Fatal(err)
	}
	seen.collect(t, m)
	if _, _, err := m.AddPIT(ctx, PITOptions{Name: "pit", LocationID: "sbx-location-1", Token: "pit-sandbox-location"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.AddPIT(ctx, PITOptions{Name: "agency-pit", CompanyID: "sbx-company-1", Token: "pit-sandbox-agency"}); err != nil {
		t.Fatal(err)
	}
	const hookSecret = "whsec-changetower-9f8e7d6c5b4a"
	seen[hookSecret] = true
	if err := m.Secrets().Put(ctx, "ct-hook", hookSecret); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Secrets().Lookup("vault:ct-hook"); err != nil || got != hookSecret {
		t.Fatalf("lookup: %v", err)
	}
	sandboxLogin(t, m, s, "doomed", "location:sbx-location-1", "contacts.write")
	seen.collect(t, m)
	if err := m.Revoke(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, "doomed"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked connection: %v", err)
	}
	if _, err := RotateKey(ctx, m.Store(), m.Vault(), false, false); err != nil {
		t.Fatal(err)
	}
	seen.collect(t, m)
	// Errors shown to users carry no secret either.
	if _, _, err := m.AddPIT(ctx, PITOptions{Name: "bad", LocationID: "sbx-location-1", Token: "pit-wrong-token-1234567890"}); err == nil || strings.Contains(err.Error(), "pit-wrong-token") {
		t.Fatalf("AddPIT error: %v", err)
	}
	return m, seen
}

func TestNoSecretInClearSQLite(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, store.SQLite), newSandbox(t)
	_, seen := fullRun(t, e, s)
	if len(seen) < 10 {
		t.Fatalf("only %d secrets seen; the run did not exercise enough", len(seen))
	}
	// Every file of the database (main file, WAL, shared memory), byte for byte.
	dir := filepath.Dir(e.opts.Path)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	scanned := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scanned += len(data)
		if sec := seen.find(data); sec != "" {
			t.Errorf("%s holds a secret in clear (%s)", filepath.Base(f), Fingerprint(sec))
		}
	}
	if scanned < 4096 {
		t.Fatalf("scanned only %d bytes", scanned)
	}
	if sec := seen.find([]byte(e.logs.String())); sec != "" {
		t.Errorf("logs hold a secret in clear (%s)", Fingerprint(sec))
	}
	if !strings.Contains(e.logs.String(), "connection token refreshed") {
		t.Fatal("the logs were not captured")
	}
}

func TestNoSecretInClearPostgres(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, store.Postgres), newSandbox(t)
	m, seen := fullRun(t, e, s)
	ctx := context.Background()
	db := m.Store().DB
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, column, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	tables := map[string]bool{}
	values := 0
	for _, c := range cols {
		tables[c.table] = true
		expr := `"` + c.column + `"::text`
		if c.typ == "bytea" {
			expr = `encode("` + c.column + `", 'escape')`
		}
		r, err := db.QueryContext(ctx, `SELECT `+expr+` FROM "`+c.table+`"`)
		if err != nil {
			t.Fatalf("%s.%s: %v", c.table, c.column, err)
		}
		for r.Next() {
			var v sql.NullString
			if err := r.Scan(&v); err != nil {
				t.Fatal(err)
			}
			values++
			if sec := seen.find([]byte(v.String)); sec != "" {
				t.Errorf("%s.%s holds a secret in clear (%s)", c.table, c.column, Fingerprint(sec))
			}
		}
		r.Close()
	}
	if !tables["ghl_connections"] || !tables["vault_secrets"] || !tables["ghl_location_tokens"] || values < 50 {
		t.Fatalf("scanned %d values in tables %v", values, tables)
	}
	if sec := seen.find([]byte(e.logs.String())); sec != "" {
		t.Errorf("logs hold a secret in clear (%s)", Fingerprint(sec))
	}
}

func TestRotateKeyReSealsEverything(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e, s := newEnv(t, dialect), newSandbox(t)
		ctx := context.Background()
		keyFile := filepath.Join(t.TempDir(), "vault.key")
		v, err := LoadVault(VaultOptions{KeyFile: keyFile, Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		m := sandboxManager(t, e, s, func(o *Options) { o.Vault = v })
		sandboxLogin(t, m, s, "main", "location:sbx-location-1", "contacts.write")
		if err := m.Secrets().Put(ctx, "hook", "hook-secret-value"); err != nil {
			t.Fatal(err)
		}
		before, _ := m.Token(ctx, "main")
		oldID := v.ActiveKeyID()

		// A second process still running with the old key in memory.
		v2, _ := LoadVault(VaultOptions{KeyFile: keyFile, Getenv: func(string) string { return "" }})
		other := sandboxManager(t, e, s, func(o *Options) { o.Vault = v2 })

		res, err := RotateKey(ctx, m.Store(), v, true, false)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Generated || res.NewKeyID == oldID || res.Values != 4 || res.Resealed != 4 {
			t.Fatalf("rotate: %+v", res)
		}
		vals, _ := m.Store().SealedValues(ctx)
		for _, sv := range vals {
			if id, _ := SealedKeyID(sv.Sealed); id != res.NewKeyID {
				t.Fatalf("%s still under %s", sv.Label, id)
			}
		}
		m.Forget("main")
		if tok, err := m.Token(ctx, "main"); err != nil || tok != before {
			t.Fatalf("token after rotation: %v", err)
		}
		if got, err := other.Secrets().Lookup("vault:hook"); err != nil || got != "hook-secret-value" {
			t.Fatalf("the other process cannot open values after rotation: %v", err)
		}
		if err := CheckVault(ctx, other.Store(), v2); err != nil {
			t.Fatal(err)
		}
		// Pruning drops the old key; the values still open.
		res, err = RotateKey(ctx, m.Store(), v, false, true)
		if err != nil || res.Resealed != 0 || len(res.PrunedKeys) != 1 || res.PrunedKeys[0] != oldID {
			t.Fatalf("prune: %+v %v", res, err)
		}
		if got, err := m.Secrets().Get(ctx, "hook"); err != nil || got != "hook-secret-value" {
			t.Fatalf("after prune: %v", err)
		}
		// A vault without the database's key is refused at start, clearly.
		stranger, _ := NewVault(randKey(t))
		if err := CheckVault(ctx, m.Store(), stranger); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), res.NewKeyID) {
			t.Fatalf("CheckVault with a wrong key: %v", err)
		}
		// A rotation that meets a value it cannot open changes nothing.
		if _, err := m.Store().DB.ExecContext(ctx, m.Store().Rebind(`UPDATE vault_secrets SET value_sealed = ? WHERE name = ?`), "ghv1:"+res.NewKeyID+":AAAA", "hook"); err != nil {
			t.Fatal(err)
		}
		if _, err := RotateKey(ctx, m.Store(), v, true, false); err == nil || !strings.Contains(err.Error(), "nothing changed") {
			t.Fatalf("rotation over a corrupt value: %v", err)
		}
		c, _ := m.Store().GetConnection(ctx, "main")
		if id, _ := SealedKeyID(c.AccessTokenSealed); id != res.NewKeyID {
			t.Fatal("a failed rotation re-sealed some values")
		}
	})
}

func TestSecretLookup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	m := e.manager()
	sec := m.Secrets()
	sec.Getenv = func(k string) string { return map[string]string{"HOOK": "from-env"}[k] }
	var lookup SecretLookup = sec.Lookup
	ctx := context.Background()
	if err := sec.Put(ctx, "ct", "s3cr3t-value"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ref, want, err string
	}{
		{"vault:ct", "s3cr3t-value", ""},
		{"env:HOOK", "from-env", ""},
		{"vault:missing", "", "does not exist"},
		{"env:UNSET", "", "not set"},
		{"plain-secret", "", "expected vault:NAME"},
		{"file:/etc/x", "", "unknown kind"},
	}
	for _, c := range cases {
		got, err := lookup(c.ref)
		if got != c.want || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("Lookup(%q) = %q, %v; want %q, error containing %q", c.ref, got, err, c.want, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error reveals the secret: %v", err)
		}
	}
	if names, _ := sec.Names(ctx); len(names) != 1 || names[0] != "ct" {
		t.Fatalf("names %v", names)
	}
	if err := sec.Put(ctx, "bad name", "x"); err == nil {
		t.Fatal("bad name accepted")
	}
	if err := sec.Delete(ctx, "ct"); err != nil {
		t.Fatal(err)
	}
}

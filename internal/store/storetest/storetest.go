// Package storetest opens throwaway stores for tests: a SQLite file in a
// temporary directory, or a fresh schema in the test Postgres database.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/testutil"
)

// Dialects are the databases every storage test runs against.
var Dialects = []string{store.SQLite, store.Postgres}

// Open returns a migrated store of the given dialect that is closed (and, on
// Postgres, whose schema is dropped) when the test ends. prefix names the
// calling package in the Postgres schema so parallel packages never collide.
// Postgres tests skip (or fail under CI) per testutil.PostgresURL.
func Open(t testing.TB, dialect, prefix string) *store.Store {
	t.Helper()
	opts := Options(t, dialect, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := store.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open %s store: %v", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Options returns store options for a fresh database of the given dialect,
// registering cleanup of the Postgres schema.
func Options(t testing.TB, dialect, prefix string) store.Options {
	t.Helper()
	switch dialect {
	case store.Postgres:
		url := testutil.PostgresURL(t)
		schema := "ghlsync_" + sanitize(prefix) + "_" + random()
		t.Cleanup(func() { dropSchema(t, url, schema) })
		return store.Options{URL: url, Schema: schema, MaxConns: 8}
	default:
		return store.Options{Path: filepath.Join(t.TempDir(), "ghlsync.db")}
	}
}

func dropSchema(t testing.TB, url, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Logf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Logf("drop schema %s: %v", schema, err)
	}
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func random() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Package testutil holds helpers shared by tests.
package testutil

import (
	"os"
	"testing"
)

// DefaultPostgresURL is the local test database the CI machine provides.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL returns the database URL for tests that need Postgres.
// GHLSYNC_TEST_DATABASE_URL wins; under CI the default local database is
// used and must work. Elsewhere, with no URL set, the test is skipped with a
// message saying how to run it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("GHLSYNC_TEST_DATABASE_URL"); u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		return DefaultPostgresURL
	}
	t.Skip("Postgres test skipped: set GHLSYNC_TEST_DATABASE_URL (for example " + DefaultPostgresURL + ") to run it")
	return ""
}

// SharedDir returns the path of the shared reference material (the official
// GHL OpenAPI specs). Under CI its absence fails the test; elsewhere the test
// is skipped with a clear message.
func SharedDir(t testing.TB, rel string) string {
	t.Helper()
	for _, base := range []string{os.Getenv("GHLSYNC_SHARED_DIR"), "../shared", "../../shared", "../../../shared", "../../../../shared", "../../../../../shared"} {
		if base == "" {
			continue
		}
		p := base + "/" + rel
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("reference material %s not found beside the checkout (../shared); CI must provide it", rel)
	}
	t.Skipf("reference material %s not found (looked in ../shared relative to the repository); set GHLSYNC_SHARED_DIR to run this test", rel)
	return ""
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// TestInvalidSettingsExit2: settings that would be replaced silently or fail
// only later are refused at start, naming the flag, with exit code 2, and
// nothing is created or sent.
func TestInvalidSettingsExit2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"serve workers 0", []string{"serve", "--workers", "0"}, "--workers 0: expected at least 1"},
		{"serve workers negative", []string{"serve", "--workers", "-3"}, "--workers -3"},
		{"serve max-body 0", []string{"serve", "--max-body", "0"}, "--max-body 0"},
		{"serve max-body negative", []string{"serve", "--max-body", "-1"}, "--max-body -1"},
		{"serve timezone", []string{"serve", "--timezone", "Mars/Base"}, `--timezone "Mars/Base": not a known IANA time zone`},
		{"serve base-url", []string{"serve", "--base-url", "notaurl"}, `--base-url "notaurl": expected an http:// or https:// URL`},
		{"serve base-url ftp", []string{"serve", "--base-url", "ftp://x"}, `--base-url "ftp://x"`},
		{"serve public-url without scheme", []string{"serve", "--public-url", "ghlsync.example.com"},
			`--public-url "ghlsync.example.com": expected the http:// or https:// URL senders reach this server at`},
		{"serve public-url ftp", []string{"serve", "--public-url", "ftp://ghlsync.example.com"}, `--public-url "ftp://ghlsync.example.com"`},
		{"serve public-url query", []string{"serve", "--public-url", "https://ghlsync.example.com/?x=1"}, `--public-url "https://ghlsync.example.com/?x=1"`},
		{"serve job-timeout", []string{"serve", "--job-timeout", "-1s"}, "--job-timeout -1s"},
		{"serve shutdown-timeout", []string{"serve", "--shutdown-timeout", "-5s"}, "--shutdown-timeout -5s"},
		{"serve max-attempts", []string{"serve", "--max-attempts", "0"}, "--max-attempts 0"},
		{"serve several at once", []string{"serve", "--workers", "0", "--max-attempts", "0"}, "--max-attempts 0"},
		{"call timeout", []string{"call", "contacts.get", "--timeout", "-1s", "--token", "pit-x"}, "--timeout -1s"},
		{"call method", []string{"call", "--method", "FOO", "--path", "/x", "--token", "pit-x"}, `--method "FOO": expected one of GET, POST`},
		{"add-token scope typo", []string{"auth", "add-token", "--scope", "contacts.wrte", "--token", "pit-x", "--location", "L"},
			`--scope "contacts.wrte": not a GoHighLevel scope (did you mean "contacts.write"?)`},
		{"add-token scope unknown", []string{"auth", "add-token", "--scope", "contacts.readonly,zzzzzzzzzzzzzz", "--token", "pit-x", "--location", "L"},
			`--scope "zzzzzzzzzzzzzz": not a GoHighLevel scope (see`},
		{"login scope typo", []string{"auth", "login", "--scope", "locations/customFields.redonly", "--client-id", "c"},
			`did you mean "locations/customFields.readonly"?`},
		{"runs list limit 0", []string{"runs", "list", "--limit", "0"}, "--limit 0: expected at least 1"},
		{"runs list limit negative", []string{"runs", "list", "--limit", "-5"}, "--limit -5"},
		{"sandbox persist folder", []string{"sandbox", "--persist", "/nonexistent/dir/p.json"}, "--persist /nonexistent/dir/p.json: folder /nonexistent/dir does not exist"},
		{"sandbox webhook-url", []string{"sandbox", "--webhook-url", "ftp://x"}, `--webhook-url "ftp://x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := append([]string{}, tc.args...)
			switch args[0] {
			case "serve", "runs", "auth":
				args = append(args, "--db", filepath.Join(dir, "g.db"))
			}
			if args[0] == "serve" {
				args = append(args, "--addr", "127.0.0.1:0", "--flows", filepath.Join("..", "..", "examples", "flows"))
			}
			_, _, err := run(t, "", args...)
			if exitCode(err) != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("exit %d, error %v; want exit 2 and %q", exitCode(err), err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("created %v", entries)
			}
		})
	}
}

// TestKnownScopesCoverCatalog: every scope the catalog's operations need is
// accepted, so --scope never refuses a scope a flow asks for.
func TestKnownScopesCoverCatalog(t *testing.T) {
	t.Parallel()
	n := 0
	for _, op := range catalog.All() {
		for _, s := range op.Scopes {
			n++
			if err := checkScopes([]string{s}); err != nil {
				t.Errorf("%s: %v", op.ID, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("the catalog names no scopes")
	}
}

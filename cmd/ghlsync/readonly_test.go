package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyCommandsCreateNothing: commands that only read refuse a
// database that does not exist instead of creating it (with its folder and
// a vault key file) and reporting an empty history.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args func(db string) []string
	}{
		{"runs list", func(db string) []string { return []string{"runs", "list", "--db", db} }},
		{"runs show", func(db string) []string { return []string{"runs", "show", "run_x", "--db", db} }},
		{"runs list via url", func(db string) []string { return []string{"runs", "list", "--database-url", "sqlite:" + db} }},
		{"auth list", func(db string) []string { return []string{"auth", "list", "--db", db} }},
		{"auth show", func(db string) []string { return []string{"auth", "show", "default", "--db", db} }},
		{"auth test", func(db string) []string { return []string{"auth", "test", "default", "--db", db} }},
		{"auth check", func(db string) []string {
			return []string{"auth", "check", "--flows", filepath.Join("..", "..", "examples", "flows"), "--db", db}
		}},
		{"auth secret list", func(db string) []string { return []string{"auth", "secret", "list", "--db", db} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := filepath.Join(dir, "missing", "x.db")
			_, _, err := run(t, "", tc.args(db)...)
			if exitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), "no database at "+db) || !strings.Contains(err.Error(), "ghlsync serve") {
				t.Errorf("exit %d, error %v; want exit 1 and \"no database at %s\"", exitCode(err), err, db)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("created %v in %s", entries, dir)
			}
		})
	}
}

// TestReadOnlyAuthCreatesNoKeyFile: on a database that exists but has no
// vault key beside it, auth list says so and creates none.
func TestReadOnlyAuthCreatesNoKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "ghlsync.db")
	// Any creating command makes the database; runs list then reads it.
	if _, _, err := run(t, "x\n", "auth", "secret", "set", "probe", "--db", db); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(db + ".key"); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "", "auth", "list", "--db", db)
	if err == nil || !strings.Contains(err.Error(), "nothing has been stored in the vault") {
		t.Errorf("auth list without a key file: %v", err)
	}
	if _, serr := os.Stat(db + ".key"); serr == nil {
		t.Error("auth list created a key file")
	}
	out, _, err := run(t, "", "runs", "list", "--db", db)
	if err != nil || !strings.Contains(out, "no runs") {
		t.Errorf("runs list on an existing database: %v %q", err, out)
	}
}

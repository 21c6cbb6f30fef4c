package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownSubcommandFails: an unknown subcommand of any command that
// groups others is an error naming it and its parent, not a help page with
// exit 0; the parent alone still prints its help.
func TestUnknownSubcommandFails(t *testing.T) {
	t.Parallel()
	for _, parent := range [][]string{{"runs"}, {"flows"}, {"auth"}, {"ops"}, {"auth", "secret"}} {
		args := append(append([]string{}, parent...), "bogus")
		_, _, err := run(t, "", args...)
		want := `unknown command "bogus" for "ghlsync ` + strings.Join(parent, " ") + `"`
		if exitCode(err) != 2 || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: exit %d, %v; want exit 2 and %s", args, exitCode(err), err, want)
		}
		out, _, err := run(t, "", parent...)
		if err != nil || !strings.Contains(out, "Available Commands") {
			t.Errorf("%v alone: %v\n%s", parent, err, out)
		}
	}
	if _, _, err := run(t, "", "runs", "lsit"); err == nil || !strings.Contains(err.Error(), "did you mean list?") {
		t.Errorf("runs lsit: %v", err)
	}
}

// TestUsageMessages: a missing argument names the command and its usage,
// and an empty stdin names the command the value belongs to.
func TestUsageMessages(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "g.db")
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"ops", "show"}, "usage: ghlsync ops show OP"},
		{"", []string{"runs", "show", "--db", db}, "usage: ghlsync runs show RUN_ID"},
		{"", []string{"ops", "show", "a", "b"}, "too many arguments; usage: ghlsync ops show OP"},
		{"", []string{"auth", "secret", "set", "changetower", "--db", db}, "no secret on stdin (pipe it in: ghlsync auth secret set changetower < secret.txt)"},
		{"", []string{"auth", "add-token", "--location", "L", "--db", db}, "no token on stdin (pipe it in: ghlsync auth add-token"},
	} {
		_, _, err := run(t, tc.stdin, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want %q", tc.args, err, tc.want)
		}
	}
}

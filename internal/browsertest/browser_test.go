package browsertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder stands in for a test to see whether RequireChromium skips or
// fails, and with what message.
type recorder struct {
	testing.TB
	skipped, failed string
}

type stop struct{}

func (r *recorder) Helper()           {}
func (r *recorder) Skip(args ...any)  { r.skipped = strings.TrimSpace(sprint(args)); panic(stop{}) }
func (r *recorder) Fatal(args ...any) { r.failed = strings.TrimSpace(sprint(args)); panic(stop{}) }
func sprint(args []any) (s string) {
	for _, a := range args {
		s += " " + a.(string)
	}
	return s
}

func require(t *testing.T) (r *recorder, path string) {
	r = &recorder{TB: t}
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(stop); !ok {
				panic(p)
			}
		}
	}()
	path = RequireChromium(r)
	return r, path
}

func TestRequireChromium(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-chromium")
	notExec := filepath.Join(t.TempDir(), "chromium")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "chromium")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, browser, ci    string
		skip, fail, wantPath bool
	}{
		{name: "missing, not CI: skip", browser: missing, ci: "", skip: true},
		{name: "missing under CI: fail", browser: missing, ci: "true", fail: true},
		{name: "not executable under CI: fail", browser: notExec, ci: "true", fail: true},
		{name: "present", browser: exe, ci: "true", wantPath: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("GHLSYNC_CHROMIUM", c.browser)
			t.Setenv("CI", c.ci)
			r, path := require(t)
			if (r.skipped != "") != c.skip || (r.failed != "") != c.fail || (path == c.browser) != c.wantPath {
				t.Fatalf("skipped %q, failed %q, path %q", r.skipped, r.failed, path)
			}
			msg := r.skipped + r.failed
			if msg != "" && (!strings.Contains(msg, "apt-get install chromium") || !strings.Contains(msg, c.browser)) {
				t.Errorf("message does not name the browser and how to install it: %s", msg)
			}
			if c.fail && !strings.Contains(msg, "CI=true") {
				t.Errorf("the CI failure does not say why it is not skipped: %s", msg)
			}
		})
	}
}

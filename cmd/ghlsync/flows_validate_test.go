package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runFlowsValidate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"flows", "validate"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestFlowsValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "trigger: {webhook: {source: generic, secret: env:GHLSYNC_GENERIC_SECRET, types: [contact.created]}}\n"+
		"steps:\n  - {id: a, op: contacts.upsert, with: {email: \"{{ event.email }}\"}}\n")
	write("bad.yaml", "trigger: {webhook: {source: generic}}\nsteps:\n  - id: a\n    op: contacts.upsret\n")

	out, err := runFlowsValidate(t, good)
	if err != nil {
		t.Fatalf("valid file: %v\n%s", err, out)
	}
	if want := good + ": OK (flow good, webhook generic [contact.created], 1 step)\n"; out != want {
		t.Errorf("output = %q, want %q", out, want)
	}

	out, err = runFlowsValidate(t, dir)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("error = %v, want exit code 1", err)
	}
	if !strings.Contains(err.Error(), "1 of 2 flow files failed validation") {
		t.Errorf("error = %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	wantLines := []string{
		bad + `:4:9: unknown operation "contacts.upsret" (did you mean contacts.upsert?)`,
		good + ": OK (flow good, webhook generic [contact.created], 1 step)",
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(wantLines, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", out, strings.Join(wantLines, "\n"))
	}

	// The same flow name in two arguments is a problem of the second.
	other := t.TempDir()
	dup := filepath.Join(other, "good.yaml")
	if err := os.WriteFile(dup, []byte("name: good\ntrigger: {webhook: {source: ghl}}\nsteps:\n  - {id: a, op: contacts.get, with: {contactId: x}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runFlowsValidate(t, good, dup)
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, dup+`:1:1: flow name "good" is already used by `+good) {
		t.Errorf("duplicate across arguments: %v\n%s", err, out)
	}

	if _, err := runFlowsValidate(t, filepath.Join(dir, "missing")); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("missing path: %v", err)
	}
	if _, err := runFlowsValidate(t); err == nil {
		t.Error("no argument accepted")
	}
}

func TestFlowsValidateExamples(t *testing.T) {
	t.Parallel()
	out, err := runFlowsValidate(t, filepath.Join("..", "..", "internal", "flow", "testdata", "valid"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := strings.Count(out, ": OK ("); n < 3 {
		t.Errorf("%d flows OK, want at least 3:\n%s", n, out)
	}
}

// TestFlowsValidateChecksSourceOptions: a webhook source's options are
// checked at load, with the place of the offending key.
func TestFlowsValidateChecksSourceOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := "trigger:\n  webhook:\n    source: changetower\n    secret: env:CT\n    scheme: hmac\n    header: X-Sig\n    encoding: base32\n" +
		"steps:\n  - {id: a, op: contacts.upsert, with: {email: a@example.com}}\n"
	p := filepath.Join(dir, "ct.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runFlowsValidate(t, dir)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("error = %v, want exit code 1\n%s", err, out)
	}
	if want := p + `:7:5: webhook: source changetower: encoding: want hex or base64, got "base32"`; strings.TrimSpace(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

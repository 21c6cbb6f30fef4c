package demo

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/source"
	"github.com/ghlsync/ghlsync/internal/source/sign"
)

// TestDemoExit runs `ghlsync demo --exit` from the repository root on a
// temporary database, as a user would, then once more on the same database.
func TestDemoExit(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	args := []string{"demo", "--exit", "--db", db, "--addr", "127.0.0.1:0", "--sandbox-addr", "127.0.0.1:0"}

	out, stderr, code := runBinary(t, root, 90*time.Second, args...)
	if code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, want := range []string{
		"DEMO-ONLY secrets",
		"GHLSYNC_GENERIC_SECRET     = " + GenericSecret,
		"/hooks/sync-contacts  (changetower)",
		"Runs started by this demo: 13 (13 succeeded)",
		"(4 of them started by the sandbox's own GoHighLevel webhooks, not by a sample)",
		"9 of 9 acknowledged\nas duplicates, no new run, nothing new in GoHighLevel.",
		"4 contacts\n  José Müller 😀 <jose.muller@acme.example>, +12125550147, Acme Ltda., source \"ChangeTower\"\n" +
			"      tags: b2b, changetower, monitor:competitor, monitor:pricing, new-contact, site-monitoring\n" +
			"      Deal Value: 4990\n",
		"3 notes\n", "3 tasks\n",
		"for Wei Li: Call Wei Li — due Mon 7 Dec 2026 10:00 EST",
		"1 appointment\n  Onboarding call with José Müller 😀, Wed 13 Jan 2027 14:00–14:30 EST, confirmed",
		"moved the same appointment",
		"runs list --db " + db,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "Still serving") {
		t.Errorf("--exit kept serving")
	}
	// The servers have stopped: no URL of theirs is offered afterwards.
	if _, after, _ := strings.Cut(out, "Look further:"); strings.Contains(after, "http://") || strings.Contains(after, "post your own event") {
		t.Errorf("--exit offers URLs of stopped servers:\n%s", after)
	}
	if strings.Contains(out, "!") && regexp.MustCompile(`(?m)^\s*! `).MatchString(out) {
		t.Errorf("output reports a problem:\n%s", out)
	}
	if _, err := os.Stat(SandboxStatePath(db)); err != nil {
		t.Errorf("sandbox state not kept: %v", err)
	}

	// The same database again: every delivery is a duplicate, the sandbox
	// still holds everything, tags included.
	out, stderr, code = runBinary(t, root, 90*time.Second, args...)
	if code != 0 {
		t.Fatalf("second demo: exit code %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, want := range []string{
		"SQLite, reused",
		"9 of 9 deliveries were already in this database from an earlier demo",
		"Runs started by this demo: 0 (none)",
		"All runs in the database: 13 (13 succeeded)",
		"was already in GoHighLevel (an earlier demo)",
		"tags: b2b, has-website, inbound, new-contact, newsletter",
		"4 contacts\n", "3 notes\n", "3 tasks\n", "1 appointment\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("second demo: output lacks %q\n%s", want, out)
		}
	}

	// --fresh starts over.
	out, _, code = runBinary(t, root, 90*time.Second, append(args, "--fresh")...)
	if code != 0 || !strings.Contains(out, "Runs started by this demo: 13 (13 succeeded)") || !strings.Contains(out, "SQLite, new") {
		t.Errorf("--fresh: exit %d\n%s", code, out)
	}
}

// TestDemoOutsideRepository: started where the examples are not, the demo
// says where it looked.
func TestDemoOutsideRepository(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, stderr, code := runBinary(t, dir, 30*time.Second, "demo", "--exit", "--addr", "127.0.0.1:0", "--sandbox-addr", "127.0.0.1:0")
	if code == 0 {
		t.Fatal("demo succeeded without examples")
	}
	want := "the example flows not found: looked for " + filepath.Join(dir, "examples", "flows")
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "--flows") {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "ghlsync-demo.db")); err == nil {
		t.Error("a database was created before the examples were found")
	}
}

func TestLoadSamplesErrors(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		files map[string]string
		want  string
	}{
		"no index":     {nil, "deliveries.json not found"},
		"bad json":     {map[string]string{"deliveries.json": "{"}, "deliveries.json: unexpected end of JSON input"},
		"empty":        {map[string]string{"deliveries.json": `{"deliveries":[]}`}, "lists no delivery"},
		"no flow":      {map[string]string{"deliveries.json": `{"deliveries":[{"file":"a.json","source":"generic"}]}`}, `delivery #1 needs "flow" and "file"`},
		"bad source":   {map[string]string{"deliveries.json": `{"deliveries":[{"flow":"f","file":"a.json","source":"zapier"}]}`}, `delivery #1 (a.json): unknown source "zapier"`},
		"no id":        {map[string]string{"deliveries.json": `{"deliveries":[{"flow":"f","file":"a.json","source":"changetower"}]}`}, `needs "delivery_id"`},
		"missing body": {map[string]string{"deliveries.json": `{"deliveries":[{"flow":"f","file":"a.json","source":"generic"}]}`}, "a.json: no such file"},
		"bad body":     {map[string]string{"deliveries.json": `{"deliveries":[{"flow":"f","file":"a.json","source":"generic"}]}`, "a.json": "{x"}, "a.json is not valid JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for n, c := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadSamples(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestSamplesVerify signs every sample as the demo does and has the real
// source of its flow verify it, with the demo's secrets.
func TestSamplesVerify(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	samples, err := LoadSamples(filepath.Join(root, DefaultEvents))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := flow.LoadDir(filepath.Join(root, DefaultFlows))
	if err != nil || len(loaded.Errors) > 0 {
		t.Fatalf("flows: %v %v", err, loaded.Errors)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	secrets := demoSecrets(base64.StdEncoding.EncodeToString(pub))
	for _, d := range samples.Deliveries {
		f, ok := loaded.Flow(d.Flow)
		if !ok || f.Trigger.Webhook == nil || f.Trigger.Webhook.Source != d.Source {
			t.Errorf("%s: no %s webhook flow %s", d.File, d.Source, d.Flow)
			continue
		}
		src, err := source.New(d.Source, f.Trigger.Webhook.Config, secrets)
		if err != nil {
			t.Errorf("%s: %v", d.Flow, err)
			continue
		}
		if d.Source == "ghl" {
			if _, err := Sign(d, time.Now()); err == nil {
				t.Errorf("%s: the demo signed a GoHighLevel delivery itself", d.File)
			}
			continue
		}
		hdr, err := Sign(d, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		check := func(body []byte, hdr http.Header) error {
			req, _ := sign.Request(context.Background(), "http://demo.test/hooks/"+d.Flow, body, hdr)
			raw, err := source.ReadBody(req, 0)
			if err != nil {
				return err
			}
			ev, err := src.Receive(req, raw)
			if err == nil && !ev.Verification.Verified {
				t.Errorf("%s: accepted but not verified", d.File)
			}
			return err
		}
		if err := check(d.Body, hdr); err != nil {
			t.Errorf("%s rejected by the %s source: %v", d.File, d.Source, err)
		}
		// One byte changed: rejected.
		tampered := append([]byte(nil), d.Body...)
		tampered[len(tampered)/2] ^= 1
		if err := check(tampered, hdr); err == nil {
			t.Errorf("%s: a changed body was accepted", d.File)
		}
	}
}

func TestDemoSecretsFallBack(t *testing.T) {
	t.Setenv("DEMO_TEST_OTHER_SECRET", "other")
	look := demoSecrets("KEY")
	for ref, want := range map[string]string{
		"env:GHLSYNC_CHANGETOWER_SECRET": ChangeTowerSecret,
		"env:GHLSYNC_GENERIC_SECRET":     GenericSecret,
		"env:GHLSYNC_GHL_WEBHOOK_KEY":    "KEY",
		"env:DEMO_TEST_OTHER_SECRET":     "other",
	} {
		if got, err := look(ref); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", ref, got, err, want)
		}
	}
	if _, err := look("env:DEMO_TEST_UNSET_SECRET"); err == nil {
		t.Error("an unset variable resolved")
	}
}

func TestExcerpt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"one line", 20, "one line"},
		{"Title\n\nBody line\n- item ", 40, "Title · Body line · - item"},
		{"Title\n\nBody line\n- item ", 20, "Title · Body line ·…"},
		{"Müller 😀 " + strings.Repeat("x", 30), 20, "Müller 😀 xxxxxxxxxx…"},
	} {
		if got := excerpt(tc.in, tc.n); got != tc.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestSnapshotPrint(t *testing.T) {
	t.Parallel()
	ny, _ := time.LoadLocation("America/New_York")
	s := &Snapshot{Timezone: "America/New_York",
		Contacts: []Contact{{ID: "c1", FirstName: "José", LastName: "Müller 😀", Email: "j@example.com", Phone: "+12125550147",
			Tags: []string{"a", "b"}, CustomFields: []FieldValue{{Name: "Deal Value", Value: 4990.0}, {Name: "Resumo", Value: "hi"}}},
			{ID: "c2", Phone: "+14155550123"}},
		Tasks: []Task{{ContactID: "c1", Title: "Call", Due: time.Date(2026, 12, 4, 14, 0, 0, 0, time.UTC)},
			{ContactID: "c9", Title: "Orphan", Completed: true}},
		Appointments: []Appointment{{ID: "a1", ContactID: "c2", CalendarID: "cal", Title: "Call", Status: "confirmed",
			Start: time.Date(2027, 7, 1, 10, 0, 0, 0, ny), End: time.Date(2027, 7, 1, 10, 30, 0, 0, ny)}},
	}
	var b strings.Builder
	s.Print(&b)
	for _, want := range []string{
		"2 contacts\n  José Müller 😀 <j@example.com>, +12125550147\n      tags: a, b\n      Deal Value: 4990\n      Resumo: \"hi\"\n  +14155550123\n",
		"0 notes\n",
		"for José Müller 😀: Call — due Fri 4 Dec 2026 09:00 EST\n",
		"for contact c9: Orphan — no due date, completed\n",
		"Call with +14155550123, Thu 1 Jul 2027 10:00–10:30 EDT, confirmed, calendar cal (id a1)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("lacks %q\n%s", want, b.String())
		}
	}
}

func TestReportProblems(t *testing.T) {
	t.Parallel()
	ok := &Report{
		Outcomes: []Outcome{
			{Delivery: Delivery{File: "a.json", Source: "generic"}, Result: HookResult{Status: 202, RunID: "run_1"}, Run: &RunView{ID: "run_1", Status: "succeeded"}},
			{Delivery: Delivery{File: "b.json", Source: "ghl"}, ContactID: "c1"},
		},
		Runs:  []RunView{{ID: "run_1", Flow: "f", Status: "succeeded"}, {ID: "run_2", Flow: "auto-tag", Status: "succeeded"}},
		Again: &AgainResult{Posted: 1, Duplicates: 1, Before: map[string]int{"notes": 1}, After: map[string]int{"notes": 1}},
	}
	if p := ok.Problems(); len(p) != 0 {
		t.Errorf("problems of a clean report: %v", p)
	}
	var b strings.Builder
	ok.PrintSummary(&b)
	for _, want := range []string{"Runs started by this demo: 2 (2 succeeded)", "(1 of them started by the sandbox's own GoHighLevel webhooks", "1 of 1 acknowledged"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}

	bad := &Report{
		Outcomes: []Outcome{
			{Delivery: Delivery{File: "a.json", Source: "generic"}, Result: HookResult{Status: 401, Error: "signature does not match"}},
			{Delivery: Delivery{File: "b.json", Source: "generic"}, Skipped: "flow x is not loaded"},
		},
		Runs:      []RunView{{ID: "run_3", Flow: "f", Status: "failed", Error: "422 email must be an email"}},
		SettleErr: context.DeadlineExceeded,
		Again:     &AgainResult{Posted: 2, Duplicates: 1, NewRuns: 1},
	}
	got := strings.Join(bad.Problems(), "\n")
	for _, want := range []string{"a.json: 401 rejected: signature does not match", "b.json: skipped: flow x is not loaded",
		"f run run_3 failed 422 email must be an email", "context deadline exceeded", "posted again: 1 of 2 duplicates, 1 new runs"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	b.Reset()
	bad.PrintSummary(&b)
	for _, want := range []string{"! f run run_3 failed: 422 email must be an email", "! Not everything finished in time", "! Posting every delivery a second time"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

// TestDemoExitReportsProblems: with --exit, a demo that could not do
// everything exits non-zero and says what went wrong.
func TestDemoExitReportsProblems(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	dir := t.TempDir()
	body, err := os.ReadFile(filepath.Join(root, DefaultEvents, "follow-ups.json"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"deliveries.json": `{"deliveries":[{"flow":"follow-ups","file":"ok.json","source":"generic"},{"flow":"no-such-flow","file":"ok.json","source":"generic"}]}`,
		"ok.json":         string(body),
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := runBinary(t, root, 60*time.Second, "demo", "--exit", "--db", filepath.Join(dir, "d.db"),
		"--events", dir, "--addr", "127.0.0.1:0", "--sandbox-addr", "127.0.0.1:0")
	if code != 1 {
		t.Errorf("exit code %d, want 1\n%s", code, out)
	}
	if want := "the demo did not complete cleanly: ok.json: skipped: flow no-such-flow is not loaded"; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	if !strings.Contains(out, "follow-ups") || !strings.Contains(out, "succeeded") {
		t.Errorf("the valid delivery did not run:\n%s", out)
	}
}

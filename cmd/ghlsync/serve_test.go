package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/store"
)

// Environment variables make these tests serial (t.Setenv).
func TestServeSettingsPrecedence(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ghlsync.yaml")
	if err := os.WriteFile(cfg, []byte("addr: 0.0.0.0:1\nworkers: 3\nredact-fields: [email, phone]\nretain: 30d\nflows: from-file\npublic-url: https://file.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GHLSYNC_WORKERS", "7")
	t.Setenv("GHLSYNC_FLOWS", "from-env")
	t.Setenv("GHLSYNC_PUBLIC_URL", "https://env.example.com")
	// Parse the command line only; the settings are checked below.
	cmd := newServeCmd()
	cmd.RunE = nil
	cmd.Run = func(*cobra.Command, []string) {}
	cmd.SetArgs([]string{"--addr", "127.0.0.1:9999", "--config", cfg})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags()
	if err := bindEnvAndConfig(f, cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"addr":          "127.0.0.1:9999",  // flag
		"workers":       "7",               // environment over file
		"flows":         "from-env",        // environment over file
		"redact-fields": "[email,phone]",   // file
		"retain":        "720h0m0s",        // file, in days
		"db":            store.DefaultPath, // default
		"public-url":    "https://env.example.com",
	}
	for name, w := range want {
		if v := f.Lookup(name).Value.String(); v != w {
			t.Errorf("--%s = %q, want %q", name, v, w)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("adr: typo\n"), 0o600)
	if err := bindEnvAndConfig(newServeCmd().Flags(), bad); err == nil || !strings.Contains(err.Error(), "unknown setting adr") {
		t.Errorf("unknown config key: %v", err)
	}
	t.Setenv("GHLSYNC_RETAIN", "soon")
	if err := bindEnvAndConfig(newServeCmd().Flags(), ""); err == nil || !strings.Contains(err.Error(), "GHLSYNC_RETAIN") {
		t.Errorf("bad environment value: %v", err)
	}
}

func TestDayDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"30d": 720 * time.Hour, "1.5d": 36 * time.Hour, "72h": 72 * time.Hour, "0": 0} {
		var d dayDuration
		if err := d.Set(in); err != nil || time.Duration(d) != want {
			t.Errorf("%q = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for _, in := range []string{"-1d", "d", "soon"} {
		var d dayDuration
		if err := d.Set(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestServeStartsAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := &serveOptions{addr: "127.0.0.1:0", flowsDir: "testdata/serve/flows", db: filepath.Join(dir, "g.db"),
		baseURL: "http://127.0.0.1:1", locationID: "loc", token: "pit-x", workers: 2, maxAttempts: 3,
		jobTimeout: time.Minute, rawLimit: 1024, pollMaxPages: 1, shutdownTimeout: 5 * time.Second,
		logLevel: "warn", logFormat: "json", logOut: &strings.Builder{}}
	s, err := startServer(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	// A second server on the same SQLite file is refused.
	o2 := *o
	if _, err := startServer(context.Background(), &o2); err == nil || !strings.Contains(err.Error(), "another ghlsync server") {
		t.Errorf("second server on one file: %v", err)
	}
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(s.URL + "/healthz"); err == nil {
		t.Error("still answering after shutdown")
	}
}

// seedRuns stores one event with a run in a fresh database file.
func seedRuns(t *testing.T) (db, runID string) {
	t.Helper()
	db = filepath.Join(t.TempDir(), "g.db")
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	loaded, err := flow.LoadDir("testdata/serve/flows")
	if err != nil || len(loaded.Flows) != 1 {
		t.Fatalf("flows: %v %v", loaded, err)
	}
	e, err := engine.New(engine.Config{Store: st, Flows: loaded, InsertOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Ingest(ctx, engine.Incoming{Flow: "three", Source: "generic", ID: "evt-1", Type: "contact.created",
		Payload: map[string]any{"data": map[string]any{"email": "ana@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	return db, res.RunID
}

func TestRunsCommands(t *testing.T) {
	t.Parallel()
	db, runID := seedRuns(t)

	out, _, err := run(t, "", "runs", "list", "--db", db)
	if err != nil || !strings.Contains(out, runID) || !strings.Contains(out, "queued") {
		t.Fatalf("runs list: %v\n%s", err, out)
	}
	out, _, err = run(t, "", "runs", "list", "--db", db, "--flow", "other")
	if err != nil || !strings.Contains(out, "no runs") {
		t.Errorf("runs list --flow other: %v\n%s", err, out)
	}
	if _, _, err := run(t, "", "runs", "list", "--db", db, "--status", "bogus"); exitCode(err) != 2 {
		t.Errorf("bad status: exit %d (%v)", exitCode(err), err)
	}
	out, _, err = run(t, "", "runs", "show", runID, "--db", db, "--redact-fields", "email")
	if err != nil || !strings.Contains(out, "evt-1") || strings.Contains(out, "ana@example.com") || !strings.Contains(out, "[redacted]") {
		t.Errorf("runs show: %v\n%s", err, out)
	}
	if _, _, err := run(t, "", "runs", "show", "run_nope", "--db", db); exitCode(err) != 1 {
		t.Errorf("show of a missing run: exit %d", exitCode(err))
	}
	// A queued run is not replayed; once it failed, it is.
	if _, _, err := run(t, "", "runs", "replay", runID, "--db", db); exitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), "still in progress") {
		t.Errorf("replay of a queued run: exit %d, %v", exitCode(err), err)
	}
	if st, err := store.Open(context.Background(), store.Options{Path: db}); err != nil {
		t.Fatal(err)
	} else {
		err = st.FinishRun(context.Background(), runID, store.RunFailed, "boom")
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	out, _, err = run(t, "", "runs", "replay", runID, "--db", db, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var replay engine.RunView
	if err := json.Unmarshal([]byte(out), &replay); err != nil || replay.ReplayOf != runID || replay.Status != "queued" {
		t.Errorf("replay: %v %+v", err, replay)
	}
	out, _, err = run(t, "", "runs", "list", "--db", db, "-o", "json")
	var list []engine.RunView
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 || list[0].ID != replay.ID {
		t.Errorf("runs list -o json after replay: %v %s", err, out)
	}
}

func TestFlowsTestCommand(t *testing.T) {
	t.Parallel()
	ev := `{"id":"evt-1","type":"contact.created","data":{"email":"ana@example.com","first_name":"Ana","note":"olá"}}`
	out, _, err := run(t, "", "flows", "test", "three", "--flows", "testdata/serve/flows", "--event", ev)
	if err != nil {
		t.Fatalf("flows test: %v\n%s", err, out)
	}
	for _, want := range []string{"== contact  contacts.upsert  HTTP 200", "== note  contacts.createNote  HTTP 201", "Event evt-1: olá", "== tag  contacts.addTags  HTTP 201"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = run(t, ev, "flows", "test", "testdata/serve/flows/three.yaml", "--event", "-", "--dry-run", "-o", "json")
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if strings.Contains(out, `"status"`) || !strings.Contains(out, `"path": "/contacts/upsert"`) {
		t.Errorf("dry run sent something or printed no request:\n%s", out)
	}
	if _, _, err := run(t, "", "flows", "test", "three", "--flows", "testdata/serve/flows", "--event", "{not json"); exitCode(err) != 2 {
		t.Errorf("bad event: exit %d", exitCode(err))
	}
	if _, _, err := run(t, "", "flows", "test", "nope", "--flows", "testdata/serve/flows", "--event", ev); exitCode(err) != 2 {
		t.Errorf("unknown flow: exit %d", exitCode(err))
	}
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/web"
)

// TestServeHoldsWebhookFlowLackingScope: a webhook flow whose stored
// connection lacks a scope stays registered but held: its deliveries are
// answered 429 with Retry-After (senders retry) instead of 404 (senders
// give up) and a message that says nothing of the setup; the start-up
// summary, the dashboard and /api/flows name the scope and `ghlsync auth
// check`; its runs wait instead of failing at GoHighLevel; and a reload
// once the connection has the scope lifts the hold.
func TestServeHoldsWebhookFlowLackingScope(t *testing.T) {
	t.Parallel()
	w := newAuthWorld(t)
	if out, err := w.run("pit-sandbox-location\n", "add-token", "--location", "sbx-location-1", "--scope", "contacts.write,locations.readonly"); err != nil {
		t.Fatalf("add-token: %v\n%s", err, out)
	}
	dir := t.TempDir()
	writeFlows(t, dir, map[string]string{
		"ok.yaml":   "trigger: {webhook: {source: generic, secret: \"literal:s3cret-generic\"}}\nsteps:\n  - {id: c, op: contacts.upsert, with: {email: x@example.com}}\n",
		"book.yaml": "trigger: {webhook: {source: generic, secret: \"literal:s3cret-generic\"}}\nsteps:\n  - {id: a, op: calendars.createAppointment, with: {calendarId: c, contactId: x, startTime: \"2026-01-01T10:00:00-05:00\"}}\n",
	})
	log := &syncBuffer{}
	o := &serveOptions{addr: "127.0.0.1:0", flowsDir: dir, db: filepath.Join(w.dir, "ghlsync.db"), keyFile: filepath.Join(w.dir, "vault.key"),
		baseURL: w.sandbox.URL, timezone: "America/New_York", workers: 2, maxAttempts: 3, jobTimeout: time.Minute, rawLimit: 1024,
		pollMaxPages: 1, shutdownTimeout: 5 * time.Second, logLevel: "info", logFormat: "text", logOut: log}
	s, err := startServer(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.shutdown()
	var summary strings.Builder
	printServing(&summary, s)
	for _, want := range []string{"/hooks/book", "not taking deliveries (429)", "calendars/events.write", "ghlsync auth check --flows " + dir} {
		if !strings.Contains(summary.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, summary.String())
		}
	}
	post := func(name string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(s.URL+"/hooks/"+name, "application/json", strings.NewReader(`{"id":"e1","type":"contact.created","data":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, body := post("book")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
		t.Errorf("held flow: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "try again later") || strings.Contains(body, "scope") || strings.Contains(body, "auth") {
		t.Errorf("held flow's answer to the sender: %s", body)
	}
	// The other flow is not held: an unsigned delivery reaches its source.
	if resp, _ := post("ok"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ok flow: %d, want 401 from its signature check", resp.StatusCode)
	}
	if !strings.Contains(log.String(), "ghlsync auth check --flows") {
		t.Errorf("log lacks the auth check hint:\n%s", log.String())
	}
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var flows web.FlowsView
	if err := json.Unmarshal([]byte(get("/api/flows")), &flows); err != nil {
		t.Fatal(err)
	}
	for _, f := range flows.Flows {
		switch f.Name {
		case "book":
			if !strings.Contains(f.Unavailable, "calendars/events.write") || !strings.Contains(f.Held, "ghlsync auth check --flows "+dir) {
				t.Errorf("/api/flows book: held %q unavailable %q", f.Held, f.Unavailable)
			}
		case "ok":
			if f.Held != "" || f.Unavailable != "" {
				t.Errorf("/api/flows ok: held %q unavailable %q", f.Held, f.Unavailable)
			}
		}
	}
	if page := get("/flows/book"); !strings.Contains(page, "This flow cannot take deliveries.") || !strings.Contains(page, "calendars/events.write") {
		t.Errorf("flow page of book lacks its banner")
	}

	// An event accepted before the hold (or a replay) waits instead of
	// failing at GoHighLevel.
	ctx := context.Background()
	in, err := s.Engine.Ingest(ctx, engine.Incoming{Flow: "book", Source: "generic", ID: "before-hold", Type: "contact.created",
		Payload: map[string]any{"data": map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		run, err := s.Store.GetRun(ctx, in.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status == store.RunRetrying && strings.Contains(run.Error, "held") {
			break
		}
		if store.Terminal(run.Status) || time.Now().After(deadline) {
			t.Fatalf("run of the held flow: %s %q, want retrying (waiting for the hold)", run.Status, run.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The connection gets the scope; a reload lifts the hold.
	if out, err := w.run("pit-sandbox-location\n", "add-token", "--location", "sbx-location-1",
		"--scope", "contacts.write,locations.readonly,calendars/events.write"); err != nil {
		t.Fatalf("add-token: %v\n%s", err, out)
	}
	if _, err := s.reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Engine.Held("book"); err != nil {
		t.Fatalf("still held after the reload: %v", err)
	}
	if resp, _ := post("book"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("book after the reload: %d, want 401 from its signature check", resp.StatusCode)
	}
}

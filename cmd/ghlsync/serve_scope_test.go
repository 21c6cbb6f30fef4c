package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeHoldsWebhookFlowLackingScope: a webhook flow whose stored
// connection lacks a scope stays registered, and its deliveries are
// answered 429 with Retry-After (senders retry) instead of 404 (senders
// give up); the start-up summary names `ghlsync auth check`.
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
	post := func(name string) *http.Response {
		t.Helper()
		resp, err := http.Post(s.URL+"/hooks/"+name, "application/json", strings.NewReader(`{"id":"e1","type":"contact.created","data":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("book"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
		t.Errorf("held flow: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The other flow is not held: an unsigned delivery reaches its source.
	if resp := post("ok"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ok flow: %d, want 401 from its signature check", resp.StatusCode)
	}
	if !strings.Contains(log.String(), "ghlsync auth check --flows") {
		t.Errorf("log lacks the auth check hint:\n%s", log.String())
	}
}

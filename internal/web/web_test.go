package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/source/sign"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

const secret = "web-test-secret"

var testFlows = map[string]string{
	"contacts": `name: contacts
description: Upsert contacts from generic events.
trigger:
  webhook:
    source: generic
    secret: literal:` + secret + `
    types: [contact.created]
steps:
  - id: contact
    op: contacts.upsert
    with:
      email: "{{ event.data.email }}"
`,
	"poller": `name: poller
trigger:
  poll:
    op: contacts.search
    every: 5m
steps:
  - id: tag
    op: contacts.addTags
    with:
      contactId: "{{ event.id }}"
      tags: [new]
`,
	"broken": `name: broken
trigger:
  webhook:
    source: generic
    secret: env:GHLSYNC_WEB_TEST_UNSET_SECRET
steps:
  - id: contact
    op: contacts.upsert
    with:
      email: "{{ event.data.email }}"
`,
}

type fixture struct {
	t   *testing.T
	srv *httptest.Server
	e   *engine.Engine
	st  *store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, store.SQLite)
}

// newFixtureOn serves the test flows over a store of the given dialect.
func newFixtureOn(t *testing.T, dialect string) *fixture {
	t.Helper()
	dir := t.TempDir()
	for name, body := range testFlows {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A file with a problem shows on the dashboard without stopping the others.
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("name: bad\ntrigger: {}\nsteps: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, dialect, "web")
	e, err := engine.New(engine.Config{Store: st, Flows: loaded, Connections: &engine.StaticConnections{},
		Redactor: redact.New("email")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Engine: e, MaxBody: 4096})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, e: e, st: st}
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	text   string
}

func (f *fixture) do(method, path string, body []byte, hdr http.Header) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, text: string(b)}
	_ = json.Unmarshal(b, &a.body)
	return a
}

func (f *fixture) deliver(flowName string, body []byte) answer {
	f.t.Helper()
	h := sign.Generic(secret, time.Now(), body)
	h.Set("Content-Type", "application/json")
	return f.do("POST", "/hooks/"+flowName, body, h)
}

func TestHooks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ev := []byte(`{"id":"evt-1","type":"contact.created","data":{"email":"josé@example.com","name":"Müller 😀"}}`)

	first := f.deliver("contacts", ev)
	if first.status != http.StatusAccepted || first.body["eventId"] == nil || first.body["runId"] == nil {
		t.Fatalf("first delivery: %d %s", first.status, first.text)
	}
	again := f.deliver("contacts", ev)
	if again.status != http.StatusOK || again.body["duplicate"] != true || again.body["eventId"] != first.body["eventId"] {
		t.Fatalf("repeat delivery: %d %s", again.status, again.text)
	}
	stored, err := f.st.GetEvent(context.Background(), first.body["eventId"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored.Raw, ev) || stored.SourceEventID != "evt-1" || stored.Source != "generic" {
		t.Errorf("stored event = raw %q id %q source %q", stored.Raw, stored.SourceEventID, stored.Source)
	}

	tampered := append([]byte(nil), ev...)
	tampered[len(tampered)-3] = 'X'
	h := sign.Generic(secret, time.Now(), ev)
	tests := []struct {
		name   string
		path   string
		body   []byte
		hdr    http.Header
		status int
		want   string
	}{
		{"unknown flow", "/hooks/nope", ev, h, 404, "no flow named"},
		{"poll flow", "/hooks/poller", ev, h, 404, "polling"},
		{"one byte changed", "/hooks/contacts", tampered, h, 401, ""},
		{"no signature", "/hooks/contacts", ev, http.Header{}, 401, ""},
		{"too large", "/hooks/contacts", bytes.Repeat([]byte("x"), 5000), h, 413, ""},
		{"misconfigured source", "/hooks/broken", ev, h, 429, "cannot take deliveries right now; try again later"},
	}
	for _, tt := range tests {
		a := f.do("POST", tt.path, tt.body, tt.hdr)
		if a.status != tt.status || !strings.Contains(a.text, tt.want) {
			t.Errorf("%s: %d %s, want %d mentioning %q", tt.name, a.status, a.text, tt.status, tt.want)
		}
		if a.status == 429 && a.header.Get("Retry-After") != "60" {
			t.Errorf("%s: 429 with Retry-After %q, want 60", tt.name, a.header.Get("Retry-After"))
		}
		// The sender learns nothing of the configuration.
		if a.status == 429 && (strings.Contains(a.text, "GHLSYNC_WEB_TEST_UNSET_SECRET") || strings.Contains(a.text, "secret")) {
			t.Errorf("%s: the answer names the configuration: %s", tt.name, a.text)
		}
	}
	other := f.deliver("contacts", []byte(`{"id":"evt-2","type":"contact.updated","data":{}}`))
	if other.status != 200 || other.body["ignored"] == nil {
		t.Errorf("filtered type: %d %s", other.status, other.text)
	}
	if n, _ := f.st.CountEvents(context.Background(), ""); n != 1 {
		t.Errorf("%d events stored, want only the accepted one", n)
	}

	metrics := f.do("GET", "/metrics", nil, nil)
	for _, want := range []string{
		`ghlsync_events_total{flow="contacts",result="accepted"} 1`,
		`ghlsync_events_total{flow="contacts",result="duplicate"} 1`,
		`ghlsync_events_total{flow="contacts",result="rejected"} 3`,
		`ghlsync_runs{status="queued"} 1`,
		`ghlsync_queue_depth 1`,
	} {
		if !strings.Contains(metrics.text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestStorageFailureAnswers429(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if h := f.do("GET", "/healthz", nil, nil); h.status != 200 || h.body["database"] != "ok" {
		t.Fatalf("healthz: %d %s", h.status, h.text)
	}
	f.st.Close()
	a := f.deliver("contacts", []byte(`{"id":"evt-9","type":"contact.created","data":{}}`))
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" {
		t.Errorf("with the database closed: %d %s (Retry-After %q), want 429 with Retry-After", a.status, a.text, a.header.Get("Retry-After"))
	}
	if h := f.do("GET", "/healthz", nil, nil); h.status != http.StatusServiceUnavailable {
		t.Errorf("healthz with the database closed: %d", h.status)
	}
}

func TestAPIAndDashboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acc := f.deliver("contacts", []byte(`{"id":"evt-1","type":"contact.created","data":{"email":"ana@example.com"}}`))
	runID := acc.body["runId"].(string)

	flows := f.do("GET", "/api/flows", nil, nil)
	if !strings.Contains(flows.text, `"hookPath": "/hooks/contacts"`) || !strings.Contains(flows.text, "bad.yaml") ||
		!strings.Contains(flows.text, `"sourceError"`) {
		t.Errorf("/api/flows = %s", flows.text)
	}
	runs := f.do("GET", "/api/runs?flow=contacts", nil, nil)
	if !strings.Contains(runs.text, runID) {
		t.Errorf("/api/runs = %s", runs.text)
	}
	if bad := f.do("GET", "/api/runs?status=bogus", nil, nil); bad.status != 400 {
		t.Errorf("bad status filter: %d", bad.status)
	}
	detail := f.do("GET", "/api/runs/"+runID, nil, nil)
	if detail.status != 200 || !strings.Contains(detail.text, `"status": "queued"`) {
		t.Errorf("/api/runs/ID = %d %s", detail.status, detail.text)
	}
	if strings.Contains(detail.text, "ana@example.com") {
		t.Errorf("configured PII field shown: %s", detail.text)
	}
	if nf := f.do("GET", "/api/runs/run_nope", nil, nil); nf.status != 404 {
		t.Errorf("missing run: %d", nf.status)
	}
	if queued := f.do("POST", "/api/runs/"+runID+"/replay", nil, nil); queued.status != http.StatusConflict {
		t.Errorf("replay of a queued run: %d %s, want 409", queued.status, queued.text)
	}
	if err := f.st.FinishRun(context.Background(), runID, store.RunFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	replay := f.do("POST", "/api/runs/"+runID+"/replay", nil, nil)
	if replay.status != 202 || !strings.Contains(replay.text, `"replayOf": "`+runID+`"`) {
		t.Errorf("replay: %d %s", replay.status, replay.text)
	}
	cross := f.do("POST", "/api/runs/"+runID+"/replay", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	if cross.status != http.StatusForbidden {
		t.Errorf("cross-site replay: %d, want 403", cross.status)
	}

	page := f.do("GET", "/", nil, nil)
	for _, want := range []string{"contacts", "POST <code class=\"url\">" + f.srv.URL + "/hooks/contacts</code>", "poll contacts.search every 5m0s", runID, "not taking deliveries", "bad.yaml"} {
		if !strings.Contains(page.text, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	run := f.do("GET", "/runs/"+runID, nil, nil)
	if run.status != 200 || !strings.Contains(run.text, "Trigger event") || strings.Contains(run.text, "ana@example.com") {
		t.Errorf("run page: %d", run.status)
	}
	if nf := f.do("GET", "/runs/run_nope", nil, nil); nf.status != 404 {
		t.Errorf("missing run page: %d", nf.status)
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
	"github.com/ghlsync/ghlsync/internal/source"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/testutil"
)

type syncBuffer = testutil.SyncBuffer

// authWorld is a sandbox and a database for the auth commands.
type authWorld struct {
	t       *testing.T
	sandbox *httptest.Server
	dir     string
}

func newAuthWorld(t *testing.T) *authWorld {
	t.Helper()
	srv, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); srv.Close() })
	return &authWorld{t: t, sandbox: ts, dir: t.TempDir()}
}

func (w *authWorld) args(args ...string) []string {
	return append([]string{"auth", "--db", filepath.Join(w.dir, "ghlsync.db"), "--key-file", filepath.Join(w.dir, "vault.key"), "--base-url", w.sandbox.URL}, args...)
}

// run runs ghlsync auth ... with stdin and returns stdout+stderr.
func (w *authWorld) run(stdin string, args ...string) (string, error) {
	w.t.Helper()
	root := newRootCmd()
	var out syncBuffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(w.args(args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestAuthCLIPrivateIntegrationToken(t *testing.T) {
	t.Parallel()
	w := newAuthWorld(t)
	out, err := w.run("pit-sandbox-location\n", "add-token", "--name", "main", "--location", "sbx-location-1", "--scope", "contacts.write,contacts.readonly")
	if err != nil || !strings.Contains(out, `Stored "main"`) || !strings.Contains(out, "accepted") {
		t.Fatalf("add-token: %v\n%s", err, out)
	}
	st, err := os.Stat(filepath.Join(w.dir, "vault.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, st)
	}
	for _, args := range [][]string{{"list"}, {"list", "-o", "json"}, {"show", "main"}, {"show", "main", "-o", "json"}} {
		out, err := w.run("", args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if strings.Contains(out, "pit-sandbox-location") {
			t.Fatalf("%v prints the token:\n%s", args, out)
		}
		if !regexp.MustCompile(`…[0-9a-f]{4}`).MatchString(out) || !strings.Contains(out, "sbx-location-1") {
			t.Fatalf("%v lacks the fingerprint or location:\n%s", args, out)
		}
	}
	if out, err := w.run("", "test", "main"); err != nil || !strings.Contains(out, "main: OK") {
		t.Fatalf("test: %v\n%s", err, out)
	}
	if out, err := w.run("", "revoke", "main"); err != nil || !strings.Contains(out, "Revoked") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	out, _ = w.run("", "show", "main")
	if !strings.Contains(out, "revoked") || regexp.MustCompile(`access token:`).MatchString(out) {
		t.Fatalf("show after revoke:\n%s", out)
	}
	if out, err := w.run("", "test", "main"); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("test after revoke: %v\n%s", err, out)
	}
	// Nothing on stdin: a clear error.
	if _, err := w.run("", "add-token", "--name", "x", "--location", "sbx-location-1"); err == nil || !strings.Contains(err.Error(), "stdin") {
		t.Fatalf("empty stdin: %v", err)
	}
}

func TestAuthCLIRefusesLegacyKey(t *testing.T) {
	t.Parallel()
	w := newAuthWorld(t)
	jwt := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJsb2NhdGlvbl9pZCI6ImxvYy0xIiwidmVyc2lvbiI6MSwiaWF0IjoxNjAwMDAwMDAwfQ.c2lnbmF0dXJl"
	out, err := w.run(jwt+"\n", "add-token", "--name", "legacy", "--location", "sbx-location-1")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "v1") || strings.Contains(err.Error()+out, jwt) {
		t.Fatalf("legacy key: %v\n%s", err, out)
	}
}

// approve plays the browser: it follows the consent URL printed by login
// and returns where the sandbox redirects.
func approve(t *testing.T, consentURL, target string) string {
	t.Helper()
	u, err := url.Parse(consentURL)
	if err != nil {
		t.Fatal(err)
	}
	form := u.Query()
	form.Set("target", target)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("consent answered %d: %s", res.StatusCode, b)
	}
	return res.Header.Get("Location")
}

var consentRe = regexp.MustCompile(`https?://\S+/v2/oauth/chooselocation\?\S+`)

// login runs `ghlsync auth login` and completes the consent; manual pastes
// the redirect on stdin, otherwise the command's own listener receives it.
func (w *authWorld) login(manual bool, extra ...string) (string, string, error) {
	w.t.Helper()
	stdinR, stdinW := io.Pipe()
	root := newRootCmd()
	var out syncBuffer
	root.SetIn(stdinR)
	root.SetOut(&out)
	root.SetErr(&out)
	args := []string{"login", "--client-id", "sandbox-client-id", "--consent-host", w.sandbox.URL, "--timeout", "30s"}
	if manual {
		args = append(args, "--manual", "--redirect-url", "https://ghlsync.example.com/oauth/callback")
	} else {
		args = append(args, "--redirect-url", "http://127.0.0.1:"+freePort(w.t)+"/oauth/callback")
	}
	root.SetArgs(w.args(append(args, extra...)...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(context.Background()) }()
	var consent string
	for deadline := time.Now().Add(10 * time.Second); consent == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		consent = consentRe.FindString(out.String())
		select {
		case err := <-done:
			return out.String(), "", err
		default:
		}
	}
	if consent == "" {
		w.t.Fatalf("no consent URL printed:\n%s", out.String())
	}
	redirect := approve(w.t, consent, "location:sbx-location-1")
	if manual {
		io.WriteString(stdinW, redirect+"\n")
	} else {
		// Wait until the listener is up, then play the browser's redirect.
		for i := 0; i < 100; i++ {
			res, err := http.Get(redirect)
			if err == nil {
				res.Body.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	err := <-done
	stdinW.Close()
	return out.String(), consent, err
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func TestAuthCLILogin(t *testing.T) {
	t.Parallel()
	w := newAuthWorld(t)

	// Scopes default to what the flows using the connection need.
	flows := filepath.Join(w.dir, "flows")
	os.Mkdir(flows, 0o755)
	os.WriteFile(filepath.Join(flows, "book.yaml"), []byte(`name: book
trigger: {webhook: {source: generic, secret: "env:X"}}
steps:
  - {id: c, op: contacts.upsert, with: {email: "{{ event.email }}"}}
  - {id: a, op: calendars.createAppointment, with: {calendarId: sbx-calendar-1, contactId: "{{ steps.c.contact.id }}", startTime: "{{ event.start }}"}}
`), 0o644)
	os.WriteFile(filepath.Join(flows, "other.yaml"), []byte(`name: other
connection: elsewhere
trigger: {webhook: {source: generic, secret: "env:X"}}
steps:
  - {id: o, op: opportunities.create, with: {name: x, pipelineId: p, pipelineStageId: s, contactId: c, status: open}}
`), 0o644)
	out, consent, err := w.login(true, "--client-secret", "sandbox-client-secret", "--flows", flows)
	if err != nil || !strings.Contains(out, `Connected "default": Location sbx-location-1`) {
		t.Fatalf("login: %v\n%s", err, out)
	}
	u, _ := url.Parse(consent)
	// locations.readonly too: it reads the location's time zone for dates.
	if got := u.Query().Get("scope"); got != "calendars/events.write contacts.write locations.readonly" {
		t.Fatalf("requested scopes %q, want the flows' (calendars/events.write contacts.write) and locations.readonly", got)
	}
	for _, k := range []string{"response_type", "redirect_uri", "client_id", "state"} {
		if u.Query().Get(k) == "" {
			t.Fatalf("consent URL lacks %s: %s", k, consent)
		}
	}
	if strings.Contains(out, "sandbox-client-secret") {
		t.Fatal("login output shows the client secret")
	}
	if out, err := w.run("", "check", "--flows", flows); err == nil || !strings.Contains(out, "ok   flow book") || !strings.Contains(out, `"elsewhere"`) {
		t.Fatalf("check: %v\n%s", err, out)
	}

	// The local listener variant, with explicit scopes lacking one the flow needs.
	out, _, err = w.login(false, "--client-secret", "sandbox-client-secret", "--scope", "contacts.write")
	if err != nil || !strings.Contains(out, "scopes: contacts.write") {
		t.Fatalf("login with listener: %v\n%s", err, out)
	}
	out, err = w.run("", "check", "--flows", flows)
	if err == nil || !strings.Contains(out, "calendars/events.write") {
		t.Fatalf("check after narrowing scopes: %v\n%s", err, out)
	}
	// Key rotation keeps the connection usable.
	if out, err := w.run("", "rotate-key"); err != nil || !strings.Contains(out, "Re-sealed 3 of 3") {
		t.Fatalf("rotate-key: %v\n%s", err, out)
	}
	if out, err := w.run("", "test", "default"); err != nil {
		t.Fatalf("test after rotation: %v\n%s", err, out)
	}
	if out, err := w.run("", "rotate-key", "--prune"); err != nil || !strings.Contains(out, "Removed retired keys") {
		t.Fatalf("rotate-key --prune: %v\n%s", err, out)
	}
}

func TestAuthCLISecrets(t *testing.T) {
	t.Parallel()
	w := newAuthWorld(t)
	if out, err := w.run("whsec-123456789\n", "secret", "set", "ct-hook"); err != nil || !strings.Contains(out, "vault:ct-hook") || strings.Contains(out, "whsec-123456789") {
		t.Fatalf("secret set: %v\n%s", err, out)
	}
	if out, err := w.run("", "secret", "list"); err != nil || strings.TrimSpace(out) != "ct-hook" {
		t.Fatalf("secret list: %v\n%s", err, out)
	}
	// The database files never hold the secret in clear.
	data, _ := os.ReadFile(filepath.Join(w.dir, "ghlsync.db"))
	wal, _ := os.ReadFile(filepath.Join(w.dir, "ghlsync.db-wal"))
	if len(data)+len(wal) == 0 || bytes.Contains(append(data, wal...), []byte("whsec-123456789")) {
		t.Fatal("secret in clear in the database (or no database)")
	}
	if _, err := w.run("", "secret", "delete", "ct-hook"); err != nil {
		t.Fatal(err)
	}
	if out, _ := w.run("", "secret", "list"); strings.TrimSpace(out) != "" {
		t.Fatalf("after delete: %s", out)
	}
}

func TestAuthConnectionsForServe(t *testing.T) {
	t.Parallel()
	w := newAuthWorld(t)
	if out, err := w.run("pit-sandbox-location\n", "add-token", "--location", "sbx-location-1", "--scope", "contacts.write,locations.readonly"); err != nil {
		t.Fatalf("add-token: %v\n%s", err, out)
	}
	if out, err := w.run("pit-sandbox-location\n", "add-token", "--name", "gone", "--location", "sbx-location-1"); err != nil {
		t.Fatalf("add-token: %v\n%s", err, out)
	}
	if _, err := w.run("", "revoke", "gone"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(w.dir, "ghlsync.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	m, conns, err := authForServe(ctx, st, filepath.Join(w.dir, "ghlsync.db"), filepath.Join(w.dir, "vault.key"), ghl.Config{BaseURL: w.sandbox.URL}, log)
	if err != nil {
		t.Fatal(err)
	}
	// A flow without connection: uses "default".
	c, info, err := conns.Client(ctx, "")
	if err != nil || info.Name != "default" || info.LocationID != "sbx-location-1" || info.Timezone != "America/New_York" || c.Resource() != "sbx-location-1" {
		t.Fatalf("default connection: %v %+v", err, info)
	}
	for _, name := range []string{"gone", "missing"} {
		_, _, err := conns.Client(ctx, name)
		var paused *engine.ConnectionPausedError
		if !errors.As(err, &paused) || !errors.Is(err, engine.ErrConnectionUnavailable) || paused.PauseFor < time.Minute {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Flows lacking a scope are not loaded; the message names the scope.
	dir := filepath.Join(w.dir, "flows")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "ok.yaml"), []byte("trigger: {webhook: {source: generic, secret: \"env:X\"}}\nsteps:\n  - {id: c, op: contacts.upsert, with: {email: x@example.com}}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "book.yaml"), []byte("trigger: {webhook: {source: generic, secret: \"env:X\"}}\nsteps:\n  - {id: a, op: calendars.createAppointment, with: {calendarId: c, contactId: x, startTime: \"2026-01-01T10:00:00-05:00\"}}\n"), 0o644)
	loaded, err := flow.LoadDir(dir)
	if err != nil || len(loaded.Flows) != 2 {
		t.Fatalf("load: %v %v", err, loaded.Errors)
	}
	os.WriteFile(filepath.Join(dir, "poll.yaml"), []byte("trigger: {poll: {op: contacts.search, every: 5m}}\nsteps:\n  - {id: c, op: contacts.upsert, with: {email: x@example.com}}\n"), 0o644)
	loaded, err = flow.LoadDir(dir)
	if err != nil || len(loaded.Flows) != 3 {
		t.Fatalf("load: %v %v", err, loaded.Errors)
	}
	// A webhook flow lacking a scope stays loaded but held (its deliveries
	// get 429); a polling one does not load. Both messages name the scope.
	held := authCheckFlows(ctx, m, loaded, log)
	var names []string
	for _, f := range loaded.Flows {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "book,ok" || len(held) != 1 || held["book"] == nil ||
		!strings.Contains(held["book"].Error(), "calendars/events.write") || !strings.Contains(held["book"].Error(), "book.yaml") {
		t.Fatalf("after scope check: flows %v, held %v", names, held)
	}
	if len(loaded.Errors) != 1 || !strings.Contains(loaded.Errors[0].Error(), "poll.yaml") || !strings.Contains(loaded.Errors[0].Error(), "contacts.readonly") {
		t.Fatalf("polling flow lacking a scope: %v", loaded.Errors)
	}
}

func TestAuthSecretLookupForSources(t *testing.T) {
	t.Parallel()
	w := newAuthWorld(t)
	if out, err := w.run("whsec_c2VjcmV0LXNpZ25pbmcta2V5\n", "secret", "set", "generic/new"); err != nil {
		t.Fatalf("secret set: %v\n%s", err, out)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Path: filepath.Join(w.dir, "ghlsync.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, _, err := authForServe(ctx, st, filepath.Join(w.dir, "ghlsync.db"), filepath.Join(w.dir, "vault.key"), ghl.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	lookup := authSecretLookup(m)
	if v, err := lookup("vault:generic/new"); err != nil || v != "whsec_c2VjcmV0LXNpZ25pbmcta2V5" {
		t.Fatalf("vault ref: %q %v", v, err)
	}
	if v, err := lookup("literal:abc"); err != nil || v != "abc" {
		t.Fatalf("literal ref: %q %v", v, err)
	}
	// A source built with it verifies against the vault secret.
	if _, err := source.New("generic", map[string]any{"secret": "vault:generic/new"}, lookup); err != nil {
		t.Fatalf("source with a vault secret: %v", err)
	}
	if _, err := lookup("vault:missing"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing: %v", err)
	}
}

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/sandbox"
)

// sandboxServeOptions returns serve settings for flows in dir against an
// in-process sandbox.
func sandboxServeOptions(t *testing.T, dir string, log *syncBuffer) *serveOptions {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	return &serveOptions{addr: "127.0.0.1:0", flowsDir: dir, db: filepath.Join(t.TempDir(), "g.db"),
		baseURL: srv.URL, locationID: "sbx-location-1", token: "pit-sandbox-location", timezone: "America/New_York",
		workers: 2, maxAttempts: 3, jobTimeout: time.Minute, rawLimit: 1024, pollMaxPages: 1,
		shutdownTimeout: 5 * time.Second, logLevel: "info", logFormat: "text", logOut: log}
}

func writeFlows(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const goodFlow = "trigger: {webhook: {source: generic, secret: literal:s3cret-generic}}\nsteps:\n" +
	"  - id: contact\n    op: contacts.upsert\n    with:\n      email: \"{{ event.data.email }}\"\n      customFields:\n        Deal Value: \"{{ event.data.amount }}\"\n"

// TestServeChecksCustomFieldsAndSources: a flow mapping a custom field the
// location lacks, or with a source option the source refuses, is reported
// with file:line and not loaded; the others serve.
func TestServeChecksCustomFieldsAndSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFlows(t, dir, map[string]string{
		"good.yaml":   goodFlow,
		"typo.yaml":   strings.Replace(goodFlow, "Deal Value", "Deal Valeu", 1),
		"source.yaml": strings.Replace(goodFlow, "secret: literal:s3cret-generic", "secret: literal:s3cret-generic, tolerance: soon", 1),
	})
	log := &syncBuffer{}
	s, err := startServer(context.Background(), sandboxServeOptions(t, dir, log))
	if err != nil {
		t.Fatal(err)
	}
	defer s.shutdown()
	if f := s.Engine.Flows().Flows; len(f) != 1 || f[0].Name != "good" {
		t.Fatalf("loaded %d flows: %v", len(f), f)
	}
	out := log.String()
	for _, want := range []string{
		filepath.Join(dir, "typo.yaml") + `:8:9: step \"contact\": customFields: no custom field with name, key or id \"Deal Valeu\"`,
		filepath.Join(dir, "source.yaml") + ":1:70: webhook: source generic: tolerance:",
		"tolerance",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret-generic") {
		t.Errorf("a secret reached the log:\n%s", out)
	}
}

func TestServeRefusesAnOpenDashboardBeyondLoopback(t *testing.T) {
	t.Parallel()
	long := "0123456789abcdef0123"
	for _, c := range []struct {
		addr, token string
		insecure    bool
		ok          bool
	}{
		{"127.0.0.1:8080", "", false, true},
		{"localhost:8080", "", false, true},
		{"[::1]:8080", "", false, true},
		{":8080", "", false, false},
		{"0.0.0.0:8080", "", false, false},
		{"192.168.1.5:8080", "", false, false},
		{"ghlsync.internal:8080", "", false, false},
		{"0.0.0.0:8080", long, false, true},
		{"0.0.0.0:8080", "", true, true},
		{"127.0.0.1:8080", "short", false, false}, // a token, when set, must be long enough
	} {
		err := checkAccess(&serveOptions{addr: c.addr, adminToken: c.token, insecureNoAuth: c.insecure})
		if (err == nil) != c.ok {
			t.Errorf("%s token=%q insecure=%v: %v", c.addr, c.token, c.insecure, err)
		}
	}
	// serve itself refuses before listening, with exit status 2.
	dir := t.TempDir()
	writeFlows(t, dir, map[string]string{"good.yaml": goodFlow})
	o := sandboxServeOptions(t, dir, &syncBuffer{})
	o.addr = "0.0.0.0:0"
	_, err := startServer(context.Background(), o)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "GHLSYNC_ADMIN_TOKEN") {
		t.Errorf("non-loopback without a token: %v", err)
	}
}

// TestServeWithAdminToken: a server with a token guards its API and keeps
// webhooks and health open.
func TestServeWithAdminToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFlows(t, dir, map[string]string{"good.yaml": goodFlow})
	o := sandboxServeOptions(t, dir, &syncBuffer{})
	o.adminToken = "serve-admin-token-0123456789"
	s, err := startServer(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.shutdown()
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/api/flows", ""); c != http.StatusUnauthorized {
		t.Errorf("/api/flows without the token: %d", c)
	}
	if c := get("/api/flows", o.adminToken); c != http.StatusOK {
		t.Errorf("/api/flows with the token: %d", c)
	}
	if c := get("/healthz", ""); c != http.StatusOK {
		t.Errorf("/healthz: %d", c)
	}
	var out strings.Builder
	printServing(&out, s)
	if !strings.Contains(out.String(), "ask for the admin token") {
		t.Errorf("serve banner: %s", out.String())
	}
}

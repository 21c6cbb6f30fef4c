package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/flow"

	"github.com/ghlsync/ghlsync/internal/store"
)

const adminToken = "admin-token-0123456789abcdef"

// noRedirect keeps a client from following the login redirects, so the
// test sees them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func newAuthFixture(t *testing.T, publicMetrics bool) *fixture {
	t.Helper()
	f := newFixture(t)
	s, err := New(Config{Engine: f.e, MaxBody: 4096, AdminToken: adminToken, PublicMetrics: publicMetrics})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = newTestServer(t, s)
	return f
}

func (f *fixture) raw(method, path string, form url.Values, hdr http.Header) *http.Response {
	f.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAdminTokenGuardsDashboardAndAPI(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t, false)
	bearer := http.Header{"Authorization": {"Bearer " + adminToken}}

	// Open: deliveries and health.
	acc := f.deliver("contacts", []byte(`{"id":"evt-1","type":"contact.created","data":{"email":"ana@example.com"}}`))
	if acc.status != http.StatusAccepted {
		t.Fatalf("delivery without the admin token: %d %s", acc.status, acc.text)
	}
	runID := acc.body["runId"].(string)
	// Only a finished run replays.
	if err := f.st.FinishRun(context.Background(), runID, store.RunFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	if h := f.do("GET", "/healthz", nil, nil); h.status != 200 {
		t.Errorf("healthz: %d", h.status)
	}

	for _, path := range []string{"/api/flows", "/api/runs", "/api/runs/" + runID, "/api/captures", "/metrics"} {
		a := f.do("GET", path, nil, nil)
		if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s without a token: %d %q", path, a.status, a.header.Get("WWW-Authenticate"))
		}
		if a := f.do("GET", path, nil, http.Header{"Authorization": {"Bearer " + adminToken + "x"}}); a.status != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d", path, a.status)
		}
		if a := f.do("GET", path, nil, bearer); a.status != http.StatusOK {
			t.Errorf("%s with the token: %d %s", path, a.status, a.text)
		}
	}
	if a := f.do("POST", "/api/runs/"+runID+"/replay", nil, nil); a.status != http.StatusUnauthorized {
		t.Errorf("replay without a token: %d", a.status)
	}
	if a := f.do("POST", "/api/runs/"+runID+"/replay", nil, bearer); a.status != http.StatusAccepted {
		t.Errorf("replay with the token: %d %s", a.status, a.text)
	}

	// People: the dashboard sends them to sign in, and back.
	resp := f.raw("GET", "/runs/"+runID, nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape("/runs/"+runID) {
		t.Fatalf("dashboard without a login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a := f.do("GET", "/login", nil, nil); a.status != 200 || !strings.Contains(a.text, `name="token"`) {
		t.Errorf("login page: %d", a.status)
	}
	if resp := f.raw("POST", "/login", url.Values{"token": {"guess"}, "next": {"/"}}, nil); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp = f.raw("POST", "/login", url.Values{"token": {adminToken}, "next": {"/runs/" + runID}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/runs/"+runID {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || strings.Contains(session.Value, adminToken) {
		t.Fatalf("session cookie: %+v", session)
	}
	cookie := http.Header{"Cookie": {session.Name + "=" + session.Value}}
	if a := f.do("GET", "/", nil, cookie); a.status != 200 || !strings.Contains(a.text, runID) {
		t.Errorf("dashboard with the cookie: %d", a.status)
	}
	if resp := f.raw("POST", "/runs/"+runID+"/replay", nil, cookie); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("replay form with the cookie: %d", resp.StatusCode)
	}
	crossSite := http.Header{"Cookie": cookie["Cookie"], "Sec-Fetch-Site": {"cross-site"}}
	if resp := f.raw("POST", "/runs/"+runID+"/replay", nil, crossSite); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site replay with the cookie: %d", resp.StatusCode)
	}
	if resp := f.raw("GET", "/", nil, http.Header{"Cookie": {sessionCookie + "=" + adminToken}}); resp.StatusCode != http.StatusSeeOther {
		t.Error("a cookie holding the raw token was accepted as a session")
	}
	// The redirect after signing in stays on this server.
	resp = f.raw("POST", "/login", url.Values{"token": {adminToken}, "next": {"//evil.example/x"}}, nil)
	if resp.Header.Get("Location") != "/" {
		t.Errorf("open redirect: %s", resp.Header.Get("Location"))
	}
	if resp := f.raw("POST", "/logout", nil, cookie); resp.StatusCode != http.StatusSeeOther || resp.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: %d %v", resp.StatusCode, resp.Cookies())
	}
}

func TestPublicMetricsAndShortTokens(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t, true)
	if a := f.do("GET", "/metrics", nil, nil); a.status != 200 {
		t.Errorf("public metrics: %d", a.status)
	}
	if a := f.do("GET", "/api/flows", nil, nil); a.status != http.StatusUnauthorized {
		t.Errorf("API with public metrics: %d", a.status)
	}
	e, err := engine.New(engine.Config{Store: f.st, Connections: &engine.StaticConnections{}, Redactor: redact.New()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Engine: e, AdminToken: "short"}); err == nil {
		t.Error("a 5-character admin token was accepted")
	}
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"/runs/x?a=1": "/runs/x?a=1", "": "/", "https://evil.example": "/",
		"//evil.example": "/", "/\\evil.example": "/", "runs": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReloadEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	calls := 0
	s, err := New(Config{Engine: f.e, AdminToken: adminToken, Reload: func(context.Context) (ReloadResult, error) {
		calls++
		return ReloadResult{Flows: []string{"contacts"}, KeptPrevious: []string{"x"}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = newTestServer(t, s)
	if a := f.do("POST", "/api/reload", nil, nil); a.status != http.StatusUnauthorized || calls != 0 {
		t.Errorf("reload without the token: %d (calls %d)", a.status, calls)
	}
	cross := http.Header{"Authorization": {"Bearer " + adminToken}, "Sec-Fetch-Site": {"cross-site"}}
	if a := f.do("POST", "/api/reload", nil, cross); a.status != http.StatusForbidden || calls != 0 {
		t.Errorf("cross-site reload: %d", a.status)
	}
	a := f.do("POST", "/api/reload", nil, http.Header{"Authorization": {"Bearer " + adminToken}})
	if a.status != 200 || calls != 1 || !strings.Contains(a.text, `"keptPrevious"`) {
		t.Errorf("reload: %d %s", a.status, a.text)
	}
	// Without a reload function there is no such endpoint.
	if a := newAuthFixture(t, false).do("POST", "/api/reload", nil, http.Header{"Authorization": {"Bearer " + adminToken}}); a.status != http.StatusNotFound && a.status != http.StatusMethodNotAllowed {
		t.Errorf("reload without a function: %d", a.status)
	}
}

func TestFlowsViewShowsKeyedSteps(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, _ := New(Config{Engine: f.e})
	fl, err := flow.Parse("k.yaml", []byte("name: k\ntrigger: {webhook: {source: generic}}\nsteps:\n  - id: a\n    op: calendars.createAppointment\n"+
		"    key: \"apt:{{ event.id }}\"\n    update: {op: calendars.updateAppointment}\n"+
		"    with: {calendarId: c, contactId: x, startTime: \"{{ event.start }}\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := s.flowView(fl)
	if st := v.Steps[0]; st.Key != "apt:{{ event.id }}" || st.Update != "calendars.updateAppointment" {
		t.Errorf("step view: %+v", st)
	}
}

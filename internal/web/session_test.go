package web

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// signIn posts the admin token and returns the session cookie's value.
func signIn(t *testing.T, f *fixture) string {
	t.Helper()
	resp := f.raw("POST", "/login", url.Values{"token": {adminToken}, "next": {"/"}}, nil)
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			if c.MaxAge != int(sessionTTL.Seconds()) {
				t.Errorf("cookie Max-Age %d, want %d", c.MaxAge, int(sessionTTL.Seconds()))
			}
			return c.Value
		}
	}
	t.Fatalf("sign-in %d set no session cookie", resp.StatusCode)
	return ""
}

// TestSessionsAreRandomRevocableAndExpire: each sign-in gets its own
// cookie; logout ends that one only; a session expires on the server
// after sessionTTL whatever the browser keeps.
func TestSessionsAreRandomRevocableAndExpire(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, err := New(Config{Engine: f.e, MaxBody: 4096, AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = newTestServer(t, s)
	mu := make(chan struct{}, 1)
	mu <- struct{}{}
	clock := time.Now()
	s.auth.now = func() time.Time { <-mu; defer func() { mu <- struct{}{} }(); return clock }

	status := func(cookie string) int {
		return f.do("GET", "/api/flows", nil, http.Header{"Cookie": {sessionCookie + "=" + cookie}}).status
	}
	a, b := signIn(t, f), signIn(t, f)
	if a == b || len(a) < 64 {
		t.Fatalf("two sign-ins gave %q and %q, want distinct random ids", a, b)
	}
	if status(a) != 200 || status(b) != 200 {
		t.Fatalf("fresh sessions refused: %d %d", status(a), status(b))
	}
	if status(a+"0") != http.StatusUnauthorized || status("") != http.StatusUnauthorized {
		t.Error("a forged cookie was accepted")
	}
	if resp := f.raw("POST", "/logout", nil, http.Header{"Cookie": {sessionCookie + "=" + a}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if got := status(a); got != http.StatusUnauthorized {
		t.Errorf("a logged-out cookie still works: %d", got)
	}
	if got := status(b); got != 200 {
		t.Errorf("logout ended another session too: %d", got)
	}
	<-mu
	clock = clock.Add(sessionTTL + time.Second)
	mu <- struct{}{}
	if got := status(b); got != http.StatusUnauthorized {
		t.Errorf("an expired session still works: %d", got)
	}
}

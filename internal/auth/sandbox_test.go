package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
	"github.com/ghlsync/ghlsync/internal/store"
)

// sbx is a sandbox behind an HTTP server, with a callback server mounting
// a Manager's CallbackHandler.
type sbx struct {
	srv *sandbox.Server
	ts  *httptest.Server
	// tokenDelay holds each /oauth/token request this long before the
	// sandbox answers, so concurrent refreshers really overlap.
	tokenDelay atomic.Int64
}

func newSandbox(t *testing.T) *sbx {
	t.Helper()
	srv, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	b := &sbx{srv: srv}
	b.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == TokenPath {
			time.Sleep(time.Duration(b.tokenDelay.Load()))
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { b.ts.Close(); srv.Close() })
	return b
}

// tokenCalls counts requests to the token endpoint with a given outcome
// (status 0 = any).
func (s *sbx) tokenCalls(status int) int {
	n := 0
	for _, e := range s.srv.Requests(0) {
		if e.Path == TokenPath && (status == 0 || e.Status == status) {
			n++
		}
	}
	return n
}

func (s *sbx) loginConfig(name, redirect string, scopes ...string) LoginConfig {
	return LoginConfig{Name: name, ClientID: "sandbox-client-id", ClientSecret: "sandbox-client-secret",
		RedirectURL: redirect, ConsentHost: s.ts.URL, BaseURL: s.ts.URL, Scopes: scopes}
}

// consent approves the login on the sandbox's consent page for target
// ("location:ID" or "company:ID") and returns the redirect URL with code
// and state, without following it.
func (s *sbx) consent(t *testing.T, l *Login, target string) string {
	t.Helper()
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != ConsentPath {
		t.Fatalf("consent URL path %q, want %q", u.Path, ConsentPath)
	}
	form := u.Query()
	form.Set("target", target)
	form.Set("approve", "1")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.PostForm(s.ts.URL+ConsentPath, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(res.Body)
		t.Fatalf("consent: %d %s", res.StatusCode, body)
	}
	return res.Header.Get("Location")
}

// sandboxManager opens a manager (own pool) on the env's database against the sandbox.
func sandboxManager(t *testing.T, e *env, s *sbx, mod ...func(*Options)) *Manager {
	t.Helper()
	return e.manager(append([]func(*Options){func(o *Options) { o.GHL.BaseURL = s.ts.URL }}, mod...)...)
}

// sandboxLogin runs the full browser-less OAuth flow through the callback handler.
func sandboxLogin(t *testing.T, m *Manager, s *sbx, name, target string, scopes ...string) ConnInfo {
	t.Helper()
	cb := httptest.NewServer(m.CallbackHandler())
	defer cb.Close()
	l, err := m.StartLogin(s.loginConfig(name, cb.URL+"/oauth/callback", scopes...))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(s.consent(t, l, target))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("callback: %d %s", res.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := l.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestSandboxOAuthCallbackCases(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e, s := newEnv(t, dialect), newSandbox(t)
		m := sandboxManager(t, e, s)
		ctx := context.Background()
		cb := httptest.NewServer(m.CallbackHandler())
		defer cb.Close()
		redirect := cb.URL + "/oauth/callback"

		t.Run("success stores ids and scopes", func(t *testing.T) {
			info := sandboxLogin(t, m, s, "loc", "location:sbx-location-1", "contacts.write", "calendars/events.write")
			want := ConnInfo{Name: "loc", Kind: store.ConnOAuth, UserType: "Location", LocationID: "sbx-location-1", CompanyID: "sbx-company-1",
				Scopes: []string{"contacts.write", "calendars/events.write"}, ScopesKnown: true, Status: store.ConnActive}
			if info.Name != want.Name || info.Kind != want.Kind || info.UserType != want.UserType || info.LocationID != want.LocationID ||
				info.CompanyID != want.CompanyID || strings.Join(info.Scopes, " ") != strings.Join(want.Scopes, " ") || !info.Active() ||
				info.ExpiresAt.Before(time.Now().Add(23*time.Hour)) || info.AccessFingerprint == "" || info.RefreshFingerprint == "" {
				t.Fatalf("stored %+v", info)
			}
			// The stored token works against the sandbox.
			c, _, err := m.Client(ctx, "loc")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Do(ctx, "contacts.upsert", ghl.Params{Body: map[string]any{"email": "a@example.com"}}); err != nil {
				t.Fatalf("call with the new connection: %v", err)
			}
			agency := sandboxLogin(t, m, s, "agency", "company:sbx-company-1", "oauth.write", "locations.readonly")
			if agency.UserType != "Company" || agency.CompanyID != "sbx-company-1" || agency.LocationID != "" {
				t.Fatalf("agency connection %+v", agency)
			}
		})

		t.Run("failed exchange stores nothing and shows the error", func(t *testing.T) {
			l, err := m.StartLogin(s.loginConfig("failed", redirect, "contacts.write"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.Get(redirect + "?state=" + url.QueryEscape(l.State) + "&code=sbx-code-forged")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "Invalid grant: authorization code is invalid") {
				t.Fatalf("callback answered %d:\n%s", res.StatusCode, body)
			}
			if _, err := l.Wait(ctx); err == nil || !strings.Contains(err.Error(), "Invalid grant") {
				t.Fatalf("login result: %v", err)
			}
			if _, err := m.Status(ctx, "failed"); !errors.Is(err, ErrUnknownConnection) {
				t.Fatalf("a failed exchange stored a connection: %v", err)
			}
			// A wrong client secret is GHL's 401, shown too.
			cfg := s.loginConfig("failed", redirect, "contacts.write")
			cfg.ClientSecret = "wrong-secret"
			l2, _ := m.StartLogin(cfg)
			code := strings.TrimPrefix(s.consent(t, l2, "location:sbx-location-1"), "")
			u, _ := url.Parse(code)
			if _, err := m.CompleteLogin(ctx, l2.State, u.Query().Get("code")); err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-secret") {
				t.Fatalf("wrong secret: %v", err)
			}
			if _, err := m.Status(ctx, "failed"); !errors.Is(err, ErrUnknownConnection) {
				t.Fatalf("a failed exchange stored a connection: %v", err)
			}
		})

		t.Run("wrong state is rejected before any exchange", func(t *testing.T) {
			l, err := m.StartLogin(s.loginConfig("wrongstate", redirect, "contacts.write"))
			if err != nil {
				t.Fatal(err)
			}
			loc := s.consent(t, l, "location:sbx-location-1")
			u, _ := url.Parse(loc)
			q := u.Query()
			q.Set("state", "forged-"+l.State)
			before := s.tokenCalls(0)
			res, err := http.Get(redirect + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "state") {
				t.Fatalf("forged state answered %d:\n%s", res.StatusCode, body)
			}
			if s.tokenCalls(0) != before {
				t.Fatal("a callback with a forged state reached the token endpoint")
			}
			// Missing state too.
			q.Del("state")
			res, _ = http.Get(redirect + "?" + q.Encode())
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("missing state answered %d", res.StatusCode)
			}
			if _, err := m.Status(ctx, "wrongstate"); !errors.Is(err, ErrUnknownConnection) {
				t.Fatalf("connection stored: %v", err)
			}
			// The genuine callback still completes; a replay of it is refused.
			genuine := u.String()
			res, _ = http.Get(strings.Replace(genuine, u.Scheme+"://"+u.Host, cb.URL, 1))
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("genuine callback answered %d", res.StatusCode)
			}
			res, _ = http.Get(genuine)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("replayed callback answered %d", res.StatusCode)
			}
		})

		t.Run("consent denied", func(t *testing.T) {
			l, _ := m.StartLogin(s.loginConfig("denied", redirect, "contacts.write"))
			res, _ := http.Get(redirect + "?state=" + url.QueryEscape(l.State) + "&error=access_denied&error_description=user+said+no")
			res.Body.Close()
			if _, err := l.Wait(ctx); err == nil || !strings.Contains(err.Error(), "access_denied") {
				t.Fatalf("denied: %v", err)
			}
		})
	})
}

// The acceptance numbers against the sandbox's single-use
// rotating refresh tokens.
func TestSandboxRefreshSingleFlight(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e, s := newEnv(t, dialect), newSandbox(t)
		ctx := context.Background()
		ms := []*Manager{sandboxManager(t, e, s), sandboxManager(t, e, s), sandboxManager(t, e, s)}
		sandboxLogin(t, ms[0], s, "main", "location:sbx-location-1", "contacts.write", "contacts.readonly")
		sandboxLogin(t, ms[0], s, "other", "location:sbx-location-1", "contacts.write")
		base := s.tokenCalls(0)

		// 20 concurrent runs on one expired connection, one process.
		expire(t, ms[0].Store(), "main")
		ms[0].Forget("main")
		got := tokensConcurrently(t, ms[:1], "main", 20)
		if n := s.tokenCalls(0) - base; n != 1 {
			t.Fatalf("one manager: %d /oauth/token calls, want 1", n)
		}
		for _, tok := range got {
			if tok != got[0] {
				t.Fatal("callers got different tokens")
			}
		}
		runWith := func(m *Manager, tok string) {
			c, _, err := m.Client(ctx, "main")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Do(ctx, "contacts.upsert", ghl.Params{Body: map[string]any{"email": "x@example.com"}}); err != nil {
				t.Fatalf("run with refreshed token: %v", err)
			}
		}
		runWith(ms[0], got[0])

		// The same across three managers with their own pools, with the
		// token endpoint slow enough that they all wait on the lock.
		s.tokenDelay.Store(int64(150 * time.Millisecond))
		expire(t, ms[0].Store(), "main")
		for _, m := range ms {
			m.Forget("main")
		}
		got = tokensConcurrently(t, ms, "main", 21)
		if n := s.tokenCalls(0) - base; n != 2 {
			t.Fatalf("three managers: %d /oauth/token calls in all, want 2", n)
		}
		for _, tok := range got {
			if tok != got[0] {
				t.Fatal("callers got different tokens")
			}
		}
		if s.tokenCalls(http.StatusBadRequest) != 0 {
			t.Fatal("a spent refresh token was sent again (the sandbox answered invalid_grant)")
		}
		// "Restart": a fresh manager uses the stored pair without a token call.
		fresh := sandboxManager(t, e, s)
		if tok, err := fresh.Token(ctx, "main"); err != nil || tok != got[0] {
			t.Fatalf("after restart: %v", err)
		}
		if n := s.tokenCalls(0) - base; n != 2 {
			t.Fatalf("restart made a token call")
		}
		runWith(fresh, got[0])
	})
}

func TestSandboxRejectedRefreshPausesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, store.SQLite), newSandbox(t)
	ctx := context.Background()
	m := sandboxManager(t, e, s)
	sandboxLogin(t, m, s, "main", "location:sbx-location-1", "contacts.write")
	sandboxLogin(t, m, s, "other", "location:sbx-location-1", "contacts.write")
	// Another installation spends main's refresh token behind our back.
	c, _ := m.Store().GetConnection(ctx, "main")
	rt, _ := m.open(c.RefreshTokenSealed, "main", "refresh_token")
	form := url.Values{"client_id": {"sandbox-client-id"}, "client_secret": {"sandbox-client-secret"}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}
	res, err := http.PostForm(s.ts.URL+TokenPath, form)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("spend refresh token: %v %v", err, res.Status)
	}
	res.Body.Close()
	expire(t, m.Store(), "main")
	expire(t, m.Store(), "other")
	m.Forget("main")
	m.Forget("other")
	before := s.tokenCalls(0)
	if _, err := m.Token(ctx, "main"); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("main: %v", err)
	}
	if info, _ := m.Status(ctx, "main"); info.Status != store.ConnReauthRequired {
		t.Fatalf("main status %s", info.Status)
	}
	for i := 0; i < 20; i++ {
		m.Token(ctx, "main")
	}
	if n := s.tokenCalls(0) - before; n != 1 {
		t.Fatalf("%d token calls for the rejected connection, want exactly 1", n)
	}
	if _, err := m.Token(ctx, "other"); err != nil {
		t.Fatalf("other connection: %v", err)
	}
	// Re-authorising resumes it.
	sandboxLogin(t, m, s, "main", "location:sbx-location-1", "contacts.write")
	if _, err := m.Token(ctx, "main"); err != nil {
		t.Fatalf("after re-auth: %v", err)
	}
}

func TestSandboxAgencyLocationTokens(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e, s := newEnv(t, dialect), newSandbox(t)
		ctx := context.Background()
		m := sandboxManager(t, e, s)
		sandboxLogin(t, m, s, "agency", "company:sbx-company-1", "oauth.write", "contacts.write", "locations.readonly")
		exchanges := func() int {
			n := 0
			for _, r := range s.srv.Requests(0) {
				if r.Path == LocationTokenPath && r.Status == 200 {
					n++
				}
			}
			return n
		}
		var wg sync.WaitGroup
		toks := make([]string, 10)
		for i := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := m.LocationToken(ctx, "agency", "sbx-location-1")
				if err != nil {
					t.Error(err)
				}
				toks[i] = tok
			}()
		}
		wg.Wait()
		if exchanges() != 1 {
			t.Fatalf("%d exchanges for 10 concurrent requests, want 1", exchanges())
		}
		// A location client works with it.
		c, info, err := m.ClientFor(ctx, "agency", "sbx-location-1")
		if err != nil || info.UserType != "Company" || c.Resource() != "sbx-location-1" {
			t.Fatalf("ClientFor: %v %+v", err, info)
		}
		if _, err := c.Do(ctx, "contacts.upsert", ghl.Params{Body: map[string]any{"email": "agency@example.com"}}); err != nil {
			t.Fatalf("call with location token: %v", err)
		}
		// Another process finds it sealed in the database.
		other := sandboxManager(t, e, s)
		tok, err := other.LocationToken(ctx, "agency", "sbx-location-1")
		if err != nil || tok != toks[0] || exchanges() != 1 {
			t.Fatalf("second manager: %v, exchanges %d", err, exchanges())
		}
		lt, err := other.Store().GetLocationToken(ctx, "agency", "sbx-location-1")
		if err != nil || strings.Contains(lt.AccessTokenSealed, tok) || !strings.HasPrefix(lt.AccessTokenSealed, "ghv1:") {
			t.Fatalf("stored location token: %v", err)
		}
		// A location connection cannot exchange.
		sandboxLogin(t, m, s, "loc", "location:sbx-location-1", "contacts.write")
		if _, err := m.LocationToken(ctx, "loc", "sbx-location-1"); err == nil {
			t.Fatal("a location connection exchanged a location token")
		}
	})
}

func TestSandboxPIT(t *testing.T) {
	t.Parallel()
	e, s := newEnv(t, store.SQLite), newSandbox(t)
	ctx := context.Background()
	m := sandboxManager(t, e, s)
	info, verified, err := m.AddPIT(ctx, PITOptions{Name: "pit", LocationID: "sbx-location-1", Token: "pit-sandbox-location\n"})
	if err != nil || !strings.Contains(verified, "accepted") || info.Kind != store.ConnPIT || info.ScopesKnown || !info.ExpiresAt.IsZero() {
		t.Fatalf("AddPIT: %v %q %+v", err, verified, info)
	}
	if tok, err := m.Token(ctx, "pit"); err != nil || tok != "pit-sandbox-location" {
		t.Fatalf("Token: %v", err)
	}
	// Wrong location: GHL accepts the token, but not there.
	if _, _, err := m.AddPIT(ctx, PITOptions{Name: "x", LocationID: "sbx-location-2", Token: "pit-sandbox-location"}); err == nil {
		t.Fatal("token stored for a location it does not belong to")
	}
	// Unknown token.
	if _, _, err := m.AddPIT(ctx, PITOptions{Name: "x", LocationID: "sbx-location-1", Token: "pit-not-a-real-token"}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := m.Status(ctx, "x"); !errors.Is(err, ErrUnknownConnection) {
		t.Fatal("a refused token was stored")
	}
	// Agency PIT.
	if _, verified, err := m.AddPIT(ctx, PITOptions{Name: "ag", CompanyID: "sbx-company-1", Token: "pit-sandbox-agency", Scopes: []string{"companies.readonly"}}); err != nil {
		t.Fatalf("agency PIT: %v (%s)", err, verified)
	}
	if res, err := m.Test(ctx, "ag"); err != nil {
		t.Fatalf("test agency: %v", err)
	} else if res == "" {
		t.Fatal("empty test result")
	}
}

func TestPITRefusesLegacyAPIKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	m := e.manager()
	// A v1 location API key: a JWT with location_id and version claims.
	jwt := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." +
		"eyJsb2NhdGlvbl9pZCI6ImxvYy0xIiwidmVyc2lvbiI6MSwiaWF0IjoxNjAwMDAwMDAwfQ." +
		"c2lnbmF0dXJl"
	_, _, err := m.AddPIT(context.Background(), PITOptions{Name: "legacy", LocationID: "loc-1", Token: jwt})
	if !errors.Is(err, ghl.ErrLegacyAPIKey) || strings.Contains(err.Error(), jwt) {
		t.Fatalf("legacy key: %v", err)
	}
	if e.fake.apiCalls != 0 {
		t.Fatal("a legacy key was sent to the API")
	}
	for _, bad := range []PITOptions{
		{Name: "bad name!", LocationID: "l", Token: "pit-x"},
		{Name: "both", LocationID: "l", CompanyID: "c", Token: "pit-x"},
		{Name: "none", Token: "pit-x"},
		{Name: "empty", LocationID: "l", Token: "  "},
	} {
		if _, _, err := m.AddPIT(context.Background(), bad); err == nil {
			t.Errorf("AddPIT(%+v) succeeded", bad)
		}
	}
}

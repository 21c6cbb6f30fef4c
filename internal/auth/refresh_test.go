package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// tokensConcurrently asks each manager for the connection's token from n
// goroutines at once and returns every answer.
func tokensConcurrently(t *testing.T, managers []*Manager, name string, n int) []string {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		out   []string
		start = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		m := managers[i%len(managers)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := m.TokenSource(context.Background(), name)
			if err != nil {
				t.Error(err)
				return
			}
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok, err := ts.Token(ctx)
			if err != nil {
				t.Errorf("Token: %v", err)
				return
			}
			mu.Lock()
			out = append(out, tok)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func assertOneNewToken(t *testing.T, e *env, got []string, n int, old string) string {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d of %d callers got a token", len(got), n)
	}
	for _, tok := range got {
		if tok != got[0] {
			t.Fatalf("callers got different tokens")
		}
	}
	if got[0] == old {
		t.Fatal("callers got the expired token")
	}
	if e.fake.bearer(reqWithBearer(got[0])) == nil {
		t.Fatal("the shared token is not one GoHighLevel accepts")
	}
	if _, refresh, _ := e.fake.counts(); refresh != 1 {
		t.Fatalf("refresh calls = %d, want exactly 1", refresh)
	}
	if twice := e.fake.sentTwice(); len(twice) > 0 {
		t.Fatalf("a refresh token was sent twice")
	}
	return got[0]
}

func TestRefreshTwentyConcurrentOneManager(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		m := e.manager()
		e.login(m, "main", "loc-1")
		old, _ := m.Token(context.Background(), "main")
		expire(t, m.Store(), "main")
		m.Forget("main")
		got := tokensConcurrently(t, []*Manager{m}, "main", 20)
		tok := assertOneNewToken(t, e, got, 20, old)
		info, _ := m.Status(context.Background(), "main")
		if !info.Active() || info.ExpiresAt.Before(time.Now().Add(23*time.Hour)) || info.RefreshedAt.IsZero() {
			t.Fatalf("after refresh: %+v", info)
		}
		// Served from memory now: no further token calls.
		for i := 0; i < 5; i++ {
			if again, _ := m.Token(context.Background(), "main"); again != tok {
				t.Fatal("token changed without a refresh")
			}
		}
		if _, refresh, _ := e.fake.counts(); refresh != 1 {
			t.Fatalf("refresh calls = %d after reuse", refresh)
		}
	})
}

// Three managers with their own connection pools behave like three
// processes: the database lock alone must keep them to one refresh.
func TestRefreshAcrossManagersSharingADatabase(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ms := []*Manager{e.manager(), e.manager(), e.manager()}
		e.fake.delay = 100 * time.Millisecond // keep the lock held while the others arrive
		e.login(ms[0], "main", "loc-1")
		old, _ := ms[0].Token(context.Background(), "main")
		expire(t, ms[0].Store(), "main")
		ms[0].Forget("main")
		got := tokensConcurrently(t, ms, "main", 21)
		assertOneNewToken(t, e, got, 21, old)
	})
}

func TestRestartUsesNewPairAndNeverResendsOldRefreshToken(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		m1 := e.manager()
		e.login(m1, "main", "loc-1")
		expire(t, m1.Store(), "main")
		t1, err := m1.Token(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		// "Restart": a new manager over a new pool.
		m2 := e.manager()
		t2, err := m2.Token(ctx, "main")
		if err != nil || t2 != t1 {
			t.Fatalf("after restart got another token (err %v)", err)
		}
		if _, refresh, _ := e.fake.counts(); refresh != 1 {
			t.Fatalf("refresh calls = %d, want 1", refresh)
		}
		// The next refresh after the restart uses the rotated refresh token.
		expire(t, m2.Store(), "main")
		m3 := e.manager()
		t3, err := m3.Token(ctx, "main")
		if err != nil || t3 == t2 {
			t.Fatalf("second refresh: %v", err)
		}
		if _, refresh, _ := e.fake.counts(); refresh != 2 {
			t.Fatalf("refresh calls = %d, want 2", refresh)
		}
		if len(e.fake.sentTwice()) > 0 {
			t.Fatal("an old refresh token was sent again")
		}
		if info, _ := m3.Status(ctx, "main"); !info.Active() {
			t.Fatalf("status %s", info.Status)
		}
	})
}

func TestRejectedRefreshNeedsReauthWithoutRetryStorm(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		m := e.manager()
		e.login(m, "broken", "loc-1")
		e.login(m, "healthy", "loc-2")
		// GoHighLevel forgets broken's refresh token (used elsewhere, app
		// uninstalled...).
		c, _ := m.Store().GetConnection(ctx, "broken")
		rt, _ := m.open(c.RefreshTokenSealed, "broken", "refresh_token")
		e.fake.mu.Lock()
		delete(e.fake.refresh, rt)
		e.fake.mu.Unlock()
		expire(t, m.Store(), "broken")
		expire(t, m.Store(), "healthy")
		m.Forget("broken")

		_, err := m.Token(ctx, "broken")
		var ce *ConnError
		if !errors.Is(err, ErrReauthRequired) || !errors.As(err, &ce) || !Paused(err) {
			t.Fatalf("Token after refused refresh: %v", err)
		}
		if msg := err.Error(); !containsAll(msg, "broken", "Invalid grant", "ghlsync auth login --name broken") || containsAny(msg, e.fake.secrets()) != "" {
			t.Fatalf("error message: %s", msg)
		}
		info, _ := m.Status(ctx, "broken")
		if info.Status != store.ConnReauthRequired || info.StatusReason == "" {
			t.Fatalf("status after refused refresh: %+v", info)
		}
		_, refresh, _ := e.fake.counts()
		// Many more uses, from this and another process: no token call.
		other := e.manager()
		for i := 0; i < 10; i++ {
			for _, mm := range []*Manager{m, other} {
				if _, err := mm.Token(ctx, "broken"); !errors.Is(err, ErrReauthRequired) {
					t.Fatalf("use %d: %v", i, err)
				}
			}
		}
		if _, r2, _ := e.fake.counts(); r2 != refresh {
			t.Fatalf("token calls went from %d to %d while reauth was required", refresh, r2)
		}
		// The other connection carries on.
		if _, err := m.Token(ctx, "healthy"); err != nil {
			t.Fatalf("healthy connection: %v", err)
		}
		// Authorising again resumes it everywhere.
		e.login(m, "broken", "loc-1")
		for _, mm := range []*Manager{m, other} {
			tok, err := mm.Token(ctx, "broken")
			if err != nil || e.fake.bearer(reqWithBearer(tok)) == nil {
				t.Fatalf("after re-auth: %v", err)
			}
		}
	})
}

func TestTransientRefreshFailureBacksOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	ctx := context.Background()
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	m := e.manager(func(o *Options) { o.Now = now; o.BackoffMin = time.Minute })
	e.login(m, "main", "loc-1")

	// Due for refresh but not yet expired: a failed refresh keeps serving
	// the current token.
	advance(24*time.Hour - 2*time.Minute)
	e.fake.mu.Lock()
	e.fake.failStatus = 503
	e.fake.mu.Unlock()
	tok, err := m.Token(ctx, "main")
	if err != nil || tok == "" {
		t.Fatalf("token during back-off before expiry: %v", err)
	}
	calls, _, _ := e.fake.counts()
	for i := 0; i < 5; i++ {
		m.Forget("main")
		if _, err := m.Token(ctx, "main"); err != nil {
			t.Fatal(err)
		}
	}
	if c2, _, _ := e.fake.counts(); c2 != calls {
		t.Fatalf("token calls inside the back-off window: %d → %d", calls, c2)
	}
	info, _ := m.Status(ctx, "main")
	if !info.Active() || info.LastError == "" || !info.NextRefreshAt.After(now()) {
		t.Fatalf("after failure: %+v", info)
	}
	// Past the window, 30 s before expiry: exactly one more attempt; it
	// fails again, so the window doubles and the old token is still served.
	advance(90 * time.Second)
	m.Forget("main")
	if got, err := m.Token(ctx, "main"); err != nil || got != tok {
		t.Fatalf("second failure before expiry: %v", err)
	}
	if c2, _, _ := e.fake.counts(); c2 != calls+1 {
		t.Fatalf("token calls after the window: %d, want %d", c2, calls+1)
	}
	// Expired and inside the doubled window: a clear error and no call.
	advance(time.Minute)
	m.Forget("main")
	if _, err := m.Token(ctx, "main"); !errors.Is(err, ErrRefreshBackoff) || !contains(err.Error(), "next attempt after") {
		t.Fatalf("expired during back-off: %v", err)
	}
	if c2, _, _ := e.fake.counts(); c2 != calls+1 {
		t.Fatalf("token calls inside the doubled window: %d, want %d", c2, calls+1)
	}
	// After the window: one new attempt; GHL is back, so it succeeds.
	e.fake.mu.Lock()
	e.fake.failStatus = 0
	e.fake.mu.Unlock()
	advance(2 * time.Minute)
	m.Forget("main")
	tok2, err := m.Token(ctx, "main")
	if err != nil || tok2 == tok {
		t.Fatalf("after back-off: %v", err)
	}
	info, _ = m.Status(ctx, "main")
	if info.LastError != "" || !info.NextRefreshAt.IsZero() {
		t.Fatalf("failure state not cleared: %+v", info)
	}
}

func TestClientRefreshesOnceOn401(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		// The 401s below come right after login; a connection refreshed
		// that recently would otherwise be presumed to lack a scope.
		quick := func(o *Options) { o.MinRefreshInterval = time.Nanosecond }
		m := e.manager(quick)
		e.login(m, "main", "loc-1")
		other := e.manager(quick)
		var clients []*ghl.Client
		for i := 0; i < 10; i++ {
			mm := []*Manager{m, other}[i%2]
			c, info, err := mm.Client(ctx, "main")
			if err != nil || info.LocationID != "loc-1" || c.Resource() != "loc-1" {
				t.Fatalf("Client: %v %+v", err, info)
			}
			if _, err := c.Do(ctx, "locations.get", locParams); err != nil {
				t.Fatalf("first call: %v", err)
			}
			clients = append(clients, c)
		}
		// GoHighLevel drops the access token before its stated expiry.
		e.fake.expireAccess()
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.Do(ctx, "locations.get", locParams); err != nil {
					t.Errorf("call after 401: %v", err)
				}
			}()
		}
		wg.Wait()
		if _, refresh, _ := e.fake.counts(); refresh != 1 {
			t.Fatalf("refresh calls = %d, want 1", refresh)
		}
		if len(e.fake.sentTwice()) > 0 {
			t.Fatal("a refresh token was sent twice")
		}
	})
}

func TestMissingScope401DoesNotSpendRefreshTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	ctx := context.Background()
	m := e.manager()
	e.login(m, "main", "loc-1", "contacts.write") // no locations.readonly
	c, _, err := m.Client(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Do(ctx, "locations.get", locParams); err == nil {
			t.Fatal("call without the scope succeeded")
		}
	}
	if _, refresh, _ := e.fake.counts(); refresh != 0 {
		t.Fatalf("refresh calls = %d for scope errors on a fresh token, want 0", refresh)
	}
}

var locParams = ghl.Params{Path: map[string]string{"locationId": "loc-1"}}

func reqWithBearer(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !contains(s, sub) {
			return false
		}
	}
	return true
}

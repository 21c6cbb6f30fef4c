package auth

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

// eachDialect runs fn as a parallel subtest against SQLite and Postgres.
func eachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

// logBuffer collects log output from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is one test's world: a fake GHL, a database and managers over it.
type env struct {
	t      *testing.T
	fake   *fakeGHL
	opts   store.Options
	key    []byte
	logs   *logBuffer
	stores []*store.Store
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	return &env{t: t, fake: newFakeGHL(t), opts: storetest.Options(t, dialect, "auth"), key: randKey(t), logs: &logBuffer{}}
}

// open opens the database again: a separate pool, as another process would.
func (e *env) open() *store.Store {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	e.stores = append(e.stores, s)
	return s
}

// manager returns a Manager over its own pool.
func (e *env) manager(mod ...func(*Options)) *Manager {
	e.t.Helper()
	v, err := NewVault(e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	o := Options{
		Store: e.open(), Vault: v,
		GHL:    ghl.Config{BaseURL: e.fake.URL(), Retry: ghl.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}},
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	o.GHL.Logger = o.Logger
	for _, f := range mod {
		f(&o)
	}
	m, err := NewManager(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) loginConfig(name string) LoginConfig {
	return LoginConfig{Name: name, ClientID: e.fake.clientID, ClientSecret: e.fake.secret,
		RedirectURL: "http://127.0.0.1:9/oauth/callback", BaseURL: e.fake.URL(), Scopes: []string{"contacts.write", "locations.readonly"}}
}

// login connects name to a location through the OAuth code flow.
func (e *env) login(m *Manager, name, location string, scopes ...string) ConnInfo {
	e.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{"contacts.write", "locations.readonly"}
	}
	l, err := m.StartLogin(e.loginConfig(name))
	if err != nil {
		e.t.Fatal(err)
	}
	userType, company := "Location", "company-1"
	if location == "" {
		userType = "Company"
	}
	info, err := m.CompleteLogin(context.Background(), l.State, e.fake.issueCode(userType, location, company, scopes))
	if err != nil {
		e.t.Fatal(err)
	}
	return info
}

// expire moves a connection's stored expiry into the past.
func expire(t testing.TB, s *store.Store, name string) {
	t.Helper()
	_, err := s.DB.ExecContext(context.Background(), s.Rebind(`UPDATE ghl_connections SET expires_at = ? WHERE name = ?`),
		time.Now().Add(-time.Minute).UnixMicro(), name)
	if err != nil {
		t.Fatal(err)
	}
}

// sentTwice returns refresh tokens presented more than once.
func (f *fakeGHL) sentTwice() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]int{}
	var out []string
	for _, r := range f.sentRefresh {
		seen[r]++
		if seen[r] == 2 {
			out = append(out, r)
		}
	}
	return out
}

// secrets returns every secret the fake ever issued or knows.
func (f *fakeGHL) secrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{f.secret}
	for k := range f.access {
		out = append(out, k)
	}
	for k := range f.refresh {
		out = append(out, k)
	}
	for k := range f.spent {
		out = append(out, k)
	}
	return out
}

func containsAny(haystack string, needles []string) string {
	for _, n := range needles {
		if n != "" && strings.Contains(haystack, n) {
			return n
		}
	}
	return ""
}

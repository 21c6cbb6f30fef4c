package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// Options configures a Manager.
type Options struct {
	// Store holds the connections (required).
	Store *store.Store
	// Vault seals and opens tokens (required).
	Vault *Vault
	// HTTPClient calls the token endpoints; nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// GHL is the template for the API clients Client returns. A nil Limiter
	// or HTTPClient is replaced by one shared by every client of the Manager.
	// BaseURL is used for connections that recorded none.
	GHL ghl.Config
	// RefreshSkew: an access token is refreshed this long before it expires
	// (default 5 minutes), or half-way through its life if that is shorter.
	RefreshSkew time.Duration
	// RecheckEvery: how long a token is served from memory before the
	// database is consulted again, so a revoke or a new login made by another
	// process takes effect (default 30 s).
	RecheckEvery time.Duration
	// BackoffMin and BackoffMax bound the wait after a failed refresh that
	// may succeed later (network error, 5xx); it doubles per failure.
	// Defaults 30 s and 15 minutes.
	BackoffMin, BackoffMax time.Duration
	// MinRefreshInterval: a 401 on a token refreshed less than this long ago
	// does not refresh again (GoHighLevel also answers 401 for a missing
	// scope). Default 1 minute.
	MinRefreshInterval time.Duration
	// TokenTimeout bounds each call to a token endpoint (default 30 s).
	TokenTimeout time.Duration
	// LockTimeout bounds the wait for another process's refresh of the same
	// connection (default 60 s).
	LockTimeout time.Duration
	// Logger receives connection events; tokens are never logged.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MapError, when set, rewrites the errors the API clients of Client and
	// ClientFor meet (from their token sources and from resolving the
	// connection), for example into the engine's "paused connection" error.
	// conn is the connection name.
	MapError func(conn string, err error) error
}

func (o *Options) defaults() {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.GHL.Limiter == nil {
		o.GHL.Limiter = ghl.NewLimiter(ghl.LimiterOptions{})
	}
	if o.GHL.HTTPClient == nil {
		o.GHL.HTTPClient = ghl.DefaultHTTPClient()
	}
	setDur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	setDur(&o.RefreshSkew, 5*time.Minute)
	setDur(&o.RecheckEvery, 30*time.Second)
	setDur(&o.BackoffMin, 30*time.Second)
	setDur(&o.BackoffMax, 15*time.Minute)
	setDur(&o.MinRefreshInterval, time.Minute)
	setDur(&o.TokenTimeout, 30*time.Second)
	setDur(&o.LockTimeout, 60*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Manager hands out tokens and API clients for named connections. It
// refreshes OAuth tokens before they expire and once after a 401, with one
// refresh per connection at a time across goroutines (singleflight) and
// processes (a row lock on Postgres, the write lock on SQLite). Safe for
// concurrent use; one per process.
type Manager struct {
	o     Options
	st    *store.Store
	vault *Vault
	log   *slog.Logger

	sf     singleflight.Group
	mu     sync.Mutex
	cache  map[string]*cached // by connection name, or name + "\x00" + location id
	logins *loginTable
}

// cached is a token served from memory until useUntil.
type cached struct {
	token    string
	gen      int64
	expires  time.Time // zero: never
	useUntil time.Time
}

// NewManager returns a Manager over a store and vault.
func NewManager(o Options) (*Manager, error) {
	if o.Store == nil || o.Vault == nil {
		return nil, errors.New("auth: NewManager needs a Store and a Vault")
	}
	o.defaults()
	return &Manager{o: o, st: o.Store, vault: o.Vault, log: o.Logger, cache: map[string]*cached{}, logins: newLoginTable()}, nil
}

// Store returns the manager's store.
func (m *Manager) Store() *store.Store { return m.st }

// Vault returns the manager's vault.
func (m *Manager) Vault() *Vault { return m.vault }

var connNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidName checks a connection name: letters, digits, '_', '.', '-', up to
// 64 characters, starting with a letter or digit.
func ValidName(name string) error {
	if !connNameRe.MatchString(name) {
		return fmt.Errorf("connection name %q: use letters, digits, '_', '.' or '-' (up to 64, starting with a letter or digit)", name)
	}
	return nil
}

// ConnInfo describes a connection without its secrets.
type ConnInfo struct {
	Name         string    `json:"name"`
	Kind         string    `json:"kind"`     // "oauth" or "pit"
	UserType     string    `json:"userType"` // "Location" or "Company"
	LocationID   string    `json:"locationId,omitempty"`
	CompanyID    string    `json:"companyId,omitempty"`
	UserID       string    `json:"userId,omitempty"`
	Scopes       []string  `json:"scopes"`
	ScopesKnown  bool      `json:"scopesKnown"`
	Status       string    `json:"status"` // active, reauth_required, revoked
	StatusReason string    `json:"statusReason,omitempty"`
	BaseURL      string    `json:"baseUrl,omitempty"`
	ClientID     string    `json:"clientId,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt,omitzero"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	RefreshedAt  time.Time `json:"refreshedAt,omitzero"`
	// LastError is the last refresh failure, NextRefreshAt the end of its
	// back-off window.
	LastError     string    `json:"lastError,omitempty"`
	NextRefreshAt time.Time `json:"nextRefreshAt,omitzero"`
	// Fingerprints identify the stored tokens (last 4 hex digits of their
	// SHA-256) without revealing them; filled by Describe only.
	AccessFingerprint  string `json:"accessFingerprint,omitempty"`
	RefreshFingerprint string `json:"refreshFingerprint,omitempty"`
}

// ResourceID is the location id of a location connection, else the company id.
func (i ConnInfo) ResourceID() string {
	if i.UserType == store.UserCompany {
		return i.CompanyID
	}
	return i.LocationID
}

// Active reports whether the connection can be used.
func (i ConnInfo) Active() bool { return i.Status == store.ConnActive }

// Err returns the error a caller gets for using the connection, nil when active.
func (i ConnInfo) Err() error {
	switch i.Status {
	case store.ConnActive:
		return nil
	case store.ConnRevoked:
		return &ConnError{Conn: i.Name, Kind: ErrRevoked, Reason: i.StatusReason}
	default:
		return &ConnError{Conn: i.Name, Kind: ErrReauthRequired, Reason: i.StatusReason}
	}
}

func infoOf(c *store.Connection) ConnInfo {
	return ConnInfo{
		Name: c.Name, Kind: c.Kind, UserType: c.UserType, LocationID: c.LocationID, CompanyID: c.CompanyID,
		UserID: c.UserID, Scopes: slices.Clone(c.Scopes), ScopesKnown: c.ScopesKnown, Status: c.Status,
		StatusReason: c.StatusReason, BaseURL: c.BaseURL, ClientID: c.ClientID, ExpiresAt: c.ExpiresAt,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, RefreshedAt: c.RefreshedAt, LastError: c.LastError,
		NextRefreshAt: c.NextRefreshAt,
	}
}

func (m *Manager) get(ctx context.Context, name string) (*store.Connection, error) {
	c, err := m.st.GetConnection(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &ConnError{Conn: name, Kind: ErrUnknownConnection}
	}
	return c, err
}

// Status returns a connection's current state from the database. Pollers
// call it to pause while a connection is not active.
func (m *Manager) Status(ctx context.Context, name string) (ConnInfo, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return ConnInfo{}, err
	}
	return infoOf(c), nil
}

// List returns every connection, with token fingerprints.
func (m *Manager) List(ctx context.Context) ([]ConnInfo, error) {
	cs, err := m.st.ListConnections(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ConnInfo, 0, len(cs))
	for _, c := range cs {
		out = append(out, m.describe(c))
	}
	return out, nil
}

// Describe returns one connection with token fingerprints.
func (m *Manager) Describe(ctx context.Context, name string) (ConnInfo, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return ConnInfo{}, err
	}
	return m.describe(c), nil
}

func (m *Manager) describe(c *store.Connection) ConnInfo {
	i := infoOf(c)
	if a, err := m.open(c.AccessTokenSealed, c.Name, "access_token"); err == nil {
		i.AccessFingerprint = Fingerprint(a)
	} else if c.AccessTokenSealed != "" {
		i.AccessFingerprint = "(cannot open: " + err.Error() + ")"
	}
	if r, err := m.open(c.RefreshTokenSealed, c.Name, "refresh_token"); err == nil {
		i.RefreshFingerprint = Fingerprint(r)
	}
	return i
}

// open opens a sealed connection field; "" stays "".
func (m *Manager) open(sealed, name, field string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	return m.vault.OpenString(sealed, store.ConnectionLabel(name, field))
}

func (m *Manager) seal(plain, name, field string) (string, error) {
	if plain == "" {
		return "", nil
	}
	return m.vault.SealString(plain, store.ConnectionLabel(name, field))
}

// Forget drops what the Manager holds in memory for a connection, so the
// next use reads the database.
func (m *Manager) Forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.cache {
		if k == name || len(k) > len(name) && k[:len(name)] == name && k[len(name)] == 0 {
			delete(m.cache, k)
		}
	}
}

func (m *Manager) cacheGet(key string) *cached {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cache[key]
}

func (m *Manager) cachePut(key, token string, gen int64, expires time.Time) {
	now := m.o.Now()
	until := now.Add(m.o.RecheckEvery)
	if !expires.IsZero() {
		// When the token was issued is not known here: what is left of its
		// life stands for its lifetime, so the database is consulted again
		// no later than the token is due.
		if e := expires.Add(-m.skew(now, expires)); e.Before(until) {
			until = e
		}
	}
	m.mu.Lock()
	m.cache[key] = &cached{token: token, gen: gen, expires: expires, useUntil: until}
	m.mu.Unlock()
}

// cachePutUntil caches a token that is due for refresh but still valid while
// refresh backs off.
func (m *Manager) cachePutUntil(key, token string, gen int64, expires, until time.Time) {
	m.mu.Lock()
	m.cache[key] = &cached{token: token, gen: gen, expires: expires, useUntil: until}
	m.mu.Unlock()
}

func (m *Manager) cacheDrop(key, token string) {
	m.mu.Lock()
	if c := m.cache[key]; c != nil && (token == "" || c.token == token) {
		delete(m.cache, key)
	}
	m.mu.Unlock()
}

// flight runs fn once per key across goroutines; every caller waits for the
// shared result or its own context. fn runs detached from any one caller's
// cancellation, so a refresh that reached GoHighLevel is always persisted.
func (m *Manager) flight(ctx context.Context, key string, fn func(ctx context.Context) (string, error)) (string, error) {
	ch := m.sf.DoChan(key, func() (any, error) {
		return fn(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Token returns a usable access token for the connection, refreshing it if
// it expires within the skew.
func (m *Manager) Token(ctx context.Context, name string) (string, error) {
	if c := m.cacheGet(name); c != nil && m.o.Now().Before(c.useUntil) {
		return c.token, nil
	}
	return m.flight(ctx, name, func(ctx context.Context) (string, error) { return m.load(ctx, name) })
}

// load reads the connection and returns its token, refreshing when due.
func (m *Manager) load(ctx context.Context, name string) (string, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return "", err
	}
	if err := infoOf(c).Err(); err != nil {
		m.cacheDrop(name, "")
		return "", err
	}
	access, err := m.open(c.AccessTokenSealed, name, "access_token")
	if err != nil {
		return "", fmt.Errorf("connection %q: %w", name, err)
	}
	now := m.o.Now()
	if c.Kind == store.ConnPIT || c.ExpiresAt.IsZero() || now.Add(m.skew(c.RefreshedAt, c.ExpiresAt)).Before(c.ExpiresAt) {
		if access == "" {
			return "", &ConnError{Conn: name, Kind: ErrReauthRequired, Reason: "no access token stored"}
		}
		m.cachePut(name, access, c.Generation, c.ExpiresAt)
		return access, nil
	}
	if now.Before(c.NextRefreshAt) {
		// A refresh failed recently: serve the old token while it lasts.
		if access != "" && now.Before(c.ExpiresAt) {
			m.cachePutUntil(name, access, c.Generation, c.ExpiresAt, minTime(c.NextRefreshAt, c.ExpiresAt))
			return access, nil
		}
		return "", &ConnError{Conn: name, Kind: ErrRefreshBackoff, Reason: c.LastError, Next: c.NextRefreshAt}
	}
	return m.refresh(ctx, name, "")
}

// skew is how long before expires a token issued at issued is due for
// refresh: Options.RefreshSkew, but at most half the token's lifetime. A
// token that lives less than the skew (GoHighLevel's live a day; a test
// server's may live seconds) would otherwise be due the moment it is issued,
// and every use would refresh it again. An unknown issue time keeps the skew.
func (m *Manager) skew(issued, expires time.Time) time.Duration {
	skew := m.o.RefreshSkew
	if !issued.IsZero() && expires.After(issued) {
		skew = min(skew, expires.Sub(issued)/2)
	}
	return skew
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Refresh returns a token to use instead of rejected (which GoHighLevel
// answered with 401). If another goroutine or process already replaced it,
// that token is returned without calling GoHighLevel.
func (m *Manager) Refresh(ctx context.Context, name, rejected string) (string, error) {
	if c := m.cacheGet(name); c != nil && c.token != rejected && m.o.Now().Before(c.useUntil) {
		return c.token, nil
	}
	m.cacheDrop(name, rejected)
	return m.flight(ctx, name+"\x00refresh\x00"+rejected, func(ctx context.Context) (string, error) {
		return m.refresh(ctx, name, rejected)
	})
}

// TokenSource returns the connection's ghl.TokenSource (it also implements
// ghl.Refresher). The connection must exist.
func (m *Manager) TokenSource(ctx context.Context, name string) (ghl.TokenSource, error) {
	if _, err := m.get(ctx, name); err != nil {
		return nil, err
	}
	return &connSource{m: m, name: name}, nil
}

type connSource struct {
	m    *Manager
	name string
}

func (s *connSource) Token(ctx context.Context) (string, error) {
	tok, err := s.m.Token(ctx, s.name)
	return tok, s.m.mapErr(s.name, err)
}

func (s *connSource) Refresh(ctx context.Context, rejected string) (string, error) {
	tok, err := s.m.Refresh(ctx, s.name, rejected)
	return tok, s.m.mapErr(s.name, err)
}

// mapErr applies Options.MapError.
func (m *Manager) mapErr(name string, err error) error {
	if err == nil || m.o.MapError == nil {
		return err
	}
	return m.o.MapError(name, err)
}

// Client returns an API client acting for the connection's location (or
// company), with its token source, the Manager's shared limiter and HTTP
// client, and the connection's API base URL.
func (m *Manager) Client(ctx context.Context, name string) (*ghl.Client, ConnInfo, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return nil, ConnInfo{}, m.mapErr(name, err)
	}
	info := infoOf(c)
	if err := info.Err(); err != nil {
		return nil, info, m.mapErr(name, err)
	}
	return ghl.New(m.clientConfig(c), &connSource{m: m, name: name}, info.ResourceID()), info, nil
}

// ClientFor returns a client for locationID through the connection: the
// connection's own client when locationID is "" or its location, a client
// on an exchanged location token when the connection is an agency OAuth
// connection.
func (m *Manager) ClientFor(ctx context.Context, name, locationID string) (*ghl.Client, ConnInfo, error) {
	c, err := m.get(ctx, name)
	if err != nil {
		return nil, ConnInfo{}, m.mapErr(name, err)
	}
	info := infoOf(c)
	if locationID == "" || (c.UserType != store.UserCompany && locationID == c.LocationID) {
		return m.Client(ctx, name)
	}
	if c.UserType != store.UserCompany {
		return nil, info, fmt.Errorf("connection %q belongs to location %s, not %s", name, c.LocationID, locationID)
	}
	if err := info.Err(); err != nil {
		return nil, info, m.mapErr(name, err)
	}
	ts, err := m.LocationTokenSource(ctx, name, locationID)
	if err != nil {
		return nil, info, err
	}
	return ghl.New(m.clientConfig(c), ts, locationID), info, nil
}

func (m *Manager) clientConfig(c *store.Connection) ghl.Config {
	cfg := m.o.GHL
	if c.BaseURL != "" {
		cfg.BaseURL = c.BaseURL
	}
	cfg.AppID = "pit"
	if c.Kind == store.ConnOAuth && c.ClientID != "" {
		cfg.AppID = c.ClientID
	}
	return cfg
}

// baseURL is the API base of a connection.
func (m *Manager) baseURL(c *store.Connection) string {
	if c.BaseURL != "" {
		return c.BaseURL
	}
	if m.o.GHL.BaseURL != "" {
		return m.o.GHL.BaseURL
	}
	return ghl.DefaultBaseURL
}

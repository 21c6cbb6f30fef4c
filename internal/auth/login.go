package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// LoginConfig is one OAuth 2.0 authorization-code login.
type LoginConfig struct {
	// Name of the connection to create (or replace).
	Name string
	// ClientID and ClientSecret of the Marketplace app.
	ClientID, ClientSecret string
	// RedirectURL must be registered on the app; GoHighLevel sends the
	// browser there with ?code=...&state=....
	RedirectURL string
	// Scopes to request (space-joined in the consent URL).
	Scopes []string
	// ConsentHost serves the consent page (default DefaultConsentHost; the
	// white-label host is WhiteLabelConsentHost).
	ConsentHost string
	// BaseURL of the API the tokens are for (default the Manager's, else
	// GoHighLevel's).
	BaseURL string
	// TokenURL of the token endpoint (default BaseURL + /oauth/token).
	TokenURL string
}

func (m *Manager) loginDefaults(cfg *LoginConfig) error {
	if err := ValidName(cfg.Name); err != nil {
		return err
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"--client-id", cfg.ClientID}, {"--client-secret", cfg.ClientSecret}, {"--redirect-url", cfg.RedirectURL}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("OAuth login needs %s", strings.Join(missing, ", "))
	}
	if u, err := url.Parse(cfg.RedirectURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("redirect URL %q must be an absolute http(s) URL registered on the app", cfg.RedirectURL)
	}
	if cfg.ConsentHost == "" {
		cfg.ConsentHost = DefaultConsentHost
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = m.o.GHL.BaseURL
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = ghl.DefaultBaseURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = strings.TrimRight(cfg.BaseURL, "/") + TokenPath
	}
	return nil
}

// AuthURL returns the v2 consent URL: ConsentHost +
// /v2/oauth/chooselocation?response_type=code&redirect_uri&client_id&scope&state.
func AuthURL(cfg LoginConfig, state string) string {
	host := cfg.ConsentHost
	if host == "" {
		host = DefaultConsentHost
	}
	q := url.Values{
		"response_type": {"code"},
		"redirect_uri":  {cfg.RedirectURL},
		"client_id":     {cfg.ClientID},
		"scope":         {strings.Join(cfg.Scopes, " ")},
	}
	if state != "" {
		q.Set("state", state)
	}
	// Scopes are space-separated; %20 is understood everywhere, '+' not always.
	return strings.TrimRight(host, "/") + ConsentPath + "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
}

// Login is an authorisation in progress: the browser was (or will be) sent
// to URL, and the callback carrying State completes it.
type Login struct {
	State   string
	URL     string
	Expires time.Time

	cfg  LoginConfig
	done chan struct{}
	info ConnInfo
	err  error
}

// Wait blocks until the callback completed the login, or ctx ends.
func (l *Login) Wait(ctx context.Context) (ConnInfo, error) {
	select {
	case <-l.done:
		return l.info, l.err
	case <-ctx.Done():
		return ConnInfo{}, fmt.Errorf("waiting for the OAuth callback: %w", ctx.Err())
	}
}

// loginTable holds pending logins by state; each state is used once.
type loginTable struct {
	mu      sync.Mutex
	pending map[string]*Login
}

func newLoginTable() *loginTable { return &loginTable{pending: map[string]*Login{}} }

// loginTTL bounds how long a consent page may stay open.
const loginTTL = 15 * time.Minute

// StartLogin registers a login and returns it with its consent URL and a
// fresh random state.
func (m *Manager) StartLogin(cfg LoginConfig) (*Login, error) {
	if err := m.loginDefaults(&cfg); err != nil {
		return nil, err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	state := base64.RawURLEncoding.EncodeToString(b)
	now := m.o.Now()
	l := &Login{State: state, URL: AuthURL(cfg, state), Expires: now.Add(loginTTL), cfg: cfg, done: make(chan struct{})}
	m.logins.mu.Lock()
	for s, p := range m.logins.pending {
		if now.After(p.Expires) {
			delete(m.logins.pending, s)
		}
	}
	m.logins.pending[state] = l
	m.logins.mu.Unlock()
	return l, nil
}

// ErrBadState: the callback's state matches no login in progress (forged,
// replayed, or expired).
var ErrBadState = errors.New("OAuth callback state does not match a login in progress (it expired, was already used, or was not issued here); start the login again")

// take removes and returns the pending login for state.
func (m *Manager) take(state string) (*Login, error) {
	m.logins.mu.Lock()
	defer m.logins.mu.Unlock()
	l := m.logins.pending[state]
	if state == "" || l == nil {
		return nil, ErrBadState
	}
	delete(m.logins.pending, state)
	if m.o.Now().After(l.Expires) {
		return nil, ErrBadState
	}
	return l, nil
}

// CompleteLogin finishes the login that issued state with the code from the
// callback: exchanges it and stores the connection. A wrong state is
// rejected before any exchange; a failed exchange stores nothing.
func (m *Manager) CompleteLogin(ctx context.Context, state, code string) (ConnInfo, error) {
	l, err := m.take(state)
	if err != nil {
		return ConnInfo{}, err
	}
	l.info, l.err = m.ExchangeCode(ctx, l.cfg, code)
	close(l.done)
	return l.info, l.err
}

// failLogin ends the login with an error (the user denied consent, ...).
func (m *Manager) failLogin(state string, err error) bool {
	l, terr := m.take(state)
	if terr != nil {
		return false
	}
	l.err = err
	close(l.done)
	return true
}

// ExchangeCode trades an authorization code for tokens and stores the
// connection with the locationId, companyId, userType and scopes GoHighLevel
// returned. Nothing is stored when the exchange fails; the error carries
// GoHighLevel's answer.
func (m *Manager) ExchangeCode(ctx context.Context, cfg LoginConfig, code string) (ConnInfo, error) {
	if err := m.loginDefaults(&cfg); err != nil {
		return ConnInfo{}, err
	}
	if code == "" {
		return ConnInfo{}, errors.New("the OAuth callback carried no code")
	}
	callCtx, cancel := context.WithTimeout(ctx, m.o.TokenTimeout)
	defer cancel()
	now := m.o.Now()
	res, err := exchangeCode(callCtx, m.o.HTTPClient, oauthConfig(cfg.ClientID, cfg.ClientSecret, cfg.TokenURL, cfg.RedirectURL), code, now)
	if err != nil {
		return ConnInfo{}, fmt.Errorf("exchange authorization code: %w", err)
	}
	if res.Access == "" || res.Refresh == "" {
		return ConnInfo{}, errors.New("exchange authorization code: GoHighLevel's answer lacks an access or refresh token")
	}
	c := &store.Connection{
		Name: cfg.Name, Kind: store.ConnOAuth, UserType: res.UserType, LocationID: res.LocationID, CompanyID: res.CompanyID,
		UserID: res.UserID, Scopes: res.Scopes, ScopesKnown: true, Status: store.ConnActive, BaseURL: cfg.BaseURL,
		TokenURL: cfg.TokenURL, ClientID: cfg.ClientID, ExpiresAt: res.Expiry, RefreshedAt: now,
	}
	switch {
	case c.UserType == "" && c.LocationID != "":
		c.UserType = store.UserLocation
	case c.UserType == "":
		c.UserType = store.UserCompany
	}
	if c.UserType == store.UserLocation && c.LocationID == "" || c.UserType == store.UserCompany && c.CompanyID == "" {
		return ConnInfo{}, fmt.Errorf("exchange authorization code: GoHighLevel's answer names no %s id for userType %s", strings.ToLower(c.UserType), c.UserType)
	}
	if len(c.Scopes) == 0 {
		c.Scopes, c.ScopesKnown = cfg.Scopes, len(cfg.Scopes) > 0
	}
	if c.AccessTokenSealed, err = m.seal(res.Access, c.Name, "access_token"); err != nil {
		return ConnInfo{}, err
	}
	if c.RefreshTokenSealed, err = m.seal(res.Refresh, c.Name, "refresh_token"); err != nil {
		return ConnInfo{}, err
	}
	if c.ClientSecretSealed, err = m.seal(cfg.ClientSecret, c.Name, "client_secret"); err != nil {
		return ConnInfo{}, err
	}
	if err := m.st.SaveConnection(ctx, c); err != nil {
		return ConnInfo{}, err
	}
	m.Forget(c.Name)
	m.log.Info("connection authorised", "connection", c.Name, "user_type", c.UserType, "location", c.LocationID, "company", c.CompanyID, "scopes", strings.Join(c.Scopes, " "))
	return m.Describe(ctx, c.Name)
}

var callbackPage = template.Must(template.New("cb").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ghlsync — {{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
.err{color:#b00020}pre{white-space:pre-wrap;background:#f5f5f5;padding:.6rem;border-radius:.3rem}code{background:#f3f3f3;padding:0 .2rem}</style></head>
<body><h1>{{.Title}}</h1>
{{if .Err}}<p class="err">The connection was not stored.</p><pre>{{.Err}}</pre>
{{else}}<p>Connection <code>{{.Info.Name}}</code> is ready{{if .Info.LocationID}} for location <code>{{.Info.LocationID}}</code>{{else if .Info.CompanyID}} for company <code>{{.Info.CompanyID}}</code>{{end}}{{if .Info.UserType}} (a {{.Info.UserType}}-level token){{end}}.</p>
<p>Scopes: {{range .Info.Scopes}}<code>{{.}}</code> {{end}}</p>
<p>You can close this window.</p>{{end}}
</body></html>`))

// CallbackHandler handles GoHighLevel's redirect after consent (mount it at
// the redirect URL's path, e.g. /oauth/callback). It checks state, exchanges
// the code, stores the connection, and shows the outcome; a wrong state is
// refused with 400 before any exchange.
func (m *Manager) CallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		q := r.URL.Query()
		state := q.Get("state")
		show := func(status int, title string, info ConnInfo, err error) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(status)
			data := map[string]any{"Title": title, "Info": info, "Err": ""}
			if err != nil {
				data["Err"] = err.Error()
			}
			_ = callbackPage.Execute(w, data)
		}
		if e := q.Get("error"); e != "" {
			err := fmt.Errorf("GoHighLevel returned error %q: %s", e, q.Get("error_description"))
			if !m.failLogin(state, err) {
				show(http.StatusBadRequest, "Login failed", ConnInfo{}, ErrBadState)
				return
			}
			show(http.StatusBadRequest, "Login failed", ConnInfo{}, err)
			return
		}
		info, err := m.CompleteLogin(r.Context(), state, q.Get("code"))
		switch {
		case errors.Is(err, ErrBadState):
			m.log.Warn("OAuth callback with an unknown state refused", "remote", r.RemoteAddr)
			show(http.StatusBadRequest, "Login refused", ConnInfo{}, err)
		case err != nil:
			m.log.Warn("OAuth code exchange failed", "error", err)
			show(http.StatusBadGateway, "Login failed", ConnInfo{}, err)
		default:
			show(http.StatusOK, "Connected", info, nil)
		}
	})
}

// ParseCallbackURL extracts state and code from a pasted redirect URL (or a
// bare query string), for logins finished by hand.
func ParseCallbackURL(s string) (state, code string, err error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[i+1:]
	}
	q, err := url.ParseQuery(s)
	if err != nil {
		return "", "", fmt.Errorf("pasted callback URL: %w", err)
	}
	if e := q.Get("error"); e != "" {
		return "", "", fmt.Errorf("GoHighLevel returned error %q: %s", e, q.Get("error_description"))
	}
	if q.Get("code") == "" {
		return "", "", errors.New("pasted callback URL has no code parameter")
	}
	return q.Get("state"), q.Get("code"), nil
}

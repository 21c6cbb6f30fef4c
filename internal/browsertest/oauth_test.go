package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/auth"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

// The sandbox's OAuth app (docs/sandbox.md, built-in seed).
const (
	sandboxClientID     = "sandbox-client-id"
	sandboxClientSecret = "sandbox-client-secret"
)

// oauthRig is the sandbox (GoHighLevel's consent page and token endpoint)
// and ghlsync's OAuth callback on a local port, over one store.
type oauthRig struct {
	sb       *sandbox.Server
	sbURL    string
	callback string // ghlsync's redirect URL
	m        *auth.Manager
	st       *store.Store

	mu     sync.Mutex
	tokens []map[string]any // every answer of the sandbox's token endpoint
}

func newOAuthRig(t *testing.T) *oauthRig {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	r := &oauthRig{sb: sb}
	// The token endpoint's answers are kept, to compare what ghlsync stored
	// with what GoHighLevel said.
	sbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != auth.TokenPath {
			sb.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		var body map[string]any
		if json.Unmarshal(rec.Body.Bytes(), &body) == nil {
			r.mu.Lock()
			r.tokens = append(r.tokens, body)
			r.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(func() { sbSrv.Close(); sb.Close() })
	r.sbURL = sbSrv.URL

	r.st = storetest.Open(t, store.SQLite, "browsertest_oauth")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	vault, err := auth.NewVault(key)
	if err != nil {
		t.Fatal(err)
	}
	if r.m, err = auth.NewManager(auth.Options{Store: r.st, Vault: vault, GHL: ghl.Config{BaseURL: sbSrv.URL}}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/oauth/callback", r.m.CallbackHandler())
	cb := httptest.NewServer(mux)
	t.Cleanup(cb.Close)
	r.callback = cb.URL + "/oauth/callback"
	return r
}

// login starts a login whose consent page is the sandbox's.
func (r *oauthRig) login(t *testing.T, name string, scopes ...string) *auth.Login {
	t.Helper()
	l, err := r.m.StartLogin(auth.LoginConfig{Name: name, ClientID: sandboxClientID, ClientSecret: sandboxClientSecret,
		RedirectURL: r.callback, ConsentHost: r.sbURL, BaseURL: r.sbURL, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.URL, r.sbURL+auth.ConsentPath+"?") {
		t.Fatalf("consent URL %s is not the sandbox's %s", l.URL, auth.ConsentPath)
	}
	return l
}

func (r *oauthRig) tokenAnswers() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tokens)
}

// consent opens a consent URL, picks the account and approves, and returns
// the response of the page the browser lands on.
func consent(t *testing.T, ctx context.Context, consentURL, target string) (status int64, landed string) {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(consentURL))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("consent page: %d", resp.Status)
	}
	pick := `input[type=radio][value="` + target + `"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(pick)), chromedp.Click(chromedp.CSS(pick))); err != nil {
		t.Fatalf("pick %s on the consent page: %v", target, err)
	}
	if checked := run(t, ctx, chromedp.Evaluate[string](`document.querySelector('input[name=target]:checked').value`)); checked != target {
		t.Fatalf("picked %s, the consent page has %s checked", target, checked)
	}
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`button[name=approve]`)))
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	return resp.Status, resp.URL
}

func TestOAuthLogin(t *testing.T) {
	t.Parallel()
	ctx := New(t, 25*time.Second)
	r := newOAuthRig(t)
	scopes := []string{"contacts.readonly", "contacts.write", "calendars/events.write"}
	l := r.login(t, "browser", scopes...)

	// The consent page lists what is asked for.
	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(l.URL)); err != nil {
		t.Fatal(err)
	}
	page := run(t, ctx, chromedp.Evaluate[string](jsText))
	for _, s := range append(scopes, sandboxClientID, "sbx-location-2", "Approve") {
		if !strings.Contains(page, s) {
			t.Errorf("the consent page does not show %q:\n%s", s, page)
		}
	}
	Screenshot(t, ctx, "oauth-consent")

	// The second sub-account, not the one checked by default.
	status, landed := consent(t, ctx, l.URL, "location:sbx-location-2")
	if status != http.StatusOK || !strings.HasPrefix(landed, r.callback+"?") {
		t.Fatalf("after Approve the browser landed on %s (%d), want the callback %s", landed, status, r.callback)
	}
	if q, _ := url.Parse(landed); q.Query().Get("state") != l.State || q.Query().Get("code") == "" {
		t.Errorf("callback URL %s does not carry the login's state and a code", landed)
	}
	title := run(t, ctx, chromedp.Text(chromedp.CSS("h1")))
	page = run(t, ctx, chromedp.Evaluate[string](jsText))
	if title != "Connected" || !strings.Contains(page, "browser") || !strings.Contains(page, "sbx-location-2") {
		t.Errorf("success page: %q\n%s", title, page)
	}
	Screenshot(t, ctx, "oauth-connected")

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := l.Wait(wctx)
	if err != nil {
		t.Fatalf("the login did not complete: %v", err)
	}

	// Stored with what GoHighLevel's token answer said.
	answers := r.tokenAnswers()
	if len(answers) != 1 {
		t.Fatalf("%d calls to the token endpoint, want 1: %v", len(answers), answers)
	}
	tok := answers[0]
	c, err := r.st.GetConnection(ctx, "browser")
	if err != nil {
		t.Fatal(err)
	}
	type conn struct {
		Kind, UserType, LocationID, CompanyID, Status string
		Scopes                                        []string
	}
	got := conn{c.Kind, c.UserType, c.LocationID, c.CompanyID, c.Status, c.Scopes}
	want := conn{store.ConnOAuth, tok["userType"].(string), tok["locationId"].(string), tok["companyId"].(string), store.ConnActive,
		strings.Fields(tok["scope"].(string))}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stored connection (-token answer +stored):\n%s", d)
	}
	if want.LocationID != "sbx-location-2" || want.CompanyID != "sbx-company-1" || want.UserType != "Location" {
		t.Errorf("token answer %v: want sub-account sbx-location-2 of sbx-company-1", tok)
	}
	if d := cmp.Diff(scopes, want.Scopes); d != "" {
		t.Errorf("granted scopes (-asked +granted):\n%s", d)
	}
	if info.LocationID != c.LocationID || !slices.Equal(info.Scopes, c.Scopes) {
		t.Errorf("Login.Wait gave %+v, stored %+v", info, got)
	}
	// The tokens work, and no page showed them.
	tokenNow, err := r.m.Token(ctx, "browser")
	if err != nil || tokenNow != tok["access_token"] {
		t.Errorf("the connection's token is not the one GoHighLevel issued (err %v)", err)
	}
	html, err := HTML(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{tok["access_token"].(string), tok["refresh_token"].(string), sandboxClientSecret} {
		if secret == "" || strings.Contains(html, secret) {
			t.Errorf("the success page shows a secret (%.12s…)", secret)
		}
	}
	if strings.Contains(landed, sandboxClientSecret) {
		t.Error("the callback URL carries the client secret")
	}
}

func TestOAuthWrongState(t *testing.T) {
	t.Parallel()
	ctx := New(t, 25*time.Second)
	r := newOAuthRig(t)
	l := r.login(t, "forged", "contacts.readonly")

	// The consent is real, but the state that comes back is not the one
	// this login issued (a forged or replayed callback).
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("state", "not-"+l.State)
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	status, landed := consent(t, ctx, u.String(), "location:sbx-location-1")
	if status != http.StatusBadRequest || !strings.HasPrefix(landed, r.callback+"?") {
		t.Fatalf("a callback with a foreign state: %s answered %d, want 400", landed, status)
	}
	title := run(t, ctx, chromedp.Text(chromedp.CSS("h1")))
	page := run(t, ctx, chromedp.Evaluate[string](jsText))
	if title != "Login refused" || !strings.Contains(page, "The connection was not stored.") || !strings.Contains(page, "does not match a login in progress") {
		t.Errorf("rejection page: %q\n%s", title, page)
	}
	Screenshot(t, ctx, "oauth-refused")

	// Nothing exchanged, nothing stored, and the real login still waits.
	if n := len(r.tokenAnswers()); n != 0 {
		t.Errorf("the code was exchanged %d time(s) for a callback with a foreign state", n)
	}
	conns, err := r.st.ListConnections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 0 {
		t.Errorf("%d connection(s) stored after a refused callback: %+v", len(conns), conns)
	}
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if info, err := l.Wait(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the genuine login ended (%+v, %v); it should still wait for its own callback", info, err)
	}
}

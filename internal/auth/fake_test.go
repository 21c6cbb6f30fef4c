package auth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGHL is a small stand-in for GoHighLevel's OAuth and a few API
// endpoints, faithful to what auth relies on: form-encoded POST
// /oauth/token with client credentials in the body, single-use refresh
// tokens that rotate (reuse answers 400 invalid_grant), agency-to-location
// exchange, and bearer checks answering 401 like GHL.
type fakeGHL struct {
	t   testing.TB
	srv *httptest.Server

	mu            sync.Mutex
	clientID      string
	secret        string
	ttl           time.Duration
	delay         time.Duration // before answering /oauth/token
	failStatus    int           // when set, /oauth/token answers this status
	access        map[string]*fakeGrant
	refresh       map[string]*fakeGrant // live refresh tokens
	spent         map[string]bool       // used refresh tokens
	codes         map[string]*fakeGrant
	tokenCalls    int
	refreshCalls  int
	locTokenCalls int
	sentRefresh   []string // every refresh token presented, in order
	apiCalls      int
}

type fakeGrant struct {
	userType, location, company, user string
	scopes                            []string
	expires                           time.Time
	pit                               bool
}

func newFakeGHL(t testing.TB) *fakeGHL {
	f := &fakeGHL{t: t, clientID: "test-client", secret: "test-client-secret-XYZ", ttl: 24 * time.Hour,
		access: map[string]*fakeGrant{}, refresh: map[string]*fakeGrant{}, spent: map[string]bool{}, codes: map[string]*fakeGrant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", f.token)
	mux.HandleFunc("POST /oauth/locationToken", f.locationToken)
	mux.HandleFunc("GET /locations/{id}", f.api(func(g *fakeGrant, r *http.Request) (int, any) {
		if g.userType == "Location" && g.location != r.PathValue("id") {
			return 403, map[string]any{"statusCode": 403, "message": "The token does not have access to this location."}
		}
		if !has(g.scopes, "locations.readonly") {
			return 401, map[string]any{"statusCode": 401, "message": "The token is not authorized for this scope."}
		}
		return 200, map[string]any{"location": map[string]any{"id": r.PathValue("id")}}
	}))
	mux.HandleFunc("GET /locations/{id}/customFields", f.api(func(g *fakeGrant, r *http.Request) (int, any) {
		return 200, map[string]any{"customFields": []any{}}
	}))
	mux.HandleFunc("GET /companies/{id}", f.api(func(g *fakeGrant, r *http.Request) (int, any) {
		return 200, map[string]any{"company": map[string]any{"id": r.PathValue("id")}}
	}))
	mux.HandleFunc("POST /contacts/upsert", f.api(func(g *fakeGrant, r *http.Request) (int, any) {
		return 200, map[string]any{"new": true, "contact": map[string]any{"id": "c1"}}
	}))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func randHex(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (f *fakeGHL) URL() string { return f.srv.URL }

// issueCode returns an authorization code for a location (or company) grant.
func (f *fakeGHL) issueCode(userType, location, company string, scopes []string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	code := randHex("code-")
	f.codes[code] = &fakeGrant{userType: userType, location: location, company: company, user: "user-1", scopes: scopes}
	return code
}

// addPIT registers a static token.
func (f *fakeGHL) addPIT(location string, scopes []string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := randHex("pit-")
	f.access[tok] = &fakeGrant{userType: "Location", location: location, scopes: scopes, pit: true}
	return tok
}

// expireAccess makes every access token invalid (as after their lifetime).
func (f *fakeGHL) expireAccess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, g := range f.access {
		if !g.pit {
			delete(f.access, k)
		}
	}
}

func (f *fakeGHL) counts() (token, refresh, loc int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls, f.refreshCalls, f.locTokenCalls
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeGHL) token(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	delay, failStatus := f.delay, f.failStatus
	f.tokenCalls++
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if failStatus != 0 {
		writeJSON(w, failStatus, map[string]any{"statusCode": failStatus, "message": "Internal Server Error"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") || r.ParseForm() != nil {
		writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "body must be form-encoded", "error": "invalid_request"})
		return
	}
	if r.Header.Get("Authorization") != "" {
		writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "client credentials belong in the body", "error": "invalid_request"})
		return
	}
	form := r.PostForm
	f.mu.Lock()
	defer f.mu.Unlock()
	if form.Get("client_id") != f.clientID || form.Get("client_secret") != f.secret {
		writeJSON(w, 401, map[string]any{"statusCode": 401, "message": "Invalid client: client credentials are invalid", "error": "invalid_client"})
		return
	}
	var g *fakeGrant
	switch form.Get("grant_type") {
	case "authorization_code":
		g = f.codes[form.Get("code")]
		delete(f.codes, form.Get("code"))
		if g == nil {
			writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "Invalid grant: authorization code is invalid", "error": "invalid_grant"})
			return
		}
	case "refresh_token":
		f.refreshCalls++
		rt := form.Get("refresh_token")
		f.sentRefresh = append(f.sentRefresh, rt)
		g = f.refresh[rt]
		if g == nil || f.spent[rt] {
			writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "Invalid grant: refresh token is invalid", "error": "invalid_grant"})
			return
		}
		delete(f.refresh, rt)
		f.spent[rt] = true
	default:
		writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "Invalid parameter: grantType", "error": "unsupported_grant_type"})
		return
	}
	access, refresh := randHex("at-"), randHex("rt-")
	ng := *g
	ng.expires = time.Now().Add(f.ttl)
	f.access[access] = &ng
	f.refresh[refresh] = g
	resp := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(f.ttl / time.Second),
		"refresh_token": refresh, "scope": strings.Join(g.scopes, " "), "userType": g.userType, "companyId": g.company, "userId": g.user}
	if g.location != "" {
		resp["locationId"] = g.location
	}
	writeJSON(w, 200, resp)
}

func (f *fakeGHL) bearer(r *http.Request) *fakeGrant {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.access[tok]
	if g == nil || (!g.expires.IsZero() && time.Now().After(g.expires)) {
		return nil
	}
	return g
}

func (f *fakeGHL) api(h func(g *fakeGrant, r *http.Request) (int, any)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.apiCalls++
		f.mu.Unlock()
		g := f.bearer(r)
		if g == nil {
			writeJSON(w, 401, map[string]any{"statusCode": 401, "message": "Invalid JWT"})
			return
		}
		status, body := h(g, r)
		writeJSON(w, status, body)
	}
}

func (f *fakeGHL) locationToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.locTokenCalls++
	f.mu.Unlock()
	g := f.bearer(r)
	if g == nil || g.userType != "Company" || g.pit {
		writeJSON(w, 401, map[string]any{"statusCode": 401, "message": "Invalid JWT"})
		return
	}
	if r.ParseForm() != nil || r.PostForm.Get("companyId") != g.company || r.PostForm.Get("locationId") == "" || r.Header.Get("Version") == "" {
		writeJSON(w, 400, map[string]any{"statusCode": 400, "message": "companyId, locationId and Version are required"})
		return
	}
	loc := r.PostForm.Get("locationId")
	access := randHex("lt-")
	f.mu.Lock()
	f.access[access] = &fakeGrant{userType: "Location", location: loc, scopes: g.scopes, expires: time.Now().Add(f.ttl)}
	f.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(f.ttl / time.Second),
		"scope": strings.Join(g.scopes, " "), "locationId": loc, "userId": "user-1"})
}

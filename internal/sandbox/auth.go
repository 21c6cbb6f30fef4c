package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// token is an access token the sandbox accepts.
type token struct {
	Kind       string    `json:"kind"` // "pit", "oauth" or "exchange" (from /oauth/locationToken)
	AppID      string    `json:"appId"`
	UserType   string    `json:"userType"` // "Location" or "Company"
	LocationID string    `json:"locationId,omitempty"`
	CompanyID  string    `json:"companyId,omitempty"`
	UserID     string    `json:"userId,omitempty"`
	Scopes     []string  `json:"scopes"`
	ExpiresAt  time.Time `json:"expiresAt,omitzero"`
}

// resource is what the rate limiter keys on together with the app.
func (t *token) resource() string {
	if t.LocationID != "" {
		return t.LocationID
	}
	return t.CompanyID
}

func (t *token) agency() bool { return t.UserType == "Company" }

func (t *token) hasScope(scopes []string) bool {
	if len(scopes) == 0 {
		return true
	}
	for _, s := range scopes {
		if slices.Contains(t.Scopes, s) {
			return true
		}
	}
	return false
}

// refreshGrant is a refresh token; single use, it rotates on every refresh.
type refreshGrant struct {
	AppID      string    `json:"appId"`
	UserType   string    `json:"userType"`
	LocationID string    `json:"locationId,omitempty"`
	CompanyID  string    `json:"companyId,omitempty"`
	UserID     string    `json:"userId,omitempty"`
	Scopes     []string  `json:"scopes"`
	ExpiresAt  time.Time `json:"expiresAt"`
	Used       bool      `json:"used"`
}

// authCode is an authorization code from the consent page (single use).
type authCode struct {
	refreshGrant
	RedirectURI string `json:"redirectUri"`
}

// oauthApp is a marketplace app that may use the OAuth endpoints.
type oauthApp struct {
	ClientID     string   `json:"clientId"`
	SecretHash   string   `json:"secretHash"`
	RedirectURIs []string `json:"redirectUris,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Name         string   `json:"name,omitempty"`
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func randomToken(prefix string) string {
	b := make([]byte, 24)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func randomUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// scopeName strips the catalog's remarks ("contacts.write (guess; ...)").
func scopeName(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}

func opScopes(op *catalog.Operation) []string {
	out := make([]string, 0, len(op.Scopes))
	for _, s := range op.Scopes {
		out = append(out, scopeName(s))
	}
	return out
}

// AllScopes returns every scope the catalog's operations need for a token of
// the given type ("location" or "agency"), sorted.
func AllScopes(tokenType string) []string {
	set := map[string]bool{}
	for _, op := range catalog.All() {
		if op.Token == catalog.TokenAny || op.Token == tokenType {
			for _, s := range opScopes(op) {
				set[s] = true
			}
		}
	}
	if tokenType == catalog.TokenAgency {
		set["oauth.write"] = true
		set["oauth.readonly"] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// locationTokenOp describes POST /oauth/locationToken, which is outside the
// catalog but goes through the same auth, rate limit and fault pipeline.
var locationTokenOp = &catalog.Operation{
	ID: "oauth.locationToken", Method: http.MethodPost, Path: "/oauth/locationToken",
	Scopes: []string{"oauth.write"}, Token: catalog.TokenAgency, Form: true,
	Body: []string{"companyId", "locationId"}, BodyRequired: []string{"companyId", "locationId"},
}

// authenticate checks the bearer token against the operation.
func (s *Server) authenticate(r *http.Request, op *catalog.Operation) (*token, *reply) {
	h := r.Header.Get("Authorization")
	if h == "" {
		rep := errReply(401, "Unauthorized")
		return nil, &rep
	}
	raw, found := strings.CutPrefix(h, "Bearer ")
	if !found {
		raw, found = strings.CutPrefix(h, "bearer ")
	}
	raw = strings.TrimSpace(raw)
	if !found || raw == "" {
		rep := errReply(401, "Invalid JWT")
		return nil, &rep
	}
	s.mu.Lock()
	t := s.st.Tokens[hashToken(raw)]
	var tc token
	if t != nil {
		tc = *t
	}
	s.mu.Unlock()
	// Unknown tokens, v1 API keys (JWTs) and expired tokens all get GHL's answer.
	if t == nil || (!tc.ExpiresAt.IsZero() && !s.now().Before(tc.ExpiresAt)) {
		rep := errReply(401, "Invalid JWT")
		return nil, &rep
	}
	switch op.Token {
	case catalog.TokenLocation:
		if tc.agency() {
			rep := errReply(401, "This authClass type is not allowed to access this scope. Please reach out to the Platform team to get it added.")
			return nil, &rep
		}
	case catalog.TokenAgency:
		if !tc.agency() {
			rep := errReply(401, "This authClass type is not allowed to access this scope. Please reach out to the Platform team to get it added.")
			return nil, &rep
		}
		if op == locationTokenOp && tc.Kind == "pit" {
			// Agency-Access-Only: only an agency OAuth token may exchange.
			rep := errReply(401, "This authClass type is not allowed to access this scope. Please reach out to the Platform team to get it added.")
			return nil, &rep
		}
	}
	if !tc.hasScope(opScopes(op)) {
		rep := errReply(401, "The token is not authorized for this scope.")
		return nil, &rep
	}
	return &tc, nil
}

// resolveLocation decides which location the call acts on and checks the
// token may act there. Called with the state lock held.
func (c *call) resolveLocation() *reply {
	var asked []string
	for _, v := range []string{c.path["locationId"], c.q.Get("locationId"), c.q.Get("location_id"), str(c.body, "locationId")} {
		if v != "" {
			asked = append(asked, v)
		}
	}
	for _, l := range asked {
		if !c.mayUseLocation(l) {
			rep := errForbiddenLocation()
			return &rep
		}
	}
	if len(asked) > 0 {
		c.loc = asked[0]
	} else {
		c.loc = c.tok.LocationID
	}
	for _, co := range []string{c.path["companyId"], c.q.Get("companyId"), str(c.body, "companyId")} {
		if co != "" && co != c.companyID() {
			rep := errReply(403, "The token does not have access to this company.")
			return &rep
		}
	}
	return nil
}

func (c *call) mayUseLocation(l string) bool {
	if !c.tok.agency() {
		return l == c.tok.LocationID
	}
	loc := c.st.t("locations").get(l)
	return loc == nil || str(loc, "companyId") == c.tok.CompanyID // unknown locations 404 later
}

// companyID is the agency the token belongs to.
func (c *call) companyID() string {
	if c.tok.CompanyID != "" {
		return c.tok.CompanyID
	}
	if loc := c.st.t("locations").get(c.tok.LocationID); loc != nil {
		return str(loc, "companyId")
	}
	return ""
}

// owns reports whether a stored record belongs to the call's location; it
// answers 403 like GHL when another location's record is addressed.
func (c *call) owns(r record) *reply {
	if l := str(r, "locationId"); l == "" || c.mayUseLocation(l) {
		return nil
	}
	rep := errForbiddenLocation()
	return &rep
}

// mintToken stores a new token and returns it. Called with the lock held.
func (s *Server) mintToken(t token) string {
	prefix := "sbx-at-"
	if t.Kind == "pit" {
		prefix = "pit-sbx-"
	}
	raw := randomToken(prefix)
	s.st.Tokens[hashToken(raw)] = &t
	return raw
}

// MintToken issues an access token bound to a location (or, with locationID
// "", to a company) with the given scopes (nil = every scope for that token
// type). ttl 0 means the token never expires, like a Private Integration Token.
func (s *Server) MintToken(locationID, companyID string, scopes []string, ttl time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := token{Kind: "pit", AppID: "pit", Scopes: scopes}
	switch {
	case locationID != "":
		loc := s.st.t("locations").get(locationID)
		if loc == nil {
			return "", fmt.Errorf("sandbox: no location %q", locationID)
		}
		t.UserType, t.LocationID = "Location", locationID
		if t.Scopes == nil {
			t.Scopes = AllScopes(catalog.TokenLocation)
		}
	case companyID != "":
		if s.st.t("companies").get(companyID) == nil {
			return "", fmt.Errorf("sandbox: no company %q", companyID)
		}
		t.UserType, t.CompanyID = "Company", companyID
		if t.Scopes == nil {
			t.Scopes = AllScopes(catalog.TokenAgency)
		}
	default:
		return "", fmt.Errorf("sandbox: a token needs a locationId or a companyId")
	}
	if ttl > 0 {
		t.Kind = "oauth"
		t.AppID = "sandbox-admin"
		t.ExpiresAt = s.now().Add(ttl)
	}
	return s.mintToken(t), nil
}

// --- POST /oauth/token ---

func oauthError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "error": code})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, entry *RequestLogEntry) {
	if f := s.faults.decide(&catalog.Operation{ID: "oauth.token", Method: "POST", Path: "/oauth/token"}, r.Method); f.kind == faultStatus {
		entry.Fault = fmt.Sprintf("status-%d", f.status)
		writeReply(w, faultReply(f.status))
		return
	}
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthError(w, 400, "Invalid request: the body must be application/x-www-form-urlencoded", "invalid_request")
		return
	}
	f := r.PostForm
	for _, k := range []string{"client_id", "client_secret", "grant_type"} {
		if f.Get(k) == "" {
			oauthError(w, 400, "Missing parameter: "+camel(k), "invalid_request")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.st.Apps[f.Get("client_id")]
	if app == nil || app.SecretHash != hashToken(f.Get("client_secret")) {
		oauthError(w, 401, "Invalid client: client credentials are invalid", "invalid_client")
		return
	}
	now := s.now()
	var g refreshGrant
	switch f.Get("grant_type") {
	case "authorization_code":
		code := f.Get("code")
		if code == "" {
			oauthError(w, 400, "Missing parameter: code", "invalid_request")
			return
		}
		ac := s.st.Codes[hashToken(code)]
		if ac == nil || ac.Used || ac.AppID != app.ClientID || !now.Before(ac.ExpiresAt) {
			oauthError(w, 400, "Invalid grant: authorization code is invalid", "invalid_grant")
			return
		}
		if ru := f.Get("redirect_uri"); ru != "" && ac.RedirectURI != "" && ru != ac.RedirectURI {
			oauthError(w, 400, "Invalid grant: redirect_uri does not match", "invalid_grant")
			return
		}
		ac.Used = true
		g = ac.refreshGrant
		g.Used = false // Used is promoted from the embedded grant: the code's flag, not the new refresh token's
	case "refresh_token":
		rt := f.Get("refresh_token")
		if rt == "" {
			oauthError(w, 400, "Missing parameter: refreshToken", "invalid_request")
			return
		}
		old := s.st.Refresh[hashToken(rt)]
		if old == nil || old.Used || old.AppID != app.ClientID || !now.Before(old.ExpiresAt) {
			oauthError(w, 400, "Invalid grant: refresh token is invalid", "invalid_grant")
			return
		}
		if ut := f.Get("user_type"); ut != "" && ut != old.UserType {
			oauthError(w, 400, "Invalid grant: refresh token is invalid", "invalid_grant")
			return
		}
		old.Used = true
		g = *old
		g.Used = false
	default:
		oauthError(w, 400, "Invalid parameter: grantType", "unsupported_grant_type")
		return
	}
	access := s.mintToken(token{Kind: "oauth", AppID: app.ClientID, UserType: g.UserType, LocationID: g.LocationID,
		CompanyID: g.CompanyID, UserID: g.UserID, Scopes: g.Scopes, ExpiresAt: now.Add(s.opts.TokenTTL)})
	refresh := randomToken("sbx-rt-")
	g.ExpiresAt = now.AddDate(1, 0, 0) // a refresh token lives a year unless used
	s.st.Refresh[hashToken(refresh)] = &g
	if s.persist != nil {
		s.persist.markDirty()
	}
	resp := map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int(s.opts.TokenTTL / time.Second),
		"refresh_token": refresh, "scope": strings.Join(g.Scopes, " "), "userType": g.UserType,
		"userId": g.UserID, "isBulkInstallation": false, "planId": "",
	}
	if g.UserType == "Company" {
		resp["companyId"] = g.CompanyID
		resp["approveAllLocations"] = false
		resp["installToFutureLocations"] = false
	} else {
		resp["locationId"] = g.LocationID
		resp["companyId"] = str(s.st.t("locations").get(g.LocationID), "companyId")
	}
	writeJSON(w, 200, resp)
}

func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// --- POST /oauth/locationToken ---

func (c *call) locationToken() reply {
	locID, coID := str(c.body, "locationId"), str(c.body, "companyId")
	loc := c.st.t("locations").get(locID)
	if loc == nil {
		return errBadRequest("Location not found")
	}
	if coID != c.tok.CompanyID || str(loc, "companyId") != c.tok.CompanyID {
		return errForbiddenLocation()
	}
	scopes := []string{}
	locScopes := AllScopes(catalog.TokenLocation)
	for _, sc := range c.tok.Scopes {
		if slices.Contains(locScopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	access := c.s.mintToken(token{Kind: "exchange", AppID: c.tok.AppID, UserType: "Location", LocationID: locID,
		UserID: c.tok.UserID, Scopes: scopes, ExpiresAt: c.now.Add(c.s.opts.TokenTTL)})
	return ok(map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int(c.s.opts.TokenTTL / time.Second),
		"scope": strings.Join(scopes, " "), "locationId": locID, "userId": c.tok.UserID,
		"planId": "", "traceId": c.trace,
	})
}

// --- GET/POST /oauth/chooselocation: the consent page ---

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox — authorize {{.AppName}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
label{display:block;padding:.5rem;border:1px solid #ccc;border-radius:.4rem;margin:.4rem 0}
button{font-size:1rem;padding:.5rem 1.5rem;margin-top:1rem}.err{color:#b00020}code{background:#f3f3f3;padding:0 .2rem}</style></head>
<body><h1>Authorize {{.AppName}}</h1>
{{if .Error}}<p class="err">{{.Error}}</p>{{else}}
<p>This is the ghlsync sandbox's stand-in for GHL's consent page. Pick the account to install
<code>{{.ClientID}}</code> on; it will be granted:</p>
<ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>
<form method="post" action="{{.Action}}">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="state" value="{{.State}}">
{{range $i, $l := .Locations}}<label><input type="radio" name="target" value="location:{{$l.ID}}" {{if eq $i 0}}checked{{end}}> Sub-account <b>{{$l.Name}}</b> <code>{{$l.ID}}</code></label>{{end}}
{{range .Companies}}<label><input type="radio" name="target" value="company:{{.ID}}"> Agency <b>{{.Name}}</b> <code>{{.ID}}</code></label>{{end}}
<button type="submit" name="approve" value="1">Approve</button>
</form>{{end}}</body></html>`))

type consentTarget struct{ ID, Name string }

func (s *Server) serveConsent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	clientID, redirectURI := r.Form.Get("client_id"), r.Form.Get("redirect_uri")
	scope, state := r.Form.Get("scope"), r.Form.Get("state")
	s.mu.Lock()
	defer s.mu.Unlock()
	app := s.st.Apps[clientID]
	data := map[string]any{"ClientID": clientID, "RedirectURI": redirectURI, "Scope": scope, "State": state, "Action": r.URL.Path}
	fail := func(msg string) {
		data["Error"] = msg
		data["AppName"] = "an app"
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		consentPage.Execute(w, data)
	}
	if app == nil {
		fail("Unknown client_id " + fmt.Sprintf("%q", clientID) + ".")
		return
	}
	if redirectURI == "" {
		fail("redirect_uri is required.")
		return
	}
	if len(app.RedirectURIs) > 0 && !slices.Contains(app.RedirectURIs, redirectURI) {
		fail("redirect_uri " + fmt.Sprintf("%q", redirectURI) + " is not registered for this app.")
		return
	}
	if u, err := url.Parse(redirectURI); err != nil || u.Scheme == "" || u.Host == "" {
		fail("redirect_uri must be an absolute URL.")
		return
	}
	scopes := strings.Fields(scope)
	if len(scopes) == 0 {
		scopes = app.Scopes
	}
	if r.Method == http.MethodPost {
		kind, id, _ := strings.Cut(r.Form.Get("target"), ":")
		g := refreshGrant{AppID: app.ClientID, Scopes: scopes, ExpiresAt: s.now().Add(10 * time.Minute)}
		switch {
		case kind == "location" && s.st.t("locations").get(id) != nil:
			g.UserType, g.LocationID = "Location", id
		case kind == "company" && s.st.t("companies").get(id) != nil:
			g.UserType, g.CompanyID = "Company", id
		default:
			fail("Pick a sub-account or an agency.")
			return
		}
		if u := s.st.t("users").all(); len(u) > 0 {
			g.UserID = idOf(u[0])
		}
		code := randomToken("sbx-code-")
		s.st.Codes[hashToken(code)] = &authCode{refreshGrant: g, RedirectURI: redirectURI}
		u, _ := url.Parse(redirectURI)
		q := u.Query()
		q.Set("code", code)
		if state != "" {
			q.Set("state", state)
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	var locs, cos []consentTarget
	for _, l := range s.st.t("locations").all() {
		locs = append(locs, consentTarget{idOf(l), str(l, "name")})
	}
	for _, co := range s.st.t("companies").all() {
		cos = append(cos, consentTarget{idOf(co), str(co, "name")})
	}
	data["AppName"] = firstNonEmpty(app.Name, app.ClientID)
	data["Scopes"] = scopes
	data["Locations"] = locs
	data["Companies"] = cos
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	consentPage.Execute(w, data)
}

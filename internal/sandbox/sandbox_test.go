package sandbox

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	locTok    = "pit-sandbox-location"
	agencyTok = "pit-sandbox-agency"
	loc1      = "sbx-location-1"
)

// fakeClock is a settable clock for tests that move time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t   *testing.T
	sb  *Server
	srv *httptest.Server
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	if o.RateLimit == (RateLimitOptions{}) {
		o.RateLimit.Disabled = true
	}
	sb, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() {
		srv.Close()
		sb.Close()
	})
	return &env{t: t, sb: sb, srv: srv}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// do sends a request with a bearer token and a JSON (or form) body.
func (e *env) do(method, path, tok string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Version", "2021-07-28")
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	raw, _ := io.ReadAll(r.Body)
	out := resp{status: r.StatusCode, header: r.Header, raw: raw}
	json.Unmarshal(raw, &out.body)
	return out
}

func (e *env) must(want int, method, path, tok string, body any) resp {
	e.t.Helper()
	r := e.do(method, path, tok, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

func get(m any, path string) any {
	v, _ := lookup(m, path)
	return v
}

func sget(m any, path string) string { s, _ := get(m, path).(string); return s }

func TestTagsOverwriteOnUpdateButNotOnTagEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	c := e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": "tags@example.com", "tags": []string{"a", "b"}})
	id := sget(c.body, "contact.id")
	steps := []struct {
		name         string
		method, path string
		body         any
		status       int
		want         []any
	}{
		{"add tags keeps existing", "POST", "/contacts/" + id + "/tags", map[string]any{"tags": []string{"c", "A"}}, 201, []any{"a", "b", "c"}},
		{"remove tags removes only those", "DELETE", "/contacts/" + id + "/tags", map[string]any{"tags": []string{"b"}}, 200, []any{"a", "c"}},
		{"update overwrites", "PUT", "/contacts/" + id, map[string]any{"tags": []string{"z"}}, 200, []any{"z"}},
		{"upsert overwrites", "POST", "/contacts/upsert", map[string]any{"locationId": loc1, "email": "tags@example.com", "tags": []string{"y", "x"}}, 200, []any{"y", "x"}},
		{"update without tags keeps them", "PUT", "/contacts/" + id, map[string]any{"firstName": "T"}, 200, []any{"y", "x"}},
	}
	for _, s := range steps {
		e.must(s.status, s.method, s.path, locTok, s.body)
		got := e.must(200, "GET", "/contacts/"+id, locTok, nil)
		if diff := cmp.Diff(s.want, get(got.body, "contact.tags")); diff != "" {
			t.Errorf("%s: tags (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestUpsertPhoneOnlyEmailOnlyAndRepeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"phone only", map[string]any{"locationId": loc1, "phone": "(312) 555-0101", "firstName": "Phone"}},
		{"email only", map[string]any{"locationId": loc1, "email": "Only.Email@Example.com", "firstName": "Email"}},
	} {
		first := e.must(200, "POST", "/contacts/upsert", locTok, tc.body)
		if get(first.body, "new") != true || sget(first.body, "traceId") == "" {
			t.Fatalf("%s: first upsert: %s", tc.name, first.raw)
		}
		again := e.must(200, "POST", "/contacts/upsert", locTok, tc.body)
		if get(again.body, "new") != false || sget(again.body, "contact.id") != sget(first.body, "contact.id") {
			t.Errorf("%s: repeat upsert should return the same contact with new:false: %s", tc.name, again.raw)
		}
	}
	// The phone is stored in E.164 and the email matched case-insensitively.
	r := e.must(200, "GET", "/contacts/search/duplicate?locationId="+loc1+"&number=%2B13125550101", locTok, nil)
	if sget(r.body, "contact.phone") != "+13125550101" {
		t.Errorf("phone not stored as E.164: %s", r.raw)
	}
	r = e.must(200, "GET", "/contacts/search/duplicate?locationId="+loc1+"&email=only.email%40example.com", locTok, nil)
	if sget(r.body, "contact.email") != "Only.Email@Example.com" || sget(r.body, "matchingField") != "email" {
		t.Errorf("email match: %s", r.raw)
	}
}

func TestDuplicateRuleOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tok2, err := e.sb.MintToken("sbx-location-2", "", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// In each location: A owns the email, B owns the phone.
	ids := map[string]map[string]string{}
	for _, l := range []struct{ loc, tok string }{{loc1, locTok}, {"sbx-location-2", tok2}} {
		a := e.must(201, "POST", "/contacts/", l.tok, map[string]any{"locationId": l.loc, "email": "a@example.com", "phone": "+13125550111"})
		b := e.must(201, "POST", "/contacts/", l.tok, map[string]any{"locationId": l.loc, "email": "b@example.com", "phone": "+13125550222"})
		ids[l.loc] = map[string]string{"A": sget(a.body, "contact.id"), "B": sget(b.body, "contact.id")}
	}
	cases := []struct {
		loc, tok, want, field string
	}{
		{loc1, locTok, "A", "email"},           // email-then-phone
		{"sbx-location-2", tok2, "B", "phone"}, // phone-then-email
	}
	for _, c := range cases {
		q := "/contacts/search/duplicate?locationId=" + c.loc + "&email=a%40example.com&number=%2B13125550222"
		d := e.must(200, "GET", q, c.tok, nil)
		if sget(d.body, "contact.id") != ids[c.loc][c.want] || sget(d.body, "matchingField") != c.field {
			t.Errorf("%s duplicate search: want contact %s by %s, got %s", c.loc, c.want, c.field, d.raw)
		}
		u := e.must(200, "POST", "/contacts/upsert", c.tok, map[string]any{"locationId": c.loc, "email": "a@example.com", "phone": "+13125550222", "firstName": "Up"})
		if get(u.body, "new") != false || sget(u.body, "contact.id") != ids[c.loc][c.want] {
			t.Errorf("%s upsert: want contact %s updated, got %s", c.loc, c.want, u.raw)
		}
	}
	// The second field belongs to another contact, so it is not written.
	a := e.must(200, "GET", "/contacts/"+ids[loc1]["A"], locTok, nil)
	if sget(a.body, "contact.phone") != "+13125550111" || sget(a.body, "contact.firstName") != "Up" {
		t.Errorf("contact A after upsert: %s", a.raw)
	}
	// Creating a duplicate is refused with GHL's message and meta.
	d := e.must(400, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": "A@EXAMPLE.com"})
	if sget(d.body, "message") != "This location does not allow duplicated contacts." || sget(d.body, "meta.matchingField") != "email" {
		t.Errorf("duplicate create: %s", d.raw)
	}
}

func TestValidationErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	cases := []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"unknown property", "POST", "/contacts/upsert", map[string]any{"locationId": loc1, "email": "x@example.com", "favouriteColour": "red"},
			422, `{"error":"Unprocessable Entity","message":["property favouriteColour should not exist"],"statusCode":422}`},
		{"missing required", "POST", "/contacts/" + "sbx-contact-1" + "/tasks", map[string]any{"title": "t"},
			422, `{"error":"Unprocessable Entity","message":["completed should not be empty","dueDate should not be empty"],"statusCode":422}`},
		{"wrong type", "POST", "/contacts/", map[string]any{"locationId": loc1, "dnd": "yes", "tags": "one"},
			422, `{"error":"Unprocessable Entity","message":["dnd must be a boolean value","each value in tags must be a string"],"statusCode":422}`},
		{"unknown query parameter", "GET", "/contacts/?locationId=" + loc1 + "&page=2", nil,
			422, `{"error":"Unprocessable Entity","message":["property page should not exist"],"statusCode":422}`},
		{"limit over the maximum", "GET", "/contacts/?locationId=" + loc1 + "&limit=101", nil,
			422, `{"error":"Unprocessable Entity","message":["limit must not be greater than 100"],"statusCode":422}`},
		{"missing locationId", "GET", "/contacts/", nil,
			422, `{"error":"Unprocessable Entity","message":["locationId should not be empty"],"statusCode":422}`},
		{"not found", "GET", "/contacts/nope", nil, 404, `{"error":"Not Found","message":"Contact not found","statusCode":404}`},
		{"unknown route", "GET", "/nothing/here", nil, 404, `{"error":"Not Found","message":"Cannot GET /nothing/here","statusCode":404}`},
		{"appointment without offset", "POST", "/calendars/events/appointments", map[string]any{"locationId": loc1, "calendarId": "sbx-calendar-1",
			"contactId": "sbx-contact-1", "startTime": "2030-01-07T10:00:00"}, 422,
			`{"error":"Unprocessable Entity","message":["startTime must be a valid ISO 8601 date string with a UTC offset, e.g. 2021-06-23T03:30:00+05:30"],"statusCode":422}`},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, locTok, c.body)
		if r.status != c.status || string(r.raw) != c.want {
			t.Errorf("%s: got %d %s\nwant %d %s", c.name, r.status, r.raw, c.status, c.want)
		}
	}
}

func TestCustomFieldsByIDAndKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	c := e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": "cf@example.com",
		"customFields": []any{
			map[string]any{"key": "contact.resumo", "field_value": "by full key"},
			map[string]any{"id": "sbx-cf-deal-value", "field_value": 1234.5},
			map[string]any{"key": "plan", "field_value": "Pro"},
		}})
	want := []any{
		map[string]any{"id": "sbx-cf-resumo", "value": "by full key"},
		map[string]any{"id": "sbx-cf-deal-value", "value": 1234.5},
		map[string]any{"id": "sbx-cf-plan", "value": "Pro"},
	}
	if diff := cmp.Diff(want, get(c.body, "contact.customFields")); diff != "" {
		t.Errorf("custom fields read as {id, value} (-want +got):\n%s", diff)
	}
	id := sget(c.body, "contact.id")
	// Writing one field by short key keeps the others.
	u := e.must(200, "PUT", "/contacts/"+id, locTok, map[string]any{"customFields": []any{map[string]any{"key": "resumo", "field_value": "changed"}}})
	if v := get(u.body, "contact.customFields.0.value"); v != "changed" || len(get(u.body, "contact.customFields").([]any)) != 3 {
		t.Errorf("update by key: %s", u.raw)
	}
	bad := []struct {
		name string
		cf   map[string]any
		msg  string
	}{
		{"text gets a number", map[string]any{"id": "sbx-cf-resumo", "field_value": 5}, "customFields.0 (contact.resumo, TEXT): value must be a string"},
		{"money gets a word", map[string]any{"key": "contact.deal_value", "field_value": "lots"}, "customFields.0 (contact.deal_value, MONETORY): value must be a number"},
		{"option not listed", map[string]any{"key": "plan", "field_value": "Gold"}, `customFields.0 (contact.plan, SINGLE_OPTIONS): "Gold" is not one of the options Basic, Pro, Enterprise`},
		{"unknown field", map[string]any{"key": "nope", "field_value": "x"}, `customFields.0: no contact custom field with key "nope"`},
	}
	for _, b := range bad {
		r := e.do("PUT", "/contacts/"+id, locTok, map[string]any{"customFields": []any{b.cf}})
		if r.status != 422 || !slices.Contains(toStrings(get(r.body, "message")), b.msg) {
			t.Errorf("%s: got %d %s, want 422 with %q", b.name, r.status, r.raw, b.msg)
		}
	}
	// Opportunities read custom fields as {id, fieldValue}.
	o := e.must(201, "POST", "/opportunities/", locTok, map[string]any{"locationId": loc1, "pipelineId": "sbx-pipeline-1", "name": "Deal",
		"status": "open", "contactId": id, "customFields": []any{map[string]any{"key": "lead_source", "field_value": "web"}}})
	if diff := cmp.Diff([]any{map[string]any{"id": "sbx-cf-opp-source", "fieldValue": "web"}}, get(o.body, "opportunity.customFields")); diff != "" {
		t.Errorf("opportunity custom fields (-want +got):\n%s", diff)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, e := range asList(v) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	readOnly, err := e.sb.MintToken(loc1, "", []string{"contacts.readonly"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	expiring, _ := e.sb.MintToken(loc1, "", nil, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	v1 := "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJsb2NhdGlvbl9pZCI6InNieC1sb2NhdGlvbi0xIiwidmVyc2lvbiI6MX0.c2lnbmF0dXJl"
	cases := []struct {
		name, method, path, tok string
		body                    any
		status                  int
		msg                     string
	}{
		{"no token", "GET", "/contacts/sbx-contact-1", "", nil, 401, "Unauthorized"},
		{"v1 API key", "GET", "/contacts/sbx-contact-1", v1, nil, 401, "Invalid JWT"},
		{"expired", "GET", "/contacts/sbx-contact-1", expiring, nil, 401, "Invalid JWT"},
		{"missing scope", "POST", "/contacts/sbx-contact-1/tags", readOnly, map[string]any{"tags": []string{"x"}}, 401, "The token is not authorized for this scope."},
		{"scope present", "GET", "/contacts/sbx-contact-1", readOnly, nil, 200, ""},
		{"agency token on a location op", "GET", "/contacts/sbx-contact-1", agencyTok, nil, 401, "This authClass type is not allowed to access this scope. Please reach out to the Platform team to get it added."},
		{"location token on an agency op", "GET", "/companies/sbx-company-1", locTok, nil, 401, "This authClass type is not allowed to access this scope. Please reach out to the Platform team to get it added."},
		{"wrong location", "GET", "/contacts/?locationId=sbx-location-2", locTok, nil, 403, "The token does not have access to this location."},
		{"agency token on its company", "GET", "/companies/sbx-company-1", agencyTok, nil, 200, ""},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, c.tok, c.body)
		if r.status != c.status || (c.msg != "" && sget(r.body, "message") != c.msg) {
			t.Errorf("%s: got %d %s, want %d %q", c.name, r.status, r.raw, c.status, c.msg)
		}
	}
	// A record of another location is forbidden too.
	tok2, _ := e.sb.MintToken("sbx-location-2", "", nil, 0)
	other := e.must(201, "POST", "/contacts/", tok2, map[string]any{"locationId": "sbx-location-2", "email": "o@example.com"})
	e.must(403, "GET", "/contacts/"+sget(other.body, "contact.id"), locTok, nil)
}

// oauthInstall walks the consent page and returns the token response.
func oauthInstall(t *testing.T, e *env, target string) map[string]any {
	t.Helper()
	page := e.must(200, "GET", "/oauth/chooselocation?response_type=code&client_id=sandbox-client-id&redirect_uri="+
		url.QueryEscape("http://127.0.0.1:9/callback")+"&scope="+url.QueryEscape("contacts.readonly contacts.write oauth.write")+"&state=xyz", "", nil)
	if !strings.Contains(string(page.raw), "Approve") || !strings.Contains(string(page.raw), "sbx-location-1") {
		t.Fatalf("consent page: %s", page.raw)
	}
	r := e.must(302, "POST", "/oauth/chooselocation", "", url.Values{"client_id": {"sandbox-client-id"},
		"redirect_uri": {"http://127.0.0.1:9/callback"}, "scope": {"contacts.readonly contacts.write oauth.write"}, "state": {"xyz"}, "target": {target}})
	loc, _ := url.Parse(r.header.Get("Location"))
	if loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" || loc.Host != "127.0.0.1:9" {
		t.Fatalf("redirect: %s", r.header.Get("Location"))
	}
	tok := e.must(200, "POST", "/oauth/token", "", url.Values{"client_id": {"sandbox-client-id"}, "client_secret": {"sandbox-client-secret"},
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:9/callback"}})
	// The code is single use.
	again := e.do("POST", "/oauth/token", "", url.Values{"client_id": {"sandbox-client-id"}, "client_secret": {"sandbox-client-secret"},
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}})
	if again.status != 400 || sget(again.body, "error") != "invalid_grant" {
		t.Errorf("reused code: %d %s", again.status, again.raw)
	}
	return tok.body
}

func TestOAuthRefreshRotatesAndReuseIsInvalidGrant(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clk.Now, TokenTTL: time.Hour})
	tok := oauthInstall(t, e, "location:"+loc1)
	if tok["userType"] != "Location" || tok["locationId"] != loc1 || tok["expires_in"] != float64(3600) || tok["token_type"] != "Bearer" {
		t.Fatalf("token response: %v", tok)
	}
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)
	e.must(200, "GET", "/contacts/sbx-contact-1", access, nil)
	e.must(401, "GET", "/opportunities/pipelines?locationId="+loc1, access, nil) // scope not granted

	form := func(rt string) url.Values {
		return url.Values{"client_id": {"sandbox-client-id"}, "client_secret": {"sandbox-client-secret"}, "grant_type": {"refresh_token"}, "refresh_token": {rt}, "user_type": {"Location"}}
	}
	r1 := e.must(200, "POST", "/oauth/token", "", form(refresh))
	if r1.body["refresh_token"] == refresh || r1.body["access_token"] == access {
		t.Errorf("refresh must rotate both tokens")
	}
	reused := e.do("POST", "/oauth/token", "", form(refresh))
	wantBody := `{"error":"invalid_grant","message":"Invalid grant: refresh token is invalid","statusCode":400}`
	if reused.status != 400 || string(reused.raw) != wantBody {
		t.Errorf("reused refresh token: %d %s, want 400 %s", reused.status, reused.raw, wantBody)
	}
	e.must(200, "POST", "/oauth/token", "", form(r1.body["refresh_token"].(string)))
	// Access tokens expire after TokenTTL.
	clk.Add(time.Hour + time.Second)
	if r := e.do("GET", "/contacts/sbx-contact-1", r1.body["access_token"].(string), nil); r.status != 401 {
		t.Errorf("expired access token: %d", r.status)
	}
	bad := e.do("POST", "/oauth/token", "", url.Values{"client_id": {"sandbox-client-id"}, "client_secret": {"wrong"}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}})
	if bad.status != 401 || sget(bad.body, "error") != "invalid_client" {
		t.Errorf("bad client secret: %d %s", bad.status, bad.raw)
	}
}

func TestLocationTokenExchange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	tok := oauthInstall(t, e, "company:sbx-company-1")
	if tok["userType"] != "Company" {
		t.Fatalf("token: %v", tok)
	}
	agency := tok["access_token"].(string)
	r := e.must(200, "POST", "/oauth/locationToken", agency, url.Values{"companyId": {"sbx-company-1"}, "locationId": {loc1}})
	if _, has := r.body["refresh_token"]; has || sget(r.body, "locationId") != loc1 {
		t.Errorf("location token response: %s", r.raw)
	}
	e.must(200, "GET", "/contacts/sbx-contact-1", sget(r.body, "access_token"), nil)
	// A Private Integration Token of the agency may not exchange.
	e.must(401, "POST", "/oauth/locationToken", agencyTok, url.Values{"companyId": {"sbx-company-1"}, "locationId": {loc1}})
}

func TestRateLimit101RequestsGetOne429(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clk.Now, RateLimit: RateLimitOptions{Burst: 100, Window: 10 * time.Second, Daily: 150}})
	var got429 []int
	var last resp
	for i := 1; i <= 101; i++ {
		last = e.do("GET", "/contacts/sbx-contact-1", locTok, nil)
		if last.status == 429 {
			got429 = append(got429, i)
		} else if last.status != 200 {
			t.Fatalf("request %d: %d %s", i, last.status, last.raw)
		}
		clk.Add(50 * time.Millisecond) // 101 requests within 5 s
	}
	if !slices.Equal(got429, []int{101}) {
		t.Fatalf("429s at %v, want exactly the 101st", got429)
	}
	wantHeaders := map[string]string{"X-Ratelimit-Limit-Daily": "150", "X-Ratelimit-Daily-Remaining": "50",
		"X-Ratelimit-Interval-Milliseconds": "10000", "X-Ratelimit-Max": "100", "X-Ratelimit-Remaining": "0"}
	for k, v := range wantHeaders {
		if got := last.header.Get(k); got != v {
			t.Errorf("429 header %s = %q, want %q", k, got, v)
		}
	}
	if sget(last.body, "message") != "Too Many Requests" {
		t.Errorf("429 body: %s", last.raw)
	}
	// The window slides: the requests sent at 0 s and 0.05 s have left the
	// window at 10.05 s, so two more fit (one is used here).
	clk.Add(5 * time.Second)
	r := e.do("GET", "/contacts/sbx-contact-1", locTok, nil)
	if r.status != 200 || r.header.Get("X-Ratelimit-Remaining") != "1" {
		t.Errorf("after the window slid: %d remaining %s", r.status, r.header.Get("X-Ratelimit-Remaining"))
	}
	// Another app (an OAuth token) on the same location has its own budget.
	other, _ := e.sb.MintToken(loc1, "", nil, time.Hour)
	if r := e.do("GET", "/contacts/sbx-contact-1", other, nil); r.status != 200 || r.header.Get("X-Ratelimit-Remaining") != "99" {
		t.Errorf("other app: %d remaining %s", r.status, r.header.Get("X-Ratelimit-Remaining"))
	}
	// The daily budget: 150 per day for the first app.
	for i := 0; i < 60; i++ {
		clk.Add(time.Second)
		r = e.do("GET", "/contacts/sbx-contact-1", locTok, nil)
	}
	if r.status != 429 || r.header.Get("X-Ratelimit-Daily-Remaining") != "0" {
		t.Errorf("daily budget: %d daily remaining %s", r.status, r.header.Get("X-Ratelimit-Daily-Remaining"))
	}
}

func TestFaultResponseLostLeavesTheEffect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: FaultConfig{Seed: 1, Rules: []FaultRule{{Route: "POST /contacts/upsert", ResponseLostRate: 1}}}})
	body := `{"locationId":"sbx-location-1","email":"lost@example.com"}`
	req, _ := http.NewRequest("POST", e.srv.URL+"/contacts/upsert", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+locTok)
	req.Header.Set("Content-Type", "application/json")
	_, err := http.DefaultClient.Do(req)
	if err == nil {
		t.Fatal("the client should see a connection error")
	}
	found := false
	for _, c := range e.sb.Records("contacts") {
		found = found || c["email"] == "lost@example.com"
	}
	if !found {
		t.Fatal("the effect of the request is not in the store")
	}
	log := e.sb.Requests(0)
	if l := log[len(log)-1]; l.Fault != "response-lost" || l.Op != "contacts.upsert" {
		t.Errorf("request log: %+v", l)
	}
	// Other routes are unaffected.
	e.must(200, "GET", "/contacts/sbx-contact-1", locTok, nil)
}

func TestFaultTimeoutBeforeEffect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{Faults: FaultConfig{Rules: []FaultRule{{Route: "contacts.create", TimeoutBeforeEffectRate: 1, Hang: 50 * time.Millisecond}}}})
	req, _ := http.NewRequest("POST", e.srv.URL+"/contacts/", strings.NewReader(`{"locationId":"sbx-location-1","email":"hang@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+locTok)
	req.Header.Set("Content-Type", "application/json")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("want a connection error")
	}
	for _, c := range e.sb.Records("contacts") {
		if c["email"] == "hang@example.com" {
			t.Fatal("a timed-out request must have no effect")
		}
	}
}

func TestFaultStatusesAreSeeded(t *testing.T) {
	t.Parallel()
	run := func() []int {
		e := newEnv(t, Options{Faults: FaultConfig{Seed: 42, Rules: []FaultRule{{Route: "*", Status5xxRate: 0.5}}}})
		var out []int
		for i := 0; i < 30; i++ {
			out = append(out, e.do("GET", "/contacts/sbx-contact-1", locTok, nil).status)
		}
		return out
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	n5xx := 0
	for _, s := range a {
		if s >= 500 {
			n5xx++
			if s != 500 && s != 502 && s != 503 {
				t.Errorf("unexpected status %d", s)
			}
		}
	}
	if n5xx < 5 || n5xx > 25 {
		t.Errorf("%d of 30 requests failed at rate 0.5", n5xx)
	}
	// Burst429 answers the next N requests with 429, set at run time.
	e := newEnv(t, Options{})
	e.must(200, "PUT", "/_sandbox/faults", "", map[string]any{"rules": []any{map[string]any{"route": "GET /contacts/{contactId}", "burst429": 2, "latency": "1ms"}}})
	got := []int{}
	for i := 0; i < 3; i++ {
		got = append(got, e.do("GET", "/contacts/sbx-contact-1", locTok, nil).status)
	}
	if !slices.Equal(got, []int{429, 429, 200}) {
		t.Errorf("burst: %v", got)
	}
	if r := e.do("PUT", "/_sandbox/faults", "", map[string]any{"rules": []any{map[string]any{"route": "nope", "status5xxRate": 2}}}); r.status != 400 {
		t.Errorf("bad fault rule accepted: %s", r.raw)
	}
}

func TestWebhooksAreSignedAndVerify(t *testing.T) {
	t.Parallel()
	type delivery struct {
		body         []byte
		wh, ghl, typ string
	}
	got := make(chan delivery, 20)
	fails := 1
	var mu sync.Mutex
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 { // the first delivery fails and is retried
			fails--
			w.WriteHeader(503)
			return
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		got <- delivery{b, r.Header.Get("x-wh-signature"), r.Header.Get("x-ghl-signature"), fmt.Sprint(m["type"])}
	}))
	defer recv.Close()
	e := newEnv(t, Options{Webhooks: WebhookOptions{URL: recv.URL, Backoff: 10 * time.Millisecond}})
	keys := e.must(200, "GET", "/_sandbox/keys", "", nil)

	c := e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": "hook@example.com", "tags": []string{"t"}})
	id := sget(c.body, "contact.id")
	e.must(201, "POST", "/contacts/"+id+"/notes", locTok, map[string]any{"body": "n"})
	e.must(201, "POST", "/contacts/"+id+"/tags", locTok, map[string]any{"tags": []string{"u"}})

	blk, _ := pem.Decode([]byte(sget(keys.body, "rsaPublicKeyPem")))
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	edRaw, _ := base64.StdEncoding.DecodeString(sget(keys.body, "ed25519PublicKeyBase64"))
	var types []string
	for i := 0; i < 3; i++ {
		select {
		case d := <-got:
			types = append(types, d.typ)
			sum := sha256.Sum256(d.body)
			sig, _ := base64.StdEncoding.DecodeString(d.wh)
			if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
				t.Errorf("%s: x-wh-signature does not verify: %v", d.typ, err)
			}
			esig, _ := base64.StdEncoding.DecodeString(d.ghl)
			if !ed25519.Verify(ed25519.PublicKey(edRaw), d.body, esig) {
				t.Errorf("%s: x-ghl-signature does not verify", d.typ)
			}
			var m map[string]any
			json.Unmarshal(d.body, &m)
			if m["webhookId"] == "" || m["timestamp"] == nil || m["locationId"] != loc1 {
				t.Errorf("%s: missing common fields: %s", d.typ, d.body)
			}
			tampered := append([]byte{}, d.body...)
			tampered[len(tampered)-2] ^= 1
			if ed25519.Verify(ed25519.PublicKey(edRaw), tampered, esig) {
				t.Error("a tampered body verified")
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("webhooks received: %v", types)
		}
	}
	if !slices.Equal(types, []string{"ContactCreate", "NoteCreate", "ContactTagUpdate"}) {
		t.Errorf("webhook order: %v", types)
	}
	hist := e.sb.WebhookDeliveries()
	if len(hist) == 0 || hist[0].Attempts != 2 || !hist[0].Delivered {
		t.Errorf("first delivery should succeed on its second attempt: %+v", hist)
	}
}

func TestFreeSlotsAroundDST(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clk.Now})
	ny, _ := time.LoadLocation("America/New_York")
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	// Friday 6 March (EST, -05:00) to Monday 9 March (EDT, -04:00) 2026.
	from, to := time.Date(2026, 3, 6, 0, 0, 0, 0, ny), time.Date(2026, 3, 9, 23, 59, 0, 0, ny)
	r := e.must(200, "GET", "/calendars/sbx-calendar-1/free-slots?startDate="+ms(from)+"&endDate="+ms(to), locTok, nil)
	fri, mon := toStrings(get(r.body, "2026-03-06.slots")), toStrings(get(r.body, "2026-03-09.slots"))
	if len(fri) != 16 || len(mon) != 16 || len(r.body) != 2 {
		t.Fatalf("want 16 slots on Friday and Monday only: %s", r.raw)
	}
	if fri[0] != "2026-03-06T09:00:00-05:00" || mon[0] != "2026-03-09T09:00:00-04:00" || mon[15] != "2026-03-09T16:30:00-04:00" {
		t.Errorf("slots: fri %v mon %v", fri[:2], mon)
	}
	// In another zone the same instants are shown with that zone's offset.
	r = e.must(200, "GET", "/calendars/sbx-calendar-1/free-slots?startDate="+ms(from)+"&endDate="+ms(to)+"&timezone=Europe/Lisbon", locTok, nil)
	if got := toStrings(get(r.body, "2026-03-09.slots")); got[0] != "2026-03-09T13:00:00Z" && got[0] != "2026-03-09T13:00:00+00:00" {
		t.Errorf("Lisbon slots: %v", got[:1])
	}
	// A booked appointment and a blocked slot take their slots away.
	e.must(200, "POST", "/calendars/events/appointments", locTok, map[string]any{"locationId": loc1, "calendarId": "sbx-calendar-1",
		"contactId": "sbx-contact-1", "startTime": "2026-03-09T09:00:00-04:00"})
	e.must(201, "POST", "/calendars/events/block-slots", locTok, map[string]any{"locationId": loc1, "calendarId": "sbx-calendar-1",
		"startTime": "2026-03-09T12:00:00-04:00", "endTime": "2026-03-09T13:00:00-04:00"})
	r = e.must(200, "GET", "/calendars/sbx-calendar-1/free-slots?startDate="+ms(from)+"&endDate="+ms(to), locTok, nil)
	mon = toStrings(get(r.body, "2026-03-09.slots"))
	if len(mon) != 13 || mon[0] != "2026-03-09T09:30:00-04:00" || slices.Contains(mon, "2026-03-09T12:30:00-04:00") {
		t.Errorf("after booking and blocking: %v", mon)
	}
	// Booking a taken slot fails like GHL.
	taken := e.do("POST", "/calendars/events/appointments", locTok, map[string]any{"locationId": loc1, "calendarId": "sbx-calendar-1",
		"contactId": "sbx-contact-1", "startTime": "2026-03-09T09:00:00-04:00"})
	if taken.status != 400 || sget(taken.body, "message") != "The slot you have selected is no longer available." {
		t.Errorf("double booking: %d %s", taken.status, taken.raw)
	}
	// Wall times that do not exist are skipped: 02:00-02:59 on 8 March.
	e.must(200, "PUT", "/calendars/sbx-calendar-1", locTok, map[string]any{"openHours": []any{map[string]any{"daysOfTheWeek": []int{0},
		"hours": []any{map[string]any{"openHour": 1, "openMinute": 0, "closeHour": 4, "closeMinute": 0}}}}})
	r = e.must(200, "GET", "/calendars/sbx-calendar-1/free-slots?startDate="+ms(from)+"&endDate="+ms(to), locTok, nil)
	want := []string{"2026-03-08T01:00:00-05:00", "2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"}
	if diff := cmp.Diff(want, toStrings(get(r.body, "2026-03-08.slots"))); diff != "" {
		t.Errorf("spring-forward day (-want +got):\n%s", diff)
	}
	// The window may not pass 31 days.
	r = e.do("GET", "/calendars/sbx-calendar-1/free-slots?startDate="+ms(from)+"&endDate="+ms(from.AddDate(0, 0, 32)), locTok, nil)
	if r.status != 422 {
		t.Errorf("32-day window: %d %s", r.status, r.raw)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clk.Now})
	var ids []string
	for i := 0; i < 23; i++ {
		clk.Add(time.Second)
		c := e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": fmt.Sprintf("p%02d@example.com", i)})
		ids = append(ids, sget(c.body, "contact.id"))
	}
	all := len(ids) + 1 // plus the seeded contact

	t.Run("startAfter and startAfterId", func(t *testing.T) {
		var seen []string
		q := "/contacts/?locationId=" + loc1 + "&limit=10"
		for pages := 0; ; pages++ {
			r := e.must(200, "GET", q, locTok, nil)
			for _, c := range asList(get(r.body, "contacts")) {
				seen = append(seen, sget(c, "id"))
			}
			if get(r.body, "meta.startAfterId") == nil {
				break
			}
			q = fmt.Sprintf("/contacts/?locationId=%s&limit=10&startAfter=%.0f&startAfterId=%s", loc1, get(r.body, "meta.startAfter"), sget(r.body, "meta.startAfterId"))
			if pages > 5 {
				t.Fatal("does not end")
			}
		}
		if len(seen) != all || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != all || seen[0] != ids[len(ids)-1] {
			t.Errorf("pages returned %d contacts (want %d, newest first): %v", len(seen), all, seen)
		}
		r := e.do("GET", "/contacts/?locationId="+loc1+"&startAfter=1893456000000", locTok, nil)
		if r.status != 422 {
			t.Errorf("startAfter without startAfterId: %d %s", r.status, r.raw)
		}
	})
	t.Run("page and searchAfter", func(t *testing.T) {
		r := e.must(200, "POST", "/contacts/search", locTok, map[string]any{"locationId": loc1, "pageLimit": 10, "page": 3})
		if n := len(asList(get(r.body, "contacts"))); n != all-20 || get(r.body, "total") != float64(all) {
			t.Errorf("page 3: %d contacts, total %v", n, get(r.body, "total"))
		}
		var seen []string
		body := map[string]any{"locationId": loc1, "pageLimit": 7}
		for {
			r := e.must(200, "POST", "/contacts/search", locTok, body)
			cs := asList(get(r.body, "contacts"))
			if len(cs) == 0 {
				break
			}
			for _, c := range cs {
				seen = append(seen, sget(c, "id"))
			}
			body["searchAfter"] = get(cs[len(cs)-1], "searchAfter")
		}
		if len(seen) != all || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != all {
			t.Errorf("searchAfter paging returned %d of %d", len(seen), all)
		}
		if r := e.do("POST", "/contacts/search", locTok, map[string]any{"locationId": loc1, "pageLimit": 100, "page": 101}); r.status != 422 {
			t.Errorf("page * pageLimit over 10000: %d", r.status)
		}
		if r := e.do("POST", "/contacts/search", locTok, map[string]any{"locationId": loc1}); r.status != 422 {
			t.Errorf("missing pageLimit: %d", r.status)
		}
	})
	t.Run("skip and limit", func(t *testing.T) {
		var got []string
		for skip := 0; ; skip += 1 {
			r := e.must(200, "GET", fmt.Sprintf("/users/search?companyId=sbx-company-1&skip=%d&limit=1", skip), locTok, nil)
			us := asList(get(r.body, "users"))
			if len(us) == 0 {
				break
			}
			got = append(got, sget(us[0], "id"))
		}
		if !slices.Equal(got, []string{"sbx-user-1", "sbx-user-2"}) {
			t.Errorf("users by skip: %v", got)
		}
	})
	t.Run("offset and limit with hasMore", func(t *testing.T) {
		a := e.must(200, "POST", "/calendars/events/appointments", locTok, map[string]any{"locationId": loc1, "calendarId": "sbx-calendar-1",
			"contactId": "sbx-contact-1", "startTime": "2030-01-07T10:00:00-05:00"})
		id := sget(a.body, "id")
		for i := 0; i < 5; i++ {
			clk.Add(time.Second)
			e.must(201, "POST", "/calendars/appointments/"+id+"/notes", locTok, map[string]any{"body": fmt.Sprint(i)})
		}
		var bodies []string
		more := true
		for off := 0; more; off += 2 {
			r := e.must(200, "GET", fmt.Sprintf("/calendars/appointments/%s/notes?limit=2&offset=%d", id, off), locTok, nil)
			for _, n := range asList(get(r.body, "notes")) {
				bodies = append(bodies, sget(n, "body"))
			}
			more = get(r.body, "hasMore") == true
		}
		if !slices.Equal(bodies, []string{"4", "3", "2", "1", "0"}) {
			t.Errorf("notes by offset: %v", bodies)
		}
	})
	t.Run("lastMessageId", func(t *testing.T) {
		var got []string
		q := "/conversations/sbx-conversation-1/messages?limit=2"
		for {
			r := e.must(200, "GET", q, locTok, nil)
			for _, m := range asList(get(r.body, "messages.messages")) {
				got = append(got, sget(m, "id"))
			}
			if get(r.body, "messages.nextPage") != true {
				break
			}
			q = "/conversations/sbx-conversation-1/messages?limit=2&lastMessageId=" + sget(r.body, "messages.lastMessageId")
		}
		if !slices.Equal(got, []string{"sbx-message-3", "sbx-message-2", "sbx-message-1"}) {
			t.Errorf("messages: %v", got)
		}
		if r := e.do("GET", "/conversations/sbx-conversation-1/messages?lastMessageId=nope", locTok, nil); r.status != 400 {
			t.Errorf("unknown cursor: %d", r.status)
		}
	})
	t.Run("startAfterDate", func(t *testing.T) {
		r := e.must(200, "GET", "/conversations/search?locationId="+loc1+"&limit=1", locTok, nil)
		cs := asList(get(r.body, "conversations"))
		if len(cs) != 1 || get(r.body, "total") != float64(1) {
			t.Fatalf("search: %s", r.raw)
		}
		after := get(cs[0], "sort.0").(float64)
		r = e.must(200, "GET", fmt.Sprintf("/conversations/search?locationId=%s&limit=1&startAfterDate=%.0f", loc1, after), locTok, nil)
		if len(asList(get(r.body, "conversations"))) != 0 {
			t.Errorf("past the last conversation: %s", r.raw)
		}
	})
}

func TestPersistSurvivesRestart(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "state.json")
	sb, err := New(Options{PersistFile: file})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	e := &env{t: t, sb: sb, srv: srv}
	c := e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": "kept@example.com"})
	tok := oauthInstall(t, e, "location:"+loc1)
	keys := sb.Keys()
	srv.Close()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	raw := readFile(t, file)
	if strings.Contains(raw, tok["access_token"].(string)) || strings.Contains(raw, tok["refresh_token"].(string)) {
		t.Error("the persist file holds a usable token")
	}

	e2 := newEnv(t, Options{PersistFile: file})
	e2.must(200, "GET", "/contacts/"+sget(c.body, "contact.id"), locTok, nil)
	e2.must(200, "GET", "/contacts/"+sget(c.body, "contact.id"), tok["access_token"].(string), nil)
	if e2.sb.Keys() != keys {
		t.Error("webhook keys changed across a restart")
	}
	// New ids continue the sequence instead of colliding.
	d := e2.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": "next@example.com"})
	if sget(d.body, "contact.id") == sget(c.body, "contact.id") {
		t.Error("id reused after restart")
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := readAll(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": "admin@example.com"})
	st := e.must(200, "GET", "/_sandbox/store?kind=contacts", "", nil)
	if get(st.body, "count") != float64(2) {
		t.Errorf("store: %s", st.raw)
	}
	reqs := e.must(200, "GET", "/_sandbox/requests", "", nil)
	if strings.Contains(string(reqs.raw), locTok) {
		t.Error("the request log holds a token")
	}
	first := asList(get(reqs.body, "requests"))[0]
	if sget(first, "op") != "contacts.create" || get(first, "status") != float64(201) || sget(first, "method") != "POST" {
		t.Errorf("request log entry: %v", first)
	}
	tk := e.must(201, "POST", "/_sandbox/tokens", "", map[string]any{"locationId": loc1, "scopes": []string{"contacts.readonly"}})
	e.must(200, "GET", "/contacts/sbx-contact-1", sget(tk.body, "token"), nil)
	e.must(401, "GET", "/opportunities/pipelines?locationId="+loc1, sget(tk.body, "token"), nil)
	e.must(400, "POST", "/_sandbox/tokens", "", map[string]any{"locationId": "nope"})
	e.must(200, "POST", "/_sandbox/reset", "", nil)
	st = e.must(200, "GET", "/_sandbox/store?kind=contacts", "", nil)
	if get(st.body, "count") != float64(1) {
		t.Errorf("after reset: %s", st.raw)
	}
	e.must(404, "GET", "/_sandbox/nothing", "", nil)
}

func TestSeedErrorsNameTheField(t *testing.T) {
	t.Parallel()
	cases := []struct{ yaml, want string }{
		{"locations: []", "locations: at least one location is required"},
		{"locations: [{id: l1, timezone: Mars/Base}]", `locations[0].timezone "Mars/Base" is not an IANA time zone`},
		{"locations: [{id: l1}]\ntokens: [{token: t, locationId: l2}]", `tokens[0].locationId "l2" is not a location of the seed`},
		{"locations: [{id: l1}]\nrecords: {gadgets: [{id: g}]}", "records.gadgets: unknown kind"},
		{"locations: [{id: l1}]\nrecords: {customFields: [{id: f, name: F, dataType: COLOUR}]}", `records.customFields[0]: dataType "COLOUR"`},
		{"locations: [{id: l1}]\nbogus: 1", `line 2: unknown key "bogus"`},
	}
	for _, c := range cases {
		s, err := ParseSeed("test.yaml", []byte(c.yaml))
		if err == nil {
			_, err = s.build(time.Now())
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "test.yaml") {
			t.Errorf("seed %q: error %v, want it to mention %q and the file", c.yaml, err, c.want)
		}
	}
}

func TestDefaultSeedValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	l := e.must(200, "GET", "/locations/"+loc1, locTok, nil)
	if sget(l.body, "location.timezone") != "America/New_York" || sget(l.body, "location.companyId") != "sbx-company-1" {
		t.Errorf("location: %s", l.raw)
	}
	cf := e.must(200, "GET", "/locations/"+loc1+"/customFields?model=contact", locTok, nil)
	byKey := map[string]map[string]any{}
	for _, f := range asList(get(cf.body, "customFields")) {
		byKey[sget(f, "fieldKey")] = f.(map[string]any)
	}
	if f := byKey["contact.resumo"]; f["name"] != "Resumo" || f["dataType"] != "TEXT" {
		t.Errorf("contact.resumo: %v", f)
	}
	if f := byKey["contact.deal_value"]; f["name"] != "Deal Value" || f["dataType"] != "MONETORY" {
		t.Errorf("contact.deal_value: %v", f)
	}
	e.must(200, "GET", "/calendars/sbx-calendar-1", locTok, nil)
	e.must(200, "GET", "/users/sbx-user-1", locTok, nil)
	p := e.must(200, "GET", "/opportunities/pipelines?locationId="+loc1, locTok, nil)
	if sget(p.body, "pipelines.0.id") != "sbx-pipeline-1" || len(asList(get(p.body, "pipelines.0.stages"))) < 2 {
		t.Errorf("pipelines: %s", p.raw)
	}
	e.must(200, "GET", "/companies/sbx-company-1", agencyTok, nil)
	in := e.sb.Info()
	if in.Apps[0].ClientID != "sandbox-client-id" || in.Apps[0].ClientSecret != "sandbox-client-secret" {
		t.Errorf("apps: %+v", in.Apps)
	}
}

func readAll(p string) ([]byte, error) { return os.ReadFile(p) }

func TestJSONSeed(t *testing.T) {
	t.Parallel()
	seed := `{"companies":[{"id":"co"}],"locations":[{"id":"l","companyId":"co","timezone":"Europe/Lisbon","duplicateRule":"phone-then-email"}],
	"tokens":[{"token":"tok-l","locationId":"l","scopes":["contacts.readonly","contacts.write"]}],
	"records":{"contacts":[{"id":"c1","email":"X@Y.com","phone":"+351 912 345 678"}]}}`
	file := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(file, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{SeedFile: file})
	r := e.must(200, "GET", "/contacts/c1", "tok-l", nil)
	if sget(r.body, "contact.phone") != "+351912345678" || sget(r.body, "contact.emailLowerCase") != "x@y.com" {
		t.Errorf("seeded contact: %s", r.raw)
	}
	e.must(401, "GET", "/opportunities/pipelines?locationId=l", "tok-l", nil)
	e.must(401, "GET", "/contacts/c1", locTok, nil) // the default seed is not loaded
}

func TestBulkTagsAnswerPerContactObjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	c := e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": "bulk@example.com", "tags": []string{"old", "keep"}})
	id := sget(c.body, "contact.id")
	r := e.must(201, "POST", "/contacts/bulk/tags/update/add", locTok, map[string]any{"locationId": loc1, "contacts": []string{id, "nope"}, "tags": []string{"new", "keep"}})
	want := map[string]any{
		"succeded": false, "errorCount": float64(1),
		"responses": []any{
			map[string]any{"contactId": id, "message": "Tags updated", "type": "success", "oldTags": []any{"old", "keep"}, "tagsAdded": []any{"new"}, "tagsRemoved": []any{}},
			map[string]any{"contactId": "nope", "message": "contact not found", "type": "error"},
		},
	}
	if diff := cmp.Diff(want, r.body); diff != "" {
		t.Errorf("add (-want +got):\n%s", diff)
	}
	r = e.must(201, "POST", "/contacts/bulk/tags/update/remove", locTok, map[string]any{"locationId": loc1, "contacts": []string{id}, "tags": []string{}, "removeAllTags": true})
	if got := get(r.body, "responses"); !cmp.Equal(got, []any{map[string]any{"contactId": id, "message": "Tags updated", "type": "success",
		"oldTags": []any{"old", "keep", "new"}, "tagsAdded": []any{}, "tagsRemoved": []any{"old", "keep", "new"}}}) {
		t.Errorf("removeAllTags responses = %v", got)
	}
	r = e.do("POST", "/contacts/bulk/tags/update/add", locTok, map[string]any{"locationId": loc1, "contacts": []string{id}, "tags": []string{"x"}, "removeAllTags": false})
	if r.status != 422 || !strings.Contains(string(r.raw), "removeAllTags can only be used with type remove") {
		t.Errorf("removeAllTags with add: %d %s", r.status, r.raw)
	}
}

func TestEscapedSlashStaysInPathValue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.do("GET", "/contacts/a%2Fb", locTok, nil)
	if r.status != 404 || strings.Contains(string(r.raw), "Cannot GET") {
		t.Errorf("GET /contacts/a%%2Fb: %d %s, want the contact's own 404", r.status, r.raw)
	}
	// Unescaped paths route as before; a real "/" still splits segments.
	e.must(200, "GET", "/contacts/sbx-contact-1", locTok, nil)
	r = e.do("GET", "/contacts/a/b", locTok, nil)
	if r.status != 404 || !strings.Contains(string(r.raw), "Cannot GET /contacts/a/b") {
		t.Errorf("GET /contacts/a/b: %d %s", r.status, r.raw)
	}
}

func TestOpportunitySearchOrder(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, Options{Now: clk.Now})
	for _, n := range []string{"first", "second"} {
		clk.Add(time.Minute)
		c := e.must(201, "POST", "/contacts/", locTok, map[string]any{"locationId": loc1, "email": n + "@example.com"})
		e.must(201, "POST", "/opportunities/", locTok, map[string]any{"locationId": loc1, "pipelineId": "sbx-pipeline-1", "name": "Order " + n, "status": "open", "contactId": sget(c.body, "contact.id")})
	}
	names := func(order string) []string {
		r := e.must(200, "GET", "/opportunities/search?location_id="+loc1+"&q=Order&order="+order, locTok, nil)
		var out []string
		for _, o := range get(r.body, "opportunities").([]any) {
			out = append(out, sget(o, "name"))
		}
		return out
	}
	if got := names("added_asc"); !cmp.Equal(got, []string{"Order first", "Order second"}) {
		t.Errorf("added_asc: %v", got)
	}
	if got := names("added_desc"); !cmp.Equal(got, []string{"Order second", "Order first"}) {
		t.Errorf("added_desc: %v", got)
	}
	for _, bad := range []string{"updated_desc", "bogus"} {
		r := e.do("GET", "/opportunities/search?location_id="+loc1+"&order="+bad, locTok, nil)
		if r.status != 422 || !strings.Contains(string(r.raw), "order must be one of the following values: added_asc, added_desc") {
			t.Errorf("order=%s: %d %s", bad, r.status, r.raw)
		}
	}
}

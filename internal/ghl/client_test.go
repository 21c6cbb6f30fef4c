package ghl

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type seenRequest struct {
	Method, Path, RawQuery, Body string
	Header                       http.Header
}

// recorder answers with a fixed status/body and records requests.
type recorder struct {
	mu   sync.Mutex
	reqs []seenRequest
}

func (rec *recorder) server(t *testing.T, status int, body string, hdr map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, seenRequest{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Clone()})
		rec.mu.Unlock()
		for k, v := range hdr {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (rec *recorder) all() []seenRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seenRequest(nil), rec.reqs...)
}

func TestDoBuildsRequests(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                      string
		op                        string
		p                         Params
		method, path, query, body string
		version, ctype            string
	}{
		{
			name: "path escaping and version", op: "contacts.get",
			p:      Params{Path: map[string]string{"contactId": "a b/c?d"}},
			method: "GET", path: "/contacts/a%20b%2Fc%3Fd", version: "2021-07-28",
		},
		{
			name: "calendar version and query", op: "calendars.list",
			p:      Params{Query: url.Values{"groupId": {"g1"}}},
			method: "GET", path: "/calendars/", query: "groupId=g1&locationId=loc1", version: "2021-04-15",
		},
		{
			name: "json body with location filled", op: "contacts.upsert",
			p:      Params{Body: map[string]any{"email": "a@b.co"}},
			method: "POST", path: "/contacts/upsert", body: `{"email":"a@b.co","locationId":"loc1"}`, version: "2021-07-28", ctype: "application/json",
		},
		{
			name: "raw json body kept", op: "contacts.addTags",
			p:      Params{Path: map[string]string{"contactId": "c1"}, Body: json.RawMessage(`{"tags":["x"]}`)},
			method: "POST", path: "/contacts/c1/tags", body: `{"tags":["x"]}`, version: "2021-07-28", ctype: "application/json",
		},
		{
			name: "delete with body", op: "contacts.removeTags",
			p:      Params{Path: map[string]string{"contactId": "c1"}, Body: map[string]any{"tags": []string{"x"}}},
			method: "DELETE", path: "/contacts/c1/tags", body: `{"tags":["x"]}`, version: "2021-07-28", ctype: "application/json",
		},
		{
			name: "snake case location on opportunities", op: "opportunities.search",
			p:      Params{Query: url.Values{"status": {"open"}}},
			method: "GET", path: "/opportunities/search", query: "location_id=loc1&status=open", version: "2021-07-28",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := rec.server(t, 200, `{"ok":true,"traceId":"tr-1"}`, nil)
			c := New(Config{BaseURL: srv.URL, UserAgent: "ghlsync/test"}, StaticToken(testToken), "loc1")
			resp, err := c.Do(context.Background(), tc.op, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if resp.TraceID != "tr-1" || resp.Attempts != 1 || resp.Op == nil || resp.Op.ID != tc.op {
				t.Errorf("response = %+v", resp)
			}
			got := rec.all()[0]
			want := seenRequest{Method: tc.method, Path: tc.path, RawQuery: tc.query, Body: tc.body}
			if diff := cmp.Diff(want, seenRequest{got.Method, got.Path, got.RawQuery, got.Body, nil}); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			for k, v := range map[string]string{
				"Authorization": "Bearer " + testToken, "Version": tc.version, "Accept": "application/json",
				"User-Agent": "ghlsync/test", "Content-Type": tc.ctype,
			} {
				if got.Header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, got.Header.Get(k), v)
				}
			}
		})
	}
}

func TestDoRefusesBadInputBeforeSending(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := rec.server(t, 200, `{}`, nil)
	c := New(Config{BaseURL: srv.URL}, StaticToken(testToken), "")
	cases := []struct {
		op   string
		p    Params
		want string
	}{
		{"contacts.get", Params{}, "missing path parameter contactId"},
		{"calendars.list", Params{}, "missing required query parameter locationId"},
		{"contacts.gett", Params{}, `unknown operation "contacts.gett" (did you mean contacts.get`},
	}
	for _, tc := range cases {
		_, err := c.Do(context.Background(), tc.op, tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.op, err, tc.want)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d requests sent for invalid calls", n)
	}
}

func TestAPIErrorDecoding(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		status int
		body   string
		want   APIError
	}{
		{"message array (422)", 422, `{"statusCode":422,"message":["email must be an email","phone must be a valid phone number"],"error":"Unprocessable Entity","traceId":"t-422"}`,
			APIError{Status: 422, Message: "email must be an email; phone must be a valid phone number", Messages: []string{"email must be an email", "phone must be a valid phone number"}, ErrorText: "Unprocessable Entity", TraceID: "t-422", Op: "contacts.upsert", Attempts: 1}},
		{"message string (400)", 400, `{"statusCode":400,"message":"Bad Request"}`,
			APIError{Status: 400, Message: "Bad Request", Messages: []string{"Bad Request"}, Op: "contacts.upsert", Attempts: 1}},
		{"error only (401)", 401, `{"statusCode":401,"message":"Invalid token: access token is invalid","error":"Unauthorized"}`,
			APIError{Status: 401, Message: "Invalid token: access token is invalid", Messages: []string{"Invalid token: access token is invalid"}, ErrorText: "Unauthorized", Op: "contacts.upsert", Attempts: 1}},
		{"v3 envelope", 404, `{"error":{"code":"RESOURCE_NOT_FOUND","message":"Contact not found"}}`,
			APIError{Status: 404, Message: "Contact not found", Messages: []string{"Contact not found"}, ErrorText: "RESOURCE_NOT_FOUND", Op: "contacts.upsert", Attempts: 1}},
		{"plain text", 400, "upstream said no\n",
			APIError{Status: 400, Message: "upstream said no", Messages: []string{"upstream said no"}, Op: "contacts.upsert", Attempts: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv := rec.server(t, tc.status, tc.body, nil)
			c := testClient(srv.URL, nil, "loc1")
			resp, err := c.Do(context.Background(), "contacts.upsert", Params{Body: map[string]any{"email": "x"}})
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if diff := cmp.Diff(tc.want, *ae); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if resp == nil || resp.Status != tc.status {
				t.Errorf("response with the error = %+v", resp)
			}
			if n := len(rec.all()); n != 1 {
				t.Errorf("%d requests, want 1 (4xx is permanent)", n)
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	t.Parallel()
	e := &APIError{Status: 422, Message: "a; b", TraceID: "t1", Op: "contacts.upsert"}
	if got, want := e.Error(), "ghl contacts.upsert: 422 Unprocessable Entity: a; b (traceId t1)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	for status, want := range map[int]bool{400: false, 404: false, 408: true, 422: false, 429: true, 500: true, 503: true} {
		if (&APIError{Status: status}).Transient() != want {
			t.Errorf("Transient(%d) != %v", status, want)
		}
	}
}

// statusSequence serves the given statuses in order, then 200.
func statusSequence(t *testing.T, statuses []int, hdr map[string]string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		i := int(n.Add(1)) - 1
		if i < len(statuses) {
			for k, v := range hdr {
				w.Header().Set(k, v)
			}
			w.WriteHeader(statuses[i])
			io.WriteString(w, `{"statusCode":`+http.StatusText(statuses[i])+`}`)
			return
		}
		io.WriteString(w, `{"contact":{"id":"c1"},"new":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRetries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		op       string // contacts.get is safe, contacts.create is reconcile, contacts.addToCampaign unsafe
		statuses []int
		wantN    int32
		wantErr  string // "" ok, "api", "unknown"
	}{
		{"safe: 429 then ok", "contacts.get", []int{429}, 2, ""},
		{"safe: 502 503 504 then ok", "contacts.get", []int{502, 503, 504}, 4, ""},
		{"safe: gives up after max attempts", "contacts.get", []int{503, 503, 503, 503, 503}, 4, "api"},
		{"safe: 500 is not retried", "contacts.get", []int{500}, 1, "api"},
		{"safe: 404 is permanent", "contacts.get", []int{404}, 1, "api"},
		{"unsafe: 429 is retried (never processed)", "contacts.create", []int{429, 429}, 3, ""},
		{"unsafe: 502 is an unknown outcome", "contacts.create", []int{502}, 1, "unknown"},
		{"unsafe: 504 is an unknown outcome", "contacts.addToCampaign", []int{504}, 1, "unknown"},
		{"unsafe: 422 is permanent", "contacts.create", []int{422}, 1, "api"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, n := statusSequence(t, tc.statuses, nil)
			c := New(Config{BaseURL: srv.URL, Retry: fastRetry, Limiter: NewLimiter(LimiterOptions{Disabled: true})}, StaticToken(testToken), "loc1")
			p := Params{Path: map[string]string{"contactId": "c1", "campaignId": "k1"}, Body: map[string]any{"email": "a@b.co"}}
			_, err := c.Do(context.Background(), tc.op, p)
			if got := n.Load(); got != tc.wantN {
				t.Errorf("requests = %d, want %d", got, tc.wantN)
			}
			var ae *APIError
			var ou *OutcomeUnknownError
			switch tc.wantErr {
			case "":
				if err != nil {
					t.Errorf("err = %v", err)
				}
			case "api":
				if !errors.As(err, &ae) || errors.As(err, &ou) {
					t.Errorf("err = %T %v, want *APIError", err, err)
				}
			case "unknown":
				if !errors.As(err, &ou) || ou.Op != tc.op || !errors.As(err, &ae) {
					t.Errorf("err = %T %v, want *OutcomeUnknownError wrapping the APIError", err, err)
				}
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	srv, n := statusSequence(t, []int{503}, map[string]string{"Retry-After": "1"})
	c := New(Config{BaseURL: srv.URL, Retry: fastRetry}, StaticToken(testToken), "loc1")
	start := time.Now()
	if _, err := c.Do(context.Background(), "contacts.get", Params{Path: map[string]string{"contactId": "c1"}}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %s, want >= Retry-After 1s", d)
	}
	if n.Load() != 2 {
		t.Errorf("requests = %d", n.Load())
	}
}

func TestRetryAfter429BlocksTheLimiter(t *testing.T) {
	t.Parallel()
	srv, n := statusSequence(t, []int{429}, map[string]string{"Retry-After": "1"})
	c := New(Config{BaseURL: srv.URL, Retry: fastRetry}, StaticToken(testToken), "loc1")
	start := time.Now()
	if _, err := c.Do(context.Background(), "contacts.create", Params{Body: map[string]any{"email": "a@b.co"}}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %s, want >= Retry-After 1s", d)
	}
	if n.Load() != 2 {
		t.Errorf("requests = %d", n.Load())
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	t.Parallel()
	srv, _ := statusSequence(t, []int{503, 503}, map[string]string{"Retry-After": "30"})
	c := New(Config{BaseURL: srv.URL, Retry: fastRetry}, StaticToken(testToken), "loc1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, "contacts.get", Params{Path: map[string]string{"contactId": "c1"}})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 503 || ae.RetryAfter != 30*time.Second {
		t.Errorf("err = %v, want the 503 with its Retry-After", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("waited %s although Retry-After passes the deadline", time.Since(start))
	}
}

func TestNeverSentIsRetriedEvenWhenUnsafe(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: the dial fails, so the request provably
	// never reached a server, and even an unsafe op may be sent again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs syncBuffer
	c := New(Config{BaseURL: "http://" + addr, Retry: fastRetry, Logger: debugLogger(&logs)}, StaticToken(testToken), "loc1")
	_, err = c.Do(context.Background(), "contacts.addToCampaign", Params{Path: map[string]string{"contactId": "c1", "campaignId": "k1"}})
	var ou *OutcomeUnknownError
	if err == nil || errors.As(err, &ou) {
		t.Fatalf("err = %v, want a plain connection error", err)
	}
	if got := strings.Count(logs.String(), "ghl request failed"); got != fastRetry.MaxAttempts {
		t.Errorf("attempts logged = %d, want %d\n%s", got, fastRetry.MaxAttempts, logs.String())
	}
	if strings.Contains(logs.String(), testToken) || strings.Contains(err.Error(), testToken) {
		t.Error("token leaked")
	}
}

// hangServer accepts the request and never answers in time.
func hangServer(t *testing.T, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

func TestTimeoutAfterSend(t *testing.T) {
	t.Parallel()
	cases := []struct {
		op          string
		wantHits    int32
		wantUnknown bool
	}{
		{"contacts.get", int32(fastRetry.MaxAttempts), false}, // safe: retried
		{"contacts.create", 1, true},                          // reconcile: not repeated
		{"contacts.addToCampaign", 1, true},                   // unsafe: not repeated
	}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int32
			srv := hangServer(t, &hits)
			hc := &http.Client{Timeout: 100 * time.Millisecond}
			c := New(Config{BaseURL: srv.URL, Retry: fastRetry, HTTPClient: hc}, StaticToken(testToken), "loc1")
			_, err := c.Do(context.Background(), tc.op, Params{Path: map[string]string{"contactId": "c1", "campaignId": "k1"}, Body: map[string]any{"email": "a@b.co"}})
			if err == nil {
				t.Fatal("no error")
			}
			var ou *OutcomeUnknownError
			if errors.As(err, &ou) != tc.wantUnknown {
				t.Errorf("err = %T %v, unknown outcome want %v", err, err, tc.wantUnknown)
			}
			if hits.Load() != tc.wantHits {
				t.Errorf("requests = %d, want %d", hits.Load(), tc.wantHits)
			}
		})
	}
}

func TestContextCancelAfterSendIsUnknownForUnsafe(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := hangServer(t, &hits)
	c := New(Config{BaseURL: srv.URL, Retry: fastRetry}, StaticToken(testToken), "loc1")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, "contacts.create", Params{Body: map[string]any{"email": "a@b.co"}})
	var ou *OutcomeUnknownError
	if !errors.As(err, &ou) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want OutcomeUnknownError wrapping DeadlineExceeded", err)
	}
}

// refreshingSource hands out "old" until refreshed.
type refreshingSource struct {
	mu        sync.Mutex
	tok       string
	refreshes int
	rejected  string
}

func (s *refreshingSource) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok, nil
}

func (s *refreshingSource) Refresh(_ context.Context, rejected string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	s.rejected = rejected
	s.tok = "tok-new"
	return s.tok, nil
}

func TestRefreshAfter401(t *testing.T) {
	t.Parallel()
	var auths []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok-new" {
			w.WriteHeader(401)
			io.WriteString(w, `{"statusCode":401,"message":"Invalid token: access token is invalid","error":"Unauthorized"}`)
			return
		}
		io.WriteString(w, `{"contact":{"id":"c1"}}`)
	}))
	defer srv.Close()
	src := &refreshingSource{tok: "tok-old"}
	c := New(Config{BaseURL: srv.URL, Retry: fastRetry}, src, "loc1")
	// Even an unsafe op is resent after a 401: GHL did nothing with it.
	resp, err := c.Do(context.Background(), "contacts.create", Params{Body: map[string]any{"email": "a@b.co"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Attempts != 2 || src.refreshes != 1 || src.rejected != "tok-old" {
		t.Errorf("attempts %d refreshes %d rejected %q", resp.Attempts, src.refreshes, src.rejected)
	}
	if diff := cmp.Diff([]string{"Bearer tok-old", "Bearer tok-new"}, auths); diff != "" {
		t.Errorf("auth headers (-want +got):\n%s", diff)
	}

	// A second 401 after the refresh is returned, not looped on.
	src2 := &refreshingSource{tok: "tok-old"}
	srv2, n := statusSequence(t, []int{401, 401, 401}, nil)
	c2 := New(Config{BaseURL: srv2.URL, Retry: fastRetry}, src2, "loc1")
	_, err = c2.Do(context.Background(), "contacts.get", Params{Path: map[string]string{"contactId": "c1"}})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || n.Load() != 2 || src2.refreshes != 1 {
		t.Errorf("err %v, requests %d, refreshes %d; want 401 after 2 requests and 1 refresh", err, n.Load(), src2.refreshes)
	}
}

func TestTokenNeverInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	// The server echoes the Authorization header in its error message, as a
	// misbehaving proxy might.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"statusCode":400,"message":["bad header `+r.Header.Get("Authorization")+`"],"error":"`+r.Header.Get("Authorization")+`"}`)
	}))
	defer srv.Close()
	var logs syncBuffer
	c := New(Config{BaseURL: srv.URL, Retry: fastRetry, Logger: debugLogger(&logs)}, StaticToken(testToken), "loc1")
	var errs []error
	_, err := c.Do(context.Background(), "contacts.get", Params{Path: map[string]string{"contactId": "c1"}})
	errs = append(errs, err)
	_, err = c.Raw(context.Background(), "GET", "/contacts/c1", Params{})
	errs = append(errs, err)
	// Transport error path.
	c2 := New(Config{BaseURL: "http://127.0.0.1:1", Retry: RetryPolicy{MaxAttempts: 1}, Logger: debugLogger(&logs)}, StaticToken(testToken), "loc1")
	_, err = c2.Do(context.Background(), "contacts.get", Params{Path: map[string]string{"contactId": "c1"}})
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Fatalf("call %d: no error", i)
		}
		if strings.Contains(err.Error(), testToken) {
			t.Errorf("call %d: token in error: %v", i, err)
		}
		var ae *APIError
		if errors.As(err, &ae) {
			for _, m := range append([]string{ae.ErrorText}, ae.Messages...) {
				if strings.Contains(m, testToken) {
					t.Errorf("call %d: token in APIError field %q", i, m)
				}
			}
		}
	}
	if strings.Contains(logs.String(), testToken) {
		t.Errorf("token in logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "ghl request") {
		t.Error("expected debug logs to exist (so the check above means something)")
	}
}

func TestLegacyKeyRefused(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := rec.server(t, 200, `{}`, nil)
	c := New(Config{BaseURL: srv.URL}, StaticToken(legacyKey), "loc1")
	_, err := c.Do(context.Background(), "contacts.get", Params{Path: map[string]string{"contactId": "c1"}})
	if !errors.Is(err, ErrLegacyAPIKey) || !strings.Contains(err.Error(), "Private Integration Token") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), legacyKey) {
		t.Error("key in error")
	}
	if len(rec.all()) != 0 {
		t.Error("legacy key was sent")
	}
}

func TestRaw(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	srv := rec.server(t, 200, `{"ok":true}`, nil)
	c := New(Config{BaseURL: srv.URL + "/"}, StaticToken(testToken), "loc1")
	cases := []struct {
		method, path string
		p            Params
		wantPath     string
		wantQuery    string
		wantVersion  string
	}{
		{"get", "/calendars/c1/free-slots?startDate=1", Params{Query: url.Values{"endDate": {"2"}}}, "/calendars/c1/free-slots", "endDate=2&startDate=1", "2021-04-15"},
		{"GET", "/products/{productId}", Params{Path: map[string]string{"productId": "p/1"}}, "/products/p%2F1", "", "2021-07-28"},
		{"GET", "/conversations/unknown-thing", Params{}, "/conversations/unknown-thing", "", "2021-04-15"},
		{"POST", "/invoices/", Params{Version: "2099-01-01", Body: map[string]any{"a": 1}}, "/invoices/", "", "2099-01-01"},
	}
	for i, tc := range cases {
		if _, err := c.Raw(context.Background(), tc.method, tc.path, tc.p); err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		got := rec.all()[i]
		if got.Path != tc.wantPath || got.RawQuery != tc.wantQuery || got.Header.Get("Version") != tc.wantVersion || got.Header.Get("Authorization") != "Bearer "+testToken {
			t.Errorf("%s %s: got %s ?%s Version %s", tc.method, tc.path, got.Path, got.RawQuery, got.Header.Get("Version"))
		}
	}
	for _, bad := range []string{"https://evil.example/x", "//evil.example/x", "contacts/x"} {
		if _, err := c.Raw(context.Background(), "GET", bad, Params{}); err == nil {
			t.Errorf("Raw(%q) accepted", bad)
		}
	}
	if len(rec.all()) != len(cases) {
		t.Errorf("requests = %d", len(rec.all()))
	}
}

func TestRawUnsafeByMethod(t *testing.T) {
	t.Parallel()
	srv, n := statusSequence(t, []int{502}, nil)
	c := New(Config{BaseURL: srv.URL, Retry: fastRetry}, StaticToken(testToken), "loc1")
	_, err := c.Raw(context.Background(), "POST", "/invoices/", Params{Body: map[string]any{}})
	var ou *OutcomeUnknownError
	if !errors.As(err, &ou) || n.Load() != 1 {
		t.Errorf("POST outside the catalog: err %v after %d requests, want unknown outcome after 1", err, n.Load())
	}
	// A catalog path keeps its class: POST /contacts/upsert is safe.
	srv2, n2 := statusSequence(t, []int{502}, nil)
	c2 := New(Config{BaseURL: srv2.URL, Retry: fastRetry}, StaticToken(testToken), "loc1")
	if _, err := c2.Raw(context.Background(), "POST", "/contacts/upsert", Params{Body: map[string]any{}}); err != nil || n2.Load() != 2 {
		t.Errorf("POST /contacts/upsert: err %v after %d requests, want success after 2", err, n2.Load())
	}
}

func TestBadBaseURL(t *testing.T) {
	t.Parallel()
	c := New(Config{BaseURL: "services.leadconnectorhq.com"}, StaticToken(testToken), "loc1")
	if _, err := c.Do(context.Background(), "contacts.get", Params{Path: map[string]string{"contactId": "c"}}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("err = %v", err)
	}
}

func TestEncodeBody(t *testing.T) {
	t.Parallel()
	cases := []struct {
		form        bool
		body        any
		want, ctype string
	}{
		{true, url.Values{"client_id": {"a b"}, "grant_type": {"refresh_token"}}, "client_id=a+b&grant_type=refresh_token", "application/x-www-form-urlencoded"},
		{true, map[string]string{"companyId": "co", "locationId": "lo"}, "companyId=co&locationId=lo", "application/x-www-form-urlencoded"},
		{true, map[string]any{"n": 1}, "n=1", "application/x-www-form-urlencoded"},
		{false, map[string]any{"a": []int{1}}, `{"a":[1]}`, "application/json"},
		{false, json.RawMessage(`[{"x":1}]`), `[{"x":1}]`, "application/json"},
		{false, nil, "", ""},
	}
	for _, tc := range cases {
		got, ctype, err := encodeBody(tc.form, tc.body)
		if err != nil || string(got) != tc.want || ctype != tc.ctype {
			t.Errorf("encodeBody(%v, %v) = %q, %q, %v", tc.form, tc.body, got, ctype, err)
		}
	}
	if _, _, err := encodeBody(false, map[string]any{"f": func() {}}); err == nil {
		t.Error("unencodable body accepted")
	}
}

func TestResponseDecode(t *testing.T) {
	t.Parallel()
	r := &Response{Body: []byte(`{"contact":{"id":"c1"}}`)}
	var v struct{ Contact struct{ ID string } }
	if err := r.Decode(&v); err != nil || v.Contact.ID != "c1" {
		t.Errorf("Decode = %+v, %v", v, err)
	}
	r.Body = []byte("<html>")
	if err := r.Decode(&v); err == nil || !strings.Contains(err.Error(), "decode response") {
		t.Errorf("bad body: %v", err)
	}
}

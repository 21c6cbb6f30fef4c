package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const cliToken = "pit-cli-test-9d8e7f"

// legacyV1Key is shaped like a v1 location API key (JWT with location_id).
const legacyV1Key = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJsb2NhdGlvbl9pZCI6InZlOUVQTTQyOGg4dlNobFJXMUtUIiwidmVyc2lvbiI6MSwiaWF0IjoxNjUwMDAwMDAwMDAwLCJzdWIiOiJkazJyajNrZCJ9.c2lnbmF0dXJl"

type gotReq struct {
	Method, Path, Query, Body, Version, Auth string
}

type fakeGHL struct {
	mu   sync.Mutex
	reqs []gotReq
	srv  *httptest.Server
}

func newFakeGHL(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeGHL {
	t.Helper()
	f := &fakeGHL{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, gotReq{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Get("Version"), r.Header.Get("Authorization")})
		f.mu.Unlock()
		h(w, r, b)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGHL) requests() []gotReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]gotReq(nil), f.reqs...)
}

func echoOK(w http.ResponseWriter, r *http.Request, body []byte) {
	io.WriteString(w, `{"contact":{"id":"c1","email":"ana@example.com"},"traceId":"t1"}`)
}

func TestCallRoutesParams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "body.json")
	os.WriteFile(file, []byte(`{"firstName":"Ana","source":"file"}`), 0o644)
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  gotReq
	}{
		{
			name: "path param escaped, version from catalog",
			args: []string{"call", "contacts.get", "--param", "contactId=a/b"},
			want: gotReq{Method: "GET", Path: "/contacts/a%2Fb", Version: "2021-07-28"},
		},
		{
			name: "body fields, json values and location fill",
			args: []string{"call", "contacts.upsert", "--location", "loc1", "-p", "email=ana@example.com", "-p", "postalCode=02134", "-p", "tags:=[\"vip\"]"},
			want: gotReq{Method: "POST", Path: "/contacts/upsert", Version: "2021-07-28", Body: `{"email":"ana@example.com","locationId":"loc1","postalCode":"02134","tags":["vip"]}`},
		},
		{
			name: "data file merged with params",
			args: []string{"call", "contacts.upsert", "--location", "loc1", "--data", "@" + file, "-p", "source=cli"},
			want: gotReq{Method: "POST", Path: "/contacts/upsert", Version: "2021-07-28", Body: `{"firstName":"Ana","locationId":"loc1","source":"cli"}`},
		},
		{
			name:  "data from stdin sent as is",
			stdin: `{"tags":["a","b"]}`,
			args:  []string{"call", "contacts.addTags", "-p", "contactId=c1", "--data", "-"},
			want:  gotReq{Method: "POST", Path: "/contacts/c1/tags", Version: "2021-07-28", Body: `{"tags":["a","b"]}`},
		},
		{
			name: "query params and calendars version",
			args: []string{"call", "calendars.getFreeSlots", "-p", "calendarId=cal1", "-p", "startDate=1", "-p", "endDate=2", "-p", "timezone=America/New_York"},
			want: gotReq{Method: "GET", Path: "/calendars/cal1/free-slots", Query: "endDate=2&startDate=1&timezone=America%2FNew_York", Version: "2021-04-15"},
		},
		{
			name: "forced place",
			args: []string{"call", "contacts.get", "-p", "contactId=c1", "-p", "query.extra=1"},
			want: gotReq{Method: "GET", Path: "/contacts/c1", Query: "extra=1", Version: "2021-07-28"},
		},
		{
			name: "raw endpoint outside the catalog",
			args: []string{"call", "--method", "get", "--path", "/products/{productId}", "-p", "path.productId=p 1", "-p", "locationId=loc1"},
			want: gotReq{Method: "GET", Path: "/products/p%201", Query: "locationId=loc1", Version: "2021-07-28"},
		},
		{
			name: "raw post with data and version override",
			args: []string{"call", "--method", "POST", "--path", "/invoices/", "--data", `{"name":"x"}`, "--api-version", "2021-07-28"},
			want: gotReq{Method: "POST", Path: "/invoices/", Version: "2021-07-28", Body: `{"name":"x"}`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGHL(t, echoOK)
			out, _, err := run(t, tc.stdin, append(tc.args, "--base-url", f.srv.URL, "--token", cliToken)...)
			if err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			tc.want.Auth = "Bearer " + cliToken
			if diff := cmp.Diff(tc.want, reqs[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			want := "{\n  \"contact\": {\n    \"id\": \"c1\",\n    \"email\": \"ana@example.com\"\n  },\n  \"traceId\": \"t1\"\n}\n"
			if out != want {
				t.Errorf("output = %q, want pretty JSON", out)
			}
		})
	}
}

func TestCallAPIError(t *testing.T) {
	t.Parallel()
	f := newFakeGHL(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.WriteHeader(422)
		io.WriteString(w, `{"statusCode":422,"message":["email must be an email"],"error":"Unprocessable Entity"}`)
	})
	out, _, err := run(t, "", "call", "contacts.upsert", "--location", "loc1", "-p", "email=nope", "--base-url", f.srv.URL, "--token", cliToken)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "422 Unprocessable Entity: email must be an email") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(out, `"email must be an email"`) {
		t.Errorf("GHL's body not printed: %q", out)
	}
	if len(f.requests()) != 1 {
		t.Errorf("422 retried: %d requests", len(f.requests()))
	}
}

func TestCallRefusesLegacyKey(t *testing.T) {
	t.Parallel()
	f := newFakeGHL(t, echoOK)
	out, _, err := run(t, "", "call", "contacts.get", "-p", "contactId=c1", "--base-url", f.srv.URL, "--token", legacyV1Key)
	if exitCode(err) == 0 {
		t.Fatal("legacy key accepted")
	}
	msg := err.Error()
	for _, want := range []string{"legacy v1", "Private Integration Token"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg+out, legacyV1Key) {
		t.Error("the key was echoed")
	}
	if len(f.requests()) != 0 {
		t.Error("legacy key was sent")
	}
}

func TestCallUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"call"}, "give an operation id"},
		{[]string{"call", "contacts.gett", "--token", cliToken}, "did you mean contacts.get"},
		{[]string{"call", "contacts.get", "--path", "/x", "--token", cliToken}, "not both"},
		{[]string{"call", "contacts.get", "-p", "novalue", "--token", cliToken}, "want name=value"},
		{[]string{"call", "contacts.upsert", "-p", "tags:=[oops", "--token", cliToken}, "not JSON"},
		{[]string{"call", "contacts.upsert", "--data", "{bad", "--token", cliToken}, "not valid JSON"},
		{[]string{"call", "contacts.upsert", "--data", "@/nonexistent/file.json", "--token", cliToken}, "no such file"},
		{[]string{"call", "contacts.get", "--all", "-p", "contactId=c", "--token", cliToken}, "--all needs a list operation"},
	}
	for _, tc := range cases {
		_, _, err := run(t, "", tc.args...)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want exit 2 with %q", tc.args, err, tc.want)
		}
	}
}

// Not parallel: it sets environment variables.
func TestCallTokenFromEnv(t *testing.T) {
	f := newFakeGHL(t, echoOK)
	t.Setenv("GHLSYNC_TOKEN", cliToken)
	t.Setenv("GHLSYNC_BASE_URL", f.srv.URL)
	t.Setenv("GHLSYNC_LOCATION_ID", "loc-env")
	if _, _, err := run(t, "", "call", "calendars.list"); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if r.Auth != "Bearer "+cliToken || r.Query != "locationId=loc-env" {
		t.Errorf("request %+v", r)
	}
	t.Setenv("GHLSYNC_TOKEN", "")
	_, _, err := run(t, "", "call", "calendars.list")
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "GHLSYNC_TOKEN") {
		t.Errorf("no token: %v", err)
	}
}

func TestCallAllPages(t *testing.T) {
	t.Parallel()
	f := newFakeGHL(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var b struct {
			Page       int    `json:"page"`
			PageLimit  int    `json:"pageLimit"`
			LocationID string `json:"locationId"`
		}
		json.Unmarshal(body, &b)
		if b.LocationID != "loc1" {
			w.WriteHeader(403)
			return
		}
		var items []string
		for i := (b.Page - 1) * b.PageLimit; i < min(b.Page*b.PageLimit, 130); i++ {
			items = append(items, fmt.Sprintf(`{"id":"c%d"}`, i))
		}
		fmt.Fprintf(w, `{"contacts":[%s],"total":130}`, strings.Join(items, ","))
	})
	out, _, err := run(t, "", "call", "contacts.search", "--all", "--location", "loc1", "--base-url", f.srv.URL, "--token", cliToken)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 130 {
		t.Errorf("got %d items (%v)", len(got), err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (page size 500)", n)
	}
}

func TestCallTypedBodyAndCompany(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want gotReq
	}{
		{
			name: "boolean body field sent typed",
			args: []string{"call", "contacts.updateTask", "-p", "contactId=c1", "-p", "taskId=t1", "-p", "completed=false", "-p", "title=Call"},
			want: gotReq{Method: "PUT", Path: "/contacts/c1/tasks/t1", Version: "2021-07-28", Body: `{"completed":false,"title":"Call"}`},
		},
		{
			name: "explicit JSON array kept",
			args: []string{"call", "contacts.addTags", "-p", "contactId=c1", "-p", `tags:=["a,b","c"]`},
			want: gotReq{Method: "POST", Path: "/contacts/c1/tags", Version: "2021-07-28", Body: `{"tags":["a,b","c"]}`},
		},
		{
			name: "number body field sent typed",
			args: []string{"call", "opportunities.update", "-p", "id=o1", "-p", "monetaryValue=777.5"},
			want: gotReq{Method: "PUT", Path: "/opportunities/o1", Version: "2021-07-28", Body: `{"monetaryValue":777.5}`},
		},
		{
			name: "company fills a required query parameter",
			args: []string{"call", "users.search", "--company", "co1"},
			want: gotReq{Method: "GET", Path: "/users/search", Query: "companyId=co1", Version: "2021-07-28"},
		},
		{
			name: "company fills a path parameter",
			args: []string{"call", "companies.get", "--company", "co1"},
			want: gotReq{Method: "GET", Path: "/companies/co1", Version: "2021-07-28"},
		},
		{
			name: "company fills a body field",
			args: []string{"call", "users.filterByEmail", "--company", "co1", "-p", `emails:=["a@b.co"]`},
			want: gotReq{Method: "POST", Path: "/users/search/filter-by-email", Version: "2021-07-28", Body: `{"companyId":"co1","emails":["a@b.co"]}`},
		},
		{
			name: "explicit companyId wins over --company",
			args: []string{"call", "users.search", "--company", "co1", "-p", "companyId=co2"},
			want: gotReq{Method: "GET", Path: "/users/search", Query: "companyId=co2", Version: "2021-07-28"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeGHL(t, echoOK)
			if _, _, err := run(t, "", append(tc.args, "--base-url", f.srv.URL, "--token", cliToken)...); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			reqs[0].Auth, reqs[0].Version = "", tc.want.Version
			if diff := cmp.Diff(tc.want, reqs[0]); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallParamErrorsNameTheFix(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"call", "contacts.updateTask", "-p", "contactId=c1", "-p", "taskId=t1", "-p", "completed=maybe"}, []string{"completed is a boolean body field", "true or false"}},
		{[]string{"call", "opportunities.update", "-p", "id=o1", "-p", "monetaryValue=lots"}, []string{"monetaryValue is a number body field"}},
		{[]string{"call", "contacts.addTags", "-p", "contactId=c1", "-p", "tags=a,b"}, []string{"tags is an array body field", `tags:=["a","b"]`}},
		{[]string{"call", "users.search"}, []string{"missing required query parameter companyId", "-p companyId=... or --company ID"}},
		{[]string{"call", "calendars.list"}, []string{"query parameter locationId", "--location ID"}},
		{[]string{"call", "contacts.get"}, []string{"path parameter contactId", "-p contactId=..."}},
	}
	for _, tc := range cases {
		f := newFakeGHL(t, echoOK)
		_, _, err := run(t, "", append(tc.args, "--base-url", f.srv.URL, "--token", cliToken)...)
		if exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want exit 2", tc.args, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v lacks %q", tc.args, err, w)
			}
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("%v: %d requests sent", tc.args, n)
		}
	}
}

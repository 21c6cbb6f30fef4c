package ghl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ids(n int, prefix string) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"id": fmt.Sprintf("%s%03d", prefix, i), "n": i}
	}
	return out
}

// pageServer serves a list; handle returns the response document for a
// request (already checked for locationId/filters by the caller's check).
type pageServer struct {
	mu   sync.Mutex
	reqs []seenRequest
}

func (ps *pageServer) start(t *testing.T, check func(r *http.Request, body map[string]any) bool, handle func(r *http.Request, body map[string]any) any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if len(raw) > 0 {
			d := json.NewDecoder(strings.NewReader(string(raw)))
			d.UseNumber()
			d.Decode(&body)
		}
		ps.mu.Lock()
		ps.reqs = append(ps.reqs, seenRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Body: string(raw)})
		ps.mu.Unlock()
		if !check(r, body) {
			w.WriteHeader(403)
			io.WriteString(w, `{"statusCode":403,"message":"The token does not have access to this location or the filters were dropped"}`)
			return
		}
		json.NewEncoder(w).Encode(handle(r, body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (ps *pageServer) requests() []seenRequest {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]seenRequest(nil), ps.reqs...)
}

func collect(t *testing.T, seq func(func(json.RawMessage, error) bool)) ([]string, error) {
	t.Helper()
	var got []string
	for item, err := range seq {
		if err != nil {
			return got, err
		}
		var v struct {
			ID  string `json:"id"`
			UID string `json:"_id"`
		}
		if json.Unmarshal(item, &v) != nil {
			var s string
			json.Unmarshal(item, &s)
			got = append(got, s)
			continue
		}
		got = append(got, v.ID+v.UID)
	}
	return got, nil
}

func unique(t *testing.T, got []string, want int) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("duplicate id %s", id)
		}
		seen[id] = true
	}
	if len(seen) != want || len(got) != want {
		t.Errorf("got %d items (%d unique), want %d", len(got), len(seen), want)
	}
}

func num(v any) int {
	n, _ := strconv.Atoi(fmt.Sprint(v))
	return n
}

// The case: 150 contacts served as 100 + 50 through POST
// /contacts/search; the server answers 403 unless every page repeats the
// locationId and the caller's query and filters.
func TestItemsContactsSearch150(t *testing.T) {
	t.Parallel()
	all := ids(150, "c")
	filters := []any{map[string]any{"field": "tags", "operator": "contains", "value": "vip"}}
	ps := &pageServer{}
	srv := ps.start(t, func(r *http.Request, b map[string]any) bool {
		fj, _ := json.Marshal(b["filters"])
		return b["locationId"] == "loc1" && b["query"] == "acme" && string(fj) == `[{"field":"tags","operator":"contains","value":"vip"}]`
	}, func(r *http.Request, b map[string]any) any {
		page, size := num(b["page"]), num(b["pageLimit"])
		lo, hi := min((page-1)*size, len(all)), min(page*size, len(all))
		// total says 10,000: paging must not trust it.
		return map[string]any{"contacts": all[lo:hi], "total": 10000, "traceId": "t"}
	})
	c := testClient(srv.URL, nil, "loc1")
	got, err := collect(t, c.Items(context.Background(), "contacts.search",
		Params{Body: map[string]any{"query": "acme", "filters": filters}}, PageOptions{PageSize: 100}))
	if err != nil {
		t.Fatal(err)
	}
	unique(t, got, 150)
	reqs := ps.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	for i, r := range reqs {
		var b map[string]any
		json.Unmarshal([]byte(r.Body), &b)
		if b["locationId"] != "loc1" || b["query"] != "acme" || b["filters"] == nil || num(b["page"]) != i+1 || num(b["pageLimit"]) != 100 {
			t.Errorf("page %d body = %s", i+1, r.Body)
		}
	}
}

// The same with a GET list paged by startAfter/startAfterId from meta.
func TestItemsStartAfterQuery150(t *testing.T) {
	t.Parallel()
	all := ids(150, "c")
	ps := &pageServer{}
	srv := ps.start(t, func(r *http.Request, _ map[string]any) bool {
		q := r.URL.Query()
		return q.Get("locationId") == "loc1" && q.Get("query") == "acme"
	}, func(r *http.Request, _ map[string]any) any {
		q := r.URL.Query()
		limit := num(q.Get("limit"))
		lo := 0
		if id := q.Get("startAfterId"); id != "" {
			lo = num(strings.TrimPrefix(id, "c")) + 1
			if q.Get("startAfter") != strconv.Itoa(1000+lo-1) {
				return map[string]any{"contacts": []any{}}
			}
		}
		hi := min(lo+limit, len(all))
		page := all[lo:hi]
		meta := map[string]any{"total": 150}
		if len(page) > 0 {
			meta["startAfterId"] = page[len(page)-1]["id"]
			meta["startAfter"] = 1000 + hi - 1
		}
		return map[string]any{"contacts": page, "meta": meta}
	})
	c := testClient(srv.URL, nil, "loc1")
	got, err := collect(t, c.Items(context.Background(), "contacts.listDeprecated",
		Params{Query: url.Values{"query": {"acme"}}}, PageOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	unique(t, got, 150)
	reqs := ps.requests()
	want := []string{"limit=100&locationId=loc1&query=acme", "limit=100&locationId=loc1&query=acme&startAfter=1099&startAfterId=c099"}
	var gotQ []string
	for _, r := range reqs {
		gotQ = append(gotQ, r.RawQuery)
	}
	if diff := cmp.Diff(want, gotQ); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

func TestItemsEveryStyle(t *testing.T) {
	t.Parallel()
	type tc struct {
		name   string
		op     string
		p      Params
		o      PageOptions
		total  int
		serve  func(r *http.Request, b map[string]any, all []map[string]any) any
		check  func(r *http.Request, b map[string]any) bool
		reqs   int
		idName string
	}
	slice := func(all []map[string]any, lo, n int) []map[string]any {
		lo = min(lo, len(all))
		return all[lo:min(lo+n, len(all))]
	}
	locQ := func(r *http.Request, _ map[string]any) bool { return r.URL.Query().Get("locationId") == "loc1" }
	cases := []tc{
		{
			name: "skip+limit in query", op: "businesses.listByLocation", total: 230, reqs: 3,
			p:     Params{Query: url.Values{"keep": {"me"}}},
			check: func(r *http.Request, b map[string]any) bool { return locQ(r, b) && r.URL.Query().Get("keep") == "me" },
			serve: func(r *http.Request, _ map[string]any, all []map[string]any) any {
				return map[string]any{"businesses": slice(all, num(r.URL.Query().Get("skip")), num(r.URL.Query().Get("limit")))}
			},
		},
		{
			name: "skip+limit in body (agency)", op: "users.filterByEmail", total: 120, reqs: 2,
			p: Params{Body: map[string]any{"companyId": "co1", "emails": "a@b.co"}},
			check: func(r *http.Request, b map[string]any) bool {
				return b["companyId"] == "co1" && b["emails"] == "a@b.co"
			},
			serve: func(r *http.Request, b map[string]any, all []map[string]any) any {
				return map[string]any{"users": slice(all, num(b["skip"]), num(b["limit"])), "count": 999}
			},
		},
		{
			name: "offset+limit", op: "calendars.listAppointmentNotes", total: 101, reqs: 2,
			p:     Params{Path: map[string]string{"appointmentId": "ap1"}},
			check: func(r *http.Request, _ map[string]any) bool { return strings.HasSuffix(r.URL.Path, "/ap1/notes") },
			serve: func(r *http.Request, _ map[string]any, all []map[string]any) any {
				items := slice(all, num(r.URL.Query().Get("offset")), num(r.URL.Query().Get("limit")))
				return map[string]any{"notes": items, "hasMore": true}
			},
		},
		{
			name: "bare array with _id", op: "calendars.listNotifications", total: 130, reqs: 2, idName: "_id",
			p:     Params{Path: map[string]string{"calendarId": "cal1"}, Query: url.Values{"isActive": {"true"}}},
			check: func(r *http.Request, _ map[string]any) bool { return r.URL.Query().Get("isActive") == "true" },
			serve: func(r *http.Request, _ map[string]any, all []map[string]any) any {
				var out []map[string]any
				for _, it := range slice(all, num(r.URL.Query().Get("skip")), num(r.URL.Query().Get("limit"))) {
					out = append(out, map[string]any{"_id": it["id"]})
				}
				return out
			},
		},
		{
			name: "lastMessageId cursor", op: "conversations.listMessages", total: 150, reqs: 2, o: PageOptions{PageSize: 100},
			p:     Params{Path: map[string]string{"conversationId": "cv1"}, Query: url.Values{"type": {"TYPE_SMS"}}},
			check: func(r *http.Request, _ map[string]any) bool { return r.URL.Query().Get("type") == "TYPE_SMS" },
			serve: func(r *http.Request, _ map[string]any, all []map[string]any) any {
				lo := 0
				if l := r.URL.Query().Get("lastMessageId"); l != "" {
					lo = num(strings.TrimPrefix(l, "m")) + 1
				}
				items := slice(all, lo, num(r.URL.Query().Get("limit")))
				last := ""
				if len(items) > 0 {
					last = items[len(items)-1]["id"].(string)
				}
				return map[string]any{"messages": map[string]any{"lastMessageId": last, "nextPage": lo+len(items) < len(all), "messages": items}}
			},
		},
		{
			name: "startAfterDate from sort", op: "conversations.search", total: 150, reqs: 2,
			p: Params{Query: url.Values{"status": {"unread"}}},
			check: func(r *http.Request, b map[string]any) bool {
				return locQ(r, b) && r.URL.Query().Get("status") == "unread"
			},
			serve: func(r *http.Request, _ map[string]any, all []map[string]any) any {
				lo := 0
				if s := r.URL.Query().Get("startAfterDate"); s != "" {
					lo = num(s) - 5000 + 1
				}
				var out []map[string]any
				for _, it := range slice(all, lo, num(r.URL.Query().Get("limit"))) {
					out = append(out, map[string]any{"id": it["id"], "sort": []int{5000 + it["n"].(int)}})
				}
				return map[string]any{"conversations": out, "total": 150}
			},
		},
		{
			name: "single request list", op: "contacts.listNotes", total: 7, reqs: 1,
			p:     Params{Path: map[string]string{"contactId": "c1"}},
			check: func(*http.Request, map[string]any) bool { return true },
			serve: func(_ *http.Request, _ map[string]any, all []map[string]any) any { return map[string]any{"notes": all} },
		},
		{
			name: "exact multiple ends on an empty page", op: "businesses.listByLocation", total: 200, reqs: 3,
			check: locQ,
			serve: func(r *http.Request, _ map[string]any, all []map[string]any) any {
				return map[string]any{"businesses": slice(all, num(r.URL.Query().Get("skip")), num(r.URL.Query().Get("limit")))}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prefix := "c"
			if tc.op == "conversations.listMessages" {
				prefix = "m"
			}
			all := ids(tc.total, prefix)
			ps := &pageServer{}
			srv := ps.start(t, tc.check, func(r *http.Request, b map[string]any) any { return tc.serve(r, b, all) })
			c := testClient(srv.URL, nil, "loc1")
			got, err := collect(t, c.Items(context.Background(), tc.op, tc.p, tc.o))
			if err != nil {
				t.Fatal(err)
			}
			unique(t, got, tc.total)
			if n := len(ps.requests()); n != tc.reqs {
				t.Errorf("requests = %d, want %d", n, tc.reqs)
			}
		})
	}
}

func TestItemsFreeSlotsWindows(t *testing.T) {
	t.Parallel()
	ps := &pageServer{}
	srv := ps.start(t, func(r *http.Request, _ map[string]any) bool {
		return r.URL.Query().Get("timezone") == "America/New_York"
	},
		func(r *http.Request, _ map[string]any) any {
			start, _ := strconv.ParseInt(r.URL.Query().Get("startDate"), 10, 64)
			end, _ := strconv.ParseInt(r.URL.Query().Get("endDate"), 10, 64)
			if end-start > 31*24*3600*1000 {
				return map[string]any{"error": "range too long"}
			}
			d := time.UnixMilli(start).UTC().Format("2006-01-02")
			return map[string]any{d: map[string]any{"slots": []string{d + "T10:00:00-05:00", d + "T10:30:00-05:00"}}, "traceId": "x"}
		})
	c := testClient(srv.URL, nil, "loc1")
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(45 * 24 * time.Hour)
	q := url.Values{"startDate": {strconv.FormatInt(start.UnixMilli(), 10)}, "endDate": {strconv.FormatInt(end.UnixMilli(), 10)}, "timezone": {"America/New_York"}}
	got, err := collect(t, c.Items(context.Background(), "calendars.getFreeSlots", Params{Path: map[string]string{"calendarId": "cal1"}, Query: q}, PageOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2026-03-01T10:00:00-05:00", "2026-03-01T10:30:00-05:00", "2026-04-01T10:00:00-05:00", "2026-04-01T10:30:00-05:00"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slots (-want +got):\n%s", diff)
	}
	reqs := ps.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2 windows", len(reqs))
	}
	// The windows are contiguous and cover the whole range.
	q1, _ := url.ParseQuery(reqs[0].RawQuery)
	q2, _ := url.ParseQuery(reqs[1].RawQuery)
	e1, _ := strconv.ParseInt(q1.Get("endDate"), 10, 64)
	s2, _ := strconv.ParseInt(q2.Get("startDate"), 10, 64)
	if s2 != e1+1 || q1.Get("startDate") != q.Get("startDate") || q2.Get("endDate") != q.Get("endDate") {
		t.Errorf("windows %s..%s, %s..%s", q1.Get("startDate"), q1.Get("endDate"), q2.Get("startDate"), q2.Get("endDate"))
	}
}

func TestItemsRepeatedCursorFails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		op    string
		p     Params
		serve func(r *http.Request, n int) any
	}{
		{
			name: "lastMessageId repeats", op: "conversations.listMessages", p: Params{Path: map[string]string{"conversationId": "cv"}},
			serve: func(r *http.Request, n int) any {
				return map[string]any{"messages": map[string]any{"lastMessageId": "m-stuck", "nextPage": true, "messages": ids(100, fmt.Sprintf("p%d-", n))}}
			},
		},
		{
			name: "meta startAfterId repeats", op: "opportunities.search", p: Params{},
			serve: func(r *http.Request, n int) any {
				return map[string]any{"opportunities": ids(100, fmt.Sprintf("p%d-", n)), "meta": map[string]any{"startAfter": 1, "startAfterId": "o1"}}
			},
		},
		{
			name: "server ignores skip", op: "businesses.listByLocation", p: Params{},
			serve: func(r *http.Request, n int) any { return map[string]any{"businesses": ids(100, "same")} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			n := 0
			ps := &pageServer{}
			srv := ps.start(t, func(*http.Request, map[string]any) bool { return true }, func(r *http.Request, _ map[string]any) any {
				mu.Lock()
				n++
				k := n
				mu.Unlock()
				return tc.serve(r, k)
			})
			c := testClient(srv.URL, nil, "loc1")
			got, err := collect(t, c.Items(context.Background(), tc.op, tc.p, PageOptions{MaxPages: 50}))
			if !errors.Is(err, ErrRepeatedCursor) {
				t.Fatalf("err = %v, want ErrRepeatedCursor", err)
			}
			if !strings.Contains(err.Error(), tc.op) {
				t.Errorf("error does not name the operation: %v", err)
			}
			if len(ps.requests()) > 3 {
				t.Errorf("%d requests before stopping", len(ps.requests()))
			}
			t.Logf("%d items, then: %v", len(got), err)
		})
	}
}

func TestItemsPageCapAndEarlyStop(t *testing.T) {
	t.Parallel()
	all := ids(1000, "c")
	ps := &pageServer{}
	srv := ps.start(t, func(*http.Request, map[string]any) bool { return true }, func(r *http.Request, _ map[string]any) any {
		skip, limit := num(r.URL.Query().Get("skip")), num(r.URL.Query().Get("limit"))
		return map[string]any{"businesses": all[min(skip, 1000):min(skip+limit, 1000)]}
	})
	c := testClient(srv.URL, nil, "loc1")
	got, err := collect(t, c.Items(context.Background(), "businesses.listByLocation", Params{}, PageOptions{MaxPages: 2, PageSize: 50}))
	if !errors.Is(err, ErrPageCap) || len(got) != 100 {
		t.Errorf("got %d items, err %v; want 100 then ErrPageCap", len(got), err)
	}
	// A consumer that stops early causes no further requests.
	before := len(ps.requests())
	n := 0
	for _, err := range c.Items(context.Background(), "businesses.listByLocation", Params{}, PageOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 10 {
			break
		}
	}
	if d := len(ps.requests()) - before; d != 1 {
		t.Errorf("early stop made %d requests, want 1", d)
	}
}

func TestItemsErrors(t *testing.T) {
	t.Parallel()
	c := testClient("http://127.0.0.1:1", nil, "loc1")
	for _, tc := range []struct {
		op   string
		want error
	}{
		{"contacts.get", ErrNotList},
	} {
		_, err := collect(t, c.Items(context.Background(), tc.op, Params{}, PageOptions{}))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v", tc.op, err)
		}
	}
	_, err := collect(t, c.Items(context.Background(), "calendars.getFreeSlots", Params{Path: map[string]string{"calendarId": "c"}}, PageOptions{}))
	if err == nil || !strings.Contains(err.Error(), "epoch milliseconds") {
		t.Errorf("free slots without window: %v", err)
	}
	// An API error ends the sequence with that error.
	ps := &pageServer{}
	srv := ps.start(t, func(*http.Request, map[string]any) bool { return false }, nil)
	c2 := testClient(srv.URL, nil, "loc1")
	_, err = collect(t, c2.Items(context.Background(), "businesses.listByLocation", Params{}, PageOptions{}))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 403 {
		t.Errorf("err = %v", err)
	}
}

// Past 10,000 results POST /contacts/search wants the searchAfter cursor of
// the last item instead of a page number.
func TestItemsContactsSearchDeepUsesSearchAfter(t *testing.T) {
	t.Parallel()
	const total = 10_200
	all := make([]map[string]any, total)
	for i := range all {
		id := fmt.Sprintf("c%05d", i)
		all[i] = map[string]any{"id": id, "searchAfter": []any{1_700_000_000_000 + i, id}}
	}
	ps := &pageServer{}
	srv := ps.start(t, func(r *http.Request, b map[string]any) bool { return b["locationId"] == "loc1" }, func(r *http.Request, b map[string]any) any {
		size := num(b["pageLimit"])
		if sa, ok := b["searchAfter"].([]any); ok {
			if _, hasPage := b["page"]; hasPage {
				return map[string]any{"contacts": []any{}, "error": "page and searchAfter together"}
			}
			lo := num(sa[0]) - 1_700_000_000_000 + 1
			return map[string]any{"contacts": all[lo:min(lo+size, total)]}
		}
		page := num(b["page"])
		if page*size > 10_000 {
			return map[string]any{"contacts": []any{}, "error": "too deep"}
		}
		return map[string]any{"contacts": all[(page-1)*size : min(page*size, total)]}
	})
	c := testClient(srv.URL, nil, "loc1")
	got, err := collect(t, c.Items(context.Background(), "contacts.search", Params{}, PageOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	unique(t, got, total)
	reqs := ps.requests()
	if len(reqs) != 21 || !strings.Contains(reqs[20].Body, `"searchAfter":[1700000009999,"c09999"]`) {
		t.Errorf("%d requests; last body %s", len(reqs), reqs[len(reqs)-1].Body)
	}
}

package engine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGHL is a small in-memory GoHighLevel for engine tests: contacts
// (upsert, create, duplicate search, tags, search), notes, tasks, custom
// fields and the location. Faults are injected per route with fault().
type fakeGHL struct {
	t  *testing.T
	mu sync.Mutex
	// state
	contacts map[string]map[string]any // id → contact
	order    []string
	notes    map[string][]map[string]any // contact id → notes
	tasks    map[string][]map[string]any
	seq      int
	// faults: route → queue of actions applied to the next requests
	faults map[string][]string
	// requests counts requests per route
	requests map[string]int
	srv      *httptest.Server
	clock    func() time.Time
}

// Fault actions.
const (
	faultLost    = "lost"    // apply the write, then drop the connection without answering
	fault500     = "500"     // answer 500 without applying
	fault502     = "502"     // answer 502 without applying
	fault429     = "429"     // answer 429 (Retry-After: 1) without applying
	fault422     = "422"     // answer 422 with a GHL message
	faultTimeout = "timeout" // apply, then hang past the client's timeout
)

func newFakeGHL(t *testing.T) *fakeGHL {
	f := &fakeGHL{t: t, contacts: map[string]map[string]any{}, notes: map[string][]map[string]any{},
		tasks: map[string][]map[string]any{}, faults: map[string][]string{}, requests: map[string]int{},
		clock: time.Now}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGHL) URL() string { return f.srv.URL }

// fault queues actions for the next requests of a route ("POST /contacts/{id}/notes").
func (f *fakeGHL) fault(route string, actions ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[route] = append(f.faults[route], actions...)
}

func (f *fakeGHL) count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[route]
}

func (f *fakeGHL) id(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%04d", prefix, f.seq)
}

func (f *fakeGHL) addContact(c map[string]any) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id("c")
	c["id"] = id
	if _, ok := c["dateAdded"]; !ok {
		c["dateAdded"] = f.clock().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	f.contacts[id] = c
	f.order = append(f.order, id)
	return id
}

func (f *fakeGHL) route(r *http.Request) (string, []string) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/contacts/upsert":
		return "POST /contacts/upsert", nil
	case r.URL.Path == "/contacts/search/duplicate":
		return "GET /contacts/search/duplicate", nil
	case r.URL.Path == "/contacts/search":
		return "POST /contacts/search", nil
	case r.URL.Path == "/contacts/" || r.URL.Path == "/contacts":
		return r.Method + " /contacts/", nil
	case len(parts) == 4 && parts[0] == "contacts":
		return r.Method + " /contacts/{id}/" + parts[2] + "/{id2}", parts
	case len(parts) == 3 && parts[0] == "contacts":
		return r.Method + " /contacts/{id}/" + parts[2], parts
	case len(parts) == 2 && parts[0] == "contacts":
		return r.Method + " /contacts/{id}", parts
	case len(parts) == 3 && parts[0] == "locations" && parts[2] == "customFields":
		return "GET /locations/{id}/customFields", parts
	case len(parts) == 2 && parts[0] == "locations":
		return "GET /locations/{id}", parts
	}
	return r.Method + " " + r.URL.Path, parts
}

func (f *fakeGHL) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer pit-test-token" {
		writeJSON(w, 401, map[string]any{"statusCode": 401, "message": "Invalid token"})
		return
	}
	route, parts := f.route(r)
	var body map[string]any
	if r.Body != nil {
		_ = json.NewDecoder(r.Body).Decode(&body)
	}
	f.mu.Lock()
	f.requests[route]++
	action := ""
	if q := f.faults[route]; len(q) > 0 {
		action, f.faults[route] = q[0], q[1:]
	}
	f.mu.Unlock()
	switch action {
	case fault500:
		writeJSON(w, 500, map[string]any{"statusCode": 500, "message": "Internal Server Error"})
		return
	case fault502:
		writeJSON(w, 502, map[string]any{"statusCode": 502, "message": "Bad Gateway"})
		return
	case fault429:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, 429, map[string]any{"statusCode": 429, "message": "Too Many Requests"})
		return
	case fault422:
		writeJSON(w, 422, map[string]any{"statusCode": 422, "message": []string{"email must be an email"}, "error": "Unprocessable Entity"})
		return
	}
	status, out := f.handle(route, parts, r, body)
	switch action {
	case faultLost:
		hj, ok := w.(http.Hijacker)
		if !ok {
			f.t.Error("fake GHL: cannot hijack")
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case faultTimeout:
		time.Sleep(3 * time.Second)
	}
	writeJSON(w, status, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeGHL) handle(route string, parts []string, r *http.Request, body map[string]any) (int, any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock().UTC().Format("2006-01-02T15:04:05.000Z")
	switch route {
	case "GET /locations/{id}":
		return 200, map[string]any{"location": map[string]any{"id": parts[1], "timezone": "America/New_York"}}
	case "GET /locations/{id}/customFields":
		return 200, map[string]any{"customFields": []any{
			map[string]any{"id": "cf-resumo", "name": "Resumo", "fieldKey": "contact.resumo", "dataType": "TEXT", "model": "contact"},
			map[string]any{"id": "cf-deal", "name": "Deal Value", "fieldKey": "contact.deal_value", "dataType": "MONETORY", "model": "contact"},
		}}
	case "POST /contacts/upsert":
		email, _ := body["email"].(string)
		for _, id := range f.order {
			c := f.contacts[id]
			if email != "" && strings.EqualFold(fmt.Sprint(c["email"]), email) {
				for k, v := range body {
					if k != "tags" {
						c[k] = v
					}
				}
				c["dateUpdated"] = now
				return 200, map[string]any{"new": false, "contact": c}
			}
		}
		c := map[string]any{}
		for k, v := range body {
			c[k] = v
		}
		id := f.id("c")
		c["id"], c["dateAdded"] = id, now
		f.contacts[id] = c
		f.order = append(f.order, id)
		return 201, map[string]any{"new": true, "contact": c}
	case "POST /contacts/":
		c := map[string]any{}
		for k, v := range body {
			c[k] = v
		}
		id := f.id("c")
		c["id"], c["dateAdded"] = id, now
		f.contacts[id] = c
		f.order = append(f.order, id)
		return 201, map[string]any{"contact": c}
	case "GET /contacts/search/duplicate":
		email := r.URL.Query().Get("email")
		for _, id := range f.order {
			if c := f.contacts[id]; email != "" && strings.EqualFold(fmt.Sprint(c["email"]), email) {
				return 200, map[string]any{"contact": c}
			}
		}
		return 200, map[string]any{"contact": nil}
	case "POST /contacts/search":
		var list []map[string]any
		for _, id := range f.order {
			list = append(list, f.contacts[id])
		}
		sort.SliceStable(list, func(i, j int) bool {
			return fmt.Sprint(list[i]["dateAdded"]) > fmt.Sprint(list[j]["dateAdded"])
		})
		page, limit := 1, 100
		if v, ok := body["page"].(float64); ok {
			page = int(v)
		}
		if v, ok := body["pageLimit"].(float64); ok {
			limit = int(v)
		}
		from := min((page-1)*limit, len(list))
		to := min(from+limit, len(list))
		return 200, map[string]any{"contacts": list[from:to], "total": len(list)}
	case "GET /contacts/{id}":
		c, ok := f.contacts[parts[1]]
		if !ok {
			return 404, map[string]any{"statusCode": 404, "message": "Contact not found"}
		}
		return 200, map[string]any{"contact": c}
	case "POST /contacts/{id}/tags":
		c, ok := f.contacts[parts[1]]
		if !ok {
			return 404, map[string]any{"statusCode": 404, "message": "Contact not found"}
		}
		tags, _ := c["tags"].([]any)
		for _, t := range body["tags"].([]any) {
			dup := false
			for _, have := range tags {
				if strings.EqualFold(fmt.Sprint(have), fmt.Sprint(t)) {
					dup = true
				}
			}
			if !dup {
				tags = append(tags, t)
			}
		}
		c["tags"] = tags
		return 201, map[string]any{"tags": tags}
	case "POST /contacts/{id}/notes":
		if _, ok := f.contacts[parts[1]]; !ok {
			return 404, map[string]any{"statusCode": 404, "message": "Contact not found"}
		}
		n := map[string]any{"id": f.id("n"), "body": body["body"], "contactId": parts[1], "dateAdded": now}
		f.notes[parts[1]] = append(f.notes[parts[1]], n)
		return 201, map[string]any{"note": n}
	case "GET /contacts/{id}/notes":
		return 200, map[string]any{"notes": nonNil(f.notes[parts[1]])}
	case "POST /contacts/{id}/tasks":
		tk := map[string]any{"id": f.id("t"), "title": body["title"], "dueDate": body["dueDate"], "contactId": parts[1], "dateAdded": now}
		f.tasks[parts[1]] = append(f.tasks[parts[1]], tk)
		return 201, map[string]any{"task": tk}
	case "GET /contacts/{id}/tasks":
		return 200, map[string]any{"tasks": nonNil(f.tasks[parts[1]])}
	case "POST /contacts/{id}/campaigns/{id2}":
		return 200, map[string]any{"succeded": true}
	}
	return 404, map[string]any{"statusCode": 404, "message": "no route " + route}
}

func nonNil(l []map[string]any) []map[string]any {
	if l == nil {
		return []map[string]any{}
	}
	return l
}

// snapshot returns contacts (by email), note bodies and tags for assertions.
func (f *fakeGHL) snapshot() (contacts int, notes map[string][]string, tags map[string][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	notes, tags = map[string][]string{}, map[string][]string{}
	for _, id := range f.order {
		c := f.contacts[id]
		email := fmt.Sprint(c["email"])
		for _, n := range f.notes[id] {
			notes[email] = append(notes[email], fmt.Sprint(n["body"]))
		}
		if tl, ok := c["tags"].([]any); ok {
			for _, t := range tl {
				tags[email] = append(tags[email], fmt.Sprint(t))
			}
		}
	}
	return len(f.order), notes, tags
}

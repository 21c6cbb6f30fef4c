package ghl

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// miniGHL is a tiny in-memory stand-in for the endpoints the helpers use.
type miniGHL struct {
	mu       sync.Mutex
	contacts map[string]map[string]any
	bodies   map[string]string // last body per "METHOD path"
	requests int
}

func newMiniGHL(t *testing.T) (*miniGHL, *Client) {
	t.Helper()
	m := &miniGHL{contacts: map[string]map[string]any{}, bodies: map[string]string{}}
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /contacts/upsert", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		if in["locationId"] != "loc1" {
			reply(w, 422, map[string]any{"statusCode": 422, "message": []string{"locationId should not be empty"}})
			return
		}
		for _, c := range m.contacts {
			if c["email"] == in["email"] {
				for k, v := range in {
					c[k] = v
				}
				reply(w, 200, map[string]any{"new": false, "contact": c, "traceId": "t-up"})
				return
			}
		}
		id := "c" + string(rune('0'+len(m.contacts)+1))
		in["id"] = id
		m.contacts[id] = in
		reply(w, 201, map[string]any{"new": true, "contact": in, "traceId": "t-up"})
	})
	mux.HandleFunc("GET /contacts/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := m.contacts[r.PathValue("id")]
		if !ok {
			reply(w, 404, map[string]any{"statusCode": 404, "message": "Contact not found"})
			return
		}
		reply(w, 200, map[string]any{"contact": c})
	})
	mux.HandleFunc("PUT /contacts/{id}", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		if _, bad := in["locationId"]; bad {
			reply(w, 422, map[string]any{"statusCode": 422, "message": []string{"property locationId should not exist"}})
			return
		}
		c := m.contacts[r.PathValue("id")]
		for k, v := range in {
			c[k] = v
		}
		reply(w, 200, map[string]any{"succeded": true, "contact": c})
	})
	mux.HandleFunc("DELETE /contacts/{id}", func(w http.ResponseWriter, r *http.Request) {
		delete(m.contacts, r.PathValue("id"))
		reply(w, 200, map[string]any{"succeded": true})
	})
	mux.HandleFunc("GET /contacts/search/duplicate", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("locationId") != "loc1" {
			reply(w, 403, map[string]any{"statusCode": 403, "message": "no location"})
			return
		}
		for _, c := range m.contacts {
			if q.Get("email") != "" && c["email"] == q.Get("email") || q.Get("number") != "" && c["phone"] == q.Get("number") {
				reply(w, 200, map[string]any{"contact": c})
				return
			}
		}
		reply(w, 200, map[string]any{"contact": nil})
	})
	mux.HandleFunc("POST /contacts/{id}/tags", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Tags []string }
		json.NewDecoder(r.Body).Decode(&in)
		reply(w, 201, map[string]any{"tags": append([]string{"existing"}, in.Tags...)})
	})
	mux.HandleFunc("DELETE /contacts/{id}/tags", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"tags": []string{"existing"}})
	})
	mux.HandleFunc("POST /contacts/{id}/notes", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		reply(w, 201, map[string]any{"note": map[string]any{"id": "n1", "body": in["body"], "userId": in["userId"], "contactId": r.PathValue("id")}})
	})
	mux.HandleFunc("GET /contacts/{id}/notes", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"notes": []any{map[string]any{"id": "n1", "body": "hi"}}})
	})
	mux.HandleFunc("POST /contacts/{id}/tasks", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		in["id"] = "t1"
		reply(w, 201, map[string]any{"task": in})
	})
	mux.HandleFunc("GET /contacts/{id}/tasks", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"tasks": []any{map[string]any{"id": "t1", "title": "Call", "completed": false}}})
	})
	mux.HandleFunc("POST /calendars/events/appointments", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		in["id"] = "ev1"
		reply(w, 200, in)
	})
	mux.HandleFunc("PUT /calendars/events/appointments/{id}", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		in["id"] = r.PathValue("id")
		reply(w, 200, in)
	})
	mux.HandleFunc("GET /calendars/events/appointments/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, map[string]any{"event": map[string]any{"id": r.PathValue("id"), "calendarId": "cal1", "startTime": "2026-03-09T10:00:00-04:00"}})
	})
	mux.HandleFunc("GET /locations/{loc}/customFields", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("loc") != "loc1" || r.URL.Query().Get("model") != "contact" {
			reply(w, 403, map[string]any{"statusCode": 403, "message": "bad"})
			return
		}
		reply(w, 200, map[string]any{"customFields": []any{map[string]any{"id": "f1", "name": "Resumo", "fieldKey": "contact.resumo", "dataType": "TEXT", "model": "contact"}}})
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.requests++
		m.bodies[r.Method+" "+r.URL.Path] = string(b)
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return m, testClient(srv.URL, nil, "loc1")
}

func TestContactHelpers(t *testing.T) {
	t.Parallel()
	m, c := newMiniGHL(t)
	ctx := context.Background()
	res, err := c.UpsertContact(ctx, ContactInput{Email: "ana@example.com", Phone: "(555) 555-0104", FirstName: "Ana",
		CustomFields: []CustomFieldInput{{Key: "contact.resumo", Value: "hello"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.New || res.Contact.ID == "" || res.Contact.Phone != "+15555550104" || res.TraceID != "t-up" {
		t.Errorf("upsert = %+v", res)
	}
	var sent map[string]any
	json.Unmarshal([]byte(m.bodies["POST /contacts/upsert"]), &sent)
	want := map[string]any{"locationId": "loc1", "email": "ana@example.com", "phone": "+15555550104", "firstName": "Ana",
		"customFields": []any{map[string]any{"key": "contact.resumo", "field_value": "hello"}}}
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("upsert body (-want +got):\n%s", diff)
	}
	id := res.Contact.ID

	for _, q := range []ContactQuery{{ID: id}, {Email: "ana@example.com"}, {Phone: "555 555 0104"}, {Email: "other@example.com", Phone: "+1 555 555 0104"}} {
		got, err := c.FindContact(ctx, q)
		if err != nil || got.ID != id {
			t.Errorf("FindContact(%+v) = %+v, %v", q, got, err)
		}
	}
	if _, err := c.FindContact(ctx, ContactQuery{Email: "nobody@example.com"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("not found: %v", err)
	}
	_, err = c.GetContact(ctx, "missing")
	var ae *APIError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("GetContact missing: %v", err)
	}
	if _, err := c.FindContact(ctx, ContactQuery{}); err == nil {
		t.Error("empty query accepted")
	}

	up, err := c.UpdateContact(ctx, id, ContactInput{LocationID: "loc1", LastName: "Silva"})
	if err != nil || up.LastName != "Silva" {
		t.Errorf("update = %+v, %v", up, err)
	}
	tags, err := c.AddTags(ctx, id, "vip", "lead")
	if err != nil || !cmp.Equal(tags, []string{"existing", "vip", "lead"}) {
		t.Errorf("AddTags = %v, %v", tags, err)
	}
	if tags, err := c.RemoveTags(ctx, id, "vip"); err != nil || len(tags) != 1 {
		t.Errorf("RemoveTags = %v, %v", tags, err)
	}
	if m.bodies["DELETE /contacts/"+id+"/tags"] != `{"tags":["vip"]}` {
		t.Errorf("remove body %s", m.bodies["DELETE /contacts/"+id+"/tags"])
	}
	if err := c.DeleteContact(ctx, id); err != nil {
		t.Error(err)
	}

	// An impossible phone is refused before any request, naming the value.
	before := m.requests
	_, err = c.UpsertContact(ctx, ContactInput{Email: "x@example.com", Phone: "555-0104"})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "phone" || ve.Value != "555-0104" {
		t.Errorf("bad phone: %v", err)
	}
	if m.requests != before {
		t.Error("request sent with an invalid phone")
	}
}

func TestNoteTaskHelpers(t *testing.T) {
	t.Parallel()
	m, c := newMiniGHL(t)
	ctx := context.Background()
	n, err := c.CreateNote(ctx, "c1", "Called back", "u1")
	if err != nil || n.ID != "n1" || n.Body != "Called back" || n.UserID != "u1" || n.ContactID != "c1" {
		t.Errorf("note = %+v, %v", n, err)
	}
	if notes, err := c.ListNotes(ctx, "c1"); err != nil || len(notes) != 1 {
		t.Errorf("notes = %v, %v", notes, err)
	}
	due := time.Date(2026, 3, 9, 15, 0, 0, 0, time.FixedZone("X", -5*3600))
	task, err := c.CreateTask(ctx, "c1", TaskInput{Title: "Call", DueDate: due})
	if err != nil || task.ID != "t1" || task.DueDate != "2026-03-09T20:00:00Z" {
		t.Errorf("task = %+v, %v", task, err)
	}
	if m.bodies["POST /contacts/c1/tasks"] != `{"completed":false,"dueDate":"2026-03-09T20:00:00Z","title":"Call"}` {
		t.Errorf("task body %s", m.bodies["POST /contacts/c1/tasks"])
	}
	if _, err := c.CreateTask(ctx, "c1", TaskInput{Title: "x"}); !errors.Is(err, ErrValidation) {
		t.Errorf("task without due date: %v", err)
	}
	if tasks, err := c.ListTasks(ctx, "c1"); err != nil || len(tasks) != 1 || tasks[0].Title != "Call" {
		t.Errorf("tasks = %v, %v", tasks, err)
	}
}

func TestAppointmentHelpers(t *testing.T) {
	t.Parallel()
	m, c := newMiniGHL(t)
	ctx := context.Background()
	f := false
	ap, err := c.CreateAppointment(ctx, AppointmentInput{
		CalendarID: "cal1", ContactID: "c1", StartTime: "2026-03-09 10:00", EndTime: "2026-03-09 10:30",
		TimeZone: "America/New_York", Title: "Intro", ToNotify: &f,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ap.ID != "ev1" || ap.StartTime != "2026-03-09T10:00:00-04:00" || ap.EndTime != "2026-03-09T10:30:00-04:00" {
		t.Errorf("appointment = %+v", ap)
	}
	var sent map[string]any
	json.Unmarshal([]byte(m.bodies["POST /calendars/events/appointments"]), &sent)
	want := map[string]any{"calendarId": "cal1", "contactId": "c1", "locationId": "loc1", "startTime": "2026-03-09T10:00:00-04:00",
		"endTime": "2026-03-09T10:30:00-04:00", "title": "Intro", "toNotify": false}
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	up, err := c.UpdateAppointment(ctx, "ev1", AppointmentInput{StartTime: "2026-03-10T15:00:00Z"})
	if err != nil || up.StartTime != "2026-03-10T15:00:00Z" {
		t.Errorf("update = %+v, %v", up, err)
	}
	got, err := c.GetAppointment(ctx, "ev1")
	if err != nil || got.ID != "ev1" || got.CalendarID != "cal1" {
		t.Errorf("get = %+v, %v", got, err)
	}

	before := m.requests
	cases := []struct {
		in   AppointmentInput
		want string
	}{
		{AppointmentInput{CalendarID: "cal1", ContactID: "c1", StartTime: "2026-03-08 02:30", TimeZone: "America/New_York"}, "does not exist"},
		{AppointmentInput{CalendarID: "cal1", ContactID: "c1", StartTime: "2026-03-09 10:00"}, "needs the calendar's time zone"},
		{AppointmentInput{CalendarID: "cal1", StartTime: "2026-03-09T10:00:00Z"}, "required"},
		{AppointmentInput{CalendarID: "cal1", ContactID: "c1", StartTime: "2026-03-09 10:00", EndTime: "soon", TimeZone: "America/New_York"}, `invalid endTime "soon"`},
	}
	for _, tc := range cases {
		if _, err := c.CreateAppointment(ctx, tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.in, err, tc.want)
		}
	}
	if m.requests != before {
		t.Error("invalid appointments were sent")
	}
}

func TestListCustomFields(t *testing.T) {
	t.Parallel()
	_, c := newMiniGHL(t)
	fields, err := c.ListCustomFields(context.Background(), "contact")
	if err != nil {
		t.Fatal(err)
	}
	want := []CustomField{{ID: "f1", Name: "Resumo", FieldKey: "contact.resumo", DataType: "TEXT", Model: "contact"}}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
	"github.com/ghlsync/ghlsync/internal/sandbox"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

// apptFlow creates the appointment of a source appointment id once, and
// moves that same appointment on later events.
const apptFlow = `name: appts
trigger: {webhook: {source: generic}}
steps:
  - id: contact
    op: contacts.upsert
    with: {email: "{{ event.email }}"}
  - id: appointment
    op: calendars.createAppointment
    key: "apt:{{ event.apt }}"
    update: {op: calendars.updateAppointment, id_param: eventId}
    on_missing: create
    with:
      calendarId: sbx-calendar-1
      contactId: "{{ steps.contact.contact.id }}"
      title: "{{ event.title }}"
      startTime: "{{ event.start }}"
      endTime: "{{ event.end }}"
      ignoreFreeSlotValidation: true
`

// notesFlow finds the appointment through mapped() and notes it; a keyed
// create without update runs once per key.
const notesFlow = `name: notes
trigger: {webhook: {source: generic}}
steps:
  - id: note
    op: calendars.createAppointmentNote
    when: mapped("apt:" + event.apt) != nil
    key: "apt-note:{{ event.apt }}"
    with:
      appointmentId: "{{ mapped('apt:' + event.apt) }}"
      body: "{{ event.notes }}"
  - id: echo
    op: calendars.getAppointment
    when: steps.note != nil
    with:
      eventId: "{{ steps.note.note.appointmentId ?? mapped('apt:' + event.apt) }}"
`

// sbHarness runs flows against the sandbox; gate, when set, holds
// appointment creations until it is closed.
type sbHarness struct {
	*harness
	sb     *sandbox.Server
	client *ghl.Client
	mu     sync.Mutex
	gate   chan struct{}
	held   chan struct{} // receives when a creation is being held
}

func newSandboxHarness(t *testing.T, dialect string, flows map[string]string) *sbHarness {
	t.Helper()
	dir := t.TempDir()
	for name, body := range flows {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := flow.LoadDir(dir)
	if err != nil || len(loaded.Errors) > 0 {
		t.Fatalf("flows: %v %v", err, loaded.Errors)
	}
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	h := &sbHarness{sb: sb, held: make(chan struct{}, 4)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/calendars/events/appointments" {
			h.mu.Lock()
			gate := h.gate
			h.mu.Unlock()
			if gate != nil {
				h.held <- struct{}{}
				<-gate
			}
		}
		sb.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); sb.Close() })
	cfg := ghl.Config{BaseURL: srv.URL, HTTPClient: &http.Client{Timeout: 5 * time.Second},
		Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true}),
		Retry:   ghl.RetryPolicy{MaxAttempts: 1}}
	conn := &StaticConnections{Token: "pit-sandbox-location", LocationID: "sbx-location-1", Timezone: "America/New_York", Config: cfg}
	st := storetest.Open(t, dialect, "engine")
	e, err := New(Config{Store: st, Flows: loaded, Connections: conn, MaxAttempts: 5})
	if err != nil {
		t.Fatal(err)
	}
	h.harness = &harness{t: t, e: e, st: st, ctx: context.Background(), conn: conn}
	h.client = ghl.New(ghl.Config{BaseURL: srv.URL, AppID: "pit", Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true})},
		ghl.StaticToken("pit-sandbox-location"), "sbx-location-1")
	return h
}

func (h *sbHarness) appointments() []map[string]any { return h.sb.Records("appointments") }

func (h *sbHarness) event(flowName, id string, payload map[string]any) string {
	h.t.Helper()
	return h.ingest(flowName, id, payload).RunID
}

func (h *sbHarness) mustSucceed(runID string) {
	h.t.Helper()
	if err := h.work(runID, 1); err != nil {
		h.t.Fatalf("run %s: %v", runID, err)
	}
	if r := h.run(runID); r.Status != store.RunSucceeded {
		h.t.Fatalf("run %s: %s %s", runID, r.Status, r.Error)
	}
}

func (h *sbHarness) key(k string) *store.ObjectKey {
	h.t.Helper()
	got, err := h.st.GetKey(h.ctx, "location:sbx-location-1", k)
	if err != nil {
		h.t.Fatalf("key %s: %v", k, err)
	}
	return got
}

func appt(apt, start, end string) map[string]any {
	return map[string]any{"apt": apt, "email": "jose@example.com", "title": "Onboarding", "start": start, "end": end, "notes": "Notes of " + apt}
}

func TestKeyedStepCreatesOnceThenUpdates(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			h := newSandboxHarness(t, d, map[string]string{"appts": apptFlow, "notes": notesFlow})

			// Notes before the appointment exists: mapped() is nil, skipped.
			early := h.event("notes", "n-0", appt("a1", "", ""))
			h.mustSucceed(early)
			if s := h.steps(early)["note"]; s == nil || s.Status != store.StepSkipped || h.steps(early)["echo"].Status != store.StepSkipped {
				t.Fatalf("note before the appointment: %+v", s)
			}

			h.mustSucceed(h.event("appts", "e-1", appt("a1", "2027-01-12T10:00:00-05:00", "2027-01-12T10:30:00-05:00")))
			list := h.appointments()
			if len(list) != 1 {
				t.Fatalf("%d appointments after create", len(list))
			}
			id := list[0]["id"].(string)
			k := h.key("apt:a1")
			if k.GHLID != id || k.IDPath != "id" || k.Flow != "appts" || k.Op != "calendars.createAppointment" {
				t.Fatalf("key = %+v, want id %s", k, id)
			}

			upd := h.event("appts", "e-2", appt("a1", "2027-01-13T14:00:00-05:00", "2027-01-13T14:30:00-05:00"))
			h.mustSucceed(upd)
			list = h.appointments()
			if len(list) != 1 || list[0]["id"] != id || list[0]["startTime"] != "2027-01-13T14:00:00-05:00" {
				t.Fatalf("after update: %v", list)
			}
			st := h.steps(upd)["appointment"]
			var rec map[string]any
			_ = json.Unmarshal([]byte(st.Request), &rec)
			if st.Op != "calendars.updateAppointment" || rec["key"] != "apt:a1" || rec["path"] != "/calendars/events/appointments/"+id {
				t.Errorf("update step recorded as %s %s", st.Op, st.Request)
			}
			if body, _ := rec["body"].(map[string]any); body["contactId"] != nil || body["locationId"] != nil {
				t.Errorf("update sent create-only fields: %v", body)
			}

			// mapped() finds it from another flow; the keyed note runs once.
			for i, ev := range []string{"n-1", "n-2"} {
				run := h.event("notes", ev, appt("a1", "", ""))
				h.mustSucceed(run)
				steps := h.steps(run)
				if steps["note"].Status != store.StepSucceeded || steps["echo"].Status != store.StepSucceeded {
					t.Fatalf("notes run %d: %+v %+v", i, steps["note"], steps["echo"])
				}
				if i == 1 && steps["note"].HTTPStatus != 0 {
					t.Errorf("the second note was sent (HTTP %d), want it reused", steps["note"].HTTPStatus)
				}
			}
			if notes := h.sb.Records("appointmentNotes"); len(notes) != 1 || notes[0]["appointmentId"] != id {
				t.Errorf("appointment notes: %v", notes)
			}
			if nk := h.key("apt-note:a1"); nk.IDPath != "note.id" {
				t.Errorf("note key path %q, want note.id", nk.IDPath)
			}

			// Deleted in GoHighLevel: on_missing: create makes a new one.
			if _, err := h.client.Do(h.ctx, "calendars.deleteEvent", ghl.Params{Path: map[string]string{"eventId": id}}); err != nil {
				t.Fatal(err)
			}
			again := h.event("appts", "e-3", appt("a1", "2027-01-14T09:00:00-05:00", "2027-01-14T09:30:00-05:00"))
			h.mustSucceed(again)
			list = h.appointments()
			if len(list) != 1 || list[0]["id"] == id {
				t.Fatalf("after delete and update: %v", list)
			}
			if k := h.key("apt:a1"); k.GHLID != list[0]["id"] {
				t.Errorf("key maps to %s, want the new %s", k.GHLID, list[0]["id"])
			}
			if s := h.steps(again)["appointment"]; s.Op != "calendars.createAppointment" || s.Status != store.StepSucceeded {
				t.Errorf("recreate step: %s %s %s", s.Op, s.Status, s.Error)
			}
		})
	}
}

func TestKeyedStepConcurrentRunsCreateOne(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			h := newSandboxHarness(t, d, map[string]string{"appts": apptFlow})
			first := h.event("appts", "e-1", appt("a2", "2027-02-01T10:00:00-05:00", "2027-02-01T10:30:00-05:00"))
			second := h.event("appts", "e-2", appt("a2", "2027-02-01T11:00:00-05:00", "2027-02-01T11:30:00-05:00"))

			// The first run is held inside its create request...
			gate := make(chan struct{})
			h.mu.Lock()
			h.gate = gate
			h.mu.Unlock()
			done := make(chan error, 1)
			go func() { done <- h.work(first, 1) }()
			select {
			case <-h.held:
			case <-time.After(10 * time.Second):
				t.Fatal("the first run never sent its create")
			}
			// ...while the second, for the same appointment, must wait.
			err := h.work(second, 1)
			var sn *river.JobSnoozeError
			if !errors.As(err, &sn) {
				t.Fatalf("second run while the first creates: %v, want a snooze", err)
			}
			if r := h.run(second); r.Status != store.RunRetrying {
				t.Errorf("waiting run is %s", r.Status)
			}
			h.mu.Lock()
			h.gate = nil
			h.mu.Unlock()
			close(gate)
			if err := <-done; err != nil {
				t.Fatalf("first run: %v", err)
			}
			h.mustSucceed(second)
			list := h.appointments()
			if len(list) != 1 || list[0]["startTime"] != "2027-02-01T11:00:00-05:00" {
				t.Fatalf("appointments: %v", list)
			}
			if s := h.steps(second)["appointment"]; s.Op != "calendars.updateAppointment" {
				t.Errorf("second run's step: %s", s.Op)
			}
		})
	}
}

func TestKeyedStepTakesOverAnAbandonedClaim(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t, store.SQLite, map[string]string{"appts": apptFlow})
	// A run that no longer exists left a claim behind.
	if _, _, err := h.st.ClaimKey(h.ctx, &store.ObjectKey{Scope: "location:sbx-location-1", Key: "apt:a3", RunID: "run_gone"}); err != nil {
		t.Fatal(err)
	}
	// A failed run's claim is free too.
	failed := h.event("appts", "e-0", appt("a4", "", ""))
	if _, _, err := h.st.ClaimKey(h.ctx, &store.ObjectKey{Scope: "location:sbx-location-1", Key: "apt:a4", RunID: failed}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.FinishRun(h.ctx, failed, store.RunFailed, "test"); err != nil {
		t.Fatal(err)
	}
	h.mustSucceed(h.event("appts", "e-1", appt("a3", "2027-03-01T10:00:00-05:00", "2027-03-01T10:30:00-05:00")))
	h.mustSucceed(h.event("appts", "e-2", appt("a4", "2027-03-02T10:00:00-05:00", "2027-03-02T10:30:00-05:00")))
	if n := len(h.appointments()); n != 2 {
		t.Fatalf("%d appointments, want 2", n)
	}
	for _, k := range []string{"apt:a3", "apt:a4"} {
		if got := h.key(k); got.Claimed() {
			t.Errorf("%s still claimed: %+v", k, got)
		}
	}
}

func TestKeyedStepLostAnswerIsReconciledAndMapped(t *testing.T) {
	t.Parallel()
	h := newSandboxHarness(t, store.SQLite, map[string]string{"appts": apptFlow})
	if err := h.sb.SetFaults(sandbox.FaultConfig{Rules: []sandbox.FaultRule{{Route: "calendars.createAppointment", ResponseLostRate: 1}}}); err != nil {
		t.Fatal(err)
	}
	run := h.event("appts", "e-1", appt("a5", "2027-04-01T10:00:00-05:00", "2027-04-01T10:30:00-05:00"))
	if err := h.work(run, 1); err == nil {
		t.Fatal("first attempt succeeded despite the lost answer")
	}
	if s := h.steps(run)["appointment"]; s.Status != store.StepUnknown {
		t.Fatalf("step after a lost answer: %s", s.Status)
	}
	if err := h.sb.SetFaults(sandbox.FaultConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := h.work(run, 2); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	list := h.appointments()
	if len(list) != 1 {
		t.Fatalf("%d appointments after reconciliation", len(list))
	}
	if k := h.key("apt:a5"); k.GHLID != list[0]["id"] {
		t.Errorf("key = %+v, want %s", k, list[0]["id"])
	}
	if s := h.steps(run)["appointment"]; s.Reconciled == "" {
		t.Errorf("step not reconciled: %+v", s)
	}
}

func TestCreatedID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		op, body, id, path string
	}{
		{"calendars.createAppointment", `{"id":"a1","calendarId":"c"}`, "a1", "id"},
		{"contacts.createNote", `{"note":{"id":"n1","body":"x"}}`, "n1", "note.id"},
		{"contacts.create", `{"contact":{"id":"c1"}}`, "c1", "contact.id"},
		{"opportunities.create", `{"opportunity":{"id":"o1"}}`, "o1", "opportunity.id"},
		{"contacts.createTask", `{"task":{"id":7}}`, "7", "task.id"},
		{"contacts.create", `{"a":{"id":"x"},"b":{"id":"y"}}`, "", ""},
		{"contacts.create", `not json`, "", ""},
	} {
		op := mustOp(t, c.op)
		id, path := createdID(op, []byte(c.body))
		if id != c.id || path != c.path {
			t.Errorf("%s %s: got %q at %q, want %q at %q", c.op, c.body, id, path, c.id, c.path)
		}
	}
	k := &store.ObjectKey{GHLID: "n1", IDPath: "note.id"}
	if got := string(reusedResult(k)); got != `{"note":{"id":"n1"}}` {
		t.Errorf("reused result %s", got)
	}
}

func mustOp(t *testing.T, id string) *catalog.Operation {
	t.Helper()
	op, ok := catalog.Get(id)
	if !ok {
		t.Fatalf("no operation %s", id)
	}
	return op
}

package flow

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const keyedFlow = `name: appts
trigger: {webhook: {source: generic}}
steps:
  - id: contact
    op: contacts.upsert
    with: {email: "{{ event.email }}"}
  - id: appointment
    op: calendars.createAppointment
    key: "apt:{{ event.id }}"
    update: {op: calendars.updateAppointment, id_param: eventId}
    on_missing: create
    with:
      calendarId: cal-1
      contactId: "{{ steps.contact.contact.id }}"
      title: "{{ event.title }}"
      startTime: "{{ event.start }}"
      ignoreFreeSlotValidation: true
  - id: note
    op: contacts.createNote
    when: mapped("apt:" + event.id) != nil
    key: "note:{{ event.id }}"
    with:
      contactId: "{{ steps.contact.contact.id }}"
      body: "appointment {{ mapped('apt:' + event.id) }}"
`

func TestKeyedStepModel(t *testing.T) {
	t.Parallel()
	f, err := Parse("appts.yaml", []byte(keyedFlow))
	if err != nil {
		t.Fatal(err)
	}
	appt, note := f.Steps[1], f.Steps[2]
	if !appt.Keyed() || appt.Key != "apt:{{ event.id }}" || appt.OnMissing != OnMissingCreate {
		t.Fatalf("appointment step: keyed=%v key=%q on_missing=%q", appt.Keyed(), appt.Key, appt.OnMissing)
	}
	u := appt.Update
	if u == nil || u.Op != "calendars.updateAppointment" || u.IDParam != "eventId" || u.Operation == nil {
		t.Fatalf("update = %+v", u)
	}
	if diff := cmp.Diff([]string{"calendarId", "title", "startTime", "ignoreFreeSlotValidation"}, u.With.Keys()); diff != "" {
		t.Errorf("update fields (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"contactId"}, u.Dropped); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
	// Without update: the default on_missing, and no update.
	if !note.Keyed() || note.Update != nil || note.OnMissing != OnMissingFail {
		t.Errorf("note step: %+v", note)
	}
	if diff := cmp.Diff([]string{"contact"}, appt.Needs()); diff != "" {
		t.Errorf("needs (-want +got):\n%s", diff)
	}
	if f.Steps[0].Keyed() || len(f.Steps[0].Needs()) != 0 {
		t.Errorf("contact step: keyed=%v needs=%v", f.Steps[0].Keyed(), f.Steps[0].Needs())
	}
}

func TestKeyedStepRequests(t *testing.T) {
	t.Parallel()
	f, err := Parse("appts.yaml", []byte(keyedFlow))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	env := NewEnv(Event{Payload: map[string]any{"id": "5501", "email": "a@example.com", "title": "Call", "start": "2027-01-12T10:00:00-05:00"}},
		Connection{Name: "default", LocationID: "loc1"})
	env.SetStep("contact", map[string]any{"contact": map[string]any{"id": "c1"}})
	appt := f.Steps[1]
	key, err := appt.KeyFor(env)
	if err != nil || key != "apt:5501" {
		t.Fatalf("key = %q, %v", key, err)
	}
	create, err := appt.Request(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if create.Op != "calendars.createAppointment" || create.Body["contactId"] != "c1" || create.Body["locationId"] != "loc1" {
		t.Errorf("create request: %+v", create)
	}
	upd, err := appt.UpdateRequest(ctx, env, "ghl-apt-9")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"calendarId": "cal-1", "title": "Call", "startTime": "2027-01-12T10:00:00-05:00", "ignoreFreeSlotValidation": true}
	if upd.Op != "calendars.updateAppointment" || upd.Path["eventId"] != "ghl-apt-9" {
		t.Errorf("update request: op %s path %v", upd.Op, upd.Path)
	}
	if diff := cmp.Diff(want, upd.Body); diff != "" {
		t.Errorf("update body (-want +got):\n%s", diff)
	}

	// A key whose parts are missing is an evaluation error, not "apt:".
	empty := NewEnv(Event{Payload: map[string]any{"email": "a@example.com"}}, Connection{LocationID: "loc1"})
	var ee *EvalError
	if _, err := appt.KeyFor(empty); !errors.As(err, &ee) || ee.Field != "key" || !strings.Contains(err.Error(), "evaluated empty") {
		t.Errorf("empty key: %v", err)
	}
}

func TestMappedReadsTheKeyLookup(t *testing.T) {
	t.Parallel()
	f, err := Parse("appts.yaml", []byte(keyedFlow))
	if err != nil {
		t.Fatal(err)
	}
	note := f.Steps[2]
	newEnv := func(keys KeyLookup) *Env {
		env := NewEnv(Event{Payload: map[string]any{"id": "5501"}}, Connection{LocationID: "loc1"})
		env.SetStep("contact", map[string]any{"contact": map[string]any{"id": "c1"}})
		env.Keys = keys
		return env
	}
	var asked []string
	req, err := note.Request(context.Background(), newEnv(func(k string) (string, error) {
		asked = append(asked, k)
		if k == "apt:5501" {
			return "ghl-apt-9", nil
		}
		return "", nil
	}))
	if err != nil || req.Skipped || req.Body["body"] != "appointment ghl-apt-9" {
		t.Fatalf("request = %+v, %v", req, err)
	}
	if len(asked) == 0 || asked[0] != "apt:5501" {
		t.Errorf("lookups: %v", asked)
	}
	// Unmapped: nil, so when: is false.
	req, err = note.Request(context.Background(), newEnv(func(string) (string, error) { return "", nil }))
	if err != nil || !req.Skipped {
		t.Errorf("unmapped key: %+v, %v", req, err)
	}
	// No lookup configured reads as unmapped.
	if req, err := note.Request(context.Background(), newEnv(nil)); err != nil || !req.Skipped {
		t.Errorf("no lookup: %+v, %v", req, err)
	}
	// A failing lookup is a LookupError (worth retrying), not bad data.
	boom := errors.New("database is locked")
	_, err = note.Request(context.Background(), newEnv(func(string) (string, error) { return "", boom }))
	var le *LookupError
	if !errors.As(err, &le) || !errors.Is(err, boom) {
		t.Errorf("failing lookup: %v (%T)", err, err)
	}
}

func TestMappedIsCheckedAtLoad(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ expr, want string }{
		{`mapped('a', 'b')`, "arguments"},
		{`mappd('a')`, `did you mean "mapped"`},
	} {
		src := "trigger: {webhook: {source: generic}}\nsteps:\n  - {id: n, op: contacts.createNote, with: {contactId: \"{{ " + c.expr + " }}\", body: x}}\n"
		_, err := Parse("m.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.expr, err, c.want)
		}
	}
}

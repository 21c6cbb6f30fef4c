package engine

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
)

const dryFlow = `name: dry
trigger: {webhook: {source: generic}}
steps:
  - id: contact
    op: contacts.upsert
    with: {email: "{{ event.email }}", tags: [lead]}
  - id: note
    op: contacts.createNote
    when: steps.contact != nil
    with: {contactId: "{{ steps.contact.contact.id }}", body: hello}
  - id: task
    op: contacts.createTask
    with: {contactId: "{{ steps.note.note.contactId }}", title: t, dueDate: "2027-01-01T09:00:00Z", completed: false}
  - id: location
    op: locations.get
    with: {locationId: "{{ connection.locationId }}"}
  - id: stamp
    op: contacts.createNote
    when: steps.location.location.timezone == "America/New_York"
    with: {contactId: "{{ event.contact_id }}", body: "{{ steps.location.location.name }}"}
  - id: off
    op: contacts.createNote
    when: event.never == true
    with: {contactId: x, body: y}
`

func TestTryFlowDryRunSaysWhatCannotBeEvaluated(t *testing.T) {
	t.Parallel()
	f, err := flow.Parse("dry.yaml", []byte(dryFlow))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	conns := &StaticConnections{Token: "pit-sandbox-location", LocationID: "sbx-location-1", Timezone: "America/New_York",
		Config: ghl.Config{BaseURL: srv.URL, Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true})}}
	before := len(sb.Records("contacts")) + len(sb.Records("notes"))
	in := Incoming{Flow: "dry", Source: "generic", Type: "contact.created",
		Payload: map[string]any{"email": "ana@example.com", "contact_id": "c-1"}}
	reports, err := TryFlow(context.Background(), f, in, conns, TryOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID, Note string
		Needs    []string
		Skipped  bool
		Sent     bool
		Request  bool
	}
	var got []row
	for _, r := range reports {
		got = append(got, row{r.ID, r.Note, r.NeedsAnswerOf, r.Skipped, r.Status != 0, len(r.Request) > 0})
	}
	want := []row{
		{ID: "contact", Request: true},
		{ID: "contact.tags", Note: "would add tags [lead] once the contact id is known"},
		{ID: "note", Note: "not evaluable in a dry run: needs the answer of step contact", Needs: []string{"contact"}},
		// Transitively: the note was not evaluated, so neither is the task.
		{ID: "task", Note: "not evaluable in a dry run: needs the answer of step note", Needs: []string{"note"}},
		// A read changes nothing: it is sent, and its answer is used.
		{ID: "location", Sent: true, Request: true},
		{ID: "stamp", Request: true},
		{ID: "off", Skipped: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if after := len(sb.Records("contacts")) + len(sb.Records("notes")); after != before {
		t.Errorf("a dry run changed the sandbox: %d records, was %d", after, before)
	}
}

func TestTryFlowKeyedStepsShareKeys(t *testing.T) {
	t.Parallel()
	f, err := flow.Parse("appts.yaml", []byte(apptFlow))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	conns := &StaticConnections{Token: "pit-sandbox-location", LocationID: "sbx-location-1", Timezone: "America/New_York",
		Config: ghl.Config{BaseURL: srv.URL, Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true})}}
	keys := NewTryKeys()
	try := func(start string, dry bool) StepReport {
		t.Helper()
		reps, err := TryFlow(context.Background(), f, Incoming{Flow: "appts", Payload: appt("a9", start, "")}, conns, TryOptions{Keys: keys, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		var last *StepReport
		for i, r := range reps {
			if r.ID == "appointment" {
				last = &reps[i]
			}
		}
		if last == nil || last.Error != "" {
			t.Fatalf("appointment step: %+v", last)
		}
		return *last // after a 404, the create that followed
	}
	first := try("2027-05-01T10:00:00-04:00", false)
	id := keys.Get("location:sbx-location-1", "apt:a9")
	if first.Op != "calendars.createAppointment" || first.Key != "apt:a9" || id == "" {
		t.Fatalf("first try: %+v, key id %q", first, id)
	}
	// A dry run cannot evaluate it: it needs the contact's answer.
	if dry := try("2027-05-01T11:00:00-04:00", true); dry.Status != 0 || len(dry.NeedsAnswerOf) != 1 {
		t.Errorf("dry run: %+v", dry)
	}
	// Without that dependency, a dry run says it would update the mapped one.
	g, err := flow.Parse("appts2.yaml", []byte(strings.Replace(apptFlow, "{{ steps.contact.contact.id }}", "{{ event.contact_id }}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	reps, err := TryFlow(context.Background(), g, Incoming{Flow: "appts", Payload: appt("a9", "2027-05-01T11:00:00-04:00", "")}, conns, TryOptions{Keys: keys, DryRun: true})
	if err != nil || len(reps) < 2 || reps[1].Status != 0 || reps[1].Op != "calendars.updateAppointment" || !strings.Contains(reps[1].Note, "maps to "+id+": would update it") {
		t.Errorf("dry run of an update: %v %+v", err, reps)
	}
	if second := try("2027-05-01T12:00:00-04:00", false); second.Op != "calendars.updateAppointment" || second.Status != 200 {
		t.Errorf("second try: %+v", second)
	}
	sbClient := ghl.New(conns.Config, ghl.StaticToken("pit-sandbox-location"), "sbx-location-1")
	if _, err := sbClient.Do(context.Background(), "calendars.deleteEvent", ghl.Params{Path: map[string]string{"eventId": id}}); err != nil {
		t.Fatal(err)
	}
	third := try("2027-05-01T13:00:00-04:00", false)
	if third.Op != "calendars.createAppointment" || !strings.Contains(third.Note, "created again") {
		t.Errorf("after a delete: %+v", third)
	}
	if list := sb.Records("appointments"); len(list) != 1 || list[0]["id"] == id || keys.Get("location:sbx-location-1", "apt:a9") != list[0]["id"] {
		t.Errorf("appointments: %v", list)
	}
}

package main

import (
	"strings"
	"testing"
)

// TestFlowsTestDryRunReportsUnevaluableSteps runs the documented
// reproduction: in a dry run nothing is sent, so the steps reading the
// contact's answer cannot be evaluated, and must say so rather than look
// skipped.
func TestFlowsTestDryRunReportsUnevaluableSteps(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "", "flows", "test", "../../examples/flows/notes-and-tasks.yaml",
		"--event", "@../../testdata/events/notes-and-tasks.json", "--dry-run")
	if err != nil {
		t.Fatalf("flows test --dry-run: %v\n%s", err, out)
	}
	for _, want := range []string{
		"== note  contacts.createNote  not evaluable in a dry run: needs the answer of step contact",
		"== task  contacts.createTask  not evaluable in a dry run: needs the answer of step contact",
		`"path": "/contacts/upsert"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "skipped (when: is false)") || strings.Contains(out, "HTTP ") {
		t.Errorf("dry run reported a skip or sent a write:\n%s", out)
	}
}

// TestFlowsTestKeyedStep shows a keyed step's key and that, in one try, the
// create is what runs.
func TestFlowsTestKeyedStep(t *testing.T) {
	t.Parallel()
	out, _, err := run(t, "", "flows", "test", "../../examples/flows/sync-appointments.yaml",
		"--event", "@../../testdata/events/sync-appointments.json")
	if err != nil {
		t.Fatalf("flows test: %v\n%s", err, out)
	}
	for _, want := range []string{"== appointment  calendars.createAppointment  HTTP 20", "key: apt:apt_5501"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestFlowsTestAppliesTypes: an event the flow's types: filter would not run
// is refused (as a server would ignore it) unless --any-type is given.
func TestFlowsTestAppliesTypes(t *testing.T) {
	t.Parallel()
	event := `{"id":"evt_t1","type":"note.created","data":{"email":"types@example.com"}}`
	out, _, err := run(t, "", "flows", "test", "../../examples/flows/sync-contacts-generic.yaml",
		"--event", event, "--dry-run")
	if err == nil || !strings.Contains(err.Error(), `not "note.created"`) || !strings.Contains(err.Error(), "--any-type") {
		t.Fatalf("err = %v, want a refusal naming the type and --any-type\n%s", err, out)
	}
	out, _, err = run(t, "", "flows", "test", "../../examples/flows/sync-contacts-generic.yaml",
		"--event", event, "--dry-run", "--any-type")
	if err != nil || !strings.Contains(out, "contacts.upsert") {
		t.Fatalf("with --any-type: err = %v\n%s", err, out)
	}
}

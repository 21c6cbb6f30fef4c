package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
	"github.com/ghlsync/ghlsync/internal/store"
)

func ops(t *testing.T, ids ...string) []*catalog.Operation {
	t.Helper()
	var out []*catalog.Operation
	for _, id := range ids {
		op, err := catalog.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, op)
	}
	return out
}

func TestMissingScopes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		granted []string
		ops     []string
		want    []string
	}{
		{"all granted", []string{"contacts.write", "calendars/events.write"}, []string{"contacts.upsert", "calendars.createAppointment"}, nil},
		{"missing one", []string{"contacts.write"}, []string{"contacts.upsert", "calendars.createAppointment"}, []string{"calendars/events.write"}},
		{"write does not imply read", []string{"contacts.write"}, []string{"contacts.get"}, []string{"contacts.readonly"}},
		{"nothing granted, deduplicated and sorted", nil, []string{"calendars.updateAppointment", "contacts.upsert", "calendars.createAppointment"}, []string{"calendars/events.write", "contacts.write"}},
		{"no ops", nil, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if d := cmp.Diff(c.want, MissingScopes(c.granted, ops(t, c.ops...))); d != "" {
				t.Fatalf("MissingScopes (-want +got):\n%s", d)
			}
		})
	}
	if ScopeName("snapshots.readonly (docs/oauth/Scopes.md; spec lists no scope)") != "snapshots.readonly" {
		t.Fatal("ScopeName keeps remarks")
	}
}

const appointmentFlow = `name: book
connection: main
trigger:
  webhook:
    source: generic
    secret: env:GHLSYNC_TEST_SECRET
steps:
  - id: contact
    op: contacts.upsert
    with:
      email: "{{ event.email }}"
      customFields:
        Resumo: "{{ event.summary }}"
  - id: appt
    op: calendars.createAppointment
    with:
      calendarId: sbx-calendar-1
      contactId: "{{ steps.contact.contact.id }}"
      startTime: "{{ event.start }}"
`

func TestFlowScopesAndCheckFlow(t *testing.T) {
	t.Parallel()
	f, err := flow.Parse("book.yaml", []byte(appointmentFlow))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"calendars/events.write", "contacts.write", "locations.readonly", "locations/customFields.readonly"}, FlowScopes([]*flow.Flow{f})); d != "" {
		t.Fatalf("FlowScopes (-want +got):\n%s", d)
	}

	e, s := newEnv(t, store.SQLite), newSandbox(t)
	ctx := context.Background()
	m := sandboxManager(t, e, s)
	// A connection without calendars/events.write: the flow must not load.
	sandboxLogin(t, m, s, "main", "location:sbx-location-1", "contacts.write", "locations/customFields.readonly")
	err = m.CheckFlow(ctx, f)
	var se *ScopeError
	if !errors.As(err, &se) || !errors.Is(err, ErrMissingScopes) {
		t.Fatalf("CheckFlow: %v", err)
	}
	if d := cmp.Diff([]string{"calendars/events.write"}, se.Missing); d != "" {
		t.Fatalf("missing (-want +got):\n%s", d)
	}
	for _, want := range []string{"book.yaml", "calendars/events.write", "calendars.createAppointment", `"main"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// Authorised again with the scope, it loads.
	sandboxLogin(t, m, s, "main", "location:sbx-location-1", "contacts.write", "locations/customFields.readonly", "calendars/events.write")
	if err := m.CheckFlow(ctx, f); err != nil {
		t.Fatalf("CheckFlow with every scope: %v", err)
	}
	// A PIT without declared scopes cannot be judged; with declared scopes it is.
	if _, _, err := m.AddPIT(ctx, PITOptions{Name: "main", LocationID: "sbx-location-1", Token: "pit-sandbox-location"}); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckFlow(ctx, f); err != nil {
		t.Fatalf("PIT with unknown scopes: %v", err)
	}
	if _, _, err := m.AddPIT(ctx, PITOptions{Name: "main", LocationID: "sbx-location-1", Token: "pit-sandbox-location", Scopes: []string{"contacts.write"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckFlow(ctx, f); !errors.As(err, &se) || len(se.Missing) != 2 {
		t.Fatalf("PIT with declared scopes: %v", err)
	}
	// An unknown connection is its own error.
	f.Connection = "nope"
	if err := m.CheckFlow(ctx, f); !errors.Is(err, ErrUnknownConnection) {
		t.Fatalf("unknown connection: %v", err)
	}
}

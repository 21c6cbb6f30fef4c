package engine

import (
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// Every operation whose outcome must be looked up before resending has a
// lookup through a list operation that exists and reads the right path
// parameters.
func TestEveryReconcileOperationHasALookup(t *testing.T) {
	t.Parallel()
	for _, op := range catalog.All() {
		if op.Idempotency != catalog.Reconcile || op.Kind != catalog.Action {
			continue
		}
		if !reconcilable(op) {
			t.Errorf("%s is reconcile-class but has no lookup; a retry after an unknown outcome would fail the run", op.ID)
			continue
		}
		lk, ok := lookups[op.ID]
		if !ok {
			continue // contacts.create: duplicate search
		}
		list, ok := catalog.Get(lk.list)
		if !ok {
			t.Errorf("%s: lookup list %s is not in the catalog", op.ID, lk.list)
			continue
		}
		if list.Method != "GET" || list.Pagination == nil {
			t.Errorf("%s: lookup %s is not a GET list", op.ID, lk.list)
		}
		for rk := range lk.keys {
			if !op.HasBodyField(rk) && !contains(op.PathParams, rk) {
				t.Errorf("%s: natural key field %s is neither a body field nor a path parameter", op.ID, rk)
			}
		}
	}
	for id := range lookups {
		if _, ok := catalog.Get(id); !ok {
			t.Errorf("lookup for unknown operation %s", id)
		}
	}
}

func TestMatchesComparesTimesAsInstants(t *testing.T) {
	t.Parallel()
	keys := map[string]string{"calendarId": "calendarId", "startTime": "startTime"}
	item := map[string]any{"calendarId": "cal1", "startTime": "2026-03-02T14:00:00Z"}
	for want, start := range map[bool]string{true: "2026-03-02T09:00:00-05:00", false: "2026-03-02T09:30:00-05:00"} {
		if got := matches(item, map[string]string{"calendarId": "cal1", "startTime": start}, keys); got != want {
			t.Errorf("start %s: matches = %v, want %v", start, got, want)
		}
	}
	if matches(item, map[string]string{"calendarId": "cal2", "startTime": "2026-03-02T14:00:00Z"}, keys) {
		t.Error("another calendar matched")
	}
}

func TestCreatedSinceIgnoresOlderObjects(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for added, want := range map[string]bool{
		"2026-03-01T12:00:01.000Z": true,
		"2026-03-01T11:58:00.000Z": true, // within the clock skew allowance
		"2026-03-01T11:00:00.000Z": false,
	} {
		if got := createdSince(map[string]any{"dateAdded": added}, since); got != want {
			t.Errorf("added %s: %v, want %v", added, got, want)
		}
	}
	if !createdSince(map[string]any{}, since) {
		t.Error("an item without a date was excluded")
	}
}

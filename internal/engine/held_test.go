package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/riverqueue/river"

	"github.com/ghlsync/ghlsync/internal/store"
)

// TestHeldFlowRunsSnoozeUntilReleased: a run of a held flow (an event
// accepted before the hold, or a replay) waits without calling GoHighLevel
// and without spending an attempt, and runs once the hold is lifted.
func TestHeldFlowRunsSnoozeUntilReleased(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	res := h.ingest("three", "evt-1", map[string]any{"email": "ana@example.com", "n": 1})
	why := errors.New(`connection "default" lacks scope contacts.write`)
	h.e.SetHeld(map[string]error{"three": why, "other": nil})

	if got := h.e.Held("three"); got != why {
		t.Fatalf("Held(three) = %v", got)
	}
	if got := h.e.Held("other"); got != nil {
		t.Errorf("Held(other) = %v, want nil (a nil reason holds nothing)", got)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		err := h.work(res.RunID, attempt)
		var sn *river.JobSnoozeError
		if !errors.As(err, &sn) || sn.Duration != HeldRunWait {
			t.Fatalf("attempt %d: err = %v, want a snooze of %s", attempt, err, HeldRunWait)
		}
	}
	if n := h.ghl.count("POST /contacts/upsert"); n != 0 {
		t.Errorf("%d upserts sent for a held flow", n)
	}
	r := h.run(res.RunID)
	if r.Status != store.RunRetrying || !strings.Contains(r.Error, "waiting: ") || !strings.Contains(r.Error, "held") ||
		!strings.Contains(r.Error, "lacks scope contacts.write") {
		t.Errorf("run = %s %q, want retrying and waiting with the reason", r.Status, r.Error)
	}

	h.e.SetHeld(nil)
	if err := h.work(res.RunID, 3); err != nil {
		t.Fatal(err)
	}
	if r := h.run(res.RunID); r.Status != store.RunSucceeded {
		t.Errorf("after the hold was lifted: %s %q", r.Status, r.Error)
	}
	if len(h.e.HeldFlows()) != 0 {
		t.Errorf("HeldFlows = %v", h.e.HeldFlows())
	}
}

func TestFlowHeldErrorIsAConnectionPause(t *testing.T) {
	t.Parallel()
	why := errors.New("lacks scope")
	err := error(&FlowHeldError{Flow: "f", Reason: why})
	if !errors.Is(err, ErrConnectionUnavailable) || !errors.Is(err, why) {
		t.Errorf("%v: Is(ErrConnectionUnavailable) and Is(reason) should both hold", err)
	}
	if f := classify(err, ""); f.kind != failSnooze {
		t.Errorf("classify: kind %d, want snooze", f.kind)
	}
}

// TestHeldPollFlowDoesNotList: a held polling flow lists nothing.
func TestHeldPollFlowDoesNotList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"newcontacts": pollNew})
	h.e.SetHeld(map[string]error{"newcontacts": errors.New("lacks scope contacts.readonly")})
	_, err := h.e.Poll(h.ctx, "newcontacts")
	var held *FlowHeldError
	if !errors.As(err, &held) || held.Flow != "newcontacts" {
		t.Fatalf("Poll = %v, want a FlowHeldError", err)
	}
	if n := h.ghl.count("POST /contacts/search"); n != 0 {
		t.Errorf("%d searches sent for a held flow", n)
	}
	h.e.SetHeld(nil)
	if res, err := h.e.Poll(h.ctx, "newcontacts"); err != nil || !res.Baseline {
		t.Errorf("after the hold: %+v %v", res, err)
	}
	if n := h.ghl.count("POST /contacts/search"); n == 0 {
		t.Error("no search sent once the hold was lifted")
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

const pollNew = `name: newcontacts
trigger:
  poll:
    op: contacts.search
    every: 1m
steps:
  - id: tag
    op: contacts.addTags
    with:
      contactId: "{{ event.id }}"
      tags: [new]
`

const pollUpdated = `name: changed
trigger:
  poll:
    op: contacts.search
    every: 1m
    updated: true
steps:
  - id: tag
    op: contacts.addTags
    with:
      contactId: "{{ event.id }}"
      tags: [changed]
`

func ts(min int) string {
	return time.Date(2026, 3, 1, 12, min, 0, 0, time.UTC).Format("2006-01-02T15:04:05.000Z")
}

// polledEvents returns the source ids of the flow's events, sorted.
func (h *harness) polledEvents(flowName string) []string {
	h.t.Helper()
	runs, err := h.st.ListRuns(h.ctx, store.RunFilter{Flow: flowName, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, r := range runs {
		ev, err := h.st.GetEvent(h.ctx, r.EventID)
		if err != nil {
			h.t.Fatal(err)
		}
		if ev.Source != "poll" || ev.Type != "contacts.search" {
			h.t.Errorf("event %s: source %s type %s", ev.ID, ev.Source, ev.Type)
		}
		out = append(out, ev.SourceEventID)
	}
	sort.Strings(out)
	return out
}

func TestPollBaselineThenNewItemsOnce(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d, map[string]string{"newcontacts": pollNew})
			for i := 0; i < 3; i++ {
				h.ghl.addContact(map[string]any{"email": fmt.Sprintf("old%d@example.com", i), "dateAdded": ts(i)})
			}
			res, err := h.e.Poll(h.ctx, "newcontacts")
			if err != nil {
				t.Fatal(err)
			}
			if !res.Baseline || res.Emitted != 0 || res.Listed != 3 {
				t.Fatalf("first poll = %+v, want a baseline of 3 items and nothing emitted", res)
			}
			if got := h.polledEvents("newcontacts"); len(got) != 0 {
				t.Fatalf("baseline emitted %v", got)
			}
			// Two new contacts, one at the same instant as the newest old one.
			a := h.ghl.addContact(map[string]any{"email": "a@example.com", "dateAdded": ts(2)})
			b := h.ghl.addContact(map[string]any{"email": "b@example.com", "dateAdded": ts(5)})
			res, err = h.e.Poll(h.ctx, "newcontacts")
			if err != nil {
				t.Fatal(err)
			}
			if res.Baseline || res.Emitted != 2 {
				t.Fatalf("second poll = %+v, want 2 emitted", res)
			}
			want := []string{a, b}
			sort.Strings(want)
			if diff := cmp.Diff(want, h.polledEvents("newcontacts")); diff != "" {
				t.Errorf("emitted (-want +got):\n%s", diff)
			}
			for i := 0; i < 2; i++ {
				res, err = h.e.Poll(h.ctx, "newcontacts")
				if err != nil || res.Emitted != 0 {
					t.Fatalf("poll again = %+v, %v; want nothing new", res, err)
				}
			}
			st, err := h.st.GetPollState(h.ctx, "newcontacts")
			if err != nil {
				t.Fatal(err)
			}
			if st.CursorID != b || !st.CursorTime.Equal(time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)) || len(st.Seen) != 5 {
				t.Errorf("poll state = %+v", st)
			}
			// Runs of polled items execute like any other.
			runs, _ := h.st.ListRuns(h.ctx, store.RunFilter{Flow: "newcontacts"})
			for _, r := range runs {
				if err := h.work(r.ID, 1); err != nil {
					t.Fatal(err)
				}
			}
			_, _, tags := h.ghl.snapshot()
			if len(tags["a@example.com"]) != 1 || len(tags["b@example.com"]) != 1 || len(tags["old0@example.com"]) != 0 {
				t.Errorf("tags = %v", tags)
			}
		})
	}
}

func TestPollUpdatedItemsRunOncePerChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"changed": pollUpdated})
	id := h.ghl.addContact(map[string]any{"email": "u@example.com", "dateAdded": ts(0), "dateUpdated": ts(0)})
	if res, err := h.e.Poll(h.ctx, "changed"); err != nil || !res.Baseline {
		t.Fatalf("baseline: %+v %v", res, err)
	}
	h.ghl.mu.Lock()
	h.ghl.contacts[id]["dateUpdated"] = ts(7)
	h.ghl.mu.Unlock()
	res, err := h.e.Poll(h.ctx, "changed")
	if err != nil || res.Emitted != 1 {
		t.Fatalf("after an update: %+v %v", res, err)
	}
	if res, err := h.e.Poll(h.ctx, "changed"); err != nil || res.Emitted != 0 {
		t.Fatalf("no further change: %+v %v", res, err)
	}
	h.ghl.mu.Lock()
	h.ghl.contacts[id]["dateUpdated"] = ts(9)
	h.ghl.mu.Unlock()
	if res, err := h.e.Poll(h.ctx, "changed"); err != nil || res.Emitted != 1 {
		t.Fatalf("second update: %+v %v", res, err)
	}
	want := []string{id + "@" + ts(7), id + "@" + ts(9)}
	if diff := cmp.Diff(want, h.polledEvents("changed")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestPollUpdatedDoesNotTrustTheSort: the fake list ignores the requested
// sort and answers newest-created first, so an old item that was just
// updated sits behind items older than the checkpoint. The poll reads on
// and emits it (and the new item), once each.
func TestPollUpdatedDoesNotTrustTheSort(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"changed": pollUpdated}, func(c *Config) { c.SeenSetSize = 2 })
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, h.ghl.addContact(map[string]any{"email": fmt.Sprintf("o%d@example.com", i), "dateAdded": ts(i), "dateUpdated": ts(i)}))
	}
	if res, err := h.e.Poll(h.ctx, "changed"); err != nil || !res.Baseline {
		t.Fatalf("baseline: %+v %v", res, err)
	}
	// The oldest contact changes; a new one arrives.
	h.ghl.mu.Lock()
	h.ghl.contacts[ids[0]]["dateUpdated"] = ts(9)
	h.ghl.mu.Unlock()
	fresh := h.ghl.addContact(map[string]any{"email": "new@example.com", "dateAdded": ts(8), "dateUpdated": ts(8)})
	res, err := h.e.Poll(h.ctx, "changed")
	if err != nil || res.Emitted != 2 || res.Listed != 5 {
		t.Fatalf("poll after the update: %+v %v, want all 5 read and 2 emitted", res, err)
	}
	want := []string{fresh + "@" + ts(8), ids[0] + "@" + ts(9)}
	sort.Strings(want)
	if diff := cmp.Diff(want, h.polledEvents("changed")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Nothing changed: nothing again, although the seen-set holds only two keys.
	if res, err := h.e.Poll(h.ctx, "changed"); err != nil || res.Emitted != 0 {
		t.Fatalf("poll again: %+v %v", res, err)
	}
	st, err := h.st.GetPollState(h.ctx, "changed")
	if err != nil {
		t.Fatal(err)
	}
	if st.CursorID != ids[0] || !st.CursorTime.Equal(time.Date(2026, 3, 1, 12, 9, 0, 0, time.UTC)) || len(st.Seen) != 2 {
		t.Errorf("poll state = %+v", st)
	}
}

// TestPollAddedStopsEarlyOnlyWhenSorted: an added trigger stops at the
// checkpoint only while the answer is really newest first.
func TestPollAddedStopsEarlyOnlyWhenSorted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"newcontacts": pollNew})
	for i := 0; i < 3; i++ {
		h.ghl.addContact(map[string]any{"email": fmt.Sprintf("o%d@example.com", i), "dateAdded": ts(i)})
	}
	if _, err := h.e.Poll(h.ctx, "newcontacts"); err != nil {
		t.Fatal(err)
	}
	h.ghl.addContact(map[string]any{"email": "n@example.com", "dateAdded": ts(5)})
	res, err := h.e.Poll(h.ctx, "newcontacts")
	if err != nil || res.Emitted != 1 || res.Listed != 3 {
		t.Fatalf("sorted answer: %+v %v, want a stop after the first item older than the checkpoint (3 listed)", res, err)
	}
}

func TestPollSeenSetIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"newcontacts": pollNew}, func(c *Config) { c.SeenSetSize = 3 })
	for i := 0; i < 5; i++ {
		h.ghl.addContact(map[string]any{"email": fmt.Sprintf("c%d@example.com", i), "dateAdded": ts(i)})
	}
	if _, err := h.e.Poll(h.ctx, "newcontacts"); err != nil {
		t.Fatal(err)
	}
	st, err := h.st.GetPollState(h.ctx, "newcontacts")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Seen) != 3 {
		t.Errorf("seen set holds %d ids, want 3", len(st.Seen))
	}
	// Items the seen-set forgot stay behind the timestamp checkpoint.
	res, err := h.e.Poll(h.ctx, "newcontacts")
	if err != nil || res.Emitted != 0 {
		t.Errorf("poll after the seen-set forgot old items: %+v %v", res, err)
	}
}

func TestPollErrorsAndRateLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"newcontacts": pollNew})
	if _, err := h.e.Poll(h.ctx, "newcontacts"); err != nil {
		t.Fatal(err)
	}
	h.ghl.fault("POST /contacts/search", fault429, fault429)
	_, err := h.e.Poll(h.ctx, "newcontacts")
	if f := classify(err, ""); f.kind != failSnooze {
		t.Errorf("429 during a poll: %v classified %v, want a snooze", err, f.kind)
	}
	st, _ := h.st.GetPollState(h.ctx, "newcontacts")
	if st.LastError == "" {
		t.Error("the poll error was not recorded")
	}
	if _, err := h.e.Poll(h.ctx, "nope"); err == nil {
		t.Error("poll of an unknown flow succeeded")
	}
}

// TestPollFailureBeforeBaselineIsRecordedAndLogged: a poll that fails
// before its first success is logged at WARN with the flow and kept in
// its poll state; the next successful poll still takes the baseline and
// clears the error.
func TestPollFailureBeforeBaselineIsRecordedAndLogged(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	h := newHarness(t, store.SQLite, map[string]string{"newcontacts": pollNew}, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	h.ghl.addContact(map[string]any{"email": "x@example.com", "dateAdded": ts(1)})
	h.ghl.fault("POST /contacts/search", fault422)
	w := &pollWorker{e: h.e}
	err := w.Work(h.ctx, &river.Job[PollArgs]{JobRow: &rivertype.JobRow{Attempt: 1}, Args: PollArgs{Flow: "newcontacts"}})
	if err == nil {
		t.Fatal("poll against a 422 succeeded")
	}
	st, gerr := h.st.GetPollState(h.ctx, "newcontacts")
	if gerr != nil {
		t.Fatalf("no poll state after a failure before the baseline: %v", gerr)
	}
	if !strings.Contains(st.LastError, "422") || st.LastErrorAt.IsZero() || !st.BaselineAt.IsZero() {
		t.Errorf("poll state after the failure = %+v", st)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, `msg="poll failed"`) ||
		!strings.Contains(out, "flow=newcontacts") || !strings.Contains(out, "422") {
		t.Errorf("log lacks a WARN line for the failed poll:\n%s", out)
	}
	res, err := h.e.Poll(h.ctx, "newcontacts")
	if err != nil || !res.Baseline || res.Emitted != 0 {
		t.Fatalf("poll after the fault: %+v %v, want a baseline", res, err)
	}
	st, _ = h.st.GetPollState(h.ctx, "newcontacts")
	if st.LastError != "" || st.BaselineAt.IsZero() || st.LastErrorAt.IsZero() {
		t.Errorf("poll state after recovering = %+v, want the error cleared and its time kept", st)
	}
}

func TestRetentionPurgesOldHistory(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := now
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps}, func(c *Config) {
		c.Retain = 24 * time.Hour
		c.Now = func() time.Time { return clock }
	})
	clock = now.Add(-48 * time.Hour)
	old := h.ingest("three", "old", map[string]any{"email": "old@example.com", "n": 1})
	if err := h.work(old.RunID, 1); err != nil {
		t.Fatal(err)
	}
	pending := h.ingest("three", "old-pending", map[string]any{"email": "p@example.com", "n": 2})
	clock = now
	fresh := h.ingest("three", "fresh", map[string]any{"email": "f@example.com", "n": 3})
	res, err := h.e.Purge(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 1 || res.Runs != 1 {
		t.Errorf("purge = %+v, want the old finished event and its run", res)
	}
	for id, want := range map[string]bool{old.EventID: false, pending.EventID: true, fresh.EventID: true} {
		_, err := h.st.GetEvent(h.ctx, id)
		if (err == nil) != want {
			t.Errorf("event %s kept=%v, want %v", id, err == nil, want)
		}
	}
}

// TestPeriodicJobsRunThroughRiver starts the engine: the poll and the
// retention purge are scheduled as River periodic jobs that run on start.
func TestPeriodicJobsRunThroughRiver(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"newcontacts": pollNew, "three": threeSteps}, func(c *Config) {
		c.Retain = time.Hour
	})
	h.ghl.addContact(map[string]any{"email": "x@example.com", "dateAdded": ts(1)})
	// An event old enough to be purged.
	h.e.cfg.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	old := h.ingest("three", "old", map[string]any{"email": "old@example.com", "n": 1})
	if err := h.work(old.RunID, 1); err != nil {
		t.Fatal(err)
	}
	h.e.cfg.Now = time.Now
	if err := h.e.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	defer h.e.Stop(context.Background())
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := h.st.GetPollState(h.ctx, "newcontacts")
		_, gone := h.st.GetEvent(h.ctx, old.EventID)
		if err == nil && !st.BaselineAt.IsZero() && errors.Is(gone, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: poll state %+v (%v), old event lookup: %v", st, err, gone)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

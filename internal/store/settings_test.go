package store_test

import (
	"context"
	"testing"

	"github.com/ghlsync/ghlsync/internal/store"
)

func TestSettings(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if v, ok, err := s.Setting(ctx, store.SettingRedactFields); err != nil || ok || v != "" {
			t.Fatalf("unset setting = %q, %v, %v", v, ok, err)
		}
		for _, want := range []string{"email,phone", ""} {
			if err := s.SetSetting(ctx, store.SettingRedactFields, want); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.Setting(ctx, store.SettingRedactFields); err != nil || !ok || v != want {
				t.Errorf("setting = %q, %v, %v; want %q", v, ok, err, want)
			}
		}
	})
}

// TestDashboardQueries: per-flow stats, events by id, runs found by the
// source's event id, and waiting jobs.
func TestDashboardQueries(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var runs []*store.Run
		var events []*store.Event
		err := s.InTx(ctx, func(tx *store.Tx) error {
			for i, f := range []string{"a", "a", "a", "b"} {
				ev := newEvent(f, "src-"+string(rune('1'+i)), `{"data":{"email":"x@example.com"}}`)
				if _, _, err := tx.InsertEvent(ctx, ev); err != nil {
					return err
				}
				r := &store.Run{EventID: ev.ID, Flow: f}
				if err := tx.InsertRun(ctx, r); err != nil {
					return err
				}
				runs, events = append(runs, r), append(events, ev)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, st := range []string{store.RunSucceeded, store.RunSucceeded, store.RunFailed} {
			if err := s.FinishRun(ctx, runs[i].ID, st, ""); err != nil {
				t.Fatal(err)
			}
		}
		stats, err := s.FlowRunStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a := stats["a"]; a == nil || a.Counts[store.RunSucceeded] != 2 || a.Counts[store.RunFailed] != 1 || a.LastSuccess.IsZero() {
			t.Errorf("stats of a = %+v", a)
		}
		if b := stats["b"]; b == nil || b.Counts[store.RunQueued] != 1 || !b.LastSuccess.IsZero() {
			t.Errorf("stats of b = %+v", b)
		}
		got, err := s.GetEvents(ctx, []string{events[0].ID, events[3].ID, "ev_missing"})
		if err != nil || len(got) != 2 || got[events[3].ID].Flow != "b" {
			t.Errorf("GetEvents = %v, %v", got, err)
		}
		for _, key := range []string{events[1].ID, "src-2"} {
			found, err := s.ListRuns(ctx, store.RunFilter{EventID: key})
			if err != nil || len(found) != 1 || found[0].ID != runs[1].ID {
				t.Errorf("runs of event %s = %v, %v", key, found, err)
			}
		}
		if n, err := s.WaitingJobs(ctx); err != nil || n != 0 {
			t.Errorf("waiting jobs = %d, %v", n, err)
		}
	})
}

package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/riverqueue/river"

	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

// eachDialect runs fn as a parallel subtest against every database.
func eachDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, storetest.Open(t, d, "store"))
		})
	}
}

func newEvent(flow, sourceID, body string) *store.Event {
	return &store.Event{
		Flow:          flow,
		Source:        "generic",
		Type:          "contact.created",
		SourceEventID: sourceID,
		Payload:       []byte(body),
		Raw:           []byte(body),
		RawSize:       len(body),
		Headers:       map[string]string{"Content-Type": "application/json"},
	}
}

func TestEventsDedupe(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		cases := []struct {
			name     string
			ev       *store.Event
			inserted bool
			sameAs   int // index of the earlier case whose id is returned for a repeat
		}{
			{"first by source id", newEvent("f1", "d-1", `{"a":1}`), true, -1},
			{"same source id, other body", newEvent("f1", "d-1", `{"a":2}`), false, 0},
			{"same source id, other flow", newEvent("f2", "d-1", `{"a":1}`), true, -1},
			{"no source id", newEvent("f1", "", `{"b":"José 😀"}`), true, -1},
			{"no source id, same body", newEvent("f1", "", `{"b":"José 😀"}`), false, 3},
			{"no source id, body differs by a byte", newEvent("f1", "", `{"b":"José 😁"}`), true, -1},
		}
		ids := make([]string, len(cases))
		for i, c := range cases {
			ins, id, err := s.InsertEvent(ctx, c.ev)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			ids[i] = id
			if ins != c.inserted {
				t.Errorf("%s: inserted = %v, want %v", c.name, ins, c.inserted)
			}
			if c.sameAs >= 0 && id != ids[c.sameAs] {
				t.Errorf("%s: id = %s, want the first delivery's %s", c.name, id, ids[c.sameAs])
			}
		}
		got, err := s.GetEvent(ctx, ids[3])
		if err != nil {
			t.Fatal(err)
		}
		want := cases[3].ev
		if diff := cmp.Diff(want, got, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
			t.Errorf("stored event differs (-want +got):\n%s", diff)
		}
		if n, _ := s.CountEvents(ctx, "f1"); n != 3 {
			t.Errorf("f1 has %d events, want 3", n)
		}
		if _, err := s.GetEvent(ctx, "ev_missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing event: err = %v, want ErrNotFound", err)
		}
	})
}

func TestEventsConcurrentDeliveriesStoreOne(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		const n = 12
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			inserted int
			ids      = map[string]bool{}
		)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.InTx(ctx, func(tx *store.Tx) error {
					ins, id, err := tx.InsertEvent(ctx, newEvent("f", "same", `{}`))
					if err != nil {
						return err
					}
					mu.Lock()
					defer mu.Unlock()
					ids[id] = true
					if ins {
						inserted++
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if inserted != 1 || len(ids) != 1 {
			t.Errorf("inserted %d times with %d distinct ids, want 1 and 1", inserted, len(ids))
		}
	})
}

type testArgs struct {
	RunID string `json:"run_id"`
}

func (testArgs) Kind() string { return "store_test" }

func TestEventAndJobCommitTogether(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		rc, err := river.NewClient(s.RiverDriver(), &river.Config{})
		if err != nil {
			t.Fatal(err)
		}
		insert := func(sourceID string, fail bool) error {
			return s.InTx(ctx, func(tx *store.Tx) error {
				ev := newEvent("f", sourceID, `{}`)
				if _, _, err := tx.InsertEvent(ctx, ev); err != nil {
					return err
				}
				run := &store.Run{EventID: ev.ID, Flow: "f"}
				if err := tx.InsertRun(ctx, run); err != nil {
					return err
				}
				if _, err := rc.InsertTx(ctx, tx.Tx, testArgs{RunID: run.ID}, nil); err != nil {
					return err
				}
				if fail {
					return errors.New("boom")
				}
				return nil
			})
		}
		if err := insert("ok", false); err != nil {
			t.Fatal(err)
		}
		if err := insert("rolled-back", true); err == nil {
			t.Fatal("want the injected error")
		}
		var jobs, events, runs int
		if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM river_job`).Scan(&jobs); err != nil {
			t.Fatal(err)
		}
		events, _ = s.CountEvents(ctx, "")
		counts, _ := s.CountRunsByStatus(ctx)
		runs = counts[store.RunQueued]
		if jobs != 1 || events != 1 || runs != 1 {
			t.Errorf("jobs=%d events=%d runs=%d, want 1 of each (the failed transaction left nothing)", jobs, events, runs)
		}
		depth, err := s.QueueDepth(ctx)
		if err != nil || depth != 1 {
			t.Errorf("queue depth = %d, %v; want 1", depth, err)
		}
	})
}

func TestRunsLifecycleAndListing(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var runIDs []string
		for i, flow := range []string{"a", "b", "a", "a"} {
			ev := newEvent(flow, fmt.Sprint(i), `{}`)
			if _, _, err := s.InsertEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
			r := &store.Run{EventID: ev.ID, Flow: flow}
			if err := s.InsertRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			runIDs = append(runIDs, r.ID)
			time.Sleep(2 * time.Millisecond) // ids sort by millisecond
		}
		if err := s.StartRun(ctx, runIDs[0], 42, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRunStatus(ctx, runIDs[0], store.RunSucceeded, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.StartRun(ctx, runIDs[2], 43, 3); err != nil {
			t.Fatal(err)
		}
		if err := s.SetRunStatus(ctx, runIDs[2], store.RunFailed, "contacts.upsert: 422 email invalid"); err != nil {
			t.Fatal(err)
		}

		r, err := s.GetRun(ctx, runIDs[2])
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != store.RunFailed || r.Attempts != 3 || r.JobID != 43 || r.Error == "" ||
			r.StartedAt.IsZero() || r.FinishedAt.IsZero() || r.FinishedAt.Before(r.StartedAt) {
			t.Errorf("run after failure = %+v", r)
		}

		ids := func(rs []*store.Run) []string {
			var out []string
			for _, r := range rs {
				out = append(out, r.ID)
			}
			return out
		}
		tests := []struct {
			name string
			f    store.RunFilter
			want []string
		}{
			{"all newest first", store.RunFilter{}, []string{runIDs[3], runIDs[2], runIDs[1], runIDs[0]}},
			{"by flow", store.RunFilter{Flow: "a"}, []string{runIDs[3], runIDs[2], runIDs[0]}},
			{"by status", store.RunFilter{Status: store.RunQueued}, []string{runIDs[3], runIDs[1]}},
			{"flow and status", store.RunFilter{Flow: "a", Status: store.RunSucceeded}, []string{runIDs[0]}},
			{"limit", store.RunFilter{Limit: 2}, []string{runIDs[3], runIDs[2]}},
			{"page after", store.RunFilter{Before: runIDs[2]}, []string{runIDs[1], runIDs[0]}},
		}
		for _, tt := range tests {
			got, err := s.ListRuns(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, diff)
			}
		}
		counts, err := s.CountRunsByStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]int{"queued": 2, "succeeded": 1, "failed": 1}, counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
		if _, err := s.GetRun(ctx, "run_nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing run: %v", err)
		}
	})
}

func TestStepCheckpoints(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ev := newEvent("f", "x", `{}`)
		if _, _, err := s.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		run := &store.Run{EventID: ev.ID, Flow: "f"}
		if err := s.InsertRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		// Step 2 is begun, its outcome is lost, begun again and succeeds.
		up := &store.Step{RunID: run.ID, StepID: "upsert", Index: 0, Op: "contacts.upsert", Request: `{"email":"[redacted]"}`}
		if err := s.BeginStep(ctx, up); err != nil {
			t.Fatal(err)
		}
		up.Status, up.HTTPStatus, up.Result, up.Response = store.StepSucceeded, 200, `{"contact":{"id":"c1"}}`, `{"contact":{"id":"c1"}}`
		if err := s.SaveStep(ctx, up); err != nil {
			t.Fatal(err)
		}
		skip := &store.Step{RunID: run.ID, StepID: "maybe", Index: 2, Op: "contacts.addTags", Status: store.StepSkipped}
		if err := s.SaveStep(ctx, skip); err != nil {
			t.Fatal(err)
		}
		note := &store.Step{RunID: run.ID, StepID: "note", Index: 1, Op: "contacts.createNote", Request: `{"body":"hi"}`}
		if err := s.BeginStep(ctx, note); err != nil {
			t.Fatal(err)
		}
		note.Status, note.OutcomeUnknown, note.Error = store.StepUnknown, true, "timeout after send"
		if err := s.SaveStep(ctx, note); err != nil {
			t.Fatal(err)
		}
		note2 := &store.Step{RunID: run.ID, StepID: "note", Index: 1, Op: "contacts.createNote", Request: `{"body":"hi"}`}
		if err := s.BeginStep(ctx, note2); err != nil {
			t.Fatal(err)
		}
		note2.Status, note2.Reconciled, note2.Result, note2.Attempts = store.StepSucceeded, "found existing", `{"note":{"id":"n1"}}`, 2
		if err := s.SaveStep(ctx, note2); err != nil {
			t.Fatal(err)
		}

		steps, err := s.ListSteps(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		type view struct {
			ID, Status, Reconciled, Result, Request, Error string
			Attempts                                       int
			Unknown                                        bool
		}
		var got []view
		for _, st := range steps {
			got = append(got, view{st.StepID, st.Status, st.Reconciled, st.Result, st.Request, st.Error, st.Attempts, st.OutcomeUnknown})
			if st.StartedAt.IsZero() || st.FinishedAt.IsZero() {
				t.Errorf("step %s: times not recorded: %+v", st.StepID, st)
			}
		}
		want := []view{
			{"upsert", store.StepSucceeded, "", `{"contact":{"id":"c1"}}`, `{"email":"[redacted]"}`, "", 1, false},
			{"note", store.StepSucceeded, "found existing", `{"note":{"id":"n1"}}`, `{"body":"hi"}`, "", 2, true},
			{"maybe", store.StepSkipped, "", "", "", "", 0, false},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("steps (-want +got):\n%s", diff)
		}
	})
}

func TestPollState(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if _, err := s.GetPollState(ctx, "p"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("before first poll: %v", err)
		}
		at := time.Date(2026, 3, 1, 12, 0, 0, 123000, time.UTC)
		p := &store.PollState{Flow: "p", TriggerKey: "contacts.search#1", CursorTime: at, CursorID: "c9",
			Seen: []string{"c8", "c9"}, BaselineAt: at, LastPollAt: at}
		if err := s.SavePollState(ctx, p); err != nil {
			t.Fatal(err)
		}
		p.Seen = append(p.Seen, "c10")
		p.LastError = "429"
		if err := s.SavePollState(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPollState(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("poll state (-want +got):\n%s", diff)
		}
		all, err := s.ListPollStates(ctx)
		if err != nil || len(all) != 1 {
			t.Errorf("list = %d, %v", len(all), err)
		}
	})
}

func TestPurgeKeepsUnfinishedRuns(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		old := time.Now().Add(-48 * time.Hour)
		mk := func(id string, received time.Time, status string) string {
			ev := newEvent("f", id, `{}`)
			ev.ReceivedAt = received
			if _, _, err := s.InsertEvent(ctx, ev); err != nil {
				t.Fatal(err)
			}
			r := &store.Run{EventID: ev.ID, Flow: "f"}
			if err := s.InsertRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveStep(ctx, &store.Step{RunID: r.ID, StepID: "s", Op: "contacts.get", Status: store.StepSucceeded}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetRunStatus(ctx, r.ID, status, ""); err != nil {
				t.Fatal(err)
			}
			return ev.ID
		}
		oldDone := mk("old-done", old, store.RunSucceeded)
		oldFailed := mk("old-failed", old, store.RunFailed)
		oldQueued := mk("old-queued", old, store.RunQueued)
		fresh := mk("fresh", time.Now(), store.RunSucceeded)

		res, err := s.PurgeBefore(ctx, time.Now().Add(-24*time.Hour), 1)
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != 1 || res.Runs != 1 {
			t.Errorf("first batch = %+v, want 1 event and 1 run", res)
		}
		res, err = s.PurgeBefore(ctx, time.Now().Add(-24*time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		if res.Events != 1 {
			t.Errorf("second batch = %+v, want 1 event", res)
		}
		var left []string
		for _, id := range []string{oldDone, oldFailed, oldQueued, fresh} {
			if _, err := s.GetEvent(ctx, id); err == nil {
				left = append(left, id)
			}
		}
		want := []string{oldQueued, fresh}
		sort.Strings(left)
		sort.Strings(want)
		if diff := cmp.Diff(want, left); diff != "" {
			t.Errorf("events left (-want +got):\n%s", diff)
		}
		var orphanSteps int
		if err := s.DB.QueryRowContext(ctx, s.Rebind(`SELECT COUNT(*) FROM steps WHERE run_id NOT IN (SELECT id FROM runs)`)).Scan(&orphanSteps); err != nil {
			t.Fatal(err)
		}
		if orphanSteps != 0 {
			t.Errorf("%d steps left without their run", orphanSteps)
		}
	})
}

func TestReopenKeepsDataAndSkipsAppliedMigrations(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			opts := storetest.Options(t, d, "store")
			s1, err := store.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s1.InsertEvent(ctx, newEvent("f", "keep", `{}`)); err != nil {
				t.Fatal(err)
			}
			s1.Close()
			s2, err := store.Open(ctx, opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s2.Close()
			if n, _ := s2.CountEvents(ctx, ""); n != 1 {
				t.Errorf("after reopen: %d events, want 1", n)
			}
			applied, err := s2.AppliedMigrations(ctx)
			if err != nil {
				t.Fatal(err)
			}
			all, _ := store.Migrations(d)
			for _, m := range all {
				if !applied[m.Version] {
					t.Errorf("migration %d not recorded", m.Version)
				}
			}
			if s2.Dialect() != d {
				t.Errorf("dialect = %s", s2.Dialect())
			}
		})
	}
}

func TestMigrationsBothDialectsHaveTheSameVersions(t *testing.T) {
	t.Parallel()
	versions := func(d string) []int {
		ms, err := store.Migrations(d)
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, m := range ms {
			out = append(out, m.Version)
		}
		return out
	}
	if diff := cmp.Diff(versions(store.SQLite), versions(store.Postgres)); diff != "" {
		t.Errorf("sqlite and postgres migrations differ (-sqlite +postgres):\n%s", diff)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		opts store.Options
		want string
	}{
		{"unknown scheme", store.Options{URL: "mysql://u:secret@h/db"}, "expected postgres://"},
		{"password not echoed", store.Options{URL: "mysql://u:secret@h/db"}, "xxxxx"},
		{"unreachable postgres", store.Options{URL: "postgres://u:secret@127.0.0.1:1/db?connect_timeout=1"}, "postgres postgres://u:xxxxx@127.0.0.1:1/db"},
	} {
		_, err := store.Open(ctx, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: err = %v, want it to mention %q and not the password", tt.name, err, tt.want)
		}
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	a := store.NewID("run")
	time.Sleep(2 * time.Millisecond)
	b := store.NewID("run")
	if len(a) != len("run_")+26 || a >= b {
		t.Errorf("ids %q then %q: want 30 chars and increasing", a, b)
	}
}

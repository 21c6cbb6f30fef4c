package store_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

func TestLivenessLocksAndAbandonedJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.Open(t, store.Postgres, "liveness")
	other := storetest.Open(t, store.Postgres, "liveness") // another schema: locks are per database

	alive := func(id string) bool {
		t.Helper()
		ok, err := s.ProcessAlive(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	lockA, err := s.LockProcess(ctx, "ghlsync-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.LockProcess(ctx, "ghlsync-a"); !errors.Is(err, store.ErrProcessLockHeld) {
		t.Fatalf("second holder of one process's lock: %v, want ErrProcessLockHeld", err)
	}
	if err := lockA.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if !alive("ghlsync-a") || alive("ghlsync-b") {
		t.Fatalf("alive: a %v, b %v; want a only", alive("ghlsync-a"), alive("ghlsync-b"))
	}

	// Jobs running under a (alive), b (dead) and a client of another kind.
	job := func(state string, takers ...string) int64 {
		t.Helper()
		var id int64
		err := s.DB.QueryRowContext(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, state, attempt, attempted_at, attempted_by, finalized_at)
			VALUES ('{}', 'run', 5, 'runs', $1::river_job_state, 1, now(), $2, CASE WHEN $1::text = 'completed' THEN now() END) RETURNING id`, state, takers).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ja := job("running", "ghlsync-b", "ghlsync-a") // retried by a after b
	jb := job("running", "ghlsync-a", "ghlsync-b")
	jdone := job("completed", "ghlsync-b")
	jother := job("running", "host_2026_01_01T00_00_00_000000")
	takers, err := s.RunningJobTakers(ctx, "ghlsync-")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(takers)
	if diff := cmp.Diff([]string{"ghlsync-a", "ghlsync-b"}, takers); diff != "" {
		t.Errorf("running job takers (-want +got):\n%s", diff)
	}

	if n, isAlive, err := s.RequeueAbandonedJobs(ctx, "ghlsync-a"); err != nil || !isAlive || n != 0 {
		t.Fatalf("requeue a live process's jobs: %d, alive %v, %v; want nothing done", n, isAlive, err)
	}
	if n, isAlive, err := s.RequeueAbandonedJobs(ctx, "ghlsync-b"); err != nil || isAlive || n != 1 {
		t.Fatalf("requeue a dead process's jobs: %d, alive %v, %v; want 1 requeued", n, isAlive, err)
	}
	state := func(id int64) string {
		t.Helper()
		var st string
		if err := s.DB.QueryRowContext(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	got := map[string]string{"a": state(ja), "b": state(jb), "done": state(jdone), "other": state(jother)}
	want := map[string]string{"a": "running", "b": "available", "done": "completed", "other": "running"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("job states (-want +got):\n%s", diff)
	}

	// Once a's session ends, its lock is free and its jobs can be taken.
	lockA.Release()
	deadline := time.Now().Add(5 * time.Second)
	for alive("ghlsync-a") {
		if time.Now().After(deadline) {
			t.Fatal("a's lock still held 5s after its session ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, isAlive, err := s.RequeueAbandonedJobs(ctx, "ghlsync-a"); err != nil || isAlive || n != 1 {
		t.Fatalf("requeue after a stopped: %d, alive %v, %v; want 1 requeued", n, isAlive, err)
	}
	if st := state(ja); st != "available" {
		t.Errorf("a's job is %s, want available", st)
	}
	// A new holder can take the lock again.
	lockA2, err := s.LockProcess(ctx, "ghlsync-a")
	if err != nil {
		t.Fatal(err)
	}
	lockA2.Release()
}

func TestLivenessNeedsPostgres(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t, store.SQLite, "liveness")
	if _, err := s.LockProcess(context.Background(), "ghlsync-a"); err == nil {
		t.Error("LockProcess on SQLite succeeded")
	}
	if takers, err := s.RunningJobTakers(context.Background(), "ghlsync-"); err != nil || takers != nil {
		t.Errorf("RunningJobTakers on SQLite: %v %v, want nothing", takers, err)
	}
}

package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/store"
)

// A server whose liveness lock is lost while it runs a step (its lock
// connection broke; another server may now take the run over) stops the
// step at once, takes the lock again and finishes the run later, once.
func TestLivenessLostStopsRunningStepsThenResumes(t *testing.T) {
	t.Parallel()
	var (
		mu        sync.Mutex
		requests  int
		cancelled = make(chan struct{})
		arrived   = make(chan struct{})
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		if n == 1 {
			// The first attempt hangs until the engine gives it up.
			close(arrived)
			select {
			case <-r.Context().Done():
				close(cancelled)
			case <-time.After(20 * time.Second):
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok": true}`)
	}))
	t.Cleanup(hook.Close)
	slow := fmt.Sprintf(`name: slow
trigger:
  webhook:
    source: generic
steps:
  - id: call
    op: http
    with:
      url: %s/hook
`, hook.URL)
	h := newHarness(t, store.Postgres, map[string]string{"slow": slow}, func(c *Config) {
		c.LivenessEvery = 100 * time.Millisecond
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	})
	if err := h.e.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	defer h.e.Stop(context.Background())
	res := h.ingest("slow", "evt-1", map[string]any{"email": "a@example.com"})
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the run's request never arrived")
	}

	// End the session holding this server's liveness lock, as a broken
	// connection would.
	hash := fnv.New32a()
	hash.Write([]byte(h.e.processID))
	var ended bool
	err := h.st.DB.QueryRowContext(h.ctx, `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2`,
		uint32(0x67686c76), hash.Sum32()).Scan(&ended)
	if err != nil || !ended {
		t.Fatalf("ending the liveness session: %v (found: %v)", err, ended)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the running step was not stopped within 5s of losing the liveness lock")
	}

	// The lock is taken again and the run finishes, with one more request.
	deadline := time.Now().Add(30 * time.Second)
	for {
		run := h.run(res.RunID)
		if run.Status == store.RunSucceeded {
			break
		}
		if store.Terminal(run.Status) || time.Now().After(deadline) {
			t.Fatalf("run %s: %s %s", run.ID, run.Status, run.Error)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 2 {
		t.Errorf("%d requests, want 2 (the stopped one and the one that finished)", requests)
	}
	if h.e.live.Load() == nil || h.e.live.Load().current() == nil {
		t.Error("the liveness lock is not held again")
	}
}

package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ghlsync/ghlsync/internal/store"
)

// Taking over the runs of a dead server on Postgres.
//
// Each server holds a liveness lock in Postgres named after its River client
// id (see store.LockProcess) while it works jobs; Postgres drops the lock
// when the server dies. Every server checks, each LivenessEvery, who took
// the jobs now running; a taker whose lock stays free for DeadProcessGrace is
// gone, and its jobs go back to the queue at once instead of waiting for
// River's rescuer (JobTimeout plus a minute). The steps' checkpoints make the
// next attempt safe, as after any crash.
//
// A server that loses its own lock while alive (its lock connection broke)
// stops its running jobs within LivenessEvery plus a quarter of the grace,
// well inside the grace, so a job is never worked by two servers at once;
// it works no job
// until it holds the lock again for two LivenessEvery, so that every other
// server sees it back before it starts anything new.

// processIDPrefix starts the River client ids of servers that hold a
// liveness lock. Jobs taken by other clients (an older version during an
// upgrade) are left to River's rescuer.
const processIDPrefix = "ghlsync-"

// errLivenessLost cancels running jobs when the server's liveness lock is
// lost.
var errLivenessLost = errors.New("this server lost its liveness lock in the database; the run is stopped so that another server can take it over safely")

// newProcessID returns a River client id unique to this process.
func newProcessID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%s_%d_%s", processIDPrefix, host, os.Getpid(), hex.EncodeToString(b[:]))
}

// liveness holds this server's lock and takes over dead servers' jobs.
type liveness struct {
	e     *Engine
	id    string
	every time.Duration
	grace time.Duration

	mu      sync.Mutex
	lock    *store.ProcessLock
	term    context.Context // done when the current hold ends
	endTerm context.CancelCauseFunc
	usable  time.Time // jobs run from this time on, while the lock is held

	stop context.CancelFunc
	done chan struct{}
}

// startLiveness takes the lock (failing start if it cannot) and starts
// keeping it and watching the other servers.
func (e *Engine) startLiveness(ctx context.Context) (*liveness, error) {
	l := &liveness{e: e, id: e.processID, every: e.cfg.LivenessEvery, grace: e.cfg.DeadProcessGrace, done: make(chan struct{})}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	lock, err := e.st.LockProcess(lctx, l.id)
	if err != nil {
		return nil, err
	}
	l.hold(lock, time.Now())
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	go l.loop(bg)
	return l, nil
}

func (l *liveness) hold(lock *store.ProcessLock, usable time.Time) {
	term, end := context.WithCancelCause(context.Background())
	l.mu.Lock()
	l.lock, l.term, l.endTerm, l.usable = lock, term, end, usable
	l.mu.Unlock()
}

// current returns the context of the current hold, or nil while the lock
// is not held or not yet usable.
func (l *liveness) current() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lock == nil || time.Now().Before(l.usable) || l.term.Err() != nil {
		return nil
	}
	return l.term
}

func (l *liveness) loop(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.every)
	defer t.Stop()
	firstFree := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.keep(ctx)
		l.sweep(ctx, firstFree)
	}
}

// keep checks the lock's session and takes the lock again after losing it.
func (l *liveness) keep(ctx context.Context) {
	l.mu.Lock()
	lock := l.lock
	l.mu.Unlock()
	// A busy database may answer slowly; a check that times out costs the
	// running steps, so it gets a quarter of the grace (the rest covers
	// stopping them before another server may take their runs).
	wait := max(l.every, l.grace/4)
	if lock != nil {
		pctx, cancel := context.WithTimeout(ctx, wait)
		err := lock.Ping(pctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		l.e.log.Warn("lost this server's liveness lock in the database; stopping running runs until it is back", "error", err)
		l.mu.Lock()
		l.endTerm(errLivenessLost)
		l.lock = nil
		l.mu.Unlock()
		lock.Release()
	}
	actx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	lock, err := l.e.st.LockProcess(actx, l.id)
	if err != nil {
		return // retried next time
	}
	l.e.log.Warn("liveness lock held again; runs resume shortly")
	l.hold(lock, time.Now().Add(2*l.every))
}

// sweep requeues the jobs of servers whose lock has stayed free for the
// grace period.
func (l *liveness) sweep(ctx context.Context, firstFree map[string]time.Time) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	takers, err := l.e.st.RunningJobTakers(sctx, processIDPrefix)
	if err != nil {
		l.e.log.Debug("liveness sweep", "error", err)
		return
	}
	seen := map[string]bool{}
	for _, id := range takers {
		if id == l.id {
			continue
		}
		seen[id] = true
		first, suspect := firstFree[id]
		if !suspect || time.Since(first) < l.grace {
			alive, err := l.e.st.ProcessAlive(sctx, id)
			switch {
			case err != nil:
				l.e.log.Debug("liveness sweep", "process", id, "error", err)
			case alive:
				delete(firstFree, id)
			case !suspect:
				firstFree[id] = time.Now()
			}
			continue
		}
		n, alive, err := l.e.st.RequeueAbandonedJobs(sctx, id)
		switch {
		case err != nil:
			l.e.log.Warn("could not requeue the jobs of a server that stopped", "process", id, "error", err)
		case alive:
			delete(firstFree, id)
		default:
			delete(firstFree, id)
			l.e.log.Warn("took over the runs of a server that stopped; their steps resume from the last checkpoint",
				"process", id, "jobs", n)
		}
	}
	for id := range firstFree {
		if !seen[id] {
			delete(firstFree, id)
		}
	}
}

// close stops watching and releases the lock: call it once no job runs.
func (l *liveness) close() {
	l.stop()
	<-l.done
	l.mu.Lock()
	lock := l.lock
	l.lock = nil
	if l.endTerm != nil {
		l.endTerm(context.Canceled)
	}
	l.mu.Unlock()
	if lock != nil {
		lock.Release()
	}
}

// fence is River worker middleware: a job runs only while the server holds
// its liveness lock, and is cancelled when the lock is lost.
type fence struct {
	river.MiddlewareDefaults
	e *Engine
}

func (f *fence) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	l := f.e.live.Load()
	if l == nil {
		return doInner(ctx)
	}
	term := l.current()
	if term == nil {
		// Not holding the lock: another server may be taking this job over.
		return river.JobSnooze(l.every)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(term, func() { cancel(context.Cause(term)) })
	defer stop()
	return doInner(ctx)
}

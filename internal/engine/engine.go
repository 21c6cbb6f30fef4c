// Package engine runs flows on a durable River queue: it stores each
// trigger event together with its job in one transaction, executes a flow's
// steps in order with a checkpoint per step, reconciles steps whose outcome
// is unknown before sending them again, polls GoHighLevel lists on a
// schedule, and purges old history.
//
// The engine knows flows, the queue and the database; it does not serve
// HTTP. internal/web verifies webhook deliveries and hands them to Ingest.
package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/store"
)

// Defaults of Config.
const (
	DefaultWorkers        = 20
	DefaultMaxAttempts    = 25
	DefaultJobTimeout     = 2 * time.Minute
	DefaultRawLimit       = 256 << 10
	DefaultPollMaxPages   = 5
	DefaultSeenSetSize    = 2000
	DefaultRetentionEvery = time.Hour
	DefaultLivenessEvery  = time.Second
	DefaultDeadGrace      = 10 * time.Second
	DefaultKeepCaptures   = 50
)

// Queue names.
const (
	QueueRuns        = "runs"
	QueuePolls       = "polls"
	QueueMaintenance = "maintenance"
)

// Config configures an Engine.
type Config struct {
	// Store is the open database (required). The engine never closes it.
	Store *store.Store
	// Flows are the flows to run (required; may hold no flow).
	Flows *flow.Loaded
	// Connections gives each flow's GHL client (required to run steps).
	Connections Connections
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// Workers is the number of runs executed at once (default 20).
	Workers int
	// MaxAttempts is how often a run is tried before it fails (default 25);
	// 429 answers snooze the run without spending an attempt.
	MaxAttempts int
	// JobTimeout bounds one attempt of one run (default 2m).
	JobTimeout time.Duration
	// Redactor masks secrets and personal data in run records; nil masks
	// secrets only.
	Redactor *redact.Redactor
	// Retain is how long events and runs are kept; 0 keeps them forever.
	Retain time.Duration
	// RetentionEvery is how often old history is purged (default 1h).
	RetentionEvery time.Duration
	// RawLimit caps the raw bytes stored per event (default 256 KiB); the
	// normalised payload is always stored in full.
	RawLimit int
	// KeepCaptures is how many capture-mode deliveries are kept per flow
	// (default 50); older ones are deleted as new ones arrive.
	KeepCaptures int
	// PollMaxPages caps the pages a poll reads (default 5); a flow's
	// max_pages wins.
	PollMaxPages int
	// SeenSetSize bounds the ids a poller remembers (default 2000).
	SeenSetSize int
	// Registerer receives the engine's metrics; nil uses a private registry
	// (see Engine.Gatherer).
	Registerer prometheus.Registerer
	// HTTPClient sends the requests of http steps (default: 30s timeout).
	HTTPClient *http.Client
	// InsertOnly makes an engine that stores events and replays runs but
	// executes nothing (for command-line tools beside a running server).
	InsertOnly bool
	// LivenessEvery is how often a server on Postgres checks its own
	// liveness lock and the other servers' (default 1s); see liveness.go.
	LivenessEvery time.Duration
	// DeadProcessGrace is how long the liveness lock of a server that took
	// running jobs must stay free before its jobs are requeued (default 10s,
	// at least 3 × LivenessEvery).
	DeadProcessGrace time.Duration
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Engine runs flows. Create it with New, then Start; Stop it before closing
// the store.
type Engine struct {
	cfg     Config
	st      *store.Store
	log     *slog.Logger
	red     *redact.Redactor
	river   *river.Client[*sql.Tx]
	metrics *Metrics
	reg     *prometheus.Registry
	fields  *fieldCache
	hc      *http.Client

	processID string                   // River client id
	live      atomic.Pointer[liveness] // Postgres only, while started

	mu      sync.RWMutex
	flows   map[string]*flow.Flow
	loaded  *flow.Loaded
	held    map[string]error // see SetHeld
	warned  sync.Map         // keys of warnings logged once per process
	started bool
	unlock  func()
}

// New builds an engine. Nothing runs until Start.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("engine: Config.Store is required")
	}
	if cfg.Flows == nil {
		cfg.Flows = &flow.Loaded{}
	}
	if cfg.Connections == nil && !cfg.InsertOnly {
		return nil, errors.New("engine: Config.Connections is required to run flows")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	if cfg.RawLimit <= 0 {
		cfg.RawLimit = DefaultRawLimit
	}
	if cfg.KeepCaptures <= 0 {
		cfg.KeepCaptures = DefaultKeepCaptures
	}
	if cfg.PollMaxPages <= 0 {
		cfg.PollMaxPages = DefaultPollMaxPages
	}
	if cfg.SeenSetSize <= 0 {
		cfg.SeenSetSize = DefaultSeenSetSize
	}
	if cfg.RetentionEvery <= 0 {
		cfg.RetentionEvery = DefaultRetentionEvery
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LivenessEvery <= 0 {
		cfg.LivenessEvery = DefaultLivenessEvery
	}
	if cfg.DeadProcessGrace <= 0 {
		cfg.DeadProcessGrace = DefaultDeadGrace
	}
	cfg.DeadProcessGrace = max(cfg.DeadProcessGrace, 3*cfg.LivenessEvery)
	e := &Engine{
		cfg:    cfg,
		st:     cfg.Store,
		log:    cfg.Logger,
		red:    cfg.Redactor,
		fields: newFieldCache(5 * time.Minute),
		hc:     cfg.HTTPClient,
	}
	e.processID = newProcessID()
	if e.red == nil {
		e.red = redact.New()
	}
	reg := cfg.Registerer
	if reg == nil {
		e.reg = prometheus.NewRegistry()
		reg = e.reg
	}
	e.metrics = newMetrics(reg, cfg.Store)
	e.setFlows(cfg.Flows)

	rc, err := river.NewClient(cfg.Store.RiverDriver(), e.riverConfig())
	if err != nil {
		return nil, fmt.Errorf("engine: river: %w", err)
	}
	e.river = rc
	return e, nil
}

func (e *Engine) riverConfig() *river.Config {
	rc := &river.Config{
		ID:          e.processID,
		Logger:      slog.New(quietHandler{e.log.Handler(), slog.LevelWarn}).With("component", "river"),
		MaxAttempts: e.cfg.MaxAttempts,
		RetryPolicy: backoff{},
		// Completed jobs are not history (runs are); keep the queue small.
		CompletedJobRetentionPeriod: time.Hour,
		JobTimeout:                  e.cfg.JobTimeout,
		// A job left running by a crashed process is retried after this;
		// its steps' checkpoints make the retry safe. On Postgres the other
		// servers take such jobs over much sooner (liveness.go); this stays
		// as the backstop.
		RescueStuckJobsAfter: e.cfg.JobTimeout + time.Minute,
	}
	if e.st.Dialect() == store.SQLite {
		// No LISTEN/NOTIFY: poll often so jobs inserted by another process
		// (ghlsync runs replay) start promptly.
		rc.FetchPollInterval = 250 * time.Millisecond
		rc.FetchCooldown = 20 * time.Millisecond
	}
	if e.cfg.InsertOnly {
		return rc
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &runWorker{e: e})
	river.AddWorker(workers, &pollWorker{e: e})
	river.AddWorker(workers, &retentionWorker{e: e})
	rc.Workers = workers
	rc.Queues = map[string]river.QueueConfig{
		QueueRuns:        {MaxWorkers: e.cfg.Workers},
		QueuePolls:       {MaxWorkers: 2},
		QueueMaintenance: {MaxWorkers: 1},
	}
	rc.PeriodicJobs = e.periodicJobs()
	if e.st.Dialect() == store.Postgres {
		rc.Middleware = []rivertype.Middleware{&fence{e: e}}
	}
	return rc
}

// backoff retries a failed run after 1s, 2s, 4s ... capped at 10 minutes,
// with jitter, so a GHL outage is ridden out without hammering it.
type backoff struct{}

func (backoff) NextRetry(job *rivertype.JobRow) time.Time {
	n := max(len(job.Errors), 1) // failures so far, this one included
	d := time.Second << min(n-1, 10)
	d = min(d, 10*time.Minute)
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return time.Now().Add(d)
}

func (e *Engine) setFlows(l *flow.Loaded) {
	m := make(map[string]*flow.Flow, len(l.Flows))
	for _, f := range l.Flows {
		m[f.Name] = f
	}
	e.mu.Lock()
	e.flows, e.loaded = m, l
	e.mu.Unlock()
}

// Flow returns the loaded flow with the given name.
func (e *Engine) Flow(name string) (*flow.Flow, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	f, ok := e.flows[name]
	return f, ok
}

// Flows returns what was loaded: the valid flows and the problems of the
// others.
func (e *Engine) Flows() *flow.Loaded {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.loaded
}

// Store returns the engine's store.
func (e *Engine) Store() *store.Store { return e.st }

// Redactor returns the redactor used for run records.
func (e *Engine) Redactor() *redact.Redactor { return e.red }

// Metrics returns the engine's metrics (for the web layer's counters).
func (e *Engine) Metrics() *Metrics { return e.metrics }

// Gatherer returns the private metrics registry, or nil when
// Config.Registerer was given (gather from that instead).
func (e *Engine) Gatherer() prometheus.Gatherer {
	if e.reg == nil {
		return nil
	}
	return e.reg
}

// Start starts the workers, pollers and retention. With SQLite it first
// takes the database's server lock (one serving process per file) and
// returns jobs a crashed process left running to the queue.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return errors.New("engine: already started")
	}
	if e.cfg.InsertOnly {
		e.started = true
		return nil
	}
	unlock, err := e.st.AcquireServerLock()
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if n, err := e.st.RequeueOrphanedJobs(ctx); err != nil {
		unlock()
		return fmt.Errorf("engine: %w", err)
	} else if n > 0 {
		e.log.Warn("returned jobs interrupted by a previous crash to the queue; their steps resume from the last checkpoint", "jobs", n)
	}
	if e.st.Dialect() == store.Postgres {
		l, err := e.startLiveness(ctx)
		if err != nil {
			unlock()
			return fmt.Errorf("engine: %w", err)
		}
		e.live.Store(l)
	}
	// River's own context must outlive the caller's start-up context.
	if err := e.river.Start(context.WithoutCancel(ctx)); err != nil {
		e.closeLiveness()
		unlock()
		return fmt.Errorf("engine: start river: %w", err)
	}
	e.unlock = unlock
	e.started = true
	e.log.Info("engine started", "database", e.st.String(), "workers", e.cfg.Workers, "flows", len(e.flows))
	return nil
}

// Stop stops taking jobs and waits for running steps to finish until ctx
// ends; then it cancels them (their checkpoints make the next attempt safe).
// Close the store only after Stop returns.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	started := e.started
	e.started = false
	unlock := e.unlock
	e.unlock = nil
	e.mu.Unlock()
	if !started || e.cfg.InsertOnly {
		return nil
	}
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	// Released only once no job runs here any more.
	defer e.closeLiveness()
	err := e.river.Stop(ctx)
	if err != nil && ctx.Err() != nil {
		e.log.Warn("runs still in progress at the stop deadline; cancelling them", "error", err)
		hard, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = e.river.StopAndCancel(hard)
	}
	if err != nil {
		return fmt.Errorf("engine: stop: %w", err)
	}
	e.log.Info("engine stopped")
	return nil
}

func (e *Engine) closeLiveness() {
	if l := e.live.Swap(nil); l != nil {
		l.close()
	}
}

// River returns the River client, for tests and tools.
func (e *Engine) River() *river.Client[*sql.Tx] { return e.river }

// quietHandler drops records below min: River reports routine queue
// statistics at info level, which would drown the engine's own logs.
type quietHandler struct {
	slog.Handler
	min slog.Level
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(a), h.min}
}

func (h quietHandler) WithGroup(n string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(n), h.min}
}

// warnOnce logs a warning the first time its key is seen in this process,
// for conditions that would otherwise repeat on every poll.
func (e *Engine) warnOnce(key, msg string, args ...any) {
	if _, dup := e.warned.LoadOrStore(key, true); !dup {
		e.log.Warn(msg, args...)
	}
}

// Package web is ghlsync's HTTP edge: webhook intake (POST /hooks/{flow}),
// a JSON API over runs and flows, a small dashboard, /healthz and /metrics.
//
// A delivery is answered 2xx only after the engine committed its event and
// job; when that is impossible the answer is 429 with Retry-After (the one
// status GoHighLevel retries), never a 2xx.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/source"
	"github.com/ghlsync/ghlsync/internal/store"
)

// Config configures a Server.
type Config struct {
	// Engine is required.
	Engine *engine.Engine
	// Logger; nil discards.
	Logger *slog.Logger
	// MaxBody is the largest delivery accepted (default 1 MiB); larger ones
	// get 413.
	MaxBody int64
	// Secrets resolves secret references of webhook triggers
	// (source.DefaultSecretLookup when nil).
	Secrets source.SecretLookup
	// Gatherer serves /metrics (the engine's registry when nil).
	Gatherer prometheus.Gatherer
	// RetryAfter is the Retry-After of a 429 when an event cannot be stored
	// (default 5s).
	RetryAfter time.Duration
	// UnavailableRetryAfter is the Retry-After of the 429 answering a flow
	// that is not taking deliveries (see Server.Unavailable); fixing it
	// takes a person, so senders need not come back every few seconds
	// (default 60s).
	UnavailableRetryAfter time.Duration
	// AdminToken, when set, is required (Authorization: Bearer, or the
	// dashboard's sign-in cookie) for the dashboard, the JSON API, replays
	// and /metrics. /hooks/*, /healthz and /login stay open. At least
	// MinAdminToken characters.
	AdminToken string
	// PublicMetrics serves /metrics without the admin token.
	PublicMetrics bool
	// PublicURL is the scheme and host senders reach this server at
	// (https://ghlsync.example.com), used to show each flow's webhook URL;
	// when empty the URL is built from the request.
	PublicURL string
	// Reload, when set, serves POST /api/reload: read the flows again.
	Reload func(ctx context.Context) (ReloadResult, error)
}

// ReloadResult says what a reload of the flows did.
type ReloadResult struct {
	// Flows are the active flows afterwards.
	Flows []string `json:"flows"`
	// Problems are those of the files that did not load.
	Problems []FlowProblem `json:"problems"`
	// KeptPrevious names the flows whose file has problems now and whose
	// previous version stays active.
	KeptPrevious []string `json:"keptPrevious"`
	// Unavailable maps each active flow that cannot take deliveries (its
	// source lacks a secret, or the flow is held) to the reason.
	Unavailable map[string]string `json:"unavailable"`
}

// Server serves ghlsync's HTTP endpoints.
type Server struct {
	cfg     Config
	e       *engine.Engine
	log     *slog.Logger
	mux     *http.ServeMux
	auth    *adminAuth
	mu      sync.RWMutex
	sources map[string]sourceEntry
}

type sourceEntry struct {
	src source.Source
	err error // why the flow's source could not be built
}

// New builds the server and a webhook source for every webhook flow, and
// stores the engine's redaction fields in the database
// (engine.SaveRedaction). A flow whose source cannot be built (a missing
// secret, a bad option) or that the engine holds (engine.SetHeld) is not
// taking deliveries: see Unavailable. The others work.
func New(cfg Config) (*Server, error) {
	if cfg.Engine == nil {
		return nil, errors.New("web: Config.Engine is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = source.MaxBodyBytes
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.UnavailableRetryAfter <= 0 {
		cfg.UnavailableRetryAfter = time.Minute
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = cfg.Engine.Gatherer()
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < MinAdminToken {
		return nil, fmt.Errorf("web: the admin token must be at least %d characters long", MinAdminToken)
	}
	s := &Server{cfg: cfg, e: cfg.Engine, log: cfg.Logger, sources: map[string]sourceEntry{}, auth: newAdminAuth(cfg.AdminToken)}
	// Commands reading this database (ghlsync runs) mask what the server
	// masks.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := engine.SaveRedaction(ctx, cfg.Engine.Store(), cfg.Engine.Redactor()); err != nil {
		cfg.Logger.Warn("cannot store the redaction settings; ghlsync runs will mask only what its own --redact-fields names", "error", err)
	}
	s.ReloadSources()
	s.routes()
	return s, nil
}

// ReloadSources builds the webhook source of every flow the engine has now
// (after Engine.SetFlows). A flow whose source cannot be built is logged
// and answers 429 until fixed.
func (s *Server) ReloadSources() {
	next := map[string]sourceEntry{}
	for _, f := range s.e.Flows().Flows {
		w := f.Trigger.Webhook
		if w == nil {
			continue
		}
		src, err := source.New(w.Source, w.Config, s.cfg.Secrets)
		if err != nil {
			s.log.Error("webhook flow cannot take deliveries until fixed", "flow", f.Name, "error", err)
		}
		next[f.Name] = sourceEntry{src: src, err: err}
	}
	s.mu.Lock()
	s.sources = next
	s.mu.Unlock()
}

// SourceError returns why a webhook flow's source could not be built.
func (s *Server) SourceError(flowName string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sources[flowName].err
}

// Unavailable returns why a loaded webhook flow is not taking deliveries,
// or nil when it is: its source could not be built (SourceError), or the
// engine holds it (engine.Engine.SetHeld; a connection lacking a scope, for
// example). Its deliveries are answered 429 with Retry-After and a generic
// message; the reason is for the operator only (log, dashboard,
// /api/flows).
func (s *Server) Unavailable(flowName string) error {
	if err := s.SourceError(flowName); err != nil {
		return err
	}
	return s.e.Held(flowName)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	// Open: deliveries verify their own signatures; health checks carry
	// nothing.
	m.HandleFunc("POST /hooks/{flow}", s.hook)
	m.HandleFunc("GET /healthz", s.healthz)
	if s.cfg.Gatherer != nil {
		metrics := promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{})
		if !s.cfg.PublicMetrics {
			metrics = s.protect(metrics, true)
		}
		m.Handle("GET /metrics", metrics)
	}
	// The admin token guards the rest.
	api := func(h http.HandlerFunc) http.Handler { return s.protect(h, true) }
	page := func(h http.HandlerFunc) http.Handler { return s.protect(h, false) }
	m.Handle("GET /api/flows", api(s.apiFlows))
	m.Handle("GET /api/runs", api(s.apiRuns))
	m.Handle("GET /api/runs/{id}", api(s.apiRun))
	m.Handle("GET /api/events/{id}", api(s.apiEvent))
	m.Handle("GET /api/captures", api(s.apiCaptures))
	// Changes of state: refused from other sites' pages, too.
	cop := http.NewCrossOriginProtection()
	m.Handle("POST /api/runs/{id}/replay", cop.Handler(api(s.apiReplay)))
	if s.cfg.Reload != nil {
		m.Handle("POST /api/reload", cop.Handler(api(s.apiReload)))
	}
	m.Handle("GET /{$}", page(s.dashboard))
	m.Handle("GET /runs/{id}", page(s.runPage))
	m.Handle("GET /flows/{name}", page(s.flowPage))
	m.Handle("POST /runs/{id}/replay", cop.Handler(page(s.replayForm)))
	m.HandleFunc("GET /login", s.loginForm)
	m.Handle("POST /login", cop.Handler(http.HandlerFunc(s.login)))
	m.Handle("POST /logout", cop.Handler(http.HandlerFunc(s.logout)))
	s.mux = m
}

// ServeHTTP implements http.Handler; a panic in a handler is answered 500
// and logged instead of taking the server down.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// hookResponse is the JSON answer to a delivery.
type hookResponse struct {
	EventID   string `json:"eventId,omitempty"`
	RunID     string `json:"runId,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Captured  bool   `json:"captured,omitempty"`
	Ignored   string `json:"ignored,omitempty"`
	Error     string `json:"error,omitempty"`
}

func (s *Server) hook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("flow")
	metrics := s.e.Metrics()
	f, ok := s.e.Flow(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no flow named %q is loaded", name))
		return
	}
	if f.Trigger.Webhook == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("flow %q is triggered by polling and takes no webhooks", name))
		return
	}
	s.mu.RLock()
	ent := s.sources[name]
	s.mu.RUnlock()
	why := ent.err
	if why == nil {
		why = s.e.Held(name)
	}
	if ent.src == nil || why != nil {
		// Not stored, so not acknowledged: ask the sender to come back.
		// The reason stays here: the sender learns nothing of the setup.
		if why == nil {
			why = errors.New("no webhook source")
		}
		metrics.Events.WithLabelValues(name, engine.EventUnavailable).Inc()
		s.log.Warn("delivery refused (429): the flow is not taking deliveries until fixed", "flow", name, "problem", why.Error())
		w.Header().Set("Retry-After", strconv.Itoa(seconds(s.cfg.UnavailableRetryAfter)))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("flow %q cannot take deliveries right now; try again later", name))
		return
	}
	body, err := source.ReadBody(r, s.cfg.MaxBody)
	if err != nil {
		s.reject(w, name, err)
		return
	}
	ev, err := ent.src.Receive(r, body)
	if err != nil {
		s.reject(w, name, err)
		return
	}
	if ev.Ignore != "" || !f.Trigger.Webhook.Accepts(ev.Type) && !ev.Capture {
		reason := ev.Ignore
		if reason == "" {
			reason = fmt.Sprintf("event type %q is not in this flow's types", ev.Type)
		}
		metrics.Events.WithLabelValues(name, engine.EventIgnored).Inc()
		writeJSON(w, http.StatusOK, hookResponse{Ignored: reason})
		return
	}
	if ev.Unsigned {
		s.log.Warn("accepted an unsigned delivery (the flow's webhook is configured unsigned)", "flow", name)
	}
	v := ev.Verification
	res, err := s.e.Ingest(r.Context(), engine.Incoming{
		Flow: name, Source: ent.src.Name(), ID: ev.ID, Type: ev.Type, Payload: ev.Payload,
		Raw: ev.Raw, Headers: ev.Headers, OccurredAt: ev.OccurredAt, Capture: ev.Capture, Unsigned: ev.Unsigned,
		Verification: &store.Verification{Scheme: v.Scheme, Verified: v.Verified, KeyIndex: v.KeyIndex, Detail: v.Detail},
	})
	var se *engine.StorageError
	var ie *engine.InvalidEventError
	switch {
	case errors.As(err, &ie):
		// Counted as rejected by the engine; permanent, so not 429.
		writeError(w, http.StatusUnprocessableEntity, ie.Msg)
		return
	case errors.As(err, &se):
		s.retryLater(w, "the event could not be stored; try again")
		return
	case errors.Is(err, engine.ErrUnknownFlow):
		writeError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		s.reject(w, name, err)
		return
	}
	out := hookResponse{EventID: res.EventID, RunID: res.RunID, Duplicate: res.Duplicate, Captured: ev.Capture}
	status := http.StatusAccepted
	if res.Duplicate || ev.Capture {
		status = http.StatusOK
	}
	writeJSON(w, status, out)
}

// reject answers a delivery the source refused (bad signature, malformed,
// too large); nothing was stored.
func (s *Server) reject(w http.ResponseWriter, flowName string, err error) {
	s.e.Metrics().Events.WithLabelValues(flowName, engine.EventRejected).Inc()
	var se *source.Error
	if errors.As(err, &se) {
		writeError(w, se.Status, se.Msg)
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

func (s *Server) retryLater(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(seconds(s.cfg.RetryAfter)))
	writeError(w, http.StatusTooManyRequests, msg)
}

// seconds is a Retry-After value: whole seconds, at least 1.
func seconds(d time.Duration) int {
	return max(int(d.Round(time.Second).Seconds()), 1)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.e.Store().Ping(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "database": "unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "database": "ok"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, hookResponse{Error: msg})
}

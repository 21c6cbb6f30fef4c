// Package sandbox is an offline simulator of the GoHighLevel (LeadConnector)
// API v2: an http.Handler over an in-memory store that answers every
// operation of the catalog (internal/ghl/catalog) with GHL's paths, shapes,
// quirks and limits, so that tests, benchmarks and demos never need a live
// account.
//
// Besides the API it serves the OAuth endpoints (/oauth/token,
// /oauth/locationToken and a consent page at /oauth/chooselocation), enforces
// scopes and per-location rate limits, injects faults on demand, sends signed
// outgoing webhooks and exposes an admin API under /_sandbox/.
package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// Options configure a sandbox. The zero value is a working sandbox with the
// built-in seed, rate limits on and no faults.
type Options struct {
	// SeedFile is a YAML or JSON seed; "" loads the built-in default seed.
	SeedFile string
	// PersistFile, when set, is loaded at start (if it exists) and written
	// shortly after every change and on Close, so a demo survives a restart.
	PersistFile string
	// RateLimit configures GHL's per (app, location) limits.
	RateLimit RateLimitOptions
	// Faults are injected into API responses; they can also be changed at
	// run time with PUT /_sandbox/faults.
	Faults FaultConfig
	// TokenTTL is the lifetime of OAuth access tokens; default 86399s.
	TokenTTL time.Duration
	// Webhooks configures outgoing GHL-style webhooks.
	Webhooks WebhookOptions
	// Logger receives operational messages (never tokens); default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now. Tests set it to move time.
	Now func() time.Time
}

// RateLimitOptions configure the per (app, location) limits. GHL allows 100
// requests per 10 seconds and 200,000 per day for each app on each location.
type RateLimitOptions struct {
	Disabled bool
	Burst    int           // requests per window; default 100
	Window   time.Duration // default 10s
	Daily    int           // requests per day; default 200000
}

// Server is the sandbox. It is an http.Handler; call Close when done.
type Server struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	seed   *Seed
	routes []*route

	mu sync.Mutex // guards st
	st *state

	limiter  *rateLimiter
	faults   *faultInjector
	hooks    *webhookSender
	keys     *signingKeys
	reqlog   *requestLog
	persist  *persister
	closed   chan struct{}
	closeErr error
	once     sync.Once
}

// New builds a sandbox from its options: it loads the seed (or the persist
// file when one exists), generates or loads the webhook signing keys and
// starts the webhook sender.
func New(opts Options) (*Server, error) {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 86399 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	seed, err := LoadSeed(opts.SeedFile)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		now:    opts.Now,
		seed:   seed,
		routes: buildRoutes(),
		reqlog: newRequestLog(2000),
		closed: make(chan struct{}),
	}
	s.limiter = newRateLimiter(opts.RateLimit)
	var p *persisted
	if opts.PersistFile != "" {
		p, err = loadPersist(opts.PersistFile)
		if err != nil {
			return nil, err
		}
	}
	if p != nil {
		s.st = p.State
		if p.Keys != nil {
			if s.keys, err = loadKeys(p.Keys); err != nil {
				return nil, fmt.Errorf("sandbox: persist file %s: %w", opts.PersistFile, err)
			}
		}
		if p.Faults != nil && len(opts.Faults.Rules) == 0 {
			opts.Faults = *p.Faults
		}
	} else {
		st, err := seed.build(s.now())
		if err != nil {
			return nil, err
		}
		s.st = st
	}
	if s.keys == nil {
		if s.keys, err = generateKeys(); err != nil {
			return nil, err
		}
	}
	if s.faults, err = newFaultInjector(opts.Faults); err != nil {
		return nil, err
	}
	s.hooks = newWebhookSender(opts.Webhooks, s.keys, s.log, s.now)
	if opts.PersistFile != "" {
		s.persist = newPersister(s, opts.PersistFile)
		s.persist.markDirty() // write the file once so a restart finds the keys
	}
	return s, nil
}

// Close stops the webhook sender (after a short drain) and writes the persist
// file one last time.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.closed)
		s.hooks.close(2 * time.Second)
		if s.persist != nil {
			s.closeErr = s.persist.close()
		}
	})
	return s.closeErr
}

// call is the context of one API request.
type call struct {
	s     *Server
	st    *state
	op    *catalog.Operation
	r     *http.Request
	path  map[string]string
	q     url.Values
	body  map[string]any
	arr   []any // for operations whose body is a JSON array
	tok   *token
	loc   string // the location the request acts on ("" for company-level calls)
	now   time.Time
	trace string
	evts  []webhookEvent
}

// reply is what a handler produces: a status and a JSON body, or raw bytes.
type reply struct {
	status      int
	body        any
	raw         []byte
	contentType string
	header      map[string]string
}

type handlerFunc func(c *call) reply

func ok(body any) reply      { return reply{status: http.StatusOK, body: body} }
func created(body any) reply { return reply{status: http.StatusCreated, body: body} }

// GHL's error bodies.
func errReply(status int, msg string) reply {
	return reply{status: status, body: map[string]any{"statusCode": status, "message": msg}}
}

func errUnprocessable(msgs ...string) reply {
	return reply{status: 422, body: map[string]any{"statusCode": 422, "message": msgs, "error": "Unprocessable Entity"}}
}

func errBadRequest(msg string) reply { return errReply(400, msg) }

func errNotFound(what string) reply {
	return reply{status: 404, body: map[string]any{"statusCode": 404, "message": what + " not found", "error": "Not Found"}}
}

func errForbiddenLocation() reply {
	return errReply(403, "The token does not have access to this location.")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := &statusRecorder{ResponseWriter: w}
	entry := RequestLogEntry{Time: start.UTC(), Method: r.Method, Path: r.URL.Path, Query: redactQuery(r.URL.Query())}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				entry.Status = 0
				entry.Fault = firstNonEmpty(entry.Fault, "aborted")
				entry.DurationMs = float64(s.now().Sub(start).Microseconds()) / 1000
				s.reqlog.add(entry)
				panic(v)
			}
			s.log.Error("sandbox: handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
			if rec.status == 0 {
				writeJSON(rec, 500, map[string]any{"statusCode": 500, "message": "Internal server error"})
			}
		}
		entry.Status = rec.status
		entry.DurationMs = float64(s.now().Sub(start).Microseconds()) / 1000
		s.reqlog.add(entry)
	}()

	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_sandbox/") || p == "/_sandbox":
		entry.Op = "admin"
		s.serveAdmin(rec, r)
		return
	case p == "/oauth/chooselocation" || p == "/v2/oauth/chooselocation":
		entry.Op = "oauth.chooselocation"
		s.serveConsent(rec, r)
		return
	case p == "/oauth/token" && r.Method == http.MethodPost:
		entry.Op = "oauth.token"
		s.serveToken(rec, r, &entry)
		return
	case p == "/" && r.Method == http.MethodGet:
		writeJSON(rec, 200, map[string]any{"name": "ghlsync sandbox", "admin": "/_sandbox/", "consent": "/oauth/chooselocation"})
		return
	}
	s.serveAPI(rec, r, &entry)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// serveAPI runs one catalog operation (or /oauth/locationToken) through auth,
// rate limits, faults, validation and its handler.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, entry *RequestLogEntry) {
	var op *catalog.Operation
	var params map[string]string
	var h handlerFunc
	if r.URL.Path == "/oauth/locationToken" && r.Method == http.MethodPost {
		op, h = locationTokenOp, (*call).locationToken
	} else {
		// Route the escaped path, as Express does: a %2F inside a path
		// value stays inside that value instead of adding a segment.
		rt, ps := s.match(r.Method, r.URL.EscapedPath())
		if rt == nil {
			writeJSON(w, 404, map[string]any{"statusCode": 404, "message": "Cannot " + r.Method + " " + r.URL.Path, "error": "Not Found"})
			return
		}
		op, params, h = rt.op, ps, rt.h
	}
	entry.Op = op.ID

	tok, rep := s.authenticate(r, op)
	if rep != nil {
		writeReply(w, *rep)
		return
	}
	if rep := s.limiter.take(w.Header(), tok.AppID+"|"+tok.resource(), s.now()); rep != nil {
		entry.Fault = "rate-limit"
		writeReply(w, *rep)
		return
	}

	fault := s.faults.decide(op, r.Method)
	if fault.latency > 0 {
		select {
		case <-time.After(fault.latency):
		case <-r.Context().Done():
			return
		}
	}
	switch fault.kind {
	case faultStatus:
		entry.Fault = fmt.Sprintf("status-%d", fault.status)
		writeReply(w, faultReply(fault.status))
		return
	case fault429:
		entry.Fault = "burst-429"
		writeReply(w, reply{status: 429, body: map[string]any{"statusCode": 429, "message": "Too Many Requests"}})
		return
	case faultTimeout:
		entry.Fault = "timeout-before-effect"
		t := time.NewTimer(fault.hang)
		select {
		case <-t.C:
		case <-r.Context().Done():
		case <-s.closed:
		}
		t.Stop()
		abortConnection(w)
		return
	}

	c := &call{s: s, op: op, r: r, path: params, q: r.URL.Query(), tok: tok, trace: newTraceID()}
	if rep := c.parseBody(); rep != nil {
		writeReply(w, *rep)
		return
	}
	if rep := c.validate(); rep != nil {
		writeReply(w, *rep)
		return
	}

	s.mu.Lock()
	c.st = s.st
	c.now = s.now()
	var out reply
	if rep := c.resolveLocation(); rep != nil {
		out = *rep
	} else {
		out = h(c)
	}
	changed := out.status < 300 && r.Method != http.MethodGet
	s.mu.Unlock()

	if changed && s.persist != nil {
		s.persist.markDirty()
	}
	for _, e := range c.evts {
		s.hooks.send(e)
	}
	if fault.kind == faultLost {
		entry.Fault = "response-lost"
		entry.Status = out.status
		abortConnection(w)
		return
	}
	writeReply(w, out)
}

// abortConnection closes the client connection without writing a response.
func abortConnection(w http.ResponseWriter) {
	if rec, ok := w.(*statusRecorder); ok {
		w = rec.ResponseWriter
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func writeReply(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.raw != nil {
		ct := rep.contentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(rep.status)
		w.Write(rep.raw)
		return
	}
	writeJSON(w, rep.status, rep.body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		status = 500
		buf.Reset()
		buf.WriteString(`{"statusCode":500,"message":"Internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// statusRecorder remembers the status written, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// parseBody decodes a JSON body (or a form for form operations).
func (c *call) parseBody() *reply {
	if c.r.Body == nil || c.r.Method == http.MethodGet {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(c.r.Body, 8<<20))
	if err != nil {
		rep := errBadRequest("could not read request body")
		return &rep
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if c.op.Form || strings.HasPrefix(c.r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		vals, err := url.ParseQuery(string(data))
		if err != nil {
			rep := errBadRequest("invalid form body")
			return &rep
		}
		c.body = map[string]any{}
		for k, v := range vals {
			c.body[k] = v[0]
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		rep := reply{status: 400, body: map[string]any{"statusCode": 400, "message": "Invalid JSON body: " + err.Error(), "error": "Bad Request"}}
		return &rep
	}
	switch x := v.(type) {
	case map[string]any:
		c.body = x
	case []any:
		c.arr = x
	default:
		rep := reply{status: 400, body: map[string]any{"statusCode": 400, "message": "request body must be a JSON object", "error": "Bad Request"}}
		return &rep
	}
	return nil
}

// newTraceID returns a fresh id in the form GHL uses for traceId.
func newTraceID() string { return randomUUID() }

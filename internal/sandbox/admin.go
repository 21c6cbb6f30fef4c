package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RequestLogEntry is one request the sandbox answered. It never holds a
// token: the Authorization header is not logged and secret-looking query
// parameters are redacted.
type RequestLogEntry struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Query      string    `json:"query,omitempty"`
	Status     int       `json:"status"` // 0 when the connection was closed without a response
	Op         string    `json:"op,omitempty"`
	DurationMs float64   `json:"durationMs"`
	Fault      string    `json:"fault,omitempty"`
}

type requestLog struct {
	mu   sync.Mutex
	max  int
	seq  int64
	list []RequestLogEntry
}

func newRequestLog(max int) *requestLog { return &requestLog{max: max} }

func (l *requestLog) add(e RequestLogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	e.Seq = l.seq
	l.list = append(l.list, e)
	if len(l.list) > l.max {
		l.list = slices.Delete(l.list, 0, len(l.list)-l.max)
	}
}

func (l *requestLog) since(seq int64) []RequestLogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []RequestLogEntry{}
	for _, e := range l.list {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.list = nil
	l.mu.Unlock()
}

var secretParams = []string{"code", "refresh_token", "client_secret", "access_token", "token"}

func redactQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	out := url.Values{}
	for k, v := range q {
		if slices.Contains(secretParams, k) {
			out[k] = []string{"REDACTED"}
		} else {
			out[k] = v
		}
	}
	return out.Encode()
}

// Requests returns the request log (oldest first) after sequence number seq.
func (s *Server) Requests(seq int64) []RequestLogEntry { return s.reqlog.since(seq) }

// Records returns a copy of the stored records of a kind ("contacts",
// "notes", "appointments", ...), in insertion order; nil for unknown kinds.
func (s *Server) Records(kind string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.st.Tables[kind]
	if !ok {
		return nil
	}
	out := make([]map[string]any, 0, t.count())
	for _, r := range t.all() {
		out = append(out, cloneRec(r))
	}
	return out
}

// Kinds lists the record kinds the store holds.
func Kinds() []string { return slices.Clone(kinds) }

// Reset restores the seed data and forgets issued OAuth tokens, the request
// log and rate-limit counters. Tokens minted by MintToken or the admin API are
// forgotten too; seed tokens keep working.
func (s *Server) Reset() error {
	st, err := s.seed.build(s.now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	s.limiter.reset()
	s.reqlog.reset()
	if s.persist != nil {
		s.persist.markDirty()
	}
	return nil
}

// SetFaults replaces the fault configuration (and reseeds its random source).
func (s *Server) SetFaults(fc FaultConfig) error {
	if err := s.faults.set(fc); err != nil {
		return err
	}
	if s.persist != nil {
		s.persist.markDirty()
	}
	return nil
}

// Faults returns the fault configuration, with the 429 bursts left.
func (s *Server) Faults() FaultConfig { return s.faults.get() }

// WebhookDeliveries returns the outgoing webhook log (newest last).
func (s *Server) WebhookDeliveries() []WebhookDelivery { return s.hooks.history() }

// SetWebhookURL changes where outgoing webhooks go ("" stops them).
func (s *Server) SetWebhookURL(u string) { s.hooks.setURL(u) }

// Info describes the credentials a user needs to talk to the sandbox.
type Info struct {
	Tokens    []SeedToken `json:"tokens"`
	Apps      []SeedApp   `json:"apps"`
	Locations []string    `json:"locations"`
	Companies []string    `json:"companies"`
	Keys      PublicKeys  `json:"keys"`
}

// Info returns the seed's tokens and OAuth apps, the locations and companies
// and the webhook verification keys.
func (s *Server) Info() Info {
	in := Info{Tokens: slices.Clone(s.seed.Tokens), Apps: slices.Clone(s.seed.Apps), Keys: s.Keys()}
	s.mu.Lock()
	for _, l := range s.st.t("locations").all() {
		in.Locations = append(in.Locations, idOf(l))
	}
	for _, c := range s.st.t("companies").all() {
		in.Companies = append(in.Companies, idOf(c))
	}
	s.mu.Unlock()
	return in
}

// --- the admin API ---

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_sandbox"), "/")
	switch r.Method + " " + p {
	case "GET ":
		writeJSON(w, 200, map[string]any{"endpoints": []string{
			"GET /_sandbox/store[?kind=contacts]", "GET /_sandbox/requests[?since=N]", "POST /_sandbox/reset",
			"GET|PUT /_sandbox/faults", "POST /_sandbox/tokens", "GET /_sandbox/keys",
			"GET|PUT /_sandbox/webhooks"}, "kinds": kinds})
	case "GET /store":
		kind := r.URL.Query().Get("kind")
		if kind != "" {
			recs := s.Records(kind)
			if recs == nil {
				adminError(w, 400, fmt.Sprintf("unknown kind %q (known: %s)", kind, strings.Join(kinds, ", ")))
				return
			}
			writeJSON(w, 200, map[string]any{"kind": kind, "count": len(recs), "items": recs})
			return
		}
		all := map[string]any{}
		for _, k := range kinds {
			all[k] = s.Records(k)
		}
		writeJSON(w, 200, all)
	case "GET /requests":
		since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		writeJSON(w, 200, map[string]any{"requests": s.Requests(since)})
	case "POST /reset":
		if err := s.Reset(); err != nil {
			adminError(w, 500, err.Error())
			return
		}
		writeJSON(w, 200, map[string]any{"reset": true})
	case "GET /faults":
		writeJSON(w, 200, s.Faults())
	case "PUT /faults", "POST /faults":
		var fc FaultConfig
		if err := decodeStrict(r.Body, &fc); err != nil {
			adminError(w, 400, "faults: "+err.Error())
			return
		}
		if err := s.SetFaults(fc); err != nil {
			adminError(w, 400, err.Error())
			return
		}
		writeJSON(w, 200, s.Faults())
	case "POST /tokens":
		var req struct {
			LocationID string   `json:"locationId"`
			CompanyID  string   `json:"companyId"`
			Scopes     []string `json:"scopes"`
			TTLSeconds int      `json:"ttlSeconds"`
		}
		if err := decodeStrict(r.Body, &req); err != nil {
			adminError(w, 400, "tokens: "+err.Error())
			return
		}
		if req.LocationID != "" && req.CompanyID != "" {
			adminError(w, 400, "tokens: set locationId or companyId, not both")
			return
		}
		tok, err := s.MintToken(req.LocationID, req.CompanyID, req.Scopes, time.Duration(req.TTLSeconds)*time.Second)
		if err != nil {
			adminError(w, 400, err.Error())
			return
		}
		out := map[string]any{"token": tok}
		if req.TTLSeconds > 0 {
			out["expiresIn"] = req.TTLSeconds
		}
		writeJSON(w, 201, out)
	case "GET /keys":
		writeJSON(w, 200, s.Keys())
	case "GET /webhooks":
		writeJSON(w, 200, map[string]any{"url": s.hooks.currentURL(), "deliveries": s.WebhookDeliveries()})
	case "PUT /webhooks":
		var req struct {
			URL string `json:"url"`
		}
		if err := decodeStrict(r.Body, &req); err != nil {
			adminError(w, 400, "webhooks: "+err.Error())
			return
		}
		if req.URL != "" {
			if u, err := url.Parse(req.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				adminError(w, 400, "webhooks: url must be an absolute http(s) URL")
				return
			}
		}
		s.SetWebhookURL(req.URL)
		writeJSON(w, 200, map[string]any{"url": req.URL})
	default:
		adminError(w, 404, "no admin endpoint "+r.Method+" "+r.URL.Path+" (see GET /_sandbox/)")
	}
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg})
}

func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

// --- persistence ---

// persister writes the state to the persist file shortly after changes
// (coalescing bursts) and on close.
type persister struct {
	s     *Server
	path  string
	dirty chan struct{}
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	err   error
}

func newPersister(s *Server, path string) *persister {
	p := &persister{s: s, path: path, dirty: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *persister) markDirty() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

func (p *persister) run() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case <-p.dirty:
			select { // coalesce a burst of changes
			case <-time.After(200 * time.Millisecond):
			case <-p.stop:
				return
			}
			p.save()
		}
	}
}

func (p *persister) save() error {
	s := p.s
	s.mu.Lock()
	data := &persisted{Version: 1, SavedAt: s.now().UTC().Format(time.RFC3339), State: s.st, Tables: s.st.snapshot(), Keys: s.keys.persisted()}
	fc := s.faults.get()
	if len(fc.Rules) > 0 {
		data.Faults = &fc
	}
	buf, err := json.MarshalIndent(data, "", " ") // encode under the lock; write outside it
	s.mu.Unlock()
	if err == nil {
		err = writeFileAtomic(p.path, buf)
	}
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	if err != nil {
		s.log.Error("sandbox: persist", "err", err)
	}
	return err
}

func (p *persister) close() error {
	close(p.stop)
	<-p.done
	return p.save()
}

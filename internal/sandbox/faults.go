package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// FaultConfig injects failures for resilience tests. Decisions are drawn from
// a random source seeded with Seed, so the same sequence of requests meets
// the same faults.
type FaultConfig struct {
	Seed  int64       `json:"seed"`
	Rules []FaultRule `json:"rules"`
}

// FaultRule applies to one route or to all ("*"). Route is "METHOD /path" as
// in the catalog ("POST /contacts/upsert", "GET /contacts/{contactId}") or an
// operation id ("contacts.upsert"). The first matching rule applies.
type FaultRule struct {
	Route string `json:"route"`
	// Status5xxRate is the share of requests (0..1) answered with a status
	// drawn from Statuses (default 500, 502, 503) before any effect.
	Status5xxRate float64 `json:"status5xxRate,omitempty"`
	Statuses      []int   `json:"statuses,omitempty"`
	// Latency is added before the request is handled.
	Latency time.Duration `json:"latency,omitempty"`
	// TimeoutBeforeEffectRate is the share of requests that hang (for Hang,
	// default 30s, or until the client gives up) and are then closed
	// without a response and without any effect.
	TimeoutBeforeEffectRate float64       `json:"timeoutBeforeEffectRate,omitempty"`
	Hang                    time.Duration `json:"hang,omitempty"`
	// ResponseLostRate is the share of requests whose effect is applied but
	// whose connection is then closed without a response.
	ResponseLostRate float64 `json:"responseLostRate,omitempty"`
	// Burst429 answers the next N matching requests with 429.
	Burst429 int `json:"burst429,omitempty"`
}

// MarshalJSON writes durations as Go duration strings ("250ms").
func (r FaultRule) MarshalJSON() ([]byte, error) {
	type plain FaultRule
	return json.Marshal(struct {
		plain
		Latency string `json:"latency,omitempty"`
		Hang    string `json:"hang,omitempty"`
	}{plain: plain(r), Latency: durString(r.Latency), Hang: durString(r.Hang)})
}

// UnmarshalJSON accepts durations as strings ("250ms", "2s") or as numbers
// of milliseconds.
func (r *FaultRule) UnmarshalJSON(b []byte) error {
	type plain FaultRule
	var aux struct {
		plain
		Latency json.RawMessage `json:"latency"`
		Hang    json.RawMessage `json:"hang"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt rule field must not be ignored
	if err := dec.Decode(&aux); err != nil {
		return fmt.Errorf("fault rule: %w", err)
	}
	*r = FaultRule(aux.plain)
	var err error
	if r.Latency, err = parseDur(aux.Latency, "latency"); err != nil {
		return err
	}
	r.Hang, err = parseDur(aux.Hang, "hang")
	return err
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func parseDur(raw json.RawMessage, field string) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return 0, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("fault rule %s: %q is not a duration like \"250ms\"", field, s)
		}
		return d, nil
	}
	var ms float64
	if err := json.Unmarshal(raw, &ms); err != nil {
		return 0, fmt.Errorf("fault rule %s: want a duration string or milliseconds", field)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

func (fc FaultConfig) validate() error {
	for i, r := range fc.Rules {
		if strings.TrimSpace(r.Route) == "" {
			return fmt.Errorf("faults.rules[%d].route is empty (use \"*\" for every route)", i)
		}
		for name, v := range map[string]float64{"status5xxRate": r.Status5xxRate, "timeoutBeforeEffectRate": r.TimeoutBeforeEffectRate, "responseLostRate": r.ResponseLostRate} {
			if v < 0 || v > 1 {
				return fmt.Errorf("faults.rules[%d].%s = %v: want a share between 0 and 1", i, name, v)
			}
		}
		for _, st := range r.Statuses {
			if st < 400 || st > 599 {
				return fmt.Errorf("faults.rules[%d].statuses: %d is not an error status", i, st)
			}
		}
		if r.Latency < 0 || r.Hang < 0 || r.Burst429 < 0 {
			return fmt.Errorf("faults.rules[%d]: latency, hang and burst429 must not be negative", i)
		}
		if r.Route != "*" && !strings.Contains(r.Route, " ") {
			if _, ok := catalog.Get(r.Route); !ok && r.Route != "oauth.token" && r.Route != "oauth.locationToken" {
				return fmt.Errorf("faults.rules[%d].route %q is neither \"*\", \"METHOD /path\" nor a catalog operation id", i, r.Route)
			}
		}
	}
	return nil
}

type faultKind int

const (
	faultNone faultKind = iota
	faultStatus
	fault429
	faultTimeout
	faultLost
)

type faultDecision struct {
	kind    faultKind
	status  int
	latency time.Duration
	hang    time.Duration
}

type faultInjector struct {
	mu     sync.Mutex
	cfg    FaultConfig
	rng    *rand.Rand
	bursts map[int]int // rule index -> 429s left
}

func newFaultInjector(cfg FaultConfig) (*faultInjector, error) {
	f := &faultInjector{}
	if err := f.set(cfg); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *faultInjector) set(cfg FaultConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cfg = cfg
	seed := uint64(cfg.Seed)
	f.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	f.bursts = map[int]int{}
	for i, r := range cfg.Rules {
		f.bursts[i] = r.Burst429
	}
	return nil
}

func (f *faultInjector) get() FaultConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.cfg
	out.Rules = append([]FaultRule(nil), f.cfg.Rules...)
	for i := range out.Rules {
		out.Rules[i].Burst429 = f.bursts[i]
	}
	return out
}

func ruleMatches(rule string, op *catalog.Operation) bool {
	if rule == "*" || rule == op.ID {
		return true
	}
	m, p, ok := strings.Cut(strings.TrimSpace(rule), " ")
	if !ok {
		return false
	}
	return strings.EqualFold(m, op.Method) && strings.TrimRight(strings.TrimSpace(p), "/") == strings.TrimRight(op.Path, "/")
}

// decide draws the fault (if any) for one request.
func (f *faultInjector) decide(op *catalog.Operation, method string) faultDecision {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.cfg.Rules {
		if !ruleMatches(r.Route, op) {
			continue
		}
		d := faultDecision{latency: r.Latency}
		if f.bursts[i] > 0 {
			f.bursts[i]--
			d.kind = fault429
			return d
		}
		if r.Status5xxRate > 0 && f.rng.Float64() < r.Status5xxRate {
			sts := r.Statuses
			if len(sts) == 0 {
				sts = []int{500, 502, 503}
			}
			d.kind, d.status = faultStatus, sts[f.rng.IntN(len(sts))]
			return d
		}
		if r.TimeoutBeforeEffectRate > 0 && f.rng.Float64() < r.TimeoutBeforeEffectRate {
			d.kind, d.hang = faultTimeout, r.Hang
			if d.hang <= 0 {
				d.hang = 30 * time.Second
			}
			return d
		}
		if r.ResponseLostRate > 0 && f.rng.Float64() < r.ResponseLostRate {
			d.kind = faultLost
		}
		return d
	}
	return faultDecision{}
}

func faultReply(status int) reply {
	msg := http.StatusText(status)
	switch status {
	case 500:
		msg = "Internal server error"
	case 502:
		msg = "Bad Gateway"
	case 503:
		msg = "Service Unavailable"
	}
	return reply{status: status, body: map[string]any{"statusCode": status, "message": msg}}
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// StepReport is what one step of a tried flow did (or would do).
type StepReport struct {
	ID      string `json:"id"`
	Op      string `json:"op"`
	Skipped bool   `json:"skipped,omitempty"`
	// Key is the evaluated key of a keyed step; Reused the id of the
	// existing object a keyed step without update takes instead of
	// creating one.
	Key    string `json:"key,omitempty"`
	Reused string `json:"reused,omitempty"`
	// NeedsAnswerOf lists, in a dry run, the earlier steps whose answers
	// this step reads and that were not sent: it cannot be evaluated.
	NeedsAnswerOf []string        `json:"needsAnswerOf,omitempty"`
	Note          string          `json:"note,omitempty"`
	Request       json.RawMessage `json:"request,omitempty"`
	Status        int             `json:"status,omitempty"`
	Response      json.RawMessage `json:"response,omitempty"`
	Error         string          `json:"error,omitempty"`
	DurationMS    int64           `json:"durationMs,omitempty"`
}

// TryOptions configure TryFlow.
type TryOptions struct {
	// DryRun evaluates every step and reports the requests without sending
	// anything that changes GoHighLevel: reads (GET operations of the
	// catalog) are sent, so later steps can use their answers; a step that
	// needs the answer of a step that was not sent is reported as not
	// evaluable. Custom field definitions are read to resolve names.
	DryRun bool
	// HTTPClient sends http steps (default: 30s timeout).
	HTTPClient *http.Client
	// Now fixes the run's clock (default: time.Now()).
	Now time.Time
	// Keys holds the mappings of keyed steps (and answers mapped()); share
	// one between calls so a second try updates what the first created.
	// nil starts empty.
	Keys *TryKeys
}

// TryKeys keeps the key mappings of keyed steps in memory for TryFlow.
type TryKeys struct {
	mu sync.Mutex
	m  map[string]store.ObjectKey
}

// NewTryKeys returns an empty set of key mappings.
func NewTryKeys() *TryKeys { return &TryKeys{m: map[string]store.ObjectKey{}} }

// Get returns the GoHighLevel id mapped to key in scope ("" = none).
func (k *TryKeys) Get(scope, key string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[scope+"\x00"+key].GHLID
}

func (k *TryKeys) get(scope, key string) (store.ObjectKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[scope+"\x00"+key]
	return v, ok
}

func (k *TryKeys) set(v store.ObjectKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[v.Scope+"\x00"+v.Key] = v
}

func (k *TryKeys) del(scope, key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, scope+"\x00"+key)
}

// TryFlow runs a flow once for one event, outside the queue and without
// recording anything, and reports each step's request and answer. It stops
// at the first failing step unless the step says on_error: continue. It is
// meant for `ghlsync flows test`; tokens never appear in the reports.
func TryFlow(ctx context.Context, f *flow.Flow, in Incoming, conns Connections, o TryOptions) ([]StepReport, error) {
	client, conn, err := conns.Client(ctx, f.Connection)
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", f.Connection, err)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Keys == nil {
		o.Keys = NewTryKeys()
	}
	e := &Engine{red: redact.New(), hc: o.HTTPClient, metrics: &Metrics{}}
	env := flow.NewEnv(flow.Event{ID: in.ID, Type: in.Type, Source: in.Source, Payload: in.Payload,
		ReceivedAt: time.Now().UTC(), OccurredAt: in.OccurredAt},
		flow.Connection{Name: conn.Name, LocationID: conn.LocationID, CompanyID: conn.CompanyID, Timezone: conn.Timezone})
	if !o.Now.IsZero() {
		env.Now = o.Now
	}
	env.Fields = newFieldCache(time.Minute).resolver(client)
	scope := keyScope(conn)
	env.Keys = func(key string) (string, error) { return o.Keys.Get(scope, key), nil }
	t := &trier{e: e, o: o, env: env, scope: scope, rc: &runCtx{flow: f, env: env, client: client, conn: conn},
		unknown: map[string]bool{}}
	for _, s := range f.Steps {
		if !t.step(ctx, s) {
			break
		}
	}
	return t.reports, nil
}

// trier runs the steps of one TryFlow.
type trier struct {
	e       *Engine
	o       TryOptions
	env     *flow.Env
	scope   string
	rc      *runCtx
	reports []StepReport
	// unknown holds the steps whose answers a dry run does not have.
	unknown map[string]bool
}

// step runs one step; false stops the flow.
func (t *trier) step(ctx context.Context, s *flow.Step) bool {
	rep := StepReport{ID: s.ID, Op: s.Op}
	if t.o.DryRun {
		var blocked []string
		for _, id := range s.Needs() {
			if t.unknown[id] {
				blocked = append(blocked, id)
			}
		}
		if len(blocked) > 0 {
			rep.NeedsAnswerOf = blocked
			rep.Note = "not evaluable in a dry run: needs the answer of step " + strings.Join(blocked, ", step ")
			t.reports = append(t.reports, rep)
			t.unknown[s.ID] = true
			t.env.SetStep(s.ID, nil)
			return true
		}
	}
	fail := func(err error) bool {
		rep.Error = err.Error()
		t.reports = append(t.reports, rep)
		t.env.SetStep(s.ID, nil)
		t.unknown[s.ID] = true
		return t.o.DryRun || s.OnError == flow.OnErrorContinue
	}
	skip, err := s.Skip(t.env)
	if err != nil {
		return fail(err)
	}
	if skip {
		rep.Skipped = true
		t.reports = append(t.reports, rep)
		t.env.SetStep(s.ID, nil)
		return true
	}
	var (
		req    *flow.Request
		key    string
		mapped store.ObjectKey
		exists bool
	)
	if s.Keyed() {
		if key, err = s.KeyFor(t.env); err != nil {
			return fail(err)
		}
		rep.Key = key
		mapped, exists = t.o.Keys.get(t.scope, key)
		if exists && s.Update == nil {
			rep.Reused = mapped.GHLID
			rep.Note = fmt.Sprintf("key %q already maps to %s: reused, nothing sent", key, mapped.GHLID)
			rep.Response = reusedResult(&mapped)
			t.reports = append(t.reports, rep)
			t.env.SetStep(s.ID, rep.Response)
			return true
		}
	}
	if exists {
		req, err = s.UpdateRequest(ctx, t.env, mapped.GHLID)
	} else {
		req, err = s.Request(ctx, t.env)
	}
	if err != nil {
		return fail(err)
	}
	if req.Skipped {
		rep.Skipped = true
		t.reports = append(t.reports, rep)
		t.env.SetStep(s.ID, nil)
		return true
	}
	req.Key = key
	rep.Op = req.Op
	if t.o.DryRun && s.Keyed() {
		if exists {
			rep.Note = fmt.Sprintf("key %q maps to %s: would update it", key, mapped.GHLID)
		} else {
			rep.Note = fmt.Sprintf("key %q is not mapped yet: would create the object and map it", key)
		}
	}
	body, status, err := t.send(ctx, &rep, req)
	if err != nil && exists && isNotFound(err) && s.OnMissing == flow.OnMissingSkip {
		rep.Error, rep.Skipped = "", true
		rep.Note = "the mapped object was deleted (404); skipped (on_missing: skip)"
		t.reports = append(t.reports, rep)
		t.env.SetStep(s.ID, nil)
		return true
	}
	if err != nil && exists && isNotFound(err) && s.OnMissing == flow.OnMissingCreate {
		// The mapped object is gone: create it again, as the engine would.
		t.reports = append(t.reports, rep)
		t.o.Keys.del(t.scope, key)
		rep = StepReport{ID: s.ID, Op: s.Op, Key: key, Note: "the mapped object was deleted (404); created again (on_missing: create)"}
		if req, err = s.Request(ctx, t.env); err != nil {
			return fail(err)
		}
		req.Key, exists = key, false
		body, status, err = t.send(ctx, &rep, req)
	}
	if err != nil {
		return fail(err)
	}
	if status == 0 { // a dry run: not sent
		t.reports = append(t.reports, rep)
		t.env.SetStep(s.ID, nil)
		t.unknown[s.ID] = true
		if len(req.AddTags) > 0 {
			t.reports = append(t.reports, StepReport{ID: s.ID + tagsSuffix, Op: "contacts.addTags",
				Note: fmt.Sprintf("would add tags %v once the contact id is known", req.AddTags)})
		}
		return true
	}
	t.reports = append(t.reports, rep)
	if s.Keyed() && !exists {
		if id, path := createdID(req.Operation, body); id != "" {
			t.o.Keys.set(store.ObjectKey{Scope: t.scope, Key: key, GHLID: id, IDPath: path, Op: req.Op})
		}
	}
	t.env.SetStep(s.ID, json.RawMessage(body))
	tags, ok, terr := req.TagsRequest(json.RawMessage(body))
	if terr != nil {
		t.reports = append(t.reports, StepReport{ID: s.ID + tagsSuffix, Op: "contacts.addTags", Error: terr.Error()})
		return false
	}
	if ok {
		trep := StepReport{ID: s.ID + tagsSuffix, Op: tags.Op}
		_, _, err := t.send(ctx, &trep, tags)
		if err != nil {
			trep.Error = err.Error()
		}
		t.reports = append(t.reports, trep)
		if err != nil && s.OnError != flow.OnErrorContinue {
			return false
		}
	}
	return true
}

// send sends req (in a dry run only when it is a read) and fills rep with
// the request and the answer. status 0 means it was not sent.
func (t *trier) send(ctx context.Context, rep *StepReport, req *flow.Request) ([]byte, int, error) {
	rep.Request = json.RawMessage(t.e.recordRequest(req))
	if t.o.DryRun && (req.Operation == nil || req.Operation.Method != http.MethodGet) {
		return nil, 0, nil
	}
	start := time.Now()
	status, body, err := t.e.do(ctx, t.rc, req)
	rep.DurationMS = time.Since(start).Milliseconds()
	rep.Status = status
	if len(body) > 0 {
		rep.Response = jsonOrString(body)
	}
	if err != nil {
		var unknown *ghl.OutcomeUnknownError
		if errors.As(err, &unknown) {
			err = fmt.Errorf("%w (it may have been applied: check before trying again)", err)
		}
		return body, status, err
	}
	return body, status, nil
}

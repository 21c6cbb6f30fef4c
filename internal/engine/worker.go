package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
	"github.com/ghlsync/ghlsync/internal/store"
)

// runWorker executes RunArgs jobs.
type runWorker struct {
	river.WorkerDefaults[RunArgs]
	e *Engine
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	return w.e.execute(ctx, job.Args.RunID, job.ID, job.Attempt, job.MaxAttempts)
}

// stepFailure classifies why a step did not finish.
type stepFailure struct {
	kind  failKind
	wait  time.Duration // for snooze
	err   error
	human bool // the run needs a person to look at GHL before anything is resent
}

type failKind int

const (
	failTransient failKind = iota // River retries with backoff (an attempt is spent)
	failSnooze                    // wait without spending an attempt (429, paused connection)
	failPermanent                 // the run fails now
	failSkipRest                  // on_error: skip — end the run without the remaining steps
)

func (f *stepFailure) Error() string { return f.err.Error() }
func (f *stepFailure) Unwrap() error { return f.err }

func transient(err error) *stepFailure { return &stepFailure{kind: failTransient, err: err} }
func permanent(err error) *stepFailure { return &stepFailure{kind: failPermanent, err: err} }
func snooze(d time.Duration, err error) *stepFailure {
	return &stepFailure{kind: failSnooze, wait: d, err: err}
}

// runCtx is the state of one attempt of one run.
type runCtx struct {
	run    *store.Run
	flow   *flow.Flow
	env    *flow.Env
	client *ghl.Client
	conn   ConnInfo
	prev   map[string]*store.Step // checkpoints from earlier attempts
}

// execute runs (or resumes) one run. Its error is what River acts on.
func (e *Engine) execute(ctx context.Context, runID string, jobID int64, attempt, maxAttempts int) error {
	run, err := e.st.GetRun(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err) // purged by retention before it ran
	}
	if err != nil {
		return err
	}
	if store.Terminal(run.Status) {
		return nil // finished by an earlier attempt whose completion was not recorded by River
	}
	f, ok := e.Flow(run.Flow)
	if !ok {
		err := fmt.Errorf("flow %q is not loaded (renamed, removed or invalid); the run cannot continue", run.Flow)
		e.finish(ctx, run, store.RunFailed, err.Error())
		return river.JobCancel(err)
	}
	ev, err := e.st.GetEvent(ctx, run.EventID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			e.finish(ctx, run, store.RunFailed, err.Error())
			return river.JobCancel(err)
		}
		return err
	}
	if err := e.st.StartRun(ctx, run.ID, jobID, attempt); err != nil {
		return err
	}
	rc := &runCtx{run: run, flow: f, prev: map[string]*store.Step{}}
	steps, err := e.st.ListSteps(ctx, run.ID)
	if err != nil {
		return err
	}
	for _, s := range steps {
		rc.prev[s.StepID] = s
	}
	fail := e.runSteps(ctx, rc, ev)
	return e.settle(ctx, run, fail, attempt, maxAttempts)
}

// runSteps checks the flow is not held, resolves the connection, builds the run's environment and runs
// every step in order.
func (e *Engine) runSteps(ctx context.Context, rc *runCtx, ev *store.Event) *stepFailure {
	if why := e.Held(rc.flow.Name); why != nil {
		// Calling GoHighLevel would only fail (a missing scope is a 401):
		// wait, like a paused connection, until the hold is lifted.
		return snooze(HeldRunWait, &FlowHeldError{Flow: rc.flow.Name, Reason: why})
	}
	client, conn, err := e.cfg.Connections.Client(ctx, rc.flow.Connection)
	if err != nil {
		var paused *ConnectionPausedError
		if errors.As(err, &paused) {
			return snooze(ConnectionWait, err)
		}
		return transient(fmt.Errorf("connection %q: %w", rc.flow.Connection, err))
	}
	rc.client, rc.conn = client, conn
	var payload map[string]any
	dec := json.NewDecoder(strings.NewReader(string(ev.Payload)))
	dec.UseNumber()
	if err := dec.Decode(&payload); err != nil {
		return permanent(fmt.Errorf("event %s: stored payload is not a JSON object: %w", ev.ID, err))
	}
	env := flow.NewEnv(flow.Event{
		ID: ev.SourceEventID, Type: ev.Type, Source: ev.Source, Payload: payload,
		ReceivedAt: ev.ReceivedAt, OccurredAt: ev.OccurredAt,
	}, flow.Connection{Name: conn.Name, LocationID: conn.LocationID, CompanyID: conn.CompanyID, Timezone: conn.Timezone})
	// The run's clock is fixed, so a resumed run computes the same values.
	env.Now = rc.run.CreatedAt
	env.Fields = e.fields.resolver(client)
	env.Keys = e.keyLookup(ctx, keyScope(conn))
	rc.env = env
	for i, s := range rc.flow.Steps {
		if f := e.runStep(ctx, rc, i, s); f != nil {
			return f
		}
	}
	return nil
}

// settle records the run's status after an attempt and tells River what to
// do next.
func (e *Engine) settle(ctx context.Context, run *store.Run, f *stepFailure, attempt, maxAttempts int) error {
	// Status writes must land even when the job's context is ending.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if f == nil {
		e.finish(sctx, run, store.RunSucceeded, "")
		return nil
	}
	msg := e.red.Text(f.err.Error())
	switch f.kind {
	case failSkipRest:
		e.finish(sctx, run, store.RunSkipped, msg)
		return nil
	case failPermanent:
		e.finish(sctx, run, store.RunFailed, msg)
		return river.JobCancel(f.err)
	case failSnooze:
		if err := e.st.SetRunStatus(sctx, run.ID, store.RunRetrying, "waiting: "+msg); err != nil {
			return err
		}
		return river.JobSnooze(f.wait)
	}
	if attempt >= maxAttempts {
		e.finish(sctx, run, store.RunFailed, fmt.Sprintf("gave up after %d attempts: %s", attempt, msg))
		return f.err
	}
	if err := e.st.SetRunStatus(sctx, run.ID, store.RunRetrying, msg); err != nil {
		e.log.Error("record run status", "run", run.ID, "error", err)
	}
	return f.err
}

// finish records a final status and drops the run's resume data.
func (e *Engine) finish(ctx context.Context, run *store.Run, status, msg string) {
	if err := e.st.FinishRun(ctx, run.ID, status, msg); err != nil {
		e.log.Error("record run status", "run", run.ID, "status", status, "error", err)
		return
	}
	e.metrics.RunsFinished.WithLabelValues(run.Flow, status).Inc()
	level := e.log.Info
	if status == store.RunFailed {
		level = e.log.Warn
	}
	level("run finished", "run", run.ID, "flow", run.Flow, "status", status, "error", msg)
}

// tagsSuffix names the contacts.addTags sub-step that follows an upsert or
// update whose tags are added rather than replaced.
const tagsSuffix = ".tags"

// runStep runs step i unless an earlier attempt finished it.
func (e *Engine) runStep(ctx context.Context, rc *runCtx, i int, s *flow.Step) *stepFailure {
	prev := rc.prev[s.ID]
	tagsPrev := rc.prev[s.ID+tagsSuffix]
	if prev != nil {
		switch prev.Status {
		case store.StepSkipped:
			rc.env.SetStep(s.ID, nil)
			return nil
		case store.StepFailed:
			// Only on_error continue or skip leaves a failed step behind a
			// run that is still going.
			rc.env.SetStep(s.ID, nil)
			if s.OnError == flow.OnErrorSkip {
				return &stepFailure{kind: failSkipRest, err: errors.New(prev.Error)}
			}
			return nil
		case store.StepSucceeded:
			rc.env.SetStep(s.ID, json.RawMessage(prev.Result))
			if tagsPrev != nil && tagsPrev.Status == store.StepSucceeded {
				return nil
			}
		}
	}
	if s.Keyed() {
		return e.runKeyed(ctx, rc, i, s, prev, tagsPrev)
	}
	req, err := s.Request(ctx, rc.env)
	if err != nil {
		return e.stepError(ctx, rc, i, s, err)
	}
	if req.Skipped {
		rc.env.SetStep(s.ID, nil)
		row := &store.Step{RunID: rc.run.ID, StepID: s.ID, Index: i * 10, Op: s.Op, Status: store.StepSkipped}
		if err := e.st.SaveStep(ctx, row); err != nil {
			return transient(err)
		}
		return nil
	}
	var result json.RawMessage
	if prev != nil && prev.Status == store.StepSucceeded {
		result = json.RawMessage(prev.Result)
	} else {
		var f *stepFailure
		result, f = e.send(ctx, rc, s.ID, i*10, req, prev, sendOpts{})
		if f != nil {
			if f.kind == failPermanent && !f.human {
				return e.onError(ctx, rc, s, f)
			}
			return f
		}
		rc.env.SetStep(s.ID, result)
	}
	return e.addTags(ctx, rc, i, s, req, result, tagsPrev)
}

// addTags sends the contacts.addTags sub-step that completes an upsert or
// update whose tags are added rather than replaced.
func (e *Engine) addTags(ctx context.Context, rc *runCtx, i int, s *flow.Step, req *flow.Request, result json.RawMessage, tagsPrev *store.Step) *stepFailure {
	tags, ok, err := req.TagsRequest(result)
	if err != nil {
		return e.onError(ctx, rc, s, permanent(err))
	}
	if ok {
		if _, f := e.send(ctx, rc, s.ID+tagsSuffix, i*10+1, tags, tagsPrev, sendOpts{}); f != nil {
			if f.kind == failPermanent && !f.human {
				return e.onError(ctx, rc, s, f)
			}
			return f
		}
	}
	return nil
}

// stepError records an evaluation error (bad data for the mapping) as a
// failed step and applies on_error.
func (e *Engine) stepError(ctx context.Context, rc *runCtx, i int, s *flow.Step, err error) *stepFailure {
	var (
		fe *flow.EvalError
		le *flow.LookupError
	)
	if errors.As(err, &le) {
		// mapped() could not read the database: not the data's fault.
		return transient(err)
	}
	if !errors.As(err, &fe) {
		// Custom field lookups go to GHL; their failures are not the data's.
		if f := classify(err, catalog.Safe); f.kind != failPermanent {
			return f
		}
	}
	row := &store.Step{RunID: rc.run.ID, StepID: s.ID, Index: i * 10, Op: s.Op, Status: store.StepFailed,
		Error: e.red.Text(err.Error())}
	if serr := e.st.SaveStep(ctx, row); serr != nil {
		return transient(serr)
	}
	e.metrics.StepDuration.WithLabelValues(s.Op, "invalid").Observe(0)
	return e.onError(ctx, rc, s, permanent(err))
}

// onError applies a step's on_error to a permanent failure already
// recorded on the step.
func (e *Engine) onError(_ context.Context, rc *runCtx, s *flow.Step, f *stepFailure) *stepFailure {
	switch s.OnError {
	case flow.OnErrorContinue:
		rc.env.SetStep(s.ID, nil)
		e.log.Info("step failed; continuing as the flow says", "run", rc.run.ID, "step", s.ID, "error", f.err)
		return nil
	case flow.OnErrorSkip:
		return &stepFailure{kind: failSkipRest, err: fmt.Errorf("step %s: %w", s.ID, f.err)}
	}
	return &stepFailure{kind: failPermanent, err: fmt.Errorf("step %s: %w", s.ID, f.err)}
}

// idempotency returns how safely a request can be repeated.
func idempotency(req *flow.Request) catalog.Idempotency {
	if req.Operation != nil {
		return req.Operation.Idempotency
	}
	if req.HTTP != nil {
		switch req.HTTP.Method {
		case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
			return catalog.Safe
		}
	}
	return catalog.Unsafe
}

// sendOpts adjust how send records an outcome.
type sendOpts struct {
	// commit runs in the transaction that records a successful outcome
	// (sent, or found by reconciliation), so what it writes commits with
	// the step's checkpoint.
	commit func(ctx context.Context, tx *store.Tx, result json.RawMessage) error
	// pendingIf picks permanent failures the caller handles itself (the 404
	// of a keyed update): the step is recorded as pending, not failed.
	pendingIf func(err error) bool
}

// saveSucceeded records a successful step, with opts.commit in the same
// transaction.
func (e *Engine) saveSucceeded(ctx context.Context, row *store.Step, opts sendOpts) error {
	if opts.commit == nil {
		return e.st.SaveStep(ctx, row)
	}
	return e.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.SaveStep(ctx, row); err != nil {
			return err
		}
		return opts.commit(ctx, tx, json.RawMessage(row.Result))
	})
}

// send sends one request with a durable "sending" checkpoint first. When
// the previous attempt's outcome is unknown it reconciles before resending.
func (e *Engine) send(ctx context.Context, rc *runCtx, stepID string, idx int, req *flow.Request, prev *store.Step, opts sendOpts) (json.RawMessage, *stepFailure) {
	class := idempotency(req)
	row := &store.Step{RunID: rc.run.ID, StepID: stepID, Index: idx, Op: req.Op, Request: e.recordRequest(req)}
	reconciled := ""
	if prev != nil && (prev.Status == store.StepSending || prev.Status == store.StepUnknown) {
		row.OutcomeUnknown = true
		switch class {
		case catalog.Reconcile:
			start := time.Now()
			found, ok, err := e.reconcile(ctx, rc, req, prev.StartedAt)
			if err != nil {
				if errors.Is(err, errNoReconcile) {
					return nil, e.needHuman(ctx, row, prev, err)
				}
				return nil, classify(err, catalog.Safe)
			}
			if ok {
				row.Status, row.Result, row.Response = store.StepSucceeded, string(found), string(e.red.JSON(found))
				row.Reconciled = "found the object an earlier attempt created; not sent again"
				row.StartedAt, row.Attempts = prev.StartedAt, prev.Attempts
				if err := e.saveSucceeded(ctx, row, opts); err != nil {
					return nil, transient(err)
				}
				e.metrics.StepDuration.WithLabelValues(req.Op, "reconciled").Observe(time.Since(start).Seconds())
				return found, nil
			}
			reconciled = "not found after an unknown outcome; sent again"
		case catalog.Unsafe:
			return nil, e.needHuman(ctx, row, prev, errors.New("this operation cannot be looked up or safely repeated"))
		default:
			reconciled = "safe to repeat; sent again"
		}
	}
	row.Attempts = 1
	if prev != nil {
		row.Attempts = prev.Attempts + 1
	}
	row.StartedAt = time.Now().UTC()
	// The "sending" mark must be durable before a request that may not be
	// repeated blindly leaves; a safe one is simply sent again after a crash.
	if class != catalog.Safe {
		if err := e.st.BeginStep(ctx, row); err != nil {
			return nil, transient(err)
		}
	}
	row.Reconciled = reconciled
	start := time.Now()
	status, body, err := e.do(ctx, rc, req)
	dur := time.Since(start)
	row.HTTPStatus = status
	if len(body) > 0 {
		row.Response = string(e.red.JSON(truncate(body, 64<<10)))
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		row.Status, row.Result = store.StepSucceeded, string(body)
		if len(body) == 0 {
			row.Result = "null"
		}
		e.metrics.StepDuration.WithLabelValues(req.Op, "succeeded").Observe(dur.Seconds())
		if serr := e.saveSucceeded(sctx, row, opts); serr != nil {
			// The effect happened but is not recorded: the next attempt finds
			// the step "sending" and reconciles.
			return nil, transient(serr)
		}
		return json.RawMessage(row.Result), nil
	}
	f := classify(err, class)
	row.Error = e.red.Text(err.Error())
	var unknown *ghl.OutcomeUnknownError
	switch {
	case errors.As(err, &unknown):
		row.Status, row.OutcomeUnknown = store.StepUnknown, true
		if class == catalog.Unsafe {
			f = &stepFailure{kind: failPermanent, human: true,
				err: fmt.Errorf("%s: outcome unknown and the operation cannot be safely repeated: check GoHighLevel, then replay the run if nothing was done: %w", req.Op, err)}
			row.Status = store.StepFailed
		}
	case f.kind == failPermanent && opts.pendingIf != nil && opts.pendingIf(err):
		row.Status = store.StepPending
	case f.kind == failPermanent:
		row.Status = store.StepFailed
	case f.kind == failTransient && class != catalog.Safe && status >= 500:
		// A server error after a write may or may not have applied it.
		row.Status, row.OutcomeUnknown = store.StepUnknown, true
	default:
		row.Status = store.StepPending
	}
	e.metrics.StepDuration.WithLabelValues(req.Op, row.Status).Observe(dur.Seconds())
	if serr := e.st.SaveStep(sctx, row); serr != nil {
		e.log.Error("checkpoint step", "run", rc.run.ID, "step", stepID, "error", serr)
	}
	return nil, f
}

// needHuman fails the step of an unsafe operation whose earlier outcome is
// unknown.
func (e *Engine) needHuman(ctx context.Context, row, prev *store.Step, cause error) *stepFailure {
	err := fmt.Errorf("%s: an earlier attempt was interrupted after sending, so it may have been applied; %v. "+
		"Check GoHighLevel, then replay the run if nothing was done", row.Op, cause)
	row.Status, row.Error, row.OutcomeUnknown = store.StepFailed, err.Error(), true
	row.StartedAt, row.Attempts = prev.StartedAt, prev.Attempts
	if serr := e.st.SaveStep(ctx, row); serr != nil {
		return transient(serr)
	}
	return &stepFailure{kind: failPermanent, human: true, err: err}
}

// classify maps a send error to what the run does next.
func classify(err error, class catalog.Idempotency) *stepFailure {
	var (
		api   *ghl.APIError
		daily *ghl.DailyLimitError
		val   *ghl.ValidationError
	)
	switch {
	case errors.Is(err, ErrConnectionUnavailable):
		// Before the API error: a 401 whose token refresh found the
		// connection needs re-authorisation wraps both, and the run must
		// wait for an operator, not fail. It looks again soon, so a repair
		// is picked up promptly.
		return snooze(ConnectionWait, err)
	case errors.As(err, &daily):
		return snooze(max(time.Until(daily.ResetAt), time.Minute), err)
	case errors.As(err, &api):
		switch {
		case api.Status == http.StatusTooManyRequests:
			return snooze(max(api.RetryAfter, 2*time.Second), err)
		case api.Transient():
			return transient(err)
		default:
			return permanent(err)
		}
	case errors.As(err, &val):
		return permanent(err)
	case errors.As(err, new(permanentErr)):
		return permanent(err)
	}
	// Outcome unknown, network errors, database errors: try again later.
	return transient(err)
}

func readLimited(r io.Reader, n int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, n))
}

// do sends a request through the GHL client (or plainly, for http steps)
// and returns the answer's status and body.
func (e *Engine) do(ctx context.Context, rc *runCtx, req *flow.Request) (int, []byte, error) {
	if req.HTTP != nil {
		return e.doHTTP(ctx, req.HTTP)
	}
	p := ghl.Params{Path: req.Path, Query: req.Query}
	if req.Body != nil {
		p.Body = req.Body
	}
	resp, err := rc.client.Do(ctx, req.Op, p)
	status := 0
	var body []byte
	if resp != nil {
		status, body = resp.Status, resp.Body
	}
	e.metrics.ghlCall(req.Op, status, err)
	return status, body, err
}

// httpError is a non-2xx answer to an http step.
type httpError struct {
	Status int
	Body   string
}

func (h *httpError) Error() string {
	return fmt.Sprintf("http %d %s: %s", h.Status, http.StatusText(h.Status), h.Body)
}

func (e *Engine) doHTTP(ctx context.Context, h *flow.HTTPRequest) (int, []byte, error) {
	var body *strings.Reader
	if h.Body != nil {
		if s, ok := h.Body.(string); ok {
			body = strings.NewReader(s)
		} else {
			b, err := json.Marshal(h.Body)
			if err != nil {
				return 0, nil, permanentErr{fmt.Errorf("http body: %w", err)}
			}
			body = strings.NewReader(string(b))
		}
	}
	var r *http.Request
	var err error
	if body != nil {
		r, err = http.NewRequestWithContext(ctx, h.Method, h.URL, body)
	} else {
		r, err = http.NewRequestWithContext(ctx, h.Method, h.URL, nil)
	}
	if err != nil {
		return 0, nil, permanentErr{err}
	}
	for k, v := range h.Header {
		r.Header.Set(k, v)
	}
	if body != nil && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.hc.Do(r)
	if err != nil {
		return 0, nil, fmt.Errorf("http %s %s: %w", h.Method, redactURL(h.URL), err)
	}
	defer resp.Body.Close()
	b, _ := readLimited(resp.Body, 1<<20)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if len(b) > 0 && !json.Valid(b) {
			// Keep the answer usable by later steps as a string.
			b, _ = json.Marshal(string(b))
		}
		return resp.StatusCode, b, nil
	}
	apiErr := &ghl.APIError{Status: resp.StatusCode, Op: "http " + h.Method, Message: string(truncate(b, 500))}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if d, err := time.ParseDuration(ra + "s"); err == nil {
			apiErr.RetryAfter = d
		}
	}
	return resp.StatusCode, b, apiErr
}

// permanentErr marks a local error that retrying cannot fix.
type permanentErr struct{ error }

func (p permanentErr) Unwrap() error { return p.error }

// recordRequest renders a request for the run record, redacted.
func (e *Engine) recordRequest(req *flow.Request) string {
	rec := map[string]any{"op": req.Op}
	if req.Key != "" {
		rec["key"] = req.Key
	}
	if req.HTTP != nil {
		rec["method"] = req.HTTP.Method
		rec["url"] = redactURL(req.HTTP.URL)
		if len(req.HTTP.Header) > 0 {
			rec["headers"] = e.red.Headers(req.HTTP.Header)
		}
		if req.HTTP.Body != nil {
			rec["body"] = e.red.Value(req.HTTP.Body)
		}
	} else if req.Operation != nil {
		rec["method"] = req.Operation.Method
		if p, err := req.Operation.Expand(req.Path, url.PathEscape); err == nil {
			rec["path"] = p
		}
		if len(req.Query) > 0 {
			rec["query"] = e.red.Query(req.Query)
		}
		if req.Body != nil {
			rec["body"] = e.red.Value(req.Body)
		}
		if len(req.AddTags) > 0 {
			rec["addTags"] = req.AddTags
		}
		if len(req.Omitted) > 0 {
			rec["omitted"] = req.Omitted
		}
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return `{"op":"` + req.Op + `"}`
	}
	return string(b)
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "token") || strings.Contains(lk, "key") || strings.Contains(lk, "secret") || strings.Contains(lk, "sig") {
			q.Set(k, "[redacted]")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[:n]
}

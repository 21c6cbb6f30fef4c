package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
)

// StepReport is what one step of a tried flow did (or would do).
type StepReport struct {
	ID         string          `json:"id"`
	Op         string          `json:"op"`
	Skipped    bool            `json:"skipped,omitempty"`
	Request    json.RawMessage `json:"request,omitempty"`
	Status     int             `json:"status,omitempty"`
	Response   json.RawMessage `json:"response,omitempty"`
	Error      string          `json:"error,omitempty"`
	DurationMS int64           `json:"durationMs,omitempty"`
}

// TryOptions configure TryFlow.
type TryOptions struct {
	// DryRun evaluates every step and reports the requests without sending
	// them. Custom field definitions are still read to resolve names.
	DryRun bool
	// HTTPClient sends http steps (default: 30s timeout).
	HTTPClient *http.Client
	// Now fixes the run's clock (default: time.Now()).
	Now time.Time
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
	e := &Engine{red: redact.New(), hc: o.HTTPClient, metrics: &Metrics{}}
	env := flow.NewEnv(flow.Event{ID: in.ID, Type: in.Type, Source: in.Source, Payload: in.Payload,
		ReceivedAt: time.Now().UTC(), OccurredAt: in.OccurredAt},
		flow.Connection{Name: conn.Name, LocationID: conn.LocationID, CompanyID: conn.CompanyID, Timezone: conn.Timezone})
	if !o.Now.IsZero() {
		env.Now = o.Now
	}
	env.Fields = newFieldCache(time.Minute).resolver(client)
	rc := &runCtx{flow: f, env: env, client: client, conn: conn}
	var reports []StepReport
	for _, s := range f.Steps {
		rep := StepReport{ID: s.ID, Op: s.Op}
		req, err := s.Request(ctx, env)
		if err != nil {
			rep.Error = err.Error()
			reports = append(reports, rep)
			env.SetStep(s.ID, nil)
			if o.DryRun || s.OnError == flow.OnErrorContinue {
				continue
			}
			return reports, nil
		}
		if req.Skipped {
			rep.Skipped = true
			reports = append(reports, rep)
			env.SetStep(s.ID, nil)
			continue
		}
		reqs := []*flow.Request{req}
		for n := 0; n < len(reqs); n++ {
			r := reqs[n]
			rep := rep
			if n > 0 {
				rep = StepReport{ID: s.ID + tagsSuffix, Op: r.Op}
			}
			rep.Request = json.RawMessage(e.recordRequest(r))
			if o.DryRun {
				reports = append(reports, rep)
				if n == 0 {
					env.SetStep(s.ID, nil)
					if len(r.AddTags) > 0 {
						reports = append(reports, StepReport{ID: s.ID + tagsSuffix, Op: "contacts.addTags",
							Error: fmt.Sprintf("would add tags %v once the contact id is known", r.AddTags)})
					}
				}
				continue
			}
			start := time.Now()
			status, body, err := e.do(ctx, rc, r)
			rep.DurationMS = time.Since(start).Milliseconds()
			rep.Status = status
			if len(body) > 0 {
				rep.Response = jsonOrString(body)
			}
			if err != nil {
				var unknown *ghl.OutcomeUnknownError
				rep.Error = err.Error()
				if errors.As(err, &unknown) {
					rep.Error += " (it may have been applied: check before trying again)"
				}
				reports = append(reports, rep)
				env.SetStep(s.ID, nil)
				if s.OnError == flow.OnErrorContinue {
					break
				}
				return reports, nil
			}
			reports = append(reports, rep)
			if n == 0 {
				env.SetStep(s.ID, json.RawMessage(body))
				tags, ok, terr := r.TagsRequest(json.RawMessage(body))
				if terr != nil {
					reports = append(reports, StepReport{ID: s.ID + tagsSuffix, Op: "contacts.addTags", Error: terr.Error()})
					return reports, nil
				}
				if ok {
					reqs = append(reqs, tags)
				}
			}
		}
	}
	return reports, nil
}

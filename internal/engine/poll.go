package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
)

// PollArgs is the River job of one poll of one flow.
type PollArgs struct {
	Flow string `json:"flow"`
}

// Kind implements river.JobArgs.
func (PollArgs) Kind() string { return "ghlsync.poll" }

// pendingStates keeps one poll per flow queued or running at a time.
var pendingStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// InsertOpts: polls are unique per flow while one is pending, and retried a
// few times only (the next scheduled poll comes anyway).
func (PollArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePolls, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
}

// RetentionArgs is the River job that purges old history.
type RetentionArgs struct{}

// Kind implements river.JobArgs.
func (RetentionArgs) Kind() string { return "ghlsync.retention" }

// InsertOpts keeps one purge pending at a time.
func (RetentionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}}
}

// periodicJobs schedules every poll flow and the retention purge. River runs
// periodic jobs on the elected leader only, so each poll happens once across
// all processes.
func (e *Engine) periodicJobs() []*river.PeriodicJob {
	var jobs []*river.PeriodicJob
	for _, f := range e.cfg.Flows.Flows {
		if f.Trigger.Poll == nil {
			continue
		}
		jobs = append(jobs, pollJob(f.Name, f.Trigger.Poll.Every))
	}
	if e.cfg.Retain > 0 {
		jobs = append(jobs, river.NewPeriodicJob(river.PeriodicInterval(e.cfg.RetentionEvery),
			func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
			&river.PeriodicJobOpts{ID: "retention", RunOnStart: true}))
	}
	return jobs
}

// pollJob is the periodic job of one poll flow.
func pollJob(name string, every time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return PollArgs{Flow: name}, nil },
		&river.PeriodicJobOpts{ID: pollJobID(name), RunOnStart: true})
}

func pollJobID(name string) string { return "poll:" + name }

type pollWorker struct {
	river.WorkerDefaults[PollArgs]
	e *Engine
}

func (w *pollWorker) Work(ctx context.Context, job *river.Job[PollArgs]) error {
	res, err := w.e.Poll(ctx, job.Args.Flow)
	if err != nil {
		w.e.metrics.Polls.WithLabelValues(job.Args.Flow, "error").Inc()
		f := classify(err, "")
		if held := (*FlowHeldError)(nil); errors.As(err, &held) {
			// The hold itself is logged and shown where it is set.
			w.e.log.Debug("poll waits for a held flow", "flow", job.Args.Flow, "error", err)
		} else {
			args := []any{"flow", job.Args.Flow, "attempt", job.Attempt, "error", w.e.red.Text(err.Error())}
			if fl, ok := w.e.Flow(job.Args.Flow); ok {
				args = append(args, "file", fl.File)
			}
			w.e.log.Warn("poll failed", args...)
		}
		if f.kind == failSnooze {
			return river.JobSnooze(f.wait)
		}
		if f.kind == failPermanent {
			return river.JobCancel(err)
		}
		return err
	}
	result := "ok"
	if res.Baseline {
		result = "baseline"
	}
	w.e.metrics.Polls.WithLabelValues(job.Args.Flow, result).Inc()
	return nil
}

// PollResult says what one poll did.
type PollResult struct {
	Listed   int
	Emitted  int
	Baseline bool // the first poll recorded a starting point and emitted nothing
}

// Poll lists a poll flow's items once and emits those not seen before as
// events. The first poll of a flow (or of a changed trigger) only records a
// baseline.
//
// A failed poll (before its first baseline too) is recorded in the flow's
// poll state: LastError and LastErrorAt, shown on the dashboard.
func (e *Engine) Poll(ctx context.Context, flowName string) (PollResult, error) {
	f, ok := e.Flow(flowName)
	if !ok || f.Trigger.Poll == nil {
		return PollResult{}, permanentErr{fmt.Errorf("poll: %w %q (or it has no poll trigger)", ErrUnknownFlow, flowName)}
	}
	res, err := e.poll(ctx, f)
	if err != nil {
		e.recordPollError(ctx, flowName, triggerKey(f.Trigger.Poll), err)
	}
	return res, err
}

func (e *Engine) poll(ctx context.Context, f *flow.Flow) (PollResult, error) {
	flowName := f.Name
	if why := e.Held(flowName); why != nil {
		return PollResult{}, &FlowHeldError{Flow: flowName, Reason: why}
	}
	pt := f.Trigger.Poll
	client, conn, err := e.cfg.Connections.Client(ctx, f.Connection)
	if err != nil {
		return PollResult{}, err
	}
	key := triggerKey(pt)
	state, err := e.st.GetPollState(ctx, flowName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		state = &store.PollState{Flow: flowName}
	case err != nil:
		return PollResult{}, err
	}
	if state.TriggerKey != key {
		// New flow, or its trigger changed: start over with a baseline.
		state = &store.PollState{Flow: flowName, TriggerKey: key}
	}
	baseline := state.BaselineAt.IsZero()

	env := flow.NewEnv(flow.Event{Source: "poll", Type: pt.Op}, flow.Connection{Name: conn.Name,
		LocationID: conn.LocationID, CompanyID: conn.CompanyID, Timezone: conn.Timezone})
	env.Now = e.cfg.Now()
	req, err := pt.Request(env)
	if err != nil {
		return PollResult{}, permanentErr{err}
	}
	p := ghl.Params{Path: req.Path, Query: req.Query}
	if req.Body != nil {
		p.Body = req.Body
	}
	// Stopping at the first item older than the checkpoint is safe only when
	// the list is sorted by the compared field. GoHighLevel documents a
	// newest-first sort by creation for neither list, and none by update
	// time for opportunities, so updated triggers read up to the page cap
	// and filter each item; added triggers stop early only while the items
	// actually come newest first.
	newestFirst := sortNewestFirst(pt.Op, pt.Updated, &p) && !pt.Updated
	maxPages := e.cfg.PollMaxPages
	if pt.MaxPages > 0 {
		maxPages = pt.MaxPages
	}

	seen := make(map[string]bool, len(state.Seen))
	for _, k := range state.Seen {
		seen[k] = true
	}
	idField := "id"
	if pt.Operation != nil && pt.Operation.Pagination != nil && pt.Operation.Pagination.ItemID != "" {
		idField = pt.Operation.Pagination.ItemID
	}
	var items []polledItem
	reachedCheckpoint := false
	var prev time.Time // the previous item's time, to check the order really is newest first
	for raw, err := range client.Items(ctx, pt.Op, p, ghl.PageOptions{MaxPages: maxPages}) {
		if err != nil {
			if errors.Is(err, ghl.ErrPageCap) {
				switch {
				case baseline:
				case newestFirst && !reachedCheckpoint:
					// Newer items than one poll reads arrived since the last poll;
					// the oldest of them cannot be reached by later polls either.
					e.log.Warn("poll read its page cap without reaching the last checkpoint; some items may be skipped: raise max_pages or poll more often",
						"flow", flowName, "max_pages", maxPages)
				case !newestFirst:
					// The order is unknown, so changes beyond the cap are not seen.
					e.warnOnce("pagecap:"+flowName, "poll read its page cap and the list's order is not known to be newest first; changes to items beyond the cap are not seen: raise max_pages or narrow the poll's params",
						"flow", flowName, "max_pages", maxPages)
				}
				break
			}
			e.metrics.ghlCall(pt.Op, 0, err)
			return PollResult{}, fmt.Errorf("poll %s: %w", flowName, err)
		}
		it, ok := itemOf(raw, idField, pt.Updated)
		if !ok {
			continue
		}
		items = append(items, it)
		if newestFirst && (it.ts.IsZero() || (!prev.IsZero() && it.ts.After(prev))) {
			newestFirst = false // not sorted as asked: read on to the page cap
		}
		prev = it.ts
		if newestFirst && !baseline && !state.CursorTime.IsZero() && it.ts.Before(state.CursorTime) {
			reachedCheckpoint = true
			break // everything further down is older than the checkpoint
		}
	}
	e.metrics.ghlCall(pt.Op, 200, nil)
	// Oldest first, so runs start in the order things happened; ties by id.
	sort.SliceStable(items, func(i, j int) bool {
		if !items[i].ts.Equal(items[j].ts) {
			return items[i].ts.Before(items[j].ts)
		}
		return items[i].id < items[j].id
	})
	res := PollResult{Listed: len(items), Baseline: baseline}
	var emit []polledItem
	for _, it := range items {
		if seen[it.key] {
			continue
		}
		if !baseline && !it.ts.IsZero() && it.ts.Before(state.CursorTime) {
			continue // older than the checkpoint: already handled before the seen-set forgot it
		}
		seen[it.key] = true
		state.Seen = append(state.Seen, it.key)
		if it.ts.After(state.CursorTime) || (it.ts.Equal(state.CursorTime) && it.id > state.CursorID) {
			state.CursorTime, state.CursorID = it.ts, it.id
		}
		if !baseline {
			emit = append(emit, it)
		}
	}
	if over := len(state.Seen) - e.cfg.SeenSetSize; over > 0 {
		state.Seen = append([]string(nil), state.Seen[over:]...)
	}
	now := e.cfg.Now().UTC()
	if baseline {
		state.BaselineAt = now
	}
	state.LastPollAt, state.LastError = now, ""
	err = e.st.InTx(ctx, func(tx *store.Tx) error {
		for _, it := range emit {
			ev, err := e.eventRow(Incoming{Flow: flowName, Source: "poll", ID: it.key, Type: pt.Op,
				Payload: it.payload, Raw: it.raw, OccurredAt: it.ts})
			if err != nil {
				return err
			}
			r, err := e.ingestTx(ctx, tx, ev)
			if err != nil {
				return err
			}
			if !r.Duplicate {
				res.Emitted++
			}
		}
		return tx.SavePollState(ctx, state)
	})
	if err != nil {
		return PollResult{}, fmt.Errorf("poll %s: store events: %w", flowName, err)
	}
	if res.Emitted > 0 {
		e.metrics.Events.WithLabelValues(flowName, EventAccepted).Add(float64(res.Emitted))
	}
	e.log.Debug("polled", "flow", flowName, "listed", res.Listed, "emitted", res.Emitted, "baseline", baseline)
	return res, nil
}

// recordPollError notes a failed poll in the flow's poll state, creating
// the state when the flow never polled successfully: the checkpoint is left
// as it was, so a state without a baseline still starts with one.
func (e *Engine) recordPollError(ctx context.Context, flowName, key string, err error) {
	ctx = context.WithoutCancel(ctx)
	state, gerr := e.st.GetPollState(ctx, flowName)
	switch {
	case errors.Is(gerr, store.ErrNotFound):
		state = &store.PollState{Flow: flowName, TriggerKey: key}
	case gerr != nil:
		e.log.Warn("record poll error", "flow", flowName, "error", gerr)
		return
	}
	now := e.cfg.Now().UTC()
	state.LastError = e.red.Text(err.Error())
	state.LastPollAt, state.LastErrorAt = now, now
	if serr := e.st.SavePollState(ctx, state); serr != nil {
		e.log.Warn("record poll error", "flow", flowName, "error", serr)
	}
}

// triggerKey identifies a poll trigger's op and parameters.
func triggerKey(pt *flow.PollTrigger) string {
	k := pt.Op
	if pt.Updated {
		k += "|updated"
	}
	return k + "|" + strings.Join(pt.Params.Keys(), ",")
}

// sortNewestFirst asks list operations that can sort for the newest items
// first, unless the flow chose an order. It reports whether the answer
// should come newest first; Poll still checks that it does.
func sortNewestFirst(op string, updated bool, p *ghl.Params) bool {
	field := "dateAdded"
	if updated {
		field = "dateUpdated"
	}
	switch op {
	case "contacts.search":
		body, _ := p.Body.(map[string]any)
		if body == nil {
			body = map[string]any{}
		}
		if _, set := body["sort"]; set {
			return false
		}
		nb := make(map[string]any, len(body)+1)
		for k, v := range body {
			nb[k] = v
		}
		nb["sort"] = []any{map[string]any{"field": field, "direction": "desc"}}
		p.Body = nb
		return true
	case "opportunities.search":
		// Only creation order can be asked for here; there is no documented
		// order by update time.
		if updated || p.Query.Get("order") != "" {
			return false
		}
		q := cloneQuery(p.Query)
		q.Set("order", "added_desc")
		p.Query = q
		return true
	}
	return false
}

func cloneQuery(q url.Values) url.Values {
	out := make(url.Values, len(q)+1)
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

type polledItem struct {
	id, key string
	ts      time.Time
	payload map[string]any
	raw     []byte
}

// itemOf reads a listed item's id and the time it was added (or updated,
// for updated triggers). The event key of an updated item includes the
// update time, so each change runs once.
func itemOf(raw json.RawMessage, idField string, updated bool) (polledItem, bool) {
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if dec.Decode(&m) != nil || m == nil {
		return polledItem{}, false
	}
	id := scalarString(m[idField])
	if id == "" {
		id = scalarString(m["id"])
	}
	if id == "" {
		return polledItem{}, false
	}
	fields := []string{"dateAdded", "createdAt", "dateCreated", "addedAt"}
	if updated {
		fields = []string{"dateUpdated", "updatedAt", "lastUpdated", "dateAdded", "createdAt"}
	}
	var ts time.Time
	var tsText string
	for _, f := range fields {
		if v, ok := m[f]; ok && v != nil {
			tsText = scalarString(v)
			ts = timeOf(v)
			break
		}
	}
	key := id
	if updated {
		key = id + "@" + tsText
	}
	return polledItem{id: id, key: key, ts: ts, payload: m, raw: raw}, true
}

func scalarString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// timeOf reads RFC 3339 text or epoch milliseconds.
func timeOf(v any) time.Time {
	switch x := v.(type) {
	case string:
		if t, err := parseInstant(x); err == nil {
			return t.UTC()
		}
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return time.UnixMilli(n).UTC()
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return time.UnixMilli(n).UTC()
		}
	}
	return time.Time{}
}

type retentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	e *Engine
}

func (w *retentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	_, err := w.e.Purge(ctx)
	return err
}

// Purge deletes events (with their runs and steps) received longer ago
// than Config.Retain, except those with unfinished runs.
func (e *Engine) Purge(ctx context.Context) (store.PurgeResult, error) {
	var total store.PurgeResult
	if e.cfg.Retain <= 0 {
		return total, nil
	}
	cutoff := e.cfg.Now().Add(-e.cfg.Retain)
	const batch = 500
	for {
		res, err := e.st.PurgeBefore(ctx, cutoff, batch)
		if err != nil {
			return total, err
		}
		total.Events += res.Events
		total.Runs += res.Runs
		e.metrics.Purged.WithLabelValues("events").Add(float64(res.Events))
		e.metrics.Purged.WithLabelValues("runs").Add(float64(res.Runs))
		if res.Events < batch {
			break
		}
	}
	if total.Events > 0 {
		e.log.Info("purged old history", "events", total.Events, "runs", total.Runs, "older_than", cutoff.Format(time.RFC3339))
	}
	return total, nil
}

package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/store"
)

// FlowView describes a loaded flow.
type FlowView struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	File        string `json:"file"`
	Connection  string `json:"connection"`
	Trigger     string `json:"trigger"` // "webhook generic", "poll contacts.search every 5m"
	HookPath    string `json:"hookPath,omitempty"`
	// HookURL is the full webhook URL (Config.PublicURL or the request's
	// scheme and host, plus HookPath).
	HookURL  string   `json:"hookUrl,omitempty"`
	Types    []string `json:"types,omitempty"`
	Unsigned bool     `json:"unsigned,omitempty"`
	// SourceError says why the flow's webhook source could not be built (a
	// missing secret, a bad option).
	SourceError string `json:"sourceError,omitempty"`
	// Held says why the engine holds the flow (its connection lacks a
	// scope, for example): its runs wait, and a webhook flow takes no
	// deliveries, until it is fixed and the flows are reloaded.
	Held string `json:"held,omitempty"`
	// Unavailable says why a webhook flow is not taking deliveries (its
	// deliveries are answered 429): SourceError or Held.
	Unavailable string     `json:"unavailable,omitempty"`
	Steps       []StepInfo `json:"steps"`
	// Poll is the state of a poll flow's trigger (nil before its first
	// poll, and for webhook flows).
	Poll *PollView `json:"poll,omitempty"`
}

// PollView is a poll flow's last poll and, when it failed, why.
type PollView struct {
	BaselineAt *time.Time `json:"baselineAt,omitempty"`
	LastPollAt *time.Time `json:"lastPollAt,omitempty"`
	// LastError says why the last poll failed ("" when it succeeded);
	// LastErrorAt is when a poll last failed.
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
}

func pollView(p *store.PollState) *PollView {
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	return &PollView{BaselineAt: at(p.BaselineAt), LastPollAt: at(p.LastPollAt), LastError: p.LastError, LastErrorAt: at(p.LastErrorAt)}
}

// StepInfo describes one step of a flow.
type StepInfo struct {
	ID      string `json:"id"`
	Op      string `json:"op"`
	When    string `json:"when,omitempty"`
	OnError string `json:"onError,omitempty"`
	// Key and Update describe a keyed create-or-update step.
	Key    string `json:"key,omitempty"`
	Update string `json:"update,omitempty"`
}

// FlowProblem is a problem of a flow file that did not load.
type FlowProblem struct {
	Where   string `json:"where"`
	Message string `json:"message"`
}

// FlowsView is the answer of GET /api/flows.
type FlowsView struct {
	Flows    []FlowView    `json:"flows"`
	Problems []FlowProblem `json:"problems,omitempty"`
}

func (s *Server) flowsView(r *http.Request) FlowsView {
	l := s.e.Flows()
	out := FlowsView{Flows: []FlowView{}}
	base := s.baseURL(r)
	polls := map[string]*store.PollState{}
	if states, err := s.e.Store().ListPollStates(r.Context()); err == nil {
		for _, p := range states {
			polls[p.Flow] = p
		}
	} else {
		s.log.Warn("list poll states", "error", err)
	}
	for _, f := range l.Flows {
		v := s.flowView(f)
		if v.HookPath != "" {
			v.HookURL = base + v.HookPath
		}
		if p := polls[f.Name]; p != nil && f.Trigger.Poll != nil {
			v.Poll = pollView(p)
		}
		out.Flows = append(out.Flows, v)
	}
	for _, p := range l.Errors {
		out.Problems = append(out.Problems, FlowProblem{Where: p.Pos.String(), Message: p.Msg})
	}
	return out
}

func (s *Server) flowView(f *flow.Flow) FlowView {
	v := FlowView{Name: f.Name, Description: f.Description, File: f.File, Connection: f.Connection, Steps: []StepInfo{}}
	switch {
	case f.Trigger.Webhook != nil:
		w := f.Trigger.Webhook
		v.Trigger = "webhook " + w.Source
		v.HookPath = "/hooks/" + f.Name
		v.Types = w.Types
		v.Unsigned, _ = w.Config["unsigned"].(bool)
		if err := s.SourceError(f.Name); err != nil {
			v.SourceError = err.Error()
		}
		if err := s.Unavailable(f.Name); err != nil {
			v.Unavailable = err.Error()
		}
	case f.Trigger.Poll != nil:
		p := f.Trigger.Poll
		v.Trigger = "poll " + p.Op + " every " + p.Every.String()
		if p.Updated {
			v.Trigger += " (updated items)"
		}
	}
	if err := s.e.Held(f.Name); err != nil {
		v.Held = err.Error()
	}
	for _, st := range f.Steps {
		info := StepInfo{ID: st.ID, Op: st.Op, When: st.When, OnError: string(st.OnError), Key: st.Key}
		if st.Update != nil {
			info.Update = st.Update.Op
		}
		v.Steps = append(v.Steps, info)
	}
	return v
}

func (s *Server) apiFlows(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.flowsView(r))
}

// RunsView is the answer of GET /api/runs.
type RunsView struct {
	Runs []engine.RunView `json:"runs"`
	// Next is the value of ?before= for the next (older) page.
	Next string `json:"next,omitempty"`
}

func (s *Server) listRuns(r *http.Request) (RunsView, error) {
	q := r.URL.Query()
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1000 {
			return RunsView{}, errors.New("limit must be a number from 1 to 1000")
		}
		limit = n
	}
	status := q.Get("status")
	if status != "" && !validStatus(status) {
		return RunsView{}, errors.New("unknown status " + strconv.Quote(status))
	}
	runs, err := s.e.Store().ListRuns(r.Context(), store.RunFilter{Flow: q.Get("flow"), Status: status,
		EventID: q.Get("event"), Before: q.Get("before"), Limit: limit})
	if err != nil {
		return RunsView{}, err
	}
	out := RunsView{Runs: []engine.RunView{}}
	for _, run := range runs {
		out.Runs = append(out.Runs, engine.ViewRun(run))
	}
	if len(runs) == limit {
		out.Next = runs[len(runs)-1].ID
	}
	return out, nil
}

func validStatus(s string) bool {
	for _, v := range store.RunStatuses {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	v, err := s.listRuns(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	d, err := engine.RunDetailOf(r.Context(), s.e.Store(), s.e.Redactor(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiReplay(w http.ResponseWriter, r *http.Request) {
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	run, err := s.e.Replay(r.Context(), r.PathValue("id"), force)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if errors.Is(err, engine.ErrReplaySucceeded) || errors.Is(err, engine.ErrReplayUnfinished) {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"run": engine.ViewRun(run)})
}

// ago renders a past time for people.
func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h ago"
	}
	return t.Format("2006-01-02 15:04")
}

func (s *Server) apiEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := engine.EventDetailOf(r.Context(), s.e.Store(), s.e.Redactor(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

// CapturesView is the answer of GET /api/captures.
type CapturesView struct {
	Captures []*engine.EventView `json:"captures"`
}

func (s *Server) listCaptures(r *http.Request, limit int) (CapturesView, error) {
	evs, err := s.e.Store().ListEvents(r.Context(), store.EventFilter{Flow: r.URL.Query().Get("flow"), CapturedOnly: true, Limit: limit})
	if err != nil {
		return CapturesView{}, err
	}
	out := CapturesView{Captures: []*engine.EventView{}}
	for _, e := range evs {
		out.Captures = append(out.Captures, engine.ViewEvent(e, s.e.Redactor()))
	}
	return out, nil
}

func (s *Server) apiCaptures(w http.ResponseWriter, r *http.Request) {
	v, err := s.listCaptures(r, 100)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) apiReload(w http.ResponseWriter, r *http.Request) {
	res, err := s.cfg.Reload(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if res.Flows == nil {
		res.Flows = []string{}
	}
	writeJSON(w, http.StatusOK, res)
}

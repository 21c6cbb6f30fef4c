package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago":  ago,
	"join": strings.Join,
	"short": func(s string) string {
		if len(s) > 140 {
			return s[:140] + "…"
		}
		return s
	},
	"lines": func(s string) int { return strings.Count(s, "\n") + 1 },
	"labelled": func(label string, raw json.RawMessage) map[string]any {
		return map[string]any{"Label": label, "Raw": raw}
	},
	"pretty": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if err := json.Indent(&b, raw, "", "  "); err != nil {
			return string(raw)
		}
		return b.String()
	},
}).ParseFS(templateFS, "templates/*.html"))

type statusCount struct {
	Status string
	N      int
}

// filterLink is one status filter of the runs table.
type filterLink struct {
	Status string // "" for all
	N      int
	Active bool
}

// runRow is a run in a table, with what its event is about.
type runRow struct {
	engine.RunView
	EventType string
	// Subject is a short, redacted pointer to who the event is about: an
	// e-mail or a contact id.
	Subject string
}

type indexPage struct {
	Title, Database string
	Flows           FlowsView
	Rows            []runRow
	Next            string
	Counts          []statusCount
	Filters         []filterLink
	Queue           int
	Flow, Status    string
	Event           string
	Captures        CapturesView
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	runs, err := s.listRuns(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	q := r.URL.Query()
	p := indexPage{Title: "Dashboard", Database: s.e.Store().String(), Flows: s.flowsView(r), Next: runs.Next,
		Flow: q.Get("flow"), Status: q.Get("status"), Event: q.Get("event")}
	p.Rows = s.runRows(ctx, runs.Runs)
	counts, _ := s.e.Store().CountRunsByStatus(ctx)
	for _, st := range store.RunStatuses {
		if counts[st] > 0 {
			p.Counts = append(p.Counts, statusCount{st, counts[st]})
		}
	}
	// The filters count the runs of the flow shown, when one is.
	if p.Flow != "" {
		counts = map[string]int{}
		if stats, err := s.e.Store().FlowRunStats(ctx); err == nil && stats[p.Flow] != nil {
			counts = stats[p.Flow].Counts
		}
	}
	p.Filters = filters(counts, p.Status)
	p.Queue, _ = s.e.Store().WaitingJobs(ctx)
	p.Captures, _ = s.listCaptures(r, 20)
	s.render(w, "index.html", p)
}

// filters lists "all" and each status that has runs (or is the active one).
func filters(counts map[string]int, active string) []filterLink {
	total := 0
	for _, n := range counts {
		total += n
	}
	out := []filterLink{{Status: "", N: total, Active: active == ""}}
	for _, st := range store.RunStatuses {
		if counts[st] > 0 || st == active {
			out = append(out, filterLink{Status: st, N: counts[st], Active: st == active})
		}
	}
	return out
}

// runRows adds each run's event type and subject, read in one query.
func (s *Server) runRows(ctx context.Context, runs []engine.RunView) []runRow {
	ids := make([]string, 0, len(runs))
	for _, r := range runs {
		ids = append(ids, r.EventID)
	}
	events, err := s.e.Store().GetEvents(ctx, ids)
	if err != nil {
		s.log.Warn("dashboard: read the runs' events", "error", err)
	}
	red, _ := engine.WithStoredRedaction(ctx, s.e.Store(), s.e.Redactor())
	out := make([]runRow, 0, len(runs))
	for _, r := range runs {
		row := runRow{RunView: r}
		if ev := events[r.EventID]; ev != nil {
			row.EventType = ev.Type
			row.Subject = subjectOf(ev.Payload, red)
		}
		out = append(out, row)
	}
	return out
}

// subjectKeys name who an event is about, best first.
var subjectKeys = []string{"email", "contactId", "contact_id", "phone"}

// subjectOf finds a short subject in an event payload after redaction: the
// first e-mail, contact id or phone not masked, searched breadth first.
func subjectOf(payload []byte, red *redact.Redactor) string {
	var v any
	if err := json.Unmarshal(red.JSON(payload), &v); err != nil {
		return ""
	}
	for _, key := range subjectKeys {
		queue := []any{v}
		for len(queue) > 0 {
			cur := queue[0]
			queue = queue[1:]
			switch x := cur.(type) {
			case map[string]any:
				if s, ok := x[key].(string); ok && s != "" && s != redact.Mask {
					if len(s) > 60 {
						s = s[:60] + "…"
					}
					return s
				}
				for _, k := range sortedKeys(x) {
					queue = append(queue, x[k])
				}
			case []any:
				queue = append(queue, x...)
			}
		}
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type runPage struct {
	Title, Database string
	Detail          *engine.RunDetail
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	d, err := engine.RunDetailOf(r.Context(), s.e.Store(), s.e.Redactor(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "run not found", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.render(w, "run.html", runPage{Title: "Run " + d.Run.ID, Database: s.e.Store().String(), Detail: d})
}

func (s *Server) replayForm(w http.ResponseWriter, r *http.Request) {
	// A succeeded run needs the form's explicit confirmation.
	run, err := s.e.Replay(r.Context(), r.PathValue("id"), r.PostFormValue("confirm") == "repeat")
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "run not found", http.StatusNotFound)
		return
	}
	if errors.Is(err, engine.ErrReplaySucceeded) {
		http.Error(w, "This run succeeded. Replaying it repeats every step and creates its objects again; tick the confirmation box to do that.", http.StatusConflict)
		return
	}
	if errors.Is(err, engine.ErrReplayUnfinished) {
		http.Error(w, "This run is still in progress. Wait for it to finish or cancel it first, then replay it.", http.StatusConflict)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, "/runs/"+run.ID, http.StatusSeeOther)
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		s.log.Error("render page", "page", name, "error", err)
		http.Error(w, "cannot render page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	_, _ = w.Write(b.Bytes())
}

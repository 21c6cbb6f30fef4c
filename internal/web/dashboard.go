package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
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

type indexPage struct {
	Title, Database string
	Flows           FlowsView
	Runs            RunsView
	Counts          []statusCount
	Queue           int
	Flow, Status    string
	Statuses        []string
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
	p := indexPage{Title: "Dashboard", Database: s.e.Store().String(), Flows: s.flowsView(), Runs: runs,
		Flow: r.URL.Query().Get("flow"), Status: r.URL.Query().Get("status"), Statuses: store.RunStatuses}
	if counts, err := s.e.Store().CountRunsByStatus(ctx); err == nil {
		for _, st := range store.RunStatuses {
			if counts[st] > 0 {
				p.Counts = append(p.Counts, statusCount{st, counts[st]})
			}
		}
	}
	p.Queue, _ = s.e.Store().QueueDepth(ctx)
	p.Captures, _ = s.listCaptures(r, 20)
	s.render(w, "index.html", p)
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

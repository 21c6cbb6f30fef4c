package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/store"
)

// baseURL is the scheme and host senders use: Config.PublicURL, else the
// request's own (https when it came over TLS or through a proxy that says
// so).
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

type flowPageData struct {
	Title, Database string
	Flow            FlowView
	Counts          []statusCount
	Total           int
	LastSuccess     time.Time
	Rows            []runRow
}

// flowPage shows one flow: trigger, webhook URL, steps, run counts, last
// success, recent runs, and why it cannot take deliveries when it cannot.
func (s *Server) flowPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f, ok := s.e.Flow(name)
	if !ok {
		http.Error(w, "no flow named "+name+" is loaded", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	v := s.flowView(f)
	if v.HookPath != "" {
		v.HookURL = s.baseURL(r) + v.HookPath
	}
	if f.Trigger.Poll != nil {
		if ps, err := s.e.Store().GetPollState(ctx, name); err == nil {
			v.Poll = pollView(ps)
		}
	}
	p := flowPageData{Title: "Flow " + name, Database: s.e.Store().String(), Flow: v}
	if stats, err := s.e.Store().FlowRunStats(ctx); err == nil && stats[name] != nil {
		for _, st := range store.RunStatuses {
			if n := stats[name].Counts[st]; n > 0 {
				p.Counts = append(p.Counts, statusCount{st, n})
				p.Total += n
			}
		}
		p.LastSuccess = stats[name].LastSuccess
	}
	runs, err := s.e.Store().ListRuns(ctx, store.RunFilter{Flow: name, Limit: 20})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	views := make([]engine.RunView, 0, len(runs))
	for _, run := range runs {
		views = append(views, engine.ViewRun(run))
	}
	p.Rows = s.runRows(ctx, views)
	s.render(w, "flow.html", p)
}

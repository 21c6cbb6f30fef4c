package engine

import (
	"time"

	"github.com/ghlsync/ghlsync/internal/flow"
)

// SetFlows replaces the loaded flows while the engine runs: new deliveries,
// new runs and later attempts of running ones use the new versions (a run
// whose flow is gone fails when it next runs). Poll schedules follow: a poll
// flow added or re-timed is scheduled (and polls soon), one removed stops.
func (e *Engine) SetFlows(l *flow.Loaded) {
	if l == nil {
		l = &flow.Loaded{}
	}
	old := e.Flows()
	e.setFlows(l)
	if e.cfg.InsertOnly || e.river == nil {
		return
	}
	before, after := pollIntervals(old), pollIntervals(l)
	jobs := e.river.PeriodicJobs()
	for name, every := range before {
		if now, ok := after[name]; !ok || now != every {
			jobs.RemoveByID(pollJobID(name))
		}
	}
	for name, every := range after {
		if was, ok := before[name]; ok && was == every {
			continue
		}
		if _, err := jobs.AddSafely(pollJob(name, every)); err != nil {
			e.log.Error("schedule poll", "flow", name, "error", err)
		}
	}
}

func pollIntervals(l *flow.Loaded) map[string]time.Duration {
	out := map[string]time.Duration{}
	if l == nil {
		return out
	}
	for _, f := range l.Flows {
		if f.Trigger.Poll != nil {
			out[f.Name] = f.Trigger.Poll.Every
		}
	}
	return out
}

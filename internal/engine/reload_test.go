package engine

import (
	"testing"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/store"
)

func pollFlow(t *testing.T, name, every string) *flow.Flow {
	t.Helper()
	f, err := flow.Parse(name+".yaml", []byte("name: "+name+"\ntrigger: {poll: {op: contacts.search, every: "+every+"}}\n"+
		"steps:\n  - {id: t, op: contacts.addTags, with: {contactId: \"{{ event.id }}\", tags: [x]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSetFlowsReschedulesPolls(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	h.e.SetFlows(&flow.Loaded{Flows: []*flow.Flow{pollFlow(t, "p1", "5m"), pollFlow(t, "p2", "5m")}})
	if _, ok := h.e.Flow("three"); ok {
		t.Error("a flow left out of the reload is still active")
	}
	if _, ok := h.e.Flow("p1"); !ok {
		t.Fatal("new flow p1 not active")
	}
	// p1 goes, p2 is re-timed, p3 is new.
	h.e.SetFlows(&flow.Loaded{Flows: []*flow.Flow{pollFlow(t, "p2", "10m"), pollFlow(t, "p3", "1m")}})
	jobs := h.e.River().PeriodicJobs()
	if jobs.RemoveByID(pollJobID("p1")) {
		t.Error("the removed poll flow is still scheduled")
	}
	for _, name := range []string{"p2", "p3"} {
		if !jobs.RemoveByID(pollJobID(name)) {
			t.Errorf("poll flow %s is not scheduled", name)
		}
	}
}

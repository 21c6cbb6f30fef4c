package web

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/store"
)

// TestPollErrorShownOnFlowPageAndAPI: a poll that failed before its first
// baseline shows on the flow's page (a banner and the last poll) and in
// /api/flows.
func TestPollErrorShownOnFlowPageAndAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	at := time.Date(2026, 12, 3, 18, 40, 0, 0, time.UTC)
	msg := "poller.yaml:3:5: poll: params.companyId: users.search needs companyId"
	if err := f.st.SavePollState(context.Background(), &store.PollState{Flow: "poller", TriggerKey: "k",
		LastPollAt: at, LastError: msg, LastErrorAt: at}); err != nil {
		t.Fatal(err)
	}
	page := f.do("GET", "/flows/poller", nil, nil).text
	for _, want := range []string{"<b>The last poll failed</b>", "2026-12-03 18:40:00 UTC", "params.companyId", "(no baseline yet)"} {
		if !strings.Contains(page, want) {
			t.Errorf("flow page lacks %q", want)
		}
	}
	a := f.do("GET", "/api/flows", nil, nil)
	var got FlowsView
	if err := json.Unmarshal([]byte(a.text), &got); err != nil {
		t.Fatal(err)
	}
	var poll *PollView
	for _, fl := range got.Flows {
		if fl.Name == "poller" {
			poll = fl.Poll
		}
		if fl.Name == "contacts" && fl.Poll != nil {
			t.Errorf("webhook flow carries a poll state: %+v", fl.Poll)
		}
	}
	if poll == nil || poll.LastError != msg || poll.LastErrorAt == nil || !poll.LastErrorAt.Equal(at) || poll.BaselineAt != nil {
		t.Errorf("/api/flows poll of poller = %+v", poll)
	}
	// A webhook flow's page has no poll row.
	if page := f.do("GET", "/flows/contacts", nil, nil).text; strings.Contains(page, "Last poll") {
		t.Error("webhook flow page shows a poll row")
	}
}

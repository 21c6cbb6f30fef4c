package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/store"
)

// TestReplayOfSucceededRunNeedsConfirmation: a succeeded run's replay would
// create its objects again, so the API needs ?force=true and the page's
// form an explicit confirmation; failed runs keep a plain replay button.
func TestReplayOfSucceededRunNeedsConfirmation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	done := f.deliver("contacts", []byte(`{"id":"evt-ok","type":"contact.created","data":{"email":"ok@example.com"}}`)).body["runId"].(string)
	failed := f.deliver("contacts", []byte(`{"id":"evt-bad","type":"contact.created","data":{"email":"bad@example.com"}}`)).body["runId"].(string)
	if err := f.st.FinishRun(ctx, done, store.RunSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.st.FinishRun(ctx, failed, store.RunFailed, "boom"); err != nil {
		t.Fatal(err)
	}

	if a := f.do("POST", "/api/runs/"+done+"/replay", nil, nil); a.status != http.StatusConflict || !strings.Contains(a.text, "force") {
		t.Errorf("API replay of a succeeded run: %d %s, want 409 naming force", a.status, a.text)
	}
	if a := f.do("POST", "/api/runs/"+done+"/replay?force=true", nil, nil); a.status != http.StatusAccepted {
		t.Errorf("forced API replay: %d %s", a.status, a.text)
	}
	if a := f.do("POST", "/api/runs/"+failed+"/replay", nil, nil); a.status != http.StatusAccepted {
		t.Errorf("API replay of a failed run: %d %s", a.status, a.text)
	}

	page := f.do("GET", "/runs/"+done, nil, nil).text
	if !strings.Contains(page, `name="confirm" value="repeat" required`) || !strings.Contains(page, "repeat every step, creating objects again") {
		t.Errorf("succeeded run page lacks the confirmation checkbox:\n%s", page)
	}
	if page := f.do("GET", "/runs/"+failed, nil, nil).text; strings.Contains(page, `name="confirm"`) || !strings.Contains(page, "Replay this event as a new run") {
		t.Errorf("failed run page should offer a plain replay button")
	}
	if resp := f.raw("POST", "/runs/"+done+"/replay", url.Values{}, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("form replay of a succeeded run without the box: %d, want 409", resp.StatusCode)
	}
	if resp := f.raw("POST", "/runs/"+done+"/replay", url.Values{"confirm": {"repeat"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("confirmed form replay: %d, want 303", resp.StatusCode)
	}
}

// TestReplayOfUnfinishedRunIsRefused: a retrying run keeps its job, so
// neither the API (even forced) nor the page replays it, and the page
// offers no replay button.
func TestReplayOfUnfinishedRunIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id := f.deliver("contacts", []byte(`{"id":"evt-wait","type":"contact.created","data":{"email":"w@example.com"}}`)).body["runId"].(string)
	if err := f.st.SetRunStatus(ctx, id, store.RunRetrying, "waiting: connection paused"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"", "?force=true"} {
		if a := f.do("POST", "/api/runs/"+id+"/replay"+q, nil, nil); a.status != http.StatusConflict || !strings.Contains(a.text, "still in progress") {
			t.Errorf("API replay%s of a retrying run: %d %s, want 409 still in progress", q, a.status, a.text)
		}
	}
	if resp := f.raw("POST", "/runs/"+id+"/replay", url.Values{"confirm": {"repeat"}}, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("form replay of a retrying run: %d, want 409", resp.StatusCode)
	}
	if page := f.do("GET", "/runs/"+id, nil, nil).text; strings.Contains(page, "/replay") {
		t.Errorf("retrying run page offers a replay:\n%s", page)
	}
}

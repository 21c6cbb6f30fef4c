package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/store"
)

// TestFlowPageFiltersAndRunRows: the per-flow page, the marked status
// filter with counts, the event search, and each run's event type and
// redacted subject.
func TestFlowPageFiltersAndRunRows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ok := f.deliver("contacts", []byte(`{"id":"evt-ok","type":"contact.created","data":{"email":"ana@example.com","contactId":"c-123"}}`)).body["runId"].(string)
	bad := f.deliver("contacts", []byte(`{"id":"evt-bad","type":"contact.created","data":{"name":"x"}}`)).body["runId"].(string)
	if err := f.st.FinishRun(ctx, ok, store.RunSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.st.FinishRun(ctx, bad, store.RunFailed, "boom"); err != nil {
		t.Fatal(err)
	}

	page := f.do("GET", "/flows/contacts", nil, nil)
	for _, want := range []string{`<code class="url">` + f.srv.URL + `/hooks/contacts</code>`, "<code>contact</code>", "contacts.upsert",
		"Last success", "s ago", ok, bad, `badge succeeded">succeeded</span><b>1</b>`, `badge failed">failed</span><b>1</b>`} {
		if page.status != 200 || !strings.Contains(page.text, want) {
			t.Errorf("flow page lacks %q (status %d)", want, page.status)
		}
	}
	if strings.Contains(page.text, "cannot take deliveries") {
		t.Error("a working flow's page shows the not-taking-deliveries banner")
	}
	broken := f.do("GET", "/flows/broken", nil, nil)
	if !strings.Contains(broken.text, `class="banner"><b>This flow cannot take deliveries.</b>`) || !strings.Contains(broken.text, "GHLSYNC_WEB_TEST_UNSET_SECRET") {
		t.Errorf("broken flow page lacks its banner:\n%s", broken.text)
	}
	if nf := f.do("GET", "/flows/nope", nil, nil); nf.status != 404 {
		t.Errorf("unknown flow page: %d", nf.status)
	}

	index := f.do("GET", "/?status=failed", nil, nil).text
	for _, want := range []string{`href="/?status=failed" class="active" aria-current="true">failed (1)</a>`, `>all (2)</a>`, `>succeeded (1)</a>`,
		`badge failed">not taking deliveries</span>`} {
		if !strings.Contains(index, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	if strings.Contains(index, ">queued (") || strings.Contains(index, ">cancelled (") {
		t.Error("statuses without runs are offered as filters")
	}
	// The configured redaction masks the e-mail, so the subject is the contact id.
	all := f.do("GET", "/", nil, nil).text
	if !strings.Contains(all, "<code>contact.created</code>") || !strings.Contains(all, `<div class="muted">c-123</div>`) || strings.Contains(all, "ana@example.com") {
		t.Errorf("run rows lack the event type and redacted subject")
	}
	found := f.do("GET", "/?event=evt-bad", nil, nil).text
	if !strings.Contains(found, bad) || strings.Contains(found, `href="/runs/`+ok+`"`) || !strings.Contains(found, `name="event" value="evt-bad"`) {
		t.Errorf("event search by the sender's id did not find only run %s", bad)
	}
}

func TestSubjectOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		payload string
		fields  []string
		want    string
	}{
		{`{"data":{"email":"a@x.io","contactId":"c1"}}`, nil, "a@x.io"},
		{`{"data":{"email":"a@x.io","contactId":"c1"}}`, []string{"email"}, "c1"},
		{`{"contact_id":"c2","items":[{"phone":"+1"}]}`, nil, "c2"},
		{`{"data":{}}`, nil, ""},
		{`not json`, nil, ""},
	} {
		if got := subjectOf([]byte(tt.payload), redact.New(tt.fields...)); got != tt.want {
			t.Errorf("subjectOf(%s, %v) = %q, want %q", tt.payload, tt.fields, got, tt.want)
		}
	}
}

func TestPublicURLNamesTheWebhookURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s, err := New(Config{Engine: f.e, PublicURL: "https://ghlsync.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	v := s.flowsView(httptestRequest())
	for _, fl := range v.Flows {
		if fl.Name == "contacts" && fl.HookURL != "https://ghlsync.example.com/hooks/contacts" {
			t.Errorf("hookUrl = %q", fl.HookURL)
		}
	}
}

func httptestRequest() *http.Request { return httptest.NewRequest("GET", "http://127.0.0.1/", nil) }

package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/source/sign"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

const ctSecret = "whsec_ZXhhbXBsZS1jaGFuZ2V0b3dlci1zZWNyZXQ="

// TestCapturesAndUnsignedAreRecorded: a capture endpoint's deliveries are
// stored with what the signature search found (the newest KeepCaptures of
// them), an unsigned endpoint's events say so, and both show on the
// dashboard and in the API.
func TestCapturesAndUnsignedAreRecorded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"sample": "name: sample\ntrigger:\n  webhook:\n    source: changetower\n    capture: true\n    secret: literal:" + ctSecret + "\n" +
			"steps:\n  - {id: c, op: contacts.upsert, with: {email: a@example.com}}\n",
		"open": "name: open\ntrigger:\n  webhook:\n    source: generic\n    unsigned: true\n" +
			"steps:\n  - {id: c, op: contacts.upsert, with: {email: \"{{ event.data.email }}\"}}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := flow.LoadDir(dir)
	if err != nil || len(loaded.Errors) > 0 {
		t.Fatalf("%v %v", err, loaded.Errors)
	}
	st := storetest.Open(t, store.SQLite, "web")
	e, err := engine.New(engine.Config{Store: st, Flows: loaded, Connections: &engine.StaticConnections{}, KeepCaptures: 2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Engine: e})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, e: e, st: st}
	f.srv = newTestServer(t, s)

	for i := 0; i < 3; i++ {
		body := []byte(fmt.Sprintf(`{"type":"monitor.notification.created","data":{"notification":{"id":"n%d"}}}`, i))
		hdr, err := sign.StandardWebhooks(fmt.Sprintf("msg_%d", i), time.Now(), body, ctSecret)
		if err != nil {
			t.Fatal(err)
		}
		if a := f.do("POST", "/hooks/sample", body, hdr); a.status != http.StatusOK || a.body["captured"] != true {
			t.Fatalf("capture %d: %d %s", i, a.status, a.text)
		}
	}
	a := f.do("GET", "/api/captures", nil, nil)
	var caps CapturesView
	if err := json.Unmarshal([]byte(a.text), &caps); err != nil || len(caps.Captures) != 2 {
		t.Fatalf("captures: %v %s", err, a.text)
	}
	c := caps.Captures[0]
	if !c.Captured || c.Verification == nil || !c.Verification.Verified || c.Verification.Scheme == "" || c.Verification.Detail == "" {
		t.Errorf("capture view: %+v %+v", c, c.Verification)
	}
	if strings.Contains(a.text, ctSecret) || strings.Contains(a.text, "ZXhhbXBsZS1") {
		t.Errorf("a secret shows in the captures API:\n%s", a.text)
	}

	ev := []byte(`{"id":"evt-9","type":"contact.created","data":{"email":"x@example.com"}}`)
	res := f.do("POST", "/hooks/open", ev, http.Header{"Content-Type": {"application/json"}})
	if res.status != http.StatusAccepted {
		t.Fatalf("unsigned delivery: %d %s", res.status, res.text)
	}
	runID, _ := res.body["runId"].(string)
	eventID, _ := res.body["eventId"].(string)
	a = f.do("GET", "/api/events/"+eventID, nil, nil)
	if !strings.Contains(a.text, `"unsigned": true`) {
		t.Errorf("event of an unsigned endpoint: %s", a.text)
	}
	page := f.do("GET", "/runs/"+runID, nil, nil)
	if !strings.Contains(page.text, "not verified: the endpoint is configured unsigned") {
		t.Errorf("run page lacks the unsigned note:\n%s", page.text)
	}
	dash := f.do("GET", "/", nil, nil)
	for _, want := range []string{"Captured deliveries", c.Verification.Detail, "unsigned: deliveries are not verified"} {
		if !strings.Contains(dash.text, htmlEscape(want)) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if a := f.do("GET", "/api/events/ev_missing", nil, nil); a.status != http.StatusNotFound {
		t.Errorf("missing event: %d", a.status)
	}
}

func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }

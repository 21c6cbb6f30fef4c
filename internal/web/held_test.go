package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestHeldFlowTakesNoDeliveries: a flow the engine holds answers its
// deliveries 429 with Retry-After and a generic message, stores nothing,
// and shows the reason to the operator only (dashboard, flow page,
// /api/flows); lifting the hold opens it again.
func TestHeldFlowTakesNoDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	reason := "connection \"default\" lacks scope contacts.write (for contacts.upsert); run `ghlsync auth check --flows DIR`"
	f.e.SetHeld(map[string]error{"contacts": errors.New(reason), "poller": errors.New("lacks scope contacts.readonly")})
	ev := []byte(`{"id":"evt-h1","type":"contact.created","data":{"email":"ana@example.com"}}`)

	a := f.deliver("contacts", ev)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "60" {
		t.Fatalf("held flow: %d Retry-After %q %s, want 429 with Retry-After 60", a.status, a.header.Get("Retry-After"), a.text)
	}
	if want := `flow "contacts" cannot take deliveries right now; try again later`; a.body["error"] != want {
		t.Errorf("answer %q, want %q", a.body["error"], want)
	}
	for _, secretish := range []string{"scope", "connection", "auth check"} {
		if strings.Contains(a.text, secretish) {
			t.Errorf("the sender's answer names %q: %s", secretish, a.text)
		}
	}
	if n, _ := f.st.CountEvents(context.Background(), ""); n != 0 {
		t.Errorf("%d events stored for a held flow", n)
	}
	if m := f.do("GET", "/metrics", nil, nil); !strings.Contains(m.text, `ghlsync_events_total{flow="contacts",result="unavailable"} 1`) {
		t.Error("metrics lack the unavailable delivery")
	}

	api := f.do("GET", "/api/flows", nil, nil)
	var held, unavailable []string
	for _, fl := range api.body["flows"].([]any) {
		m := fl.(map[string]any)
		if m["held"] != nil {
			held = append(held, m["name"].(string)+": "+m["held"].(string))
		}
		if m["unavailable"] != nil {
			unavailable = append(unavailable, m["name"].(string)+": "+m["unavailable"].(string))
		}
	}
	if strings.Join(held, "|") != "contacts: "+reason+"|poller: lacks scope contacts.readonly" && strings.Join(held, "|") != "poller: lacks scope contacts.readonly|contacts: "+reason {
		t.Errorf("/api/flows held = %q", held)
	}
	// broken's source lacks its secret; contacts is held; the poller takes
	// no deliveries at all, so it is not "unavailable".
	if len(unavailable) != 2 || !strings.Contains(strings.Join(unavailable, "|"), "contacts: "+reason) ||
		!strings.Contains(strings.Join(unavailable, "|"), "broken: ") {
		t.Errorf("/api/flows unavailable = %q", unavailable)
	}

	page := f.do("GET", "/flows/contacts", nil, nil).text
	for _, want := range []string{`class="banner"><b>This flow cannot take deliveries.</b>`, "lacks scope contacts.write",
		"ghlsync auth check --flows DIR"} {
		if !strings.Contains(page, want) {
			t.Errorf("held flow page lacks %q", want)
		}
	}
	if poll := f.do("GET", "/flows/poller", nil, nil).text; !strings.Contains(poll, "<b>This flow is on hold.</b>") || !strings.Contains(poll, "contacts.readonly") {
		t.Error("held polling flow page lacks its banner")
	}
	index := f.do("GET", "/", nil, nil).text
	for _, want := range []string{`<a href="/flows/contacts">contacts</a> <span class="badge failed">not taking deliveries</span>`,
		`<a href="/flows/poller">poller</a> <span class="badge failed">on hold</span>`, "lacks scope contacts.write"} {
		if !strings.Contains(index, want) {
			t.Errorf("index lacks %q", want)
		}
	}

	f.e.SetHeld(nil)
	if a := f.deliver("contacts", ev); a.status != http.StatusAccepted {
		t.Errorf("after the hold was lifted: %d %s", a.status, a.text)
	}
	if page := f.do("GET", "/flows/contacts", nil, nil).text; strings.Contains(page, "cannot take deliveries") {
		t.Error("the banner stays after the hold was lifted")
	}
}

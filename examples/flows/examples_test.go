// Package flows_test runs every example flow on its sample deliveries:
// each delivery is signed for its flow's source, verified and normalised by
// that source, and its steps are evaluated and sent to an in-process
// sandbox, so the examples are known to work as written.
package flows_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
	"github.com/ghlsync/ghlsync/internal/source"
	"github.com/ghlsync/ghlsync/internal/source/sign"
)

const (
	ctSecret      = "whsec_ZXhhbXBsZS1jaGFuZ2V0b3dlci1zZWNyZXQ="
	genericSecret = "example-generic-secret"
	location      = "sbx-location-1"
	eventsDir     = "../../testdata/events"
)

type delivery struct {
	Flow       string `json:"flow"`
	File       string `json:"file"`
	Source     string `json:"source"`
	DeliveryID string `json:"delivery_id"`
}

func deliveries(t *testing.T) []delivery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(eventsDir, "deliveries.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Deliveries []delivery }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Deliveries
}

// harness is a minimal stand-in for ingress and the engine: verify,
// de-duplicate by event id, run the steps in order against the sandbox.
type harness struct {
	t      *testing.T
	flows  *flow.Loaded
	sb     *sandbox.Server
	client *ghl.Client
	conns  engine.Connections
	keys   *engine.TryKeys
	edKey  ed25519.PrivateKey
	seen   map[string]bool // flow + event id
	runs   int
	seed   map[string]bool // ids of the records the sandbox's seed holds
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { srv.Close(); sb.Close() })
	pub, priv, _ := ed25519.GenerateKey(nil)
	t.Setenv("GHLSYNC_CHANGETOWER_SECRET", ctSecret)
	t.Setenv("GHLSYNC_GENERIC_SECRET", genericSecret)
	t.Setenv("GHLSYNC_GHL_WEBHOOK_KEY", base64.StdEncoding.EncodeToString(pub))
	loaded, err := flow.LoadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Errors) > 0 {
		t.Fatalf("example flows do not validate:\n%v", loaded.Errors)
	}
	client := ghl.New(ghl.Config{BaseURL: srv.URL, AppID: "pit"}, ghl.StaticToken("pit-sandbox-location"), location)
	conns := &engine.StaticConnections{Token: "pit-sandbox-location", LocationID: location, Timezone: "America/New_York",
		Config: ghl.Config{BaseURL: srv.URL, Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true})}}
	h := &harness{t: t, flows: loaded, sb: sb, client: client, conns: conns, keys: engine.NewTryKeys(),
		edKey: priv, seen: map[string]bool{}, seed: map[string]bool{}}
	for _, k := range kinds {
		for _, r := range sb.Records(k) {
			h.seed[k+"/"+str(r, "id")] = true
		}
	}
	return h
}

var kinds = []string{"contacts", "notes", "tasks", "appointments", "appointmentNotes"}

// records returns the records of a kind the flows created (not the seed's).
func (h *harness) records(kind string) []map[string]any {
	var out []map[string]any
	for _, r := range h.sb.Records(kind) {
		if !h.seed[kind+"/"+str(r, "id")] {
			out = append(out, r)
		}
	}
	return out
}

// signed returns the delivery body and headers, signed for d's source at
// time now.
func (h *harness) signed(d delivery, body []byte, now time.Time) ([]byte, http.Header) {
	h.t.Helper()
	switch d.Source {
	case "changetower":
		hd, err := sign.StandardWebhooks(d.DeliveryID, now, body, ctSecret)
		if err != nil {
			h.t.Fatal(err)
		}
		return body, hd
	case "generic":
		return body, sign.Generic(genericSecret, now, body)
	case "ghl":
		b, err := sign.GHLPayload(body, d.DeliveryID, now)
		if err != nil {
			h.t.Fatal(err)
		}
		return b, sign.GHLEd25519(h.edKey, b)
	}
	h.t.Fatalf("unknown source %q", d.Source)
	return nil, nil
}

// deliver runs one signed delivery through the flow's source and steps. It
// returns false when the delivery was a duplicate (acknowledged, not run).
func (h *harness) deliver(ctx context.Context, d delivery, body []byte, hdr http.Header) bool {
	h.t.Helper()
	f, ok := h.flows.Flow(d.Flow)
	if !ok {
		h.t.Fatalf("no flow %s", d.Flow)
	}
	if f.Trigger.Webhook == nil || f.Trigger.Webhook.Source != d.Source {
		h.t.Fatalf("%s: flow's source is not %s", d.Flow, d.Source)
	}
	src, err := source.New(d.Source, f.Trigger.Webhook.Config, nil)
	if err != nil {
		h.t.Fatalf("%s: %v", d.Flow, err)
	}
	req, _ := sign.Request(ctx, "http://ghlsync.test/hooks/"+d.Flow, body, hdr)
	raw, err := source.ReadBody(req, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	ev, err := src.Receive(req, raw)
	if err != nil {
		h.t.Fatalf("%s/%s rejected: %v", d.Flow, d.File, err)
	}
	if !ev.Verification.Verified || ev.Unsigned || ev.Ignore != "" {
		h.t.Fatalf("%s/%s: verification %+v, ignore %q", d.Flow, d.File, ev.Verification, ev.Ignore)
	}
	id := ev.ID
	if id == "" {
		sum := sha256.Sum256(ev.Raw)
		id = hex.EncodeToString(sum[:])
	}
	if h.seen[d.Flow+"/"+id] {
		return false
	}
	h.seen[d.Flow+"/"+id] = true
	h.run(ctx, f, ev)
	h.runs++
	return true
}

// run runs the flow's steps once for ev against the sandbox, as the engine
// would, through engine.TryFlow. The key mappings of keyed steps persist
// across runs (h.keys), so an update finds what a create made.
func (h *harness) run(ctx context.Context, f *flow.Flow, ev source.Event) {
	h.t.Helper()
	in := engine.Incoming{Flow: f.Name, Source: f.Trigger.Webhook.Source, ID: ev.ID, Type: ev.Type,
		Payload: ev.Payload, Raw: ev.Raw, OccurredAt: ev.OccurredAt}
	reports, err := engine.TryFlow(ctx, f, in, h.conns, engine.TryOptions{Keys: h.keys})
	if err != nil {
		h.t.Fatalf("%s: %v", f.Name, err)
	}
	for _, r := range reports {
		if r.Error == "" {
			continue
		}
		id, _, _ := strings.Cut(r.ID, ".")
		if s, ok := f.Step(id); ok && s.OnError == flow.OnErrorContinue {
			continue
		}
		h.t.Fatalf("%s.%s (%s): %s", f.Name, r.ID, r.Op, r.Error)
	}
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// byEmail indexes the sandbox's contacts.
func (h *harness) contacts() map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, c := range h.records("contacts") {
		out[str(c, "email")] = c
	}
	return out
}

func (h *harness) counts() map[string]int {
	out := map[string]int{}
	for _, k := range kinds {
		out[k] = len(h.records(k))
	}
	return out
}

// prepareAutoTag creates the contact the auto-tag sample describes (in
// production GHL created it and sent the webhook) and puts its id into the
// body.
func (h *harness) prepareAutoTag(ctx context.Context, body []byte) []byte {
	h.t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		h.t.Fatal(err)
	}
	resp, err := h.client.Do(ctx, "contacts.upsert", ghl.Params{Body: map[string]any{
		"locationId": location, "email": p["email"], "firstName": p["firstName"], "lastName": p["lastName"],
		"phone": p["phone"], "companyName": p["companyName"], "source": p["source"], "website": p["website"], "tags": p["tags"],
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	var up struct{ Contact struct{ ID string } }
	if err := resp.Decode(&up); err != nil || up.Contact.ID == "" {
		h.t.Fatalf("upsert: %v %s", err, resp.Body)
	}
	return []byte(strings.Replace(string(body), `"id":"ghl_contact_77"`, `"id":"`+up.Contact.ID+`"`, 1))
}

func TestExampleFlows(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	ds := deliveries(t)

	// Every flow has a sample, and every sample a flow.
	var withSample []string
	for _, d := range ds {
		if !slices.Contains(withSample, d.Flow) {
			withSample = append(withSample, d.Flow)
		}
	}
	var names []string
	for _, f := range h.flows.Flows {
		names = append(names, f.Name)
	}
	sort.Strings(withSample)
	if diff := cmp.Diff(names, withSample); diff != "" {
		t.Fatalf("flows vs sample deliveries (-flows +samples):\n%s", diff)
	}

	bodies := map[string][]byte{}
	var apptAfterCreate map[string]any
	for _, d := range ds {
		body, err := os.ReadFile(filepath.Join(eventsDir, d.File))
		if err != nil {
			t.Fatal(err)
		}
		if d.Flow == "auto-tag" {
			body = h.prepareAutoTag(ctx, body)
		}
		bodies[d.File] = body
		b, hdr := h.signed(d, body, time.Now())
		if !h.deliver(ctx, d, b, hdr) {
			t.Fatalf("%s treated as a duplicate on first delivery", d.File)
		}
		if d.File == "sync-appointments.json" {
			appts := h.records("appointments")
			if len(appts) != 1 {
				t.Fatalf("after appointment.created: %d appointments", len(appts))
			}
			apptAfterCreate = appts[0]
		}
	}

	c := h.contacts()
	if len(c) != 4 {
		t.Errorf("contacts: %d, want 4: %v", len(c), keys(c))
	}
	jose := c["jose.muller@acme.example"]
	if jose == nil {
		t.Fatalf("José's contact missing; have %v", keys(c))
	}
	// Names survive byte for byte through signing, verification, mapping and GHL.
	if str(jose, "firstName") != "José" || str(jose, "lastName") != "Müller 😀" {
		t.Errorf("José stored as %q %q", str(jose, "firstName"), str(jose, "lastName"))
	}
	if str(jose, "phone") != "+12125550147" || str(jose, "companyName") != "Acme Ltda." || str(jose, "source") != "ChangeTower" {
		t.Errorf("José: phone %q company %q source %q", str(jose, "phone"), str(jose, "companyName"), str(jose, "source"))
	}
	wantCF := map[string]any{"sbx-cf-resumo": "Acme — pricing page: Price of the Pro plan changed from $49 to $59", "sbx-cf-deal-value": 4990.0}
	if diff := cmp.Diff(wantCF, customFields(jose)); diff != "" {
		t.Errorf("José's custom fields (-want +got):\n%s", diff)
	}
	ana := c["ana.souza@example.com"]
	if str(ana, "phone") != "+5511987654321" || str(ana, "companyName") != "Padaria São João" {
		t.Errorf("Ana: %v", ana)
	}
	if diff := cmp.Diff(map[string]any{"sbx-cf-resumo": "Asked for a quote for 3 locations", "sbx-cf-deal-value": 1250.5}, customFields(ana)); diff != "" {
		t.Errorf("Ana's custom fields (-want +got):\n%s", diff)
	}

	wantTags := map[string][]string{
		"jose.muller@acme.example": {"changetower", "monitor:competitor", "monitor:pricing"},
		"ana.souza@example.com":    {"brazil", "ghlsync", "lead"},
		"mjose@example.org":        {"b2b", "has-website", "inbound", "new-contact", "newsletter"},
		"li.wei@example.net":       nil,
	}
	for email, want := range wantTags {
		if diff := cmp.Diff(want, tagsOf(c[email])); diff != "" {
			t.Errorf("tags of %s (-want +got):\n%s", email, diff)
		}
	}

	idOf := func(email string) string { return str(c[email], "id") }
	type item struct{ Contact, Text, Due string }
	var notes, tasks []item
	for _, n := range h.records("notes") {
		notes = append(notes, item{Contact: emailOf(c, str(n, "contactId")), Text: str(n, "body")})
	}
	for _, tk := range h.records("tasks") {
		tasks = append(tasks, item{Contact: emailOf(c, str(tk, "contactId")), Text: str(tk, "title"), Due: str(tk, "dueDate")})
	}
	wantNotes := []item{
		{"jose.muller@acme.example", "Acme — pricing page changed (3.1%): New FAQ entry: \"Do you ship to Zürich?\" — yes, from January\nPage: https://acme.example/pricing\nDetails: https://app.changetower.example/notifications/ntf_9Zp4", ""},
		{"ana.souza@example.com", "Call summary\n\nAna wants delivery to São Paulo and Curitiba; send the price list in BRL.", ""},
		{"jose.muller@acme.example", "Meeting notes — Onboarding call, Wed 13 Jan 2027 14:00 EST\n\nJosé confirmed the rollout for 12 stores.\n- Next: send the contract (€ prices)\n- Müller 😀 will sign by Friday", ""},
	}
	if diff := cmp.Diff(wantNotes, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	wantTasks := []item{
		// Notification Thu 2026-12-03 11:45 New York → next day 09:00.
		{"jose.muller@acme.example", "Review the change on Acme — pricing page", "2026-12-04T09:00:00-05:00"},
		// The source's due time "2026-12-04 15:00", read in the location's zone.
		{"ana.souza@example.com", "Send the BRL price list to Ana", "2026-12-04T15:00:00-05:00"},
		// Created Thu 16:30 New York → two business days later is Monday, 10:00.
		{"li.wei@example.net", "Call Wei Li", "2026-12-07T10:00:00-05:00"},
	}
	if diff := cmp.Diff(wantTasks, tasks, cmp.Comparer(sameTaskDue)); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}

	appts := h.records("appointments")
	if len(appts) != 1 {
		t.Fatalf("appointments: %d, want exactly 1 (the update must move the same appointment)", len(appts))
	}
	a := appts[0]
	if str(a, "id") != str(apptAfterCreate, "id") {
		t.Errorf("update created a different appointment: %s vs %s", str(a, "id"), str(apptAfterCreate, "id"))
	}
	if str(apptAfterCreate, "startTime") != "2027-01-12T10:00:00-05:00" || str(apptAfterCreate, "endTime") != "2027-01-12T10:30:00-05:00" {
		t.Errorf("created at %s–%s, want 2027-01-12 10:00–10:30 New York", str(apptAfterCreate, "startTime"), str(apptAfterCreate, "endTime"))
	}
	if str(a, "startTime") != "2027-01-13T14:00:00-05:00" || str(a, "endTime") != "2027-01-13T14:30:00-05:00" ||
		str(a, "calendarId") != "sbx-calendar-1" || str(a, "contactId") != idOf("jose.muller@acme.example") ||
		str(a, "title") != "Onboarding call" || str(a, "appointmentStatus") != "confirmed" {
		t.Errorf("appointment after update: %v", a)
	}
	an := h.records("appointmentNotes")
	if len(an) != 1 || !strings.HasPrefix(str(an[0], "body"), "José confirmed the rollout") {
		t.Errorf("appointment notes: %v", an)
	}

	// Replaying every delivery (re-signed, same event ids) creates nothing.
	before := h.counts()
	runs := h.runs
	for _, d := range ds {
		b, hdr := h.signed(d, bodies[d.File], time.Now())
		if h.deliver(ctx, d, b, hdr) {
			t.Errorf("replayed %s ran again", d.File)
		}
	}
	if diff := cmp.Diff(before, h.counts()); diff != "" || h.runs != runs {
		t.Errorf("replay changed the sandbox (-before +after):\n%s", diff)
	}
}

// TestAppointmentFlowIsIdempotent runs the appointment flow twice on the
// same event, bypassing de-duplication: the second run must update, not
// create.
func TestAppointmentFlowIsIdempotent(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	d := delivery{Flow: "sync-appointments", File: "sync-appointments.json", Source: "generic"}
	body, err := os.ReadFile(filepath.Join(eventsDir, d.File))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		h.seen = map[string]bool{}
		b, hdr := h.signed(d, body, time.Now())
		h.deliver(ctx, d, b, hdr)
	}
	if n := len(h.records("appointments")); n != 1 {
		t.Fatalf("%d appointments after running the same event twice", n)
	}
}

// TestSandboxWebhooksReachAutoTag points the sandbox's GHL-style webhooks at
// a receiver backed by the auto-tag flow's source, configured with the
// sandbox's public keys: a contact created through the API arrives as a
// verified ContactCreate and gets tagged.
func TestSandboxWebhooksReachAutoTag(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	t.Setenv("GHLSYNC_GHL_WEBHOOK_KEY", h.sb.Keys().Ed25519PublicKeyPEM)
	f, _ := h.flows.Flow("auto-tag")
	src, err := source.New("ghl", f.Trigger.Webhook.Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []source.Event
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := source.ReadBody(r, 0)
		if err == nil {
			var ev source.Event
			if ev, err = src.Receive(r, body); err == nil {
				mu.Lock()
				got = append(got, ev)
				mu.Unlock()
				return
			}
		}
		http.Error(w, err.Error(), err.(*source.Error).Status)
	}))
	defer recv.Close()
	h.sb.SetWebhookURL(recv.URL)
	resp, err := h.client.Do(ctx, "contacts.upsert", ghl.Params{Body: map[string]any{
		"locationId": location, "email": "zoe@example.com", "firstName": "Zoë", "source": "chat widget"}})
	if err != nil {
		t.Fatal(err)
	}
	var up struct{ Contact struct{ ID string } }
	_ = resp.Decode(&up)
	var ev source.Event
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		for _, e := range got {
			if e.Type == "ContactCreate" && e.Ignore == "" {
				ev = e
			}
		}
		mu.Unlock()
		if ev.Type != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ev.Type == "" {
		t.Fatalf("no ContactCreate received; deliveries: %+v", h.sb.WebhookDeliveries())
	}
	if !ev.Verification.Verified || ev.Verification.Scheme != "ed25519" || ev.ID == "" || str(ev.Payload, "id") != up.Contact.ID {
		t.Fatalf("event: %+v id %q", ev.Verification, ev.ID)
	}
	h.run(ctx, f, ev)
	zoe := h.contacts()["zoe@example.com"]
	if diff := cmp.Diff([]string{"b2c", "inbound", "new-contact"}, tagsOf(zoe)); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func emailOf(c map[string]map[string]any, id string) string {
	for email, ct := range c {
		if str(ct, "id") == id {
			return email
		}
	}
	return "contact " + id
}

func tagsOf(c map[string]any) []string {
	var out []string
	list, _ := c["tags"].([]any)
	for _, t := range list {
		out = append(out, fmt.Sprint(t))
	}
	sort.Strings(out)
	return out
}

// customFields returns a contact's custom field values by id, numbers as
// float64.
func customFields(c map[string]any) map[string]any {
	out := map[string]any{}
	list, _ := c["customFields"].([]any)
	for _, it := range list {
		m, _ := it.(map[string]any)
		v := m["value"]
		if v == nil {
			v = m["field_value"]
		}
		if n, ok := v.(json.Number); ok {
			v, _ = n.Float64()
		}
		if n, ok := v.(int); ok {
			v = float64(n)
		}
		out[str(m, "id")] = v
	}
	return out
}

// sameTaskDue compares due dates as instants: GHL may store them in UTC.
func sameTaskDue(a, b string) bool {
	if a == b {
		return true
	}
	ta, err1 := time.Parse(time.RFC3339, a)
	tb, err2 := time.Parse(time.RFC3339, b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}

// TestBadFieldsAreDroppedNotFatal: a phone that is not a phone number and a
// deal value that is not a plain amount leave those fields out; the lead is
// still synced with the rest (the examples are what users copy).
func TestBadFieldsAreDroppedNotFatal(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	d := delivery{Flow: "sync-contacts-generic", Source: "generic"}
	for i, c := range []struct{ phone, deal string }{
		{`"12"`, `1e400`},
		{`"not a phone"`, `"lots"`},
		{`"+1 212 555 0199"`, `"$1,234.50"`},
	} {
		email := fmt.Sprintf("degrade%d@example.com", i)
		body := []byte(fmt.Sprintf(`{"id":"degrade-%d","type":"contact.created","data":{"email":%q,"first_name":"Ana","phone":%s,"deal_value":%s}}`,
			i, email, c.phone, c.deal))
		b, hdr := h.signed(d, body, time.Now())
		h.deliver(ctx, d, b, hdr) // fails the test if a step fails
		got, ok := h.contacts()[email]
		if !ok {
			t.Fatalf("case %d: no contact %s", i, email)
		}
		hasPhone, hasDeal := str(got, "phone") != "", len(customFields(got)) > 0
		if want := i == 2; hasPhone != want || hasDeal != want || str(got, "firstName") != "Ana" {
			t.Errorf("case %d: phone %q, custom fields %v, first name %q", i, str(got, "phone"), customFields(got), str(got, "firstName"))
		}
	}
}

// TestSourcesDocExampleReachesContact: the generic curl example of
// docs/sources.md, run through the flow it is addressed to, creates the
// contact with the names it sends (its field names match the flow's).
func TestSourcesDocExampleReachesContact(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	doc, err := os.ReadFile("../../docs/sources.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(doc), "<!-- generic-example:start -->")
	end := strings.Index(string(doc), "<!-- generic-example:end -->")
	if start < 0 || end < start {
		t.Fatal("docs/sources.md lacks the generic-example markers")
	}
	var body, flowName string
	for _, line := range strings.Split(string(doc[start:end]), "\n") {
		if v, ok := strings.CutPrefix(line, "BODY='"); ok {
			body = strings.TrimSuffix(v, "'")
		}
		if v, ok := strings.CutPrefix(line, "URL='"); ok {
			flowName = v[strings.LastIndex(v, "/")+1 : len(v)-1]
		}
	}
	if body == "" || flowName == "" {
		t.Fatal("the example lacks BODY= or URL=")
	}
	d := delivery{Flow: flowName, Source: "generic"}
	b, hdr := h.signed(d, []byte(body), time.Now())
	h.deliver(ctx, d, b, hdr)
	c, ok := h.contacts()["jose.muller@example.com"]
	if !ok {
		t.Fatalf("no contact created by the example; contacts: %v", keys(h.contacts()))
	}
	if str(c, "firstName") != "José" || str(c, "lastName") != "Müller 😀" {
		t.Errorf("names did not arrive: firstName %q lastName %q", str(c, "firstName"), str(c, "lastName"))
	}
}

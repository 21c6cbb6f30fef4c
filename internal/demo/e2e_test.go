package demo

import (
	"context"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/ghl"
)

// The state the example flows must leave in the sandbox after the sample
// deliveries, with the sandbox's GoHighLevel webhooks going to auto-tag.
type e2eContact struct {
	First, Last, Phone, Company, Source string
	Tags                                []string
	Fields                              map[string]any
}

type e2eItem struct{ Contact, Text, When string }

type e2eAppointment struct {
	Contact, Title, Calendar, Status, Address, Start, End string
	Notes                                                 []string
}

var (
	wantContacts = map[string]e2eContact{
		// Created by sync-contacts (ChangeTower), so its ContactCreate says
		// source ChangeTower and a company: site-monitoring, b2b.
		"jose.muller@acme.example": {First: "José", Last: "Müller 😀", Phone: "+12125550147", Company: "Acme Ltda.", Source: "ChangeTower",
			Tags:   []string{"b2b", "changetower", "monitor:competitor", "monitor:pricing", "new-contact", "site-monitoring"},
			Fields: map[string]any{"Resumo": "Acme — pricing page: Price of the Pro plan changed from $49 to $59", "Deal Value": 4990.0}},
		// Created by sync-contacts-generic from a website form lead.
		"ana.souza@example.com": {First: "Ana", Last: "Souza", Phone: "+5511987654321", Company: "Padaria São João", Source: "website form",
			Tags:   []string{"b2b", "brazil", "ghlsync", "inbound", "lead", "new-contact"},
			Fields: map[string]any{"Resumo": "Asked for a quote for 3 locations", "Deal Value": 1250.5}},
		// Created by follow-ups: a trade show lead without a company.
		"li.wei@example.net": {First: "Wei", Last: "Li", Phone: "+16465550199", Source: "trade show",
			Tags: []string{"b2c", "event-lead", "new-contact"}, Fields: map[string]any{}},
		// Created in GoHighLevel itself (the auto-tag sample).
		"mjose@example.org": {First: "Müller", Last: "José 😀", Phone: "+14155550123", Company: "Zürich Bikes GmbH", Source: "Website Form",
			Tags: []string{"b2b", "has-website", "inbound", "new-contact", "newsletter"}, Fields: map[string]any{}},
	}
	wantNotes = []e2eItem{
		{Contact: "jose.muller@acme.example", Text: "Acme — pricing page changed (3.1%): New FAQ entry: \"Do you ship to Zürich?\" — yes, from January\nPage: https://acme.example/pricing\nDetails: https://app.changetower.example/notifications/ntf_9Zp4"},
		{Contact: "ana.souza@example.com", Text: "Call summary\n\nAna wants delivery to São Paulo and Curitiba; send the price list in BRL."},
		{Contact: "jose.muller@acme.example", Text: "Meeting notes — Onboarding call, Wed 13 Jan 2027 14:00 EST\n\nJosé confirmed the rollout for 12 stores.\n- Next: send the contract (€ prices)\n- Müller 😀 will sign by Friday"},
	}
	wantTasks = []e2eItem{
		// ChangeTower notification Thu 3 Dec 11:45 New York → next day 09:00.
		{Contact: "jose.muller@acme.example", Text: "Review the change on Acme — pricing page", When: "2026-12-04T09:00:00-05:00"},
		// The source's own due time, read in the location's zone.
		{Contact: "ana.souza@example.com", Text: "Send the BRL price list to Ana", When: "2026-12-04T15:00:00-05:00"},
		// Created Thu 16:30 New York → two business days later, Monday 10:00.
		{Contact: "li.wei@example.net", Text: "Call Wei Li", When: "2026-12-07T10:00:00-05:00"},
	}
	wantAppointments = []e2eAppointment{{Contact: "jose.muller@acme.example", Title: "Onboarding call",
		Calendar: "sbx-calendar-1", Status: "confirmed", Address: "https://meet.example/acme-onboarding",
		Start: "2027-01-13T14:00:00-05:00", End: "2027-01-13T14:30:00-05:00",
		Notes: []string{"José confirmed the rollout for 12 stores.\n- Next: send the contract (€ prices)\n- Müller 😀 will sign by Friday"}}}
)

// view turns a snapshot into the comparable form above; times in New York.
func view(t *testing.T, s *Snapshot) (map[string]e2eContact, []e2eItem, []e2eItem, []e2eAppointment) {
	t.Helper()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if s.Timezone != "America/New_York" {
		t.Errorf("location time zone %q", s.Timezone)
	}
	email := func(id string) string {
		c, ok := s.Contact(id)
		if !ok {
			return "unknown contact " + id
		}
		return c.Email
	}
	contacts := map[string]e2eContact{}
	for _, c := range s.Contacts {
		if _, dup := contacts[c.Email]; dup {
			t.Errorf("two contacts with email %s", c.Email)
		}
		fields := map[string]any{}
		for _, f := range c.CustomFields {
			fields[f.Name] = f.Value
		}
		contacts[c.Email] = e2eContact{First: c.FirstName, Last: c.LastName, Phone: c.Phone, Company: c.Company,
			Source: c.Source, Tags: c.Tags, Fields: fields}
	}
	var notes, tasks []e2eItem
	for _, n := range s.Notes {
		notes = append(notes, e2eItem{Contact: email(n.ContactID), Text: n.Body})
	}
	for _, tk := range s.Tasks {
		tasks = append(tasks, e2eItem{Contact: email(tk.ContactID), Text: tk.Title, When: tk.Due.In(ny).Format(time.RFC3339)})
	}
	var appts []e2eAppointment
	for _, a := range s.Appointments {
		appts = append(appts, e2eAppointment{Contact: email(a.ContactID), Title: a.Title, Calendar: a.CalendarID,
			Status: a.Status, Address: a.Address, Start: a.Start.In(ny).Format(time.RFC3339),
			End: a.End.In(ny).Format(time.RFC3339), Notes: a.Notes})
	}
	return contacts, notes, tasks, appts
}

func checkSandbox(t *testing.T, s *Snapshot) {
	t.Helper()
	contacts, notes, tasks, appts := view(t, s)
	if diff := cmp.Diff(wantContacts, contacts); diff != "" {
		t.Errorf("contacts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantNotes, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTasks, tasks); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAppointments, appts); diff != "" {
		t.Errorf("appointments (-want +got):\n%s", diff)
	}
}

// TestEndToEnd builds ghlsync, starts `ghlsync sandbox` and `ghlsync serve
// --flows examples/flows` as two processes, posts every sample delivery
// signed as its sender signs it, and checks exactly what the sandbox holds;
// then posts everything again and checks that nothing new appears.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tmp := t.TempDir()

	sbProc := startProc(t, tmp, testEnv(), "sandbox", "--addr", "127.0.0.1:0", "--quiet")
	sbURL := sbProc.waitFor(t, regexp.MustCompile(`(?m)^(http://\S+)\s*$`), 30*time.Second)[1]
	c := &Client{SandboxURL: sbURL}
	keys, err := c.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}

	srv := startProc(t, tmp, testEnv(
		"GHLSYNC_TOKEN="+SandboxToken,
		"GHLSYNC_CHANGETOWER_SECRET="+ChangeTowerSecret,
		"GHLSYNC_GENERIC_SECRET="+GenericSecret,
		"GHLSYNC_GHL_WEBHOOK_KEY="+keys.Ed25519PublicKeyPEM,
	), "serve", "--addr", "127.0.0.1:0", "--flows", filepath.Join(root, "examples", "flows"),
		"--db", filepath.Join(tmp, "e2e.db"), "--base-url", sbURL, "--location-id", SandboxLocation)
	c.URL = srv.waitFor(t, regexp.MustCompile(`ghlsync serving on (http://\S+)`), 30*time.Second)[1]
	if err := c.SetWebhookURL(ctx, c.URL+"/hooks/auto-tag"); err != nil {
		t.Fatal(err)
	}

	// Everything the sandbox holds now is its seed, not the flows' work.
	skip := map[string]bool{}
	for _, k := range []string{"contacts", "notes", "tasks", "appointments"} {
		recs, err := c.Records(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			skip[k+"/"+str(r, "id")] = true
		}
	}
	contactsBefore := countSkipped(skip, "contacts")
	samples, err := LoadSamples(filepath.Join(root, "testdata", "events"))
	if err != nil {
		t.Fatal(err)
	}
	var apptAfter = map[string][]Record{}
	rp := &Replayer{Client: c, RunTimeout: 30 * time.Second,
		GHL: ghl.New(ghl.Config{BaseURL: sbURL, AppID: "e2e"}, ghl.StaticToken(SandboxToken), SandboxLocation),
		AfterDelivery: func(o Outcome) {
			if o.Delivery.Flow == "sync-appointments" {
				recs, err := c.Records(ctx, "appointments")
				if err != nil {
					t.Error(err)
				}
				apptAfter[o.Delivery.File] = recs
			}
		}}
	first, err := rp.Replay(ctx, samples)
	if err != nil {
		t.Fatal(err)
	}
	flows := map[string]bool{}
	for _, o := range first {
		flows[o.Delivery.Flow] = true
		switch {
		case o.Skipped != "" || o.Err != nil:
			t.Errorf("%s: %s", o.Delivery.File, o.Describe())
		case o.Delivery.Source == "ghl":
			if o.Existed || o.ContactID == "" {
				t.Errorf("%s: %s", o.Delivery.File, o.Describe())
			}
		case o.Result.Status != 202 || o.Result.Duplicate || o.Run == nil || o.Run.Status != "succeeded":
			t.Errorf("%s: %s", o.Delivery.File, o.Describe())
		}
	}
	for _, f := range []string{"sync-contacts", "sync-contacts-generic", "notes-and-tasks", "notes-and-tasks-generic",
		"sync-appointments", "auto-tag", "follow-ups", "meeting-notes"} {
		if !flows[f] {
			t.Errorf("no sample delivery for flow %s", f)
		}
	}
	// auto-tag runs on the sandbox's own webhooks: wait for them.
	hooks, err := c.Webhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Settle(ctx, contactsBefore, 0); err != nil {
		t.Fatalf("%v\nwebhooks: %+v", err, hooks)
	}

	// An appointment update moves the same GoHighLevel appointment.
	created, moved := apptAfter["sync-appointments.json"], apptAfter["sync-appointments.update.json"]
	if len(created) != 1 || len(moved) != 1 {
		t.Fatalf("appointments after create %d, after update %d; want 1 and 1", len(created), len(moved))
	}
	if str(created[0], "id") != str(moved[0], "id") {
		t.Errorf("the update created appointment %s instead of moving %s", str(moved[0], "id"), str(created[0], "id"))
	}
	if got := str(created[0], "startTime"); got != "2027-01-12T10:00:00-05:00" {
		t.Errorf("created at %s, want 2027-01-12T10:00:00-05:00", got)
	}

	snap, err := c.Snapshot(ctx, skip)
	if err != nil {
		t.Fatal(err)
	}
	checkSandbox(t, snap)
	runs, err := c.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byFlow := map[string]int{}
	for _, r := range runs {
		if r.Status != "succeeded" {
			t.Errorf("%s run %s %s: %s", r.Flow, r.ID, r.Status, r.Error)
		}
		byFlow[r.Flow]++
	}
	wantRuns := map[string]int{"sync-contacts": 1, "sync-contacts-generic": 1, "notes-and-tasks": 1, "notes-and-tasks-generic": 2,
		"sync-appointments": 2, "follow-ups": 1, "meeting-notes": 1, "auto-tag": 4}
	if diff := cmp.Diff(wantRuns, byFlow); diff != "" {
		t.Errorf("runs by flow (-want +got):\n%s", diff)
	}

	// Every delivery again, signed anew with the same event ids: all are
	// duplicates, no run starts, the sandbox does not change.
	requestsBefore := sandboxWrites(t, ctx, c)
	rp.AfterDelivery = nil
	second, err := rp.Replay(ctx, samples)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range second {
		if o.Delivery.Source == "ghl" {
			if !o.Existed {
				t.Errorf("replayed %s: %s", o.Delivery.File, o.Describe())
			}
			continue
		}
		if o.Result.Status != 200 || !o.Result.Duplicate || o.Result.RunID != "" {
			t.Errorf("replayed %s: %s", o.Delivery.File, o.Describe())
		}
	}
	if err := c.Settle(ctx, contactsBefore, 0); err != nil {
		t.Fatal(err)
	}
	again, err := c.Snapshot(ctx, skip)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snap, again); diff != "" {
		t.Errorf("replaying changed the sandbox (-before +after):\n%s", diff)
	}
	runsAgain, err := c.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runsAgain) != len(runs) {
		t.Errorf("replaying started %d runs", len(runsAgain)-len(runs))
	}
	if w := sandboxWrites(t, ctx, c); w != requestsBefore {
		t.Errorf("replaying sent %d writes to GoHighLevel", w-requestsBefore)
	}
}

func countSkipped(skip map[string]bool, kind string) int {
	n := 0
	for k := range skip {
		if len(k) > len(kind) && k[:len(kind)+1] == kind+"/" {
			n++
		}
	}
	return n
}

// sandboxWrites counts the POST, PUT and DELETE requests the sandbox has
// answered.
func sandboxWrites(t *testing.T, ctx context.Context, c *Client) int {
	t.Helper()
	var v struct {
		Requests []struct{ Method, Path string }
	}
	if err := c.getJSON(ctx, c.SandboxURL+"/_sandbox/requests", &v); err != nil {
		t.Fatal(err)
	}
	n := 0
	var paths []string
	for _, r := range v.Requests {
		if r.Method != "GET" {
			n++
			paths = append(paths, r.Method+" "+r.Path)
		}
	}
	sort.Strings(paths)
	t.Logf("sandbox writes so far: %d", n)
	return n
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/riverqueue/river"

	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/store/storetest"
)

// threeSteps upserts a contact (tags added, not replaced), adds a note and
// adds another tag: the flow of the end-to-end test.
const threeSteps = `name: three
trigger:
  webhook:
    source: generic
steps:
  - id: contact
    op: contacts.upsert
    with:
      email: "{{ event.email }}"
      firstName: "{{ event.name }}"
      city: "{{ event.city }}"
      tags: [synced]
  - id: note
    op: contacts.createNote
    with:
      contactId: "{{ steps.contact.contact.id }}"
      body: "Note {{ event.n }} for {{ event.email }}"
  - id: tag
    op: contacts.addTags
    when: event.vip == true
    with:
      contactId: "{{ steps.contact.contact.id }}"
      tags: [vip]
`

type harness struct {
	t    *testing.T
	e    *Engine
	ghl  *fakeGHL
	st   *store.Store
	ctx  context.Context
	conn *StaticConnections
}

type harnessOpt func(*Config)

func newHarness(t *testing.T, dialect string, flows map[string]string, opts ...harnessOpt) *harness {
	t.Helper()
	dir := t.TempDir()
	for name, body := range flows {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := flow.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Errors) > 0 {
		t.Fatalf("flows: %v", loaded.Errors)
	}
	fake := newFakeGHL(t)
	st := storetest.Open(t, dialect, "engine")
	conn := &StaticConnections{Token: "pit-test-token", LocationID: "loc1", Config: ghl.Config{
		BaseURL:    fake.URL(),
		HTTPClient: &http.Client{Timeout: time.Second},
		Limiter:    ghl.NewLimiter(ghl.LimiterOptions{Disabled: true}),
		Retry:      ghl.RetryPolicy{MaxAttempts: 2, BaseDelay: 5 * time.Millisecond, MaxDelay: 10 * time.Millisecond},
	}}
	cfg := Config{Store: st, Flows: loaded, Connections: conn, Redactor: redact.New("phone"), MaxAttempts: 5}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, e: e, ghl: fake, st: st, ctx: context.Background(), conn: conn}
}

func (h *harness) ingest(flowName, id string, payload map[string]any) Ingested {
	h.t.Helper()
	res, err := h.e.Ingest(h.ctx, Incoming{Flow: flowName, Source: "generic", ID: id, Type: "contact.created", Payload: payload})
	if err != nil {
		h.t.Fatalf("ingest: %v", err)
	}
	return res
}

// work runs one attempt of a run as River would and returns its error.
func (h *harness) work(runID string, attempt int) error {
	h.t.Helper()
	return h.e.execute(h.ctx, runID, 1, attempt, h.e.cfg.MaxAttempts)
}

func (h *harness) run(id string) *store.Run {
	h.t.Helper()
	r, err := h.st.GetRun(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) steps(runID string) map[string]*store.Step {
	h.t.Helper()
	list, err := h.st.ListSteps(h.ctx, runID)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*store.Step{}
	for _, s := range list {
		out[s.StepID] = s
	}
	return out
}

func TestRunThreeStepsAndDuplicates(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d, map[string]string{"three": threeSteps})
			h.ghl.addContact(map[string]any{"email": "ana@example.com", "tags": []any{"existing"}, "city": "Lisbon"})

			first := h.ingest("three", "evt-1", map[string]any{"email": "ana@example.com", "name": "Ana", "n": 1, "vip": true, "city": ""})
			if first.Duplicate || first.RunID == "" || first.EventID == "" {
				t.Fatalf("first delivery: %+v", first)
			}
			again := h.ingest("three", "evt-1", map[string]any{"email": "ana@example.com", "n": 1})
			if !again.Duplicate || again.EventID != first.EventID || again.RunID != "" {
				t.Fatalf("repeat delivery: %+v, want duplicate of %s", again, first.EventID)
			}
			if err := h.work(first.RunID, 1); err != nil {
				t.Fatalf("work: %v", err)
			}
			if r := h.run(first.RunID); r.Status != store.RunSucceeded || r.FinishedAt.IsZero() {
				t.Fatalf("run = %+v", r)
			}
			n, notes, tags := h.ghl.snapshot()
			if n != 1 {
				t.Errorf("%d contacts, want 1", n)
			}
			if diff := cmp.Diff(map[string][]string{"ana@example.com": {"Note 1 for ana@example.com"}}, notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"existing", "synced", "vip"}, tags["ana@example.com"]); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			steps := h.steps(first.RunID)
			for _, id := range []string{"contact", "contact.tags", "note", "tag"} {
				s := steps[id]
				if s == nil || s.Status != store.StepSucceeded || s.Attempts != 1 || s.Result != "" {
					t.Errorf("step %s = %+v (want succeeded once, resume data cleared)", id, s)
				}
			}
			// Never clobber: the empty city was not sent, so Lisbon stays.
			var rec struct {
				Body    map[string]any `json:"body"`
				Omitted []string       `json:"omitted"`
			}
			if err := json.Unmarshal([]byte(steps["contact"].Request), &rec); err != nil {
				t.Fatal(err)
			}
			if _, sent := rec.Body["city"]; sent || !slices.Contains(rec.Omitted, "city") {
				t.Errorf("empty city was sent: %s", steps["contact"].Request)
			}
			h.ghl.mu.Lock()
			city := h.ghl.contacts[h.ghl.order[0]]["city"]
			h.ghl.mu.Unlock()
			if city != "Lisbon" {
				t.Errorf("city = %v, want Lisbon kept", city)
			}
			// A second execution of a finished run does nothing.
			if err := h.work(first.RunID, 2); err != nil {
				t.Fatal(err)
			}
			if got := h.ghl.count("POST /contacts/{id}/notes"); got != 1 {
				t.Errorf("note create sent %d times", got)
			}
		})
	}
}

func TestResponseLostAfterWriteIsReconciled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	h.ghl.fault("POST /contacts/{id}/notes", faultLost)
	res := h.ingest("three", "e1", map[string]any{"email": "bo@example.com", "n": 7})

	err := h.work(res.RunID, 1)
	if err == nil {
		t.Fatal("first attempt succeeded; want the lost response to fail it")
	}
	if s := h.steps(res.RunID)["note"]; s.Status != store.StepUnknown || !s.OutcomeUnknown {
		t.Fatalf("note step after lost response = %+v", s)
	}
	if r := h.run(res.RunID); r.Status != store.RunRetrying {
		t.Errorf("run status %s, want retrying", r.Status)
	}
	if err := h.work(res.RunID, 2); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	_, notes, _ := h.ghl.snapshot()
	if len(notes["bo@example.com"]) != 1 {
		t.Errorf("notes = %v, want exactly one", notes)
	}
	if got := h.ghl.count("POST /contacts/{id}/notes"); got != 1 {
		t.Errorf("note create sent %d times, want 1 (the reconciliation found it)", got)
	}
	s := h.steps(res.RunID)["note"]
	if s.Status != store.StepSucceeded || s.Reconciled == "" || !s.OutcomeUnknown {
		t.Errorf("note step = %+v, want succeeded by reconciliation", s)
	}
	// The contact step was not repeated on the second attempt.
	if got := h.ghl.count("POST /contacts/upsert"); got != 1 {
		t.Errorf("upsert sent %d times, want 1 (resume at the first unfinished step)", got)
	}
}

func TestServerErrorOnNoteResendsAfterLookup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	h.ghl.fault("POST /contacts/{id}/notes", fault500)
	res := h.ingest("three", "e1", map[string]any{"email": "cy@example.com", "n": 1})
	if err := h.work(res.RunID, 1); err == nil {
		t.Fatal("want a transient error")
	}
	if err := h.work(res.RunID, 2); err != nil {
		t.Fatal(err)
	}
	_, notes, _ := h.ghl.snapshot()
	if len(notes["cy@example.com"]) != 1 {
		t.Errorf("notes = %v", notes)
	}
	if h.ghl.count("GET /contacts/{id}/notes") != 1 || h.ghl.count("POST /contacts/{id}/notes") != 2 {
		t.Errorf("lookups %d, creates %d; want 1 lookup then a resend",
			h.ghl.count("GET /contacts/{id}/notes"), h.ghl.count("POST /contacts/{id}/notes"))
	}
	if s := h.steps(res.RunID)["note"]; s.Attempts != 2 || !strings.Contains(s.Reconciled, "sent again") {
		t.Errorf("note step = %+v", s)
	}
}

func TestCrashAfterSendingIsReconciled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	res := h.ingest("three", "e1", map[string]any{"email": "di@example.com", "n": 3})
	// An earlier process upserted the contact, wrote the note and died
	// before recording the answer: the checkpoint still says "sending".
	cid := h.ghl.addContact(map[string]any{"email": "di@example.com"})
	h.ghl.mu.Lock()
	h.ghl.notes[cid] = []map[string]any{{"id": "n-old", "body": "Note 3 for di@example.com", "dateAdded": time.Now().UTC().Format(time.RFC3339)}}
	h.ghl.mu.Unlock()
	ctx := context.Background()
	for _, s := range []*store.Step{
		{RunID: res.RunID, StepID: "contact", Index: 0, Op: "contacts.upsert", Status: store.StepSucceeded,
			Result: fmt.Sprintf(`{"contact":{"id":%q,"email":"di@example.com"}}`, cid)},
		{RunID: res.RunID, StepID: "contact.tags", Index: 1, Op: "contacts.addTags", Status: store.StepSucceeded, Result: `{}`},
	} {
		if err := h.st.SaveStep(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.st.BeginStep(ctx, &store.Step{RunID: res.RunID, StepID: "note", Index: 10, Op: "contacts.createNote"}); err != nil {
		t.Fatal(err)
	}
	if err := h.work(res.RunID, 2); err != nil {
		t.Fatal(err)
	}
	_, notes, _ := h.ghl.snapshot()
	if len(notes["di@example.com"]) != 1 || h.ghl.count("POST /contacts/{id}/notes") != 0 {
		t.Errorf("notes %v, creates %d: want the existing note adopted", notes, h.ghl.count("POST /contacts/{id}/notes"))
	}
	if h.ghl.count("POST /contacts/upsert") != 0 {
		t.Error("a finished step was sent again")
	}
}

func TestRateLimitSnoozesWithoutSpendingAnAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	// The client tries twice itself; two 429s reach the worker.
	h.ghl.fault("POST /contacts/upsert", fault429, fault429)
	res := h.ingest("three", "e1", map[string]any{"email": "ed@example.com", "n": 1})
	err := h.work(res.RunID, 1)
	var sn *river.JobSnoozeError
	if !errors.As(err, &sn) {
		t.Fatalf("err = %v, want a snooze", err)
	}
	if sn.Duration < time.Second {
		t.Errorf("snooze %v, want at least Retry-After (1s)", sn.Duration)
	}
	if s := h.steps(res.RunID)["contact"]; s.Status != store.StepPending {
		t.Errorf("contact step = %s, want pending (nothing was done)", s.Status)
	}
	if err := h.work(res.RunID, 1); err != nil {
		t.Fatal(err)
	}
	if r := h.run(res.RunID); r.Status != store.RunSucceeded {
		t.Errorf("run %s", r.Status)
	}
}

func TestClientErrorFailsTheRunWithGHLMessage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	h.ghl.fault("POST /contacts/upsert", fault422)
	res := h.ingest("three", "e1", map[string]any{"email": "not-an-email", "n": 1})
	err := h.work(res.RunID, 1)
	var c *river.JobCancelError
	if !errors.As(err, &c) {
		t.Fatalf("err = %v, want the job cancelled", err)
	}
	r := h.run(res.RunID)
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "email must be an email") {
		t.Errorf("run = %s %q", r.Status, r.Error)
	}
	// A failed run replays without --force.
	if replay, err := h.e.Replay(h.ctx, res.RunID, false); err != nil || replay.ReplayOf != res.RunID {
		t.Errorf("replay of a failed run = %+v, %v", replay, err)
	}
	if s := h.steps(res.RunID)["contact"]; s.Status != store.StepFailed || s.HTTPStatus != 422 {
		t.Errorf("step = %+v", s)
	}
	if _, ok := h.steps(res.RunID)["note"]; ok {
		t.Error("a step after the failed one ran")
	}
}

func TestWhenFalseSkipsAndOnErrorContinue(t *testing.T) {
	t.Parallel()
	flowYAML := `name: cont
trigger:
  webhook:
    source: generic
steps:
  - id: contact
    op: contacts.upsert
    with:
      email: "{{ event.email }}"
  - id: bad
    op: contacts.createNote
    on_error: continue
    with:
      contactId: missing-contact
      body: x
  - id: skipped
    op: contacts.addTags
    when: event.vip == true
    with:
      contactId: "{{ steps.contact.contact.id }}"
      tags: [vip]
  - id: note
    op: contacts.createNote
    with:
      contactId: "{{ steps.contact.contact.id }}"
      body: "bad was {{ steps.bad == nil ? 'nil' : 'set' }}"
`
	h := newHarness(t, store.SQLite, map[string]string{"cont": flowYAML})
	res := h.ingest("cont", "e1", map[string]any{"email": "fy@example.com"})
	if err := h.work(res.RunID, 1); err != nil {
		t.Fatal(err)
	}
	st := h.steps(res.RunID)
	got := map[string]string{}
	for id, s := range st {
		got[id] = s.Status
	}
	want := map[string]string{"contact": "succeeded", "bad": "failed", "skipped": "skipped", "note": "succeeded"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("step statuses (-want +got):\n%s", diff)
	}
	_, notes, _ := h.ghl.snapshot()
	if diff := cmp.Diff([]string{"bad was nil"}, notes["fy@example.com"]); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if r := h.run(res.RunID); r.Status != store.RunSucceeded {
		t.Errorf("run %s", r.Status)
	}
}

func TestUnsafeOperationWithUnknownOutcomeAsksForAHuman(t *testing.T) {
	t.Parallel()
	flowYAML := `name: campaign
trigger:
  webhook:
    source: generic
steps:
  - id: add
    op: contacts.addToCampaign
    with:
      contactId: "{{ event.contactId }}"
      campaignId: c1
`
	h := newHarness(t, store.SQLite, map[string]string{"campaign": flowYAML})
	h.ghl.fault("POST /contacts/{id}/campaigns/{id2}", faultLost)
	cid := h.ghl.addContact(map[string]any{"email": "gi@example.com"})
	res := h.ingest("campaign", "e1", map[string]any{"contactId": cid})
	err := h.work(res.RunID, 1)
	var c *river.JobCancelError
	if !errors.As(err, &c) {
		t.Fatalf("err = %v, want the run stopped", err)
	}
	r := h.run(res.RunID)
	if r.Status != store.RunFailed || !strings.Contains(r.Error, "Check GoHighLevel") && !strings.Contains(r.Error, "check GoHighLevel") {
		t.Errorf("run = %s %q", r.Status, r.Error)
	}
	if h.ghl.count("POST /contacts/{id}/campaigns/{id2}") != 1 {
		t.Error("an unsafe operation was sent again")
	}
}

func TestCustomFieldsAreResolvedAndTyped(t *testing.T) {
	t.Parallel()
	flowYAML := `name: cf
trigger:
  webhook:
    source: generic
steps:
  - id: contact
    op: contacts.upsert
    with:
      email: "{{ event.email }}"
      customFields:
        contact.resumo: "{{ event.summary }}"
        Deal Value: "{{ event.value }}"
`
	h := newHarness(t, store.SQLite, map[string]string{"cf": flowYAML})
	res := h.ingest("cf", "e1", map[string]any{"email": "ha@example.com", "summary": "Olá", "value": "1250.50"})
	if err := h.work(res.RunID, 1); err != nil {
		t.Fatal(err)
	}
	h.ghl.mu.Lock()
	defer h.ghl.mu.Unlock()
	c := h.ghl.contacts[h.ghl.order[0]]
	got := fmt.Sprint(c["customFields"])
	for _, want := range []string{"cf-resumo", "Olá", "cf-deal", "1250.5"} {
		if !strings.Contains(got, want) {
			t.Errorf("customFields %s lack %q", got, want)
		}
	}
}

func TestRedactionAndReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	res := h.ingest("three", "e1", map[string]any{"email": "io@example.com", "n": 1, "phone": "+351 912 345 678"})
	if err := h.work(res.RunID, 1); err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, s := range h.steps(res.RunID) {
		dump.WriteString(s.Request + s.Response + s.Error)
	}
	if strings.Contains(dump.String(), "pit-test-token") {
		t.Error("token in a run record")
	}
	// A succeeded run is refused unless forced: it would create again.
	if _, err := h.e.Replay(h.ctx, res.RunID, false); !errors.Is(err, ErrReplaySucceeded) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("unforced replay of a succeeded run: %v, want ErrReplaySucceeded naming --force", err)
	}
	replay, err := h.e.Replay(h.ctx, res.RunID, true)
	if err != nil {
		t.Fatal(err)
	}
	if replay.ReplayOf != res.RunID || replay.EventID != res.EventID || replay.Status != store.RunQueued {
		t.Fatalf("replay = %+v", replay)
	}
	if err := h.work(replay.ID, 1); err != nil {
		t.Fatal(err)
	}
	_, notes, _ := h.ghl.snapshot()
	if len(notes["io@example.com"]) != 2 {
		t.Errorf("after replay notes = %v, want the note written again", notes)
	}
	if _, err := h.e.Replay(h.ctx, "run_missing", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replay of a missing run: %v", err)
	}
}

// TestReplayRefusesUnfinishedRuns: a queued, running or retrying run still
// has its job scheduled, so a replay would run its steps twice; force
// does not unlock it.
func TestReplayRefusesUnfinishedRuns(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	for i, status := range []string{store.RunQueued, store.RunRunning, store.RunRetrying} {
		res := h.ingest("three", fmt.Sprintf("u%d", i), map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "n": i})
		if status != store.RunQueued {
			if err := h.e.Store().SetRunStatus(h.ctx, res.RunID, status, "waiting: connection is paused"); err != nil {
				t.Fatal(err)
			}
		}
		for _, force := range []bool{false, true} {
			_, err := h.e.Replay(h.ctx, res.RunID, force)
			if !errors.Is(err, ErrReplayUnfinished) || !strings.Contains(err.Error(), status) || !strings.Contains(err.Error(), "cancel it first") {
				t.Errorf("replay of a %s run (force %v): %v, want ErrReplayUnfinished naming the status", status, force, err)
			}
		}
		if runs, err := h.e.Store().ListRuns(h.ctx, store.RunFilter{Flow: "three"}); err != nil || len(runs) != i+1 {
			t.Fatalf("runs after refused replays: %d, %v", len(runs), err)
		}
	}
}

func TestUnknownFlowAndMissingFlowAtRunTime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, store.SQLite, map[string]string{"three": threeSteps})
	if _, err := h.e.Ingest(h.ctx, Incoming{Flow: "nope", Payload: map[string]any{}}); !errors.Is(err, ErrUnknownFlow) {
		t.Errorf("ingest to unknown flow: %v", err)
	}
	res := h.ingest("three", "e1", map[string]any{"email": "jo@example.com"})
	h.e.setFlows(&flow.Loaded{})
	err := h.work(res.RunID, 1)
	var c *river.JobCancelError
	if !errors.As(err, &c) || h.run(res.RunID).Status != store.RunFailed {
		t.Errorf("err = %v, status %s", err, h.run(res.RunID).Status)
	}
}

// TestRiverRunsEverythingOnce drives the whole engine through River: many
// events, some faults, each run exactly once.
func TestRiverRunsEverythingOnce(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, d, map[string]string{"three": threeSteps}, func(c *Config) { c.Workers = 8 })
			h.ghl.fault("POST /contacts/{id}/notes", faultLost, fault500, "", faultLost)
			h.ghl.fault("POST /contacts/upsert", fault429, fault429, fault500)
			if err := h.e.Start(h.ctx); err != nil {
				t.Fatal(err)
			}
			defer h.e.Stop(context.Background())
			const n = 40
			for i := 0; i < n; i++ {
				h.ingest("three", fmt.Sprint("evt-", i), map[string]any{"email": fmt.Sprintf("u%02d@example.com", i), "n": i})
			}
			deadline := time.Now().Add(45 * time.Second)
			for {
				counts, err := h.st.CountRunsByStatus(h.ctx)
				if err != nil {
					t.Fatal(err)
				}
				if counts[store.RunSucceeded] == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("runs by status after 45s: %v", counts)
				}
				time.Sleep(100 * time.Millisecond)
			}
			contacts, notes, _ := h.ghl.snapshot()
			if contacts != n {
				t.Errorf("%d contacts, want %d", contacts, n)
			}
			for email, list := range notes {
				if len(list) != 1 {
					t.Errorf("%s has %d notes", email, len(list))
				}
			}
			if len(notes) != n {
				t.Errorf("%d contacts with notes, want %d", len(notes), n)
			}
		})
	}
}

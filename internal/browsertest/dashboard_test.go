package browsertest

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/ghlsync/ghlsync/internal/demo"
)

// runRow is a run as the dashboard lists it.
type runRow struct {
	ID     string `json:"id"`
	Href   string `json:"href"`
	Status string `json:"status"`
	Row    string `json:"row"`
}

// stepBox is a step as a run's page shows it.
type stepBox struct {
	ID     string   `json:"id"`
	Status string   `json:"status"`
	Labels []string `json:"labels"`
	Pres   []string `json:"pres"`
	Text   string   `json:"text"`
}

// What the dashboard shows, read from the page the way a user reads it:
// links to flows and runs, and each run's status badge in its row.
const (
	jsFlows = `[...new Set([...document.querySelectorAll('a[href^="/flows/"]')].map(a => a.textContent.trim()))]`
	jsRuns  = `[...document.querySelectorAll('a[href^="/runs/"]')].map(a => {
	  const tr = a.closest('tr'); const b = tr && tr.querySelector('.badge');
	  return {id: a.textContent.trim(), href: a.getAttribute('href'), status: b ? b.textContent.trim() : '', row: tr ? tr.innerText : ''};
	})`
	jsSteps = `[...document.querySelectorAll('.step')].map(s => ({
	  id: (s.querySelector('h3 code') || {textContent: ''}).textContent.trim(),
	  status: (s.querySelector('.badge') || {textContent: ''}).textContent.trim(),
	  labels: [...s.querySelectorAll('.muted')].map(e => e.textContent.trim()),
	  pres: [...s.querySelectorAll('pre')].map(p => p.textContent),
	  text: s.innerText,
	}))`
	jsText = `document.body.innerText`
)

// badEmail is a delivery GoHighLevel refuses: its email is not an email.
var badEmail = demo.Delivery{Flow: "sync-contacts-generic", File: "bad-email (made by the test)", Source: "generic",
	Body: []byte(`{"id":"evt_browser_bad_email","type":"contact.created","data":{"email":"not-an-email","first_name":"Broken"}}`)}

// ghlRefusal is what the sandbox, like GoHighLevel, answers for it.
const ghlRefusal = "email must be an email"

func TestDashboard(t *testing.T) {
	t.Parallel()
	ctx := New(t, 25*time.Second)
	s := newStack(t)

	sent := samples(t, "sync-contacts.json", "sync-contacts-generic.json", "notes-and-tasks-generic.json")
	runs := s.post(t, ctx, append(sent, badEmail)...)
	for _, r := range runs[:len(sent)] {
		if r.Status != "succeeded" {
			t.Fatalf("run %s of %s: %s %s", r.ID, r.Flow, r.Status, r.Error)
		}
	}
	failed := runs[len(runs)-1]
	if failed.Status != "failed" {
		t.Fatalf("the run of the refused delivery is %s, want failed (error %q)", failed.Status, failed.Error)
	}
	all, err := s.client.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The dashboard: every flow, every run with its status.
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(s.web.URL+"/"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /: %d", resp.Status)
	}
	text := run(t, ctx, chromedp.Evaluate[string](jsText))
	shownFlows := run(t, ctx, chromedp.Evaluate[[]string](jsFlows))
	var wantFlows []string
	for _, f := range s.flows.Flows {
		wantFlows = append(wantFlows, f.Name)
		if f.Trigger.Webhook != nil && !strings.Contains(text, "POST "+s.web.URL+"/hooks/"+f.Name) {
			t.Errorf("the dashboard does not show flow %s's webhook URL POST %s/hooks/%s", f.Name, s.web.URL, f.Name)
		}
	}
	slices.Sort(shownFlows)
	slices.Sort(wantFlows)
	if d := cmp.Diff(wantFlows, shownFlows); d != "" {
		t.Errorf("flows on the dashboard (-loaded +shown):\n%s", d)
	}
	rows := run(t, ctx, chromedp.Evaluate[[]runRow](jsRuns))
	shown := map[string]string{}
	for _, r := range rows {
		shown[r.ID] = r.Status
	}
	want := map[string]string{}
	for _, r := range all {
		want[r.ID] = r.Status
	}
	if len(all) <= len(runs) {
		t.Errorf("%d runs in all, want the %d posted and the auto-tag runs of the contacts they created", len(all), len(runs))
	}
	if d := cmp.Diff(want, shown); d != "" {
		t.Errorf("runs on the dashboard (-API +shown):\n%s", d)
	}
	for _, r := range rows {
		if r.ID == failed.ID && !strings.Contains(r.Row, ghlRefusal) {
			t.Errorf("the failed run's row does not show GoHighLevel's answer %q: %q", ghlRefusal, r.Row)
		}
	}
	noSecrets(t, ctx, "/")
	Screenshot(t, ctx, "dashboard")

	// Click a run: its page shows each step's request and response.
	contact := runs[1] // sync-contacts-generic: Ana Souza
	openRun(t, ctx, contact.ID)
	steps := run(t, ctx, chromedp.Evaluate[[]stepBox](jsSteps))
	var ids []string
	for _, st := range steps {
		ids = append(ids, st.ID)
		if st.Status != "succeeded" {
			t.Errorf("step %s: %s", st.ID, st.Status)
		}
		if !slices.Contains(st.Labels, "Request") || !slices.Contains(st.Labels, "Response") || len(st.Pres) != 2 {
			t.Errorf("step %s does not show a request and a response: %q", st.ID, st.Text)
		}
	}
	if d := cmp.Diff([]string{"contact", "tags"}, ids); d != "" {
		t.Fatalf("steps of %s (-want +shown):\n%s", contact.ID, d)
	}
	ana := sandboxContact(t, ctx, s, "ana.souza@example.com")
	for _, c := range []struct{ step, part, want string }{
		{"contact", "request", `"email": "ana.souza@example.com"`},
		{"contact", "response", ana},
		{"tags", "request", ana},
		{"tags", "request", `"brazil"`},
		{"tags", "response", `"tags"`},
	} {
		i := slices.IndexFunc(steps, func(st stepBox) bool { return st.ID == c.step })
		pre := steps[i].Pres[0]
		if c.part == "response" {
			pre = steps[i].Pres[1]
		}
		if !strings.Contains(pre, c.want) {
			t.Errorf("step %s's %s does not show %s:\n%s", c.step, c.part, c.want, pre)
		}
	}
	noSecrets(t, ctx, "/runs/"+contact.ID)
	Screenshot(t, ctx, "run")

	// The run succeeded, so its replay form asks for an explicit
	// confirmation: the browser refuses to submit it unticked. Ticked, it
	// works from the browser (a same-origin form post, which the
	// cross-origin protection lets through) and leads to the new run, which
	// links back.
	form := `form[action="/runs/` + contact.ID + `/replay"]`
	if run(t, ctx, chromedp.Evaluate[bool](`document.querySelector('`+form+`').checkValidity()`)) {
		t.Fatal("the replay form of a succeeded run can be submitted without its confirmation")
	}
	run(t, ctx, chromedp.Click(chromedp.CSS(form+` input[name="confirm"]`)))
	click(t, ctx, form+` button`)
	loc := run(t, ctx, chromedp.Location())
	replayID := strings.TrimPrefix(mustPath(t, loc), "/runs/")
	if replayID == contact.ID || !strings.HasPrefix(replayID, "run_") {
		t.Fatalf("after Replay the browser is at %s", loc)
	}
	if back := run(t, ctx, chromedp.Text(chromedp.CSS(`a[href="/runs/`+contact.ID+`"]`))); back != contact.ID {
		t.Errorf("the replay's page links to %q, want the original run %s", back, contact.ID)
	}
	if r, err := s.client.WaitRun(ctx, replayID); err != nil || r.Status != "succeeded" || r.ReplayOf != contact.ID {
		t.Errorf("replay run %s: %+v, %v", replayID, r, err)
	}

	// The failed run, found through the dashboard's "failed" filter, shows
	// GoHighLevel's error message.
	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(s.web.URL+"/")); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, `a[href="/?status=failed"]`)
	rows = run(t, ctx, chromedp.Evaluate[[]runRow](jsRuns))
	if len(rows) != 1 || rows[0].ID != failed.ID || rows[0].Status != "failed" {
		t.Fatalf("the dashboard's failed runs: %+v, want only %s", rows, failed.ID)
	}
	openRun(t, ctx, failed.ID)
	text = run(t, ctx, chromedp.Evaluate[string](jsText))
	steps = run(t, ctx, chromedp.Evaluate[[]stepBox](jsSteps))
	if len(steps) == 0 || steps[0].Status != "failed" || !strings.Contains(steps[0].Text, ghlRefusal) || !strings.Contains(steps[0].Text, "HTTP 422") {
		t.Errorf("the failed step does not show GoHighLevel's 422 %q: %+v", ghlRefusal, steps)
	}
	if !strings.Contains(text, "Error") || strings.Count(text, ghlRefusal) < 2 {
		t.Errorf("the failed run's page shows GoHighLevel's message %q %d times, want in the run's error and in the step:\n%s", ghlRefusal, strings.Count(text, ghlRefusal), text)
	}
	noSecrets(t, ctx, "/runs/"+failed.ID)
	Screenshot(t, ctx, "run-failed")

	// Every other run's page too: no secret anywhere.
	for _, r := range all {
		if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(s.web.URL+"/runs/"+r.ID)); err != nil {
			t.Fatal(err)
		}
		noSecrets(t, ctx, "/runs/"+r.ID)
	}

	// A flow's own page, reached from the dashboard: its webhook URL, steps
	// and runs.
	if _, err := chromedp.Run(ctx, chromedp.NavigateResponse(s.web.URL+"/")); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, `a[href="/flows/`+contact.Flow+`"]`)
	text = run(t, ctx, chromedp.Evaluate[string](jsText))
	for _, want := range []string{"Flow " + contact.Flow, "POST " + s.web.URL + "/hooks/" + contact.Flow, "Last success", contact.ID} {
		if !strings.Contains(text, want) {
			t.Errorf("the page of flow %s lacks %q:\n%s", contact.Flow, want, text)
		}
	}
	noSecrets(t, ctx, "/flows/"+contact.Flow)
	Screenshot(t, ctx, "flow")
}

// run runs one action and fails the test on error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// click clicks the element and waits for the page it leads to.
func click(t *testing.T, ctx context.Context, css string) {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("click %s: %v", css, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("click %s: %s answered %d", css, resp.URL, resp.Status)
	}
}

// openRun clicks the run's link on the current page and checks its page
// opened.
func openRun(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	click(t, ctx, `a[href="/runs/`+id+`"]`)
	loc := run(t, ctx, chromedp.Location())
	if mustPath(t, loc) != "/runs/"+id {
		t.Fatalf("after clicking run %s the browser is at %s", id, loc)
	}
	h1 := run(t, ctx, chromedp.Text(chromedp.CSS("h1")))
	if !strings.Contains(h1, id) {
		t.Fatalf("run page heading %q does not name %s", h1, id)
	}
}

// sandboxContact returns the id of the sandbox's contact with that email.
func sandboxContact(t *testing.T, ctx context.Context, s *stack, email string) string {
	t.Helper()
	contacts, err := s.client.Records(ctx, "contacts")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range contacts {
		if c["email"] == email {
			id, _ := c["id"].(string)
			return id
		}
	}
	t.Fatalf("the sandbox holds no contact %s", email)
	return ""
}

// noSecrets fails when the page's HTML holds a token or a secret: the
// sandbox's tokens and OAuth client secret, the demo's webhook secrets
// (also the ChangeTower key decoded), or an Authorization header.
func noSecrets(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	html, err := HTML(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctKey, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(demo.ChangeTowerSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{demo.SandboxToken, "pit-sandbox-agency", "sandbox-client-secret",
		demo.GenericSecret, demo.ChangeTowerSecret, string(ctKey), "Bearer "} {
		if strings.Contains(html, secret) {
			t.Errorf("page %s shows %q", page, secret)
		}
	}
}

// mustPath returns the path of a URL.
func mustPath(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

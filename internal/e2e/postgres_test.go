package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The tests in this file run several `ghlsync serve` processes on one
// Postgres database (a schema of each test's own). They do not run in
// parallel with each other: three servers with their connection pools and
// twenty workers each are what two cores and one Postgres can carry at once.

// pollBaseline waits until the poll flow has recorded its baseline.
func pollBaseline(t *testing.T, db *pgxpool.Pool, flowName string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var n int
		err := db.QueryRow(context.Background(),
			`SELECT count(*) FROM poll_state WHERE flow = $1 AND baseline_at IS NOT NULL`, flowName).Scan(&n)
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("poll flow %s recorded no baseline within %s (%v)", flowName, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pollsExpected is how many polls one leader makes in d: one when it is
// elected, then one per interval.
func pollsExpected(d, every time.Duration) int { return 1 + int(d/every) }

func TestPostgresThreeServersExactlyOnce(t *testing.T) {
	dbURL, db := pgSchema(t)
	sb := startSandbox(t, "")
	reqs := newReqLog(t, sb.URL)
	// Contacts made before the poll flow first runs: its baseline, never run.
	for i := 0; i < 3; i++ {
		createContact(t, sb.URL, map[string]any{"email": fmt.Sprintf("old%d@polled.example", i)})
	}
	c := &cluster{t: t, sandbox: sb, dbURL: dbURL, db: db, flows: "testdata/cluster",
		env: []string{"GHLSYNC_TOKEN=" + token}, args: []string{"--location-id", location}}
	servers := c.startN(3)
	term := time.Now()
	pollBaseline(t, db, "polled", 20*time.Second)
	newContacts := map[string]string{} // id → e-mail, made after the baseline
	for i := 0; i < 5; i++ {
		email := fmt.Sprintf("new%d@polled.example", i)
		newContacts[createContact(t, sb.URL, map[string]any{"email": email})] = email
	}

	// Every event twice, both copies at once to two different servers.
	ids := seq(0, 300)
	began := time.Now()
	answers := postSpread(servers, ids, 2, 8)
	byEvent := map[int][]delivery{}
	for _, d := range answers {
		if d.err != nil || d.status/100 != 2 {
			t.Fatalf("event %d to server %d: %d %v %v", d.event, d.server, d.status, d.body, d.err)
		}
		byEvent[d.event] = append(byEvent[d.event], d)
	}
	for i, ds := range byEvent {
		fresh, dup := 0, 0
		for _, d := range ds {
			if d.body["duplicate"] == true {
				dup++
			} else if d.status == 202 && d.body["runId"] != nil {
				fresh++
			}
		}
		if fresh != 1 || dup != 1 || ds[0].body["eventId"] != ds[1].body["eventId"] {
			t.Errorf("event %d: answers %v and %v, want one accepted and one duplicate of the same event", i, ds[0].body, ds[1].body)
		}
	}
	waitSucceeded(t, db, "three", len(ids), 90*time.Second)
	took := time.Since(began)
	t.Logf("%d events (each delivered twice) through 3 servers in %s: %.0f events/s", len(ids), took.Round(time.Millisecond),
		float64(len(ids))/took.Seconds())
	reqs.read()
	checkExactlyOnce(t, readSandbox(t, sb.URL), ids)
	// Each step was sent once: no run repeated a request.
	for op, want := range map[string]int{"contacts.upsert": len(ids), "contacts.createNote": len(ids), "contacts.addTags": len(ids)} {
		if got := reqs.count(isOp(op)); got != want {
			t.Errorf("%d %s requests, want %d", got, op, want)
		}
	}
	// The runs were shared out: every server finished some.
	perServer := make([]float64, len(servers))
	total := 0.0
	for i, s := range servers {
		perServer[i] = metricSum(t, s.URL, "ghlsync_runs_finished_total", `flow="three"`)
		total += perServer[i]
	}
	t.Logf("runs finished per server: %v", perServer)
	if total != float64(len(ids)) {
		t.Errorf("servers finished %v runs between them, want %d", total, len(ids))
	}
	for i, n := range perServer {
		if n == 0 {
			t.Errorf("server %d ran no run; the queue was not shared", i)
		}
	}

	// Three servers, one poll: the leader's.
	if got, want := reqs.count(isOp("contacts.search")), pollsExpected(time.Since(term), time.Minute); got != want {
		t.Errorf("%d polls by 3 servers in %s, want %d (the elected leader's)", got, time.Since(term).Round(time.Second), want)
	}

	// Restart them all: the new leader polls at once and the five contacts
	// made since the baseline each run once.
	stopAll(t, servers)
	before := reqs.count(isOp("contacts.search"))
	servers = c.startN(3)
	term = time.Now()
	waitSucceeded(t, db, "polled", len(newContacts), 30*time.Second)
	time.Sleep(time.Second) // room for a wrong second poll to show
	reqs.read()
	if got, want := reqs.count(isOp("contacts.search"))-before, pollsExpected(time.Since(term), time.Minute); got != want {
		t.Errorf("%d polls by 3 restarted servers in %s, want %d", got, time.Since(term).Round(time.Second), want)
	}
	st := readSandbox(t, sb.URL)
	polledNotes := map[string][]string{}
	for _, n := range st.notes {
		if body := fmt.Sprint(n["body"]); strings.HasPrefix(body, "Polled ") {
			cid := fmt.Sprint(n["contactId"])
			polledNotes[cid] = append(polledNotes[cid], body)
		}
	}
	for id, email := range newContacts {
		if got := polledNotes[id]; len(got) != 1 || got[0] != "Polled "+email {
			t.Errorf("contact %s (%s): poll notes %q, want exactly one", id, email, got)
		}
	}
	if len(polledNotes) != len(newContacts) {
		t.Errorf("poll notes on %d contacts, want %d (the baseline's contacts run never)", len(polledNotes), len(newContacts))
	}
	stopAll(t, servers)
}

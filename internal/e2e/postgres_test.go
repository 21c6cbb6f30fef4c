package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
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
	// One extra start-up poll is allowed after a leadership handover while
	// the servers start (see below).
	if got, want := reqs.count(isOp("contacts.search")), pollsExpected(time.Since(term), time.Minute); got < want || got > want+1 {
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
	// Servers starting one after another may hand leadership over once,
	// and River runs a new leader's start-up poll again: one extra poll is
	// allowed (it lists, finds nothing new past the checkpoint and emits
	// nothing); what must hold exactly is that each item runs once, below.
	if got, want := reqs.count(isOp("contacts.search"))-before, pollsExpected(time.Since(term), time.Minute); got < want || got > want+1 {
		t.Errorf("%d polls by 3 restarted servers in %s, want %d (or one more after a leadership handover)", got, time.Since(term).Round(time.Second), want)
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

// connStatus reads a stored connection's status and expiry.
func connStatus(t *testing.T, db *pgxpool.Pool, name string) (status, reason string, expires time.Time, gen int64) {
	t.Helper()
	var micros int64
	err := db.QueryRow(context.Background(),
		`SELECT status, status_reason, coalesce(expires_at, 0), generation FROM ghl_connections WHERE name = $1`, name).
		Scan(&status, &reason, &micros, &gen)
	if err != nil {
		t.Fatalf("connection %s: %v", name, err)
	}
	return status, reason, time.UnixMicro(micros), gen
}

// checkOneRefresh checks the sandbox requests of a burst of runs on an
// expired connection: no 401 (no expired token was sent), every token call
// answered 200 (a spent refresh token would get invalid_grant), and exactly
// one token call until the new token was itself due, half its lifetime
// later (a refresh after that, when the runs outlast it, is the next one and
// presents the next refresh token). It returns the number of token calls.
func checkOneRefresh(t *testing.T, what string, reqs []reqEntry, ttl time.Duration) int {
	t.Helper()
	var first time.Time
	calls, early := 0, 0
	for _, r := range reqs {
		switch {
		case isTokenCall(r):
			calls++
			if r.Status != 200 {
				t.Errorf("%s: token call answered %d", what, r.Status)
			}
			if first.IsZero() {
				first = r.Time
			}
			if r.Time.Before(first.Add(ttl/2 - 250*time.Millisecond)) {
				early++
			}
		case r.Status == 401:
			t.Errorf("%s: %s %s answered 401: an expired token was sent", what, r.Method, r.Path)
		}
	}
	if early != 1 {
		t.Errorf("%s: %d token calls before the new token was due, want exactly 1", what, early)
	}
	if calls > early {
		t.Logf("%s: %d more token call(s) once the new token was due (the runs outlasted half its life)", what, calls-early)
	}
	return calls
}

func TestPostgresOAuthRefreshOnceAcrossServers(t *testing.T) {
	dbURL, db := pgSchema(t)
	const ttl = 8 * time.Second
	sb := launch(t, "sandbox", "/_sandbox/", nil, "sandbox", "--quiet", "--no-rate-limit", "--token-ttl", ttl.String())
	reqs := newReqLog(t, sb.URL)
	var key [32]byte
	_, _ = rand.Read(key[:])
	env := []string{"GHLSYNC_SECRET_KEY=" + base64.StdEncoding.EncodeToString(key[:])}

	// One OAuth connection, stored by `ghlsync auth login`.
	out := oauthLogin(t, sb.URL, dbURL, "testdata/webhook", "default", env)
	if !strings.Contains(out, "Connected \"default\"") {
		t.Fatalf("auth login:\n%s", out)
	}
	_, _, expires, _ := connStatus(t, db, "default")
	reqs.read()
	if n := reqs.count(isTokenCall); n != 1 {
		t.Fatalf("%d token calls for the login, want 1 (the code exchange)", n)
	}
	loginCalls := len(reqs.all)

	c := &cluster{t: t, sandbox: sb, dbURL: dbURL, db: db, flows: "testdata/webhook", env: env}
	servers := c.startN(3)
	// Let the access token expire.
	time.Sleep(time.Until(expires) + 200*time.Millisecond)

	// 20 runs at once, spread over the three servers.
	ids := seq(0, 20)
	for _, d := range postSpread(servers, ids, 1, len(ids)) {
		if d.err != nil || d.status != 202 {
			t.Fatalf("event %d: %d %v %v", d.event, d.status, d.body, d.err)
		}
	}
	waitSucceeded(t, db, "three", len(ids), 30*time.Second)
	// The refresh was shared across processes, not just goroutines.
	working := 0
	for _, s := range servers {
		if metricSum(t, s.URL, "ghlsync_runs_finished_total", `flow="three"`) > 0 {
			working++
		}
	}
	if working < 2 {
		t.Errorf("only %d server(s) ran the 20 runs; the test needs several processes sharing the token", working)
	}
	reqs.read()
	calls := checkOneRefresh(t, "20 runs on 3 servers with an expired token", reqs.all[loginCalls:], ttl)
	checkExactlyOnce(t, readSandbox(t, sb.URL), ids)
	status, reason, _, gen := connStatus(t, db, "default")
	if status != "active" || gen != int64(1+calls) {
		t.Errorf("connection: %s (%s), generation %d; want active, generation %d", status, reason, gen, 1+calls)
	}

	// Restart every server and let the new access token expire too: the
	// one refresh the restarted servers make presents the new refresh token
	// (the spent one would get invalid_grant, and the connection would need
	// authorising again).
	stopAll(t, servers)
	_, _, expires, _ = connStatus(t, db, "default")
	mark := len(reqs.all)
	servers = c.startN(3)
	time.Sleep(time.Until(expires) + 200*time.Millisecond)
	more := seq(20, 40)
	for _, d := range postSpread(servers, more, 1, len(more)) {
		if d.err != nil || d.status != 202 {
			t.Fatalf("event %d: %d %v %v", d.event, d.status, d.body, d.err)
		}
	}
	waitSucceeded(t, db, "three", len(ids)+len(more), 30*time.Second)
	reqs.read()
	more0 := gen
	calls = checkOneRefresh(t, "20 runs on 3 restarted servers", reqs.all[mark:], ttl)
	if status, reason, _, gen := connStatus(t, db, "default"); status != "active" || gen != more0+int64(calls) {
		t.Errorf("connection after the restart: %s (%s), generation %d; want active, generation %d", status, reason, gen, more0+int64(calls))
	}
	checkExactlyOnce(t, readSandbox(t, sb.URL), append(ids, more...))
	stopAll(t, servers)
}

func TestPostgresKill9OneOfThreeServers(t *testing.T) {
	dbURL, db := pgSchema(t)
	// Latency keeps runs in flight on every server when one dies.
	sb := startSandbox(t, `{"rules": [{"route": "*", "latency": "40ms"}]}`)
	c := &cluster{t: t, sandbox: sb, dbURL: dbURL, db: db, flows: "testdata/webhook",
		env: []string{"GHLSYNC_TOKEN=" + token}, args: []string{"--location-id", location}}
	servers := c.startN(3)
	victim := servers[1]

	const total = 240
	var (
		mu    sync.Mutex
		acked = map[int]string{} // event → event id, for deliveries answered 2xx
		wg    sync.WaitGroup
		ch    = make(chan int)
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for w := 0; w < 9; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				status, body, err := deliver(client, servers[i%len(servers)].URL, "three", event(i))
				if err == nil && status/100 == 2 {
					mu.Lock()
					acked[i] = fmt.Sprint(body["eventId"])
					mu.Unlock()
				}
			}
		}()
	}
	go func() {
		for i := 0; i < total; i++ {
			ch <- i
		}
		close(ch)
	}()
	// Kill once runs are finishing, in flight and queued all at once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 && runCounts(t, db, "three")["succeeded"] >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no moment to kill a server came within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	<-victim.done
	var running int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE state = 'running'`).Scan(&running); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s with %d jobs running in the cluster", victim.name, running)
	// It comes back as a new process; the survivors take its runs over
	// without waiting for it.
	servers[1] = c.start()
	wg.Wait()

	mu.Lock()
	ackedIDs := make([]int, 0, len(acked))
	for i := range acked {
		ackedIDs = append(ackedIDs, i)
	}
	mu.Unlock()
	sort.Ints(ackedIDs)
	// Every acknowledged event completes.
	deadline = time.Now().Add(40 * time.Second)
	for {
		rows, err := db.Query(context.Background(), `SELECT e.source_event_id, r.status FROM runs r JOIN events e ON e.id = r.event_id WHERE r.flow = 'three'`)
		if err != nil {
			t.Fatal(err)
		}
		status := map[string]string{}
		for rows.Next() {
			var id, st string
			if err := rows.Scan(&id, &st); err != nil {
				t.Fatal(err)
			}
			status[id] = st
		}
		rows.Close()
		missing, unfinished := 0, 0
		for _, st := range status {
			switch st {
			case "succeeded":
			case "failed", "cancelled", "skipped":
				t.Fatalf("a run ended %s: %q", st, failedRuns(t, db, "three"))
			default:
				unfinished++
			}
		}
		for _, i := range ackedIDs {
			if status[fmt.Sprintf("evt-%03d", i)] != "succeeded" {
				missing++
			}
		}
		if missing == 0 && unfinished == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s after the kill: %d acknowledged events not done, %d runs unfinished", time.Since(killed).Round(time.Second), missing, unfinished)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("every acknowledged event done %s after the kill", time.Since(killed).Round(100*time.Millisecond))

	// The survivors took the dead server's runs over.
	tookOver := 0
	for _, s := range servers {
		tookOver += strings.Count(s.out.String(), "took over the runs of a server that stopped")
	}
	if running > 0 && tookOver == 0 {
		t.Error("no server reported taking over the dead server's runs")
	}
	// Each stored event ran once, including deliveries stored but not
	// acknowledged (the answer was lost in the kill).
	stored := map[int]bool{}
	for _, i := range ackedIDs {
		stored[i] = true
	}
	st := readSandbox(t, sb.URL)
	for _, ct := range st.contacts {
		var i int
		if _, err := fmt.Sscanf(fmt.Sprint(ct["email"]), "user%03d@e2e.example", &i); err == nil {
			stored[i] = true
		}
	}
	all := make([]int, 0, len(stored))
	for i := range stored {
		all = append(all, i)
	}
	sort.Ints(all)
	if n := runCounts(t, db, "three")["succeeded"]; n != len(all) {
		t.Errorf("%d runs succeeded for %d events that reached GoHighLevel", n, len(all))
	}
	checkExactlyOnce(t, st, all)
	t.Logf("%d of %d deliveries acknowledged; %d events completed exactly once", len(ackedIDs), total, len(all))
	stopAll(t, servers)
}

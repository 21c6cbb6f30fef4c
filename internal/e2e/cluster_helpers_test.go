package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/testutil"
)

// Helpers for the tests that run several `ghlsync serve` processes on one
// Postgres database.

// pgSchema creates a schema of the test's own in the Postgres test database,
// drops it when the test ends, and returns a database URL whose sessions
// use it (search_path) with a small pool on it for the test's checks.
func pgSchema(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	base := testutil.PostgresURL(t)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("GHLSYNC_TEST_DATABASE_URL must be a postgres:// URL, got %q", u.Redacted())
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "ghlsync_e2e_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to Postgres: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the drop, so it runs before it.
	t.Cleanup(pool.Close)
	return u.String(), pool
}

// cluster is a sandbox and any number of serve processes on one database.
type cluster struct {
	t       testing.TB
	sandbox *proc
	dbURL   string
	db      *pgxpool.Pool
	flows   string   // folder of flow files
	env     []string // extra environment of every serve process
	args    []string // extra arguments of every serve process
	n       int      // servers started so far, for their names
}

// start starts one more `ghlsync serve` on the cluster's database.
func (c *cluster) start(extra ...string) *proc {
	c.t.Helper()
	c.n++
	args := append([]string{"serve", "--flows", c.flows, "--database-url", c.dbURL, "--base-url", c.sandbox.URL,
		"--no-client-rate-limit", "--workers", "20", "--log-level", "warn"}, c.args...)
	return launch(c.t, fmt.Sprintf("serve-%d", c.n), "/healthz", c.env, append(args, extra...)...)
}

// startN starts n servers, one after the other (the first migrates).
func (c *cluster) startN(n int, extra ...string) []*proc {
	c.t.Helper()
	out := make([]*proc, n)
	for i := range out {
		out[i] = c.start(extra...)
	}
	return out
}

// launch runs the binary (for tests and benchmarks alike) and
// waits until url+ready answers 200.
func launch(tb testing.TB, name, ready string, env []string, args ...string) *proc {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(binary, append(args, "--addr", addr)...)
	cmd.Env = append(append(os.Environ(), "GHLSYNC_E2E_SECRET="+secret), env...)
	p := &proc{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{}), URL: "http://" + addr}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			tb.Logf("%s output:\n%s", name, tail(p.out.String(), 60))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.URL + ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			tb.Fatalf("%s exited before it was ready: %v\n%s", name, p.err, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready after 30s:\n%s", name, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func stop(t testing.TB, p *proc) {
	t.Helper()
	stopAll(t, []*proc{p})
}

// stopAll sends SIGTERM to every server at once and waits for each to exit
// cleanly.
func stopAll(t testing.TB, ps []*proc) {
	t.Helper()
	for _, p := range ps {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	for _, p := range ps {
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("%s exited with %v after SIGTERM:\n%s", p.name, p.err, tail(p.out.String(), 30))
			}
		case <-time.After(40 * time.Second):
			t.Fatalf("%s did not stop within 40s of SIGTERM", p.name)
		}
	}
}

// delivery is one answered webhook delivery.
type delivery struct {
	event  int
	server int
	status int
	body   map[string]any
	err    error
}

// postSpread delivers each event copies times, each copy to a different
// server and all copies of one event at the same moment, with workers
// events in flight.
func postSpread(servers []*proc, ids []int, copies, workers int) []delivery {
	var (
		mu  sync.Mutex
		out []delivery
		wg  sync.WaitGroup
		ch  = make(chan int)
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				var cw sync.WaitGroup
				for k := 0; k < copies; k++ {
					cw.Add(1)
					go func() {
						defer cw.Done()
						s := (i + k) % len(servers)
						status, body, err := deliver(client, servers[s].URL, "three", event(i))
						mu.Lock()
						out = append(out, delivery{event: i, server: s, status: status, body: body, err: err})
						mu.Unlock()
					}()
				}
				cw.Wait()
			}
		}()
	}
	for _, i := range ids {
		ch <- i
	}
	close(ch)
	wg.Wait()
	return out
}

// runCounts reads the runs of a flow by status straight from the database.
func runCounts(t testing.TB, db *pgxpool.Pool, flowName string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.Query(ctx, `SELECT status, count(*) FROM runs WHERE flow = $1 GROUP BY status`, flowName)
	if err != nil {
		t.Fatalf("count runs: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		s string
		n int
	}, error) {
		var v struct {
			s string
			n int
		}
		err := r.Scan(&v.s, &v.n)
		return v, err
	})
	if err != nil {
		t.Fatalf("count runs: %v", err)
	}
	m := map[string]int{}
	for _, v := range out {
		m[v.s] = v.n
	}
	return m
}

// failedRuns returns the errors of the flow's failed runs.
func failedRuns(t testing.TB, db *pgxpool.Pool, flowName string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := db.Query(ctx, `SELECT id || ': ' || coalesce(error, '') FROM runs WHERE flow = $1 AND status IN ('failed', 'cancelled', 'skipped') LIMIT 10`, flowName)
	if err != nil {
		t.Fatalf("failed runs: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("failed runs: %v", err)
	}
	return out
}

// waitSucceeded waits until the flow has exactly want runs, all succeeded.
// It fails at once when a run fails.
func waitSucceeded(t testing.TB, db *pgxpool.Pool, flowName string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		counts := runCounts(t, db, flowName)
		if bad := failedRuns(t, db, flowName); len(bad) > 0 {
			t.Fatalf("flow %s: runs by status %v; finished without success: %q", flowName, counts, bad)
		}
		total := 0
		for _, n := range counts {
			total += n
		}
		if counts["succeeded"] == want && total == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow %s after %s: runs by status %v, want %d succeeded", flowName, within, counts, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reqEntry is one request of the sandbox's log.
type reqEntry struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Op     string    `json:"op"`
}

// reqLog follows the sandbox's request log (which keeps only the latest
// 2000 requests): read it often enough and it sees every request.
type reqLog struct {
	t    *testing.T
	url  string
	last int64
	all  []reqEntry
}

func newReqLog(t *testing.T, sandboxURL string) *reqLog { return &reqLog{t: t, url: sandboxURL} }

// read fetches the requests since the last read and returns them.
func (l *reqLog) read() []reqEntry {
	l.t.Helper()
	var out struct {
		Requests []reqEntry `json:"requests"`
	}
	getJSON(l.t, fmt.Sprintf("%s/_sandbox/requests?since=%d", l.url, l.last), &out)
	if len(out.Requests) > 0 && l.last > 0 && out.Requests[0].Seq != l.last+1 {
		l.t.Fatalf("sandbox request log lost requests %d..%d (read it more often)", l.last+1, out.Requests[0].Seq-1)
	}
	for _, r := range out.Requests {
		l.last = r.Seq
	}
	l.all = append(l.all, out.Requests...)
	return out.Requests
}

// count returns how many requests read so far match.
func (l *reqLog) count(match func(reqEntry) bool) int {
	n := 0
	for _, r := range l.all {
		if match(r) {
			n++
		}
	}
	return n
}

func isOp(op string) func(reqEntry) bool { return func(r reqEntry) bool { return r.Op == op } }

func isTokenCall(r reqEntry) bool { return r.Method == "POST" && r.Path == "/oauth/token" }

// metricSum adds up a Prometheus counter's samples on a server, across
// labels, for the samples whose labels contain every given label.
func metricSum(t *testing.T, serverURL, name string, labels ...string) float64 {
	t.Helper()
	text := httpText(t, serverURL+"/metrics")
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

// createContact creates a contact in the sandbox directly (as if made in
// GoHighLevel), with the seeded Private Integration Token.
func createContact(t *testing.T, sandboxURL string, body map[string]any) string {
	t.Helper()
	c := ghl.New(ghl.Config{BaseURL: sandboxURL}, ghl.StaticToken(token), location)
	resp, err := c.Do(context.Background(), "contacts.create", ghl.Params{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Contact struct {
			ID string `json:"id"`
		} `json:"contact"`
	}
	if err := resp.Decode(&out); err != nil || out.Contact.ID == "" {
		t.Fatalf("create contact: %v %s", err, resp.Body)
	}
	return out.Contact.ID
}

var consentURLRe = regexp.MustCompile(`https?://\S+/oauth/chooselocation\?\S+`)

// oauthLogin stores an OAuth connection named name through the real flow:
// `ghlsync auth login --manual` prints the consent URL, the test approves it
// on the sandbox's consent page as a browser would and pastes the redirect.
func oauthLogin(t *testing.T, sandboxURL, dbURL, flowsDir, name string, env []string) string {
	t.Helper()
	cmd := exec.Command(binary, "auth", "login", "--database-url", dbURL, "--base-url", sandboxURL,
		"--consent-host", sandboxURL, "--client-id", "sandbox-client-id", "--manual",
		"--redirect-url", "https://ghlsync.example.com/oauth/callback", "--flows", flowsDir,
		"--name", name, "--timeout", "30s")
	cmd.Env = append(append(cmd.Environ(), "GHLSYNC_OAUTH_CLIENT_SECRET=sandbox-client-secret"), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var consent string
	for deadline := time.Now().Add(20 * time.Second); consent == ""; time.Sleep(20 * time.Millisecond) {
		consent = consentURLRe.FindString(out.String())
		select {
		case err := <-done:
			if consent == "" {
				t.Fatalf("auth login exited before printing a consent URL: %v\n%s", err, out.String())
			}
		default:
		}
		if consent == "" && time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("auth login printed no consent URL:\n%s", out.String())
		}
	}
	u, err := url.Parse(consent)
	if err != nil {
		t.Fatal(err)
	}
	form := u.Query()
	form.Set("target", "location:"+location)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("consent page answered %d", res.StatusCode)
	}
	if _, err := io.WriteString(stdin, res.Header.Get("Location")+"\n"); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("auth login: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("auth login did not finish:\n%s", out.String())
	}
	return out.String()
}

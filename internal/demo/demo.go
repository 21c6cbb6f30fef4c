package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
	"github.com/ghlsync/ghlsync/internal/source"
	"github.com/ghlsync/ghlsync/internal/store"
	"github.com/ghlsync/ghlsync/internal/web"
)

// Defaults of Options.
const (
	DefaultAddr        = "127.0.0.1:8080"
	DefaultSandboxAddr = "127.0.0.1:8089"
	DefaultDB          = "./ghlsync-demo.db"
	DefaultFlows       = "examples/flows"
	DefaultEvents      = "testdata/events"
)

// Options configure Run.
type Options struct {
	Addr        string // ghlsync's listen address (default DefaultAddr)
	SandboxAddr string // the sandbox's listen address (default DefaultSandboxAddr)
	// DB is the SQLite file (default DefaultDB). The sandbox keeps its state
	// beside it (SandboxStatePath), so a second demo on the same database
	// finds the records the first one created.
	DB string
	// Fresh deletes the database and the sandbox state first.
	Fresh bool
	// Flows and Events are the example flows and sample deliveries. Relative
	// paths that do not exist are also looked for in the parent folders (the
	// demo may be started from inside the repository).
	Flows, Events string
	// Exit ends after the summary instead of serving until ctx ends.
	Exit bool
	// Wait bounds the wait for runs and webhooks after the replay (default
	// 60s).
	Wait time.Duration
	// Out receives the demo's story; Logger the servers' logs.
	Out    io.Writer
	Logger *slog.Logger
	// Command is how a user invokes ghlsync, for the hints printed
	// ("ghlsync" or "go run ./cmd/ghlsync").
	Command string
	// UserAgent of GoHighLevel requests.
	UserAgent string
}

// ErrIncomplete says the demo ran but not everything went as expected (a
// delivery was refused, a run failed or did not finish).
var ErrIncomplete = errors.New("the demo did not complete cleanly")

// SandboxStatePath is where the demo's sandbox keeps its state for a
// database file.
func SandboxStatePath(db string) string { return db + ".sandbox.json" }

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.SandboxAddr == "" {
		o.SandboxAddr = DefaultSandboxAddr
	}
	if o.DB == "" {
		o.DB = DefaultDB
	}
	if o.Flows == "" {
		o.Flows = DefaultFlows
	}
	if o.Events == "" {
		o.Events = DefaultEvents
	}
	if o.Wait <= 0 {
		o.Wait = 60 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Command == "" {
		o.Command = "ghlsync"
	}
}

// findDir returns dir, or for a relative dir that does not exist, the
// first parent folder's dir/ that does. The error says where it looked.
func findDir(dir, what, flag string) (string, error) {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	looked := []string{absPath(dir)}
	if !filepath.IsAbs(dir) {
		wd, err := os.Getwd()
		for err == nil {
			parent := filepath.Dir(wd)
			if parent == wd {
				break
			}
			wd = parent
			p := filepath.Join(wd, dir)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return p, nil
			}
			looked = append(looked, p)
		}
	}
	return "", fmt.Errorf("%s not found: looked for %s (and in every parent folder); run the demo from the root of the ghlsync repository, or pass %s", what, looked[0], flag)
}

// demoSecrets resolves the example flows' secret references to the demo's
// own values; other references resolve as usual.
func demoSecrets(ghlKey string) source.SecretLookup {
	return func(ref string) (string, error) {
		switch ref {
		case "env:GHLSYNC_CHANGETOWER_SECRET":
			return ChangeTowerSecret, nil
		case "env:GHLSYNC_GENERIC_SECRET":
			return GenericSecret, nil
		case "env:GHLSYNC_GHL_WEBHOOK_KEY":
			return ghlKey, nil
		}
		return source.DefaultSecretLookup(ref)
	}
}

func listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		hint := ""
		if errors.Is(err, syscall.EADDRINUSE) {
			hint = fmt.Sprintf(" (is another demo running? pass %s 127.0.0.1:0 to use any free port)", flag)
		}
		return nil, fmt.Errorf("listen on %s: %w%s", addr, err, hint)
	}
	return ln, nil
}

// hookFlow picks the flow the sandbox's GoHighLevel webhooks go to: the
// example auto-tag flow, else the first flow with a ghl source.
func hookFlow(l *flow.Loaded) string {
	var first string
	for _, f := range l.Flows {
		if f.Trigger.Webhook != nil && f.Trigger.Webhook.Source == "ghl" {
			if f.Name == "auto-tag" {
				return f.Name
			}
			if first == "" {
				first = f.Name
			}
		}
	}
	return first
}

// Run starts the sandbox, the engine and the web server in this process,
// replays the sample deliveries, prints a summary and, unless o.Exit, keeps
// serving until ctx ends. It shuts everything down before returning.
func Run(ctx context.Context, o Options) (err error) {
	start := time.Now()
	o.defaults()
	out := o.Out

	flowsDir, err := findDir(o.Flows, "the example flows", "--flows")
	if err != nil {
		return err
	}
	eventsDir, err := findDir(o.Events, "the sample deliveries", "--events")
	if err != nil {
		return err
	}
	samples, err := LoadSamples(eventsDir)
	if err != nil {
		return err
	}
	loaded, err := flow.LoadDir(flowsDir)
	if err != nil {
		return err
	}
	if len(loaded.Flows) == 0 {
		return fmt.Errorf("no flow loaded from %s:\n%v", flowsDir, loaded.Errors)
	}
	statePath := SandboxStatePath(o.DB)
	if o.Fresh {
		for _, p := range []string{o.DB, o.DB + "-wal", o.DB + "-shm", statePath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("--fresh: %w", err)
			}
		}
	}
	reused := fileExists(o.DB)

	// Listen first: the sandbox's webhooks need ghlsync's address.
	webLn, err := listen(o.Addr, "--addr")
	if err != nil {
		return err
	}
	defer webLn.Close()
	sbLn, err := listen(o.SandboxAddr, "--sandbox-addr")
	if err != nil {
		return err
	}
	defer sbLn.Close()
	webURL := "http://" + webLn.Addr().String()
	sbURL := "http://" + sbLn.Addr().String()

	hook := hookFlow(loaded)
	sbOpts := sandbox.Options{PersistFile: statePath, Logger: o.Logger.With("component", "sandbox")}
	if hook != "" {
		sbOpts.Webhooks.URL = webURL + "/hooks/" + hook
	}
	sb, err := sandbox.New(sbOpts)
	if err != nil {
		return fmt.Errorf("sandbox: %w (delete %s or pass --fresh to start over)", err, statePath)
	}
	sbSrv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go sbSrv.Serve(sbLn)

	st, err := store.Open(ctx, store.Options{Path: o.DB, Logger: o.Logger})
	if err != nil {
		stopHTTP(sbSrv)
		sb.Close()
		return err
	}
	conns := &engine.StaticConnections{Token: SandboxToken, LocationID: SandboxLocation,
		Config: ghl.Config{BaseURL: sbURL, UserAgent: o.UserAgent, Logger: o.Logger}}
	eng, err := engine.New(engine.Config{Store: st, Flows: loaded, Connections: conns, Logger: o.Logger})
	if err != nil {
		st.Close()
		stopHTTP(sbSrv)
		sb.Close()
		return err
	}
	ws, err := web.New(web.Config{Engine: eng, Logger: o.Logger, Secrets: demoSecrets(sb.Keys().Ed25519PublicKeyPEM)})
	if err != nil {
		st.Close()
		stopHTTP(sbSrv)
		sb.Close()
		return err
	}
	if err := eng.Start(ctx); err != nil {
		st.Close()
		stopHTTP(sbSrv)
		sb.Close()
		return err
	}
	webSrv := &http.Server{Handler: ws, ReadHeaderTimeout: 10 * time.Second}
	go webSrv.Serve(webLn)
	defer func() {
		// Intake first, then the runs (they need the sandbox), then the
		// sandbox (which saves its state), the database last.
		stopHTTP(webSrv)
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = errors.Join(err, eng.Stop(sctx))
		stopHTTP(sbSrv)
		err = errors.Join(err, sb.Close(), st.Close())
	}()

	printHeader(out, o, loaded, ws, webURL, sbURL, hook, reused, statePath)

	client := &Client{URL: webURL, SandboxURL: sbURL}
	skip := seedIDs()
	report, err := replayAll(ctx, o, client, samples, loaded, sbURL)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(out, "\nInterrupted: stopping.")
			return nil
		}
		return err
	}
	if report.Snapshot, err = client.Snapshot(ctx, skip); err != nil {
		return err
	}
	report.PrintSummary(out)
	fmt.Fprintf(out, "\nDemo finished in %.1fs.\n", time.Since(start).Seconds())
	printNext(out, o, webURL, sbURL)
	problems := report.Problems()
	if o.Exit {
		if len(problems) > 0 {
			return fmt.Errorf("%w: %s", ErrIncomplete, strings.Join(problems, "; "))
		}
		return nil
	}
	fmt.Fprintf(out, "\nStill serving, so you can open the dashboard and post your own events. Press Ctrl-C to stop.\n")
	<-ctx.Done()
	fmt.Fprintln(out, "\nStopping: finishing running steps, saving the sandbox, closing the database.")
	return nil
}

// replayAll posts the samples, waits for every run (also those started by
// the sandbox's webhooks), then posts every sample again.
func replayAll(ctx context.Context, o Options, c *Client, s *Samples, loaded *flow.Loaded, sbURL string) (*Report, error) {
	var names []string
	for _, f := range loaded.Flows {
		names = append(names, f.Name)
	}
	runsBefore, err := c.Runs(ctx)
	if err != nil {
		return nil, err
	}
	contacts, err := c.Records(ctx, "contacts")
	if err != nil {
		return nil, err
	}
	hooks, err := c.Webhooks(ctx)
	if err != nil {
		return nil, err
	}
	gc := ghl.New(ghl.Config{BaseURL: sbURL, UserAgent: "website-form", AppID: "website-form"},
		ghl.StaticToken(SandboxToken), SandboxLocation)
	r := &Report{}
	tz := "UTC"
	if snap, err := c.Snapshot(ctx, nil); err == nil {
		tz = snap.Timezone
	}
	starts := map[string]time.Time{}
	track := func(file string) {
		appts, err := c.Records(ctx, "appointments")
		if err != nil {
			return
		}
		for _, a := range appts {
			id := str(a, "id")
			start, err := time.Parse(time.RFC3339, str(a, "startTime"))
			if err != nil {
				continue
			}
			prev, seen := starts[id]
			if file != "" && (!seen || !prev.Equal(start)) {
				r.Appointments = append(r.Appointments, AppointmentChange{File: file, ID: id, Moved: seen, Start: start, Timezone: tz})
			}
			starts[id] = start
		}
	}
	track("")
	rp := &Replayer{Client: c, GHL: gc, Flows: names, Progress: o.Out,
		AfterDelivery: func(o Outcome) { track(o.Delivery.File) }}
	fmt.Fprintf(o.Out, "\nPosting the %d sample deliveries of %s, signed as their senders sign them, one at a time:\n", len(s.Deliveries), s.Dir)
	if r.Outcomes, err = rp.Replay(ctx, s); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, o.Wait)
	r.SettleErr = c.Settle(sctx, len(contacts), len(hooks))
	cancel()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Post everything again: ghlsync must recognise every delivery.
	again := &AgainResult{}
	kinds := []string{"contacts", "notes", "tasks", "appointments", "appointmentNotes"}
	if again.Before, err = c.Counts(ctx, kinds...); err != nil {
		return nil, err
	}
	mid, err := c.Runs(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range s.Deliveries {
		if d.Source == "ghl" || !slices.Contains(names, d.Flow) {
			continue
		}
		res, err := c.Post(ctx, d, time.Now())
		if err != nil {
			return nil, err
		}
		again.Posted++
		if res.Duplicate {
			again.Duplicates++
		}
	}
	all, err := c.Runs(ctx)
	if err != nil {
		return nil, err
	}
	again.NewRuns = len(all) - len(mid)
	if again.After, err = c.Counts(ctx, kinds...); err != nil {
		return nil, err
	}
	r.Again = again

	old := map[string]bool{}
	for _, run := range runsBefore {
		old[run.ID] = true
	}
	r.TotalRuns = map[string]int{}
	for _, run := range all {
		r.TotalRuns[run.Status]++
		if !old[run.ID] {
			r.Runs = append(r.Runs, run)
		}
	}
	slices.Reverse(r.Runs) // oldest first
	return r, nil
}

// seedIDs are the "kind/id" keys of the built-in seed's records.
func seedIDs() map[string]bool {
	out := map[string]bool{}
	seed, err := sandbox.LoadSeed("")
	if err != nil {
		return out
	}
	for kind, recs := range seed.Records {
		for _, r := range recs {
			out[kind+"/"+str(r, "id")] = true
		}
	}
	return out
}

func stopHTTP(s *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func printHeader(w io.Writer, o Options, l *flow.Loaded, ws *web.Server, webURL, sbURL, hook string, reused bool, statePath string) {
	fmt.Fprintln(w, "ghlsync demo: the engine, the built-in GoHighLevel sandbox and the example flows, in one process.")
	fmt.Fprintln(w, "Nothing leaves this machine: GoHighLevel is simulated by the sandbox.")
	fmt.Fprintf(w, "\nghlsync      %s/  (dashboard; JSON API under /api/, metrics at /metrics)\n", webURL)
	fmt.Fprintf(w, "Sandbox      %s  (GoHighLevel API v2 simulator; admin API at %s/_sandbox/)\n", sbURL, sbURL)
	fmt.Fprintf(w, "             location %s, Private Integration Token %s\n", SandboxLocation, SandboxToken)
	state := "new"
	if reused {
		state = "reused: it holds what earlier demos did"
	}
	fmt.Fprintf(w, "Database     %s (SQLite, %s); sandbox state in %s\n", o.DB, state, statePath)

	fmt.Fprintln(w, "\nWebhook URLs:")
	for _, f := range l.Flows {
		if f.Trigger.Webhook == nil {
			continue
		}
		fmt.Fprintf(w, "  %-24s POST %s/hooks/%s  (%s)\n", f.Name, webURL, f.Name, f.Trigger.Webhook.Source)
		if err := ws.SourceError(f.Name); err != nil {
			fmt.Fprintf(w, "  %-24s   ! not taking deliveries: %v\n", "", err)
		}
	}
	if n := len(l.Errors); n > 0 {
		fmt.Fprintf(w, "  ! %d problem(s) in the flow files:\n", n)
		for _, e := range l.Errors {
			fmt.Fprintf(w, "    %v\n", e)
		}
	}

	fmt.Fprintln(w, "\nDEMO-ONLY secrets: they are published in this repository and protect nothing. Never give them")
	fmt.Fprintln(w, "to a real ChangeTower endpoint or sender; going live, set your own (see README.md, Going live).")
	fmt.Fprintf(w, "  GHLSYNC_CHANGETOWER_SECRET = %s\n", ChangeTowerSecret)
	fmt.Fprintf(w, "  GHLSYNC_GENERIC_SECRET     = %s\n", GenericSecret)
	fmt.Fprintf(w, "  GHLSYNC_GHL_WEBHOOK_KEY    = the sandbox's Ed25519 key (GET %s/_sandbox/keys)\n", sbURL)
	if hook != "" {
		fmt.Fprintf(w, "The sandbox sends its signed GoHighLevel webhooks to %s/hooks/%s, so that flow runs\n", webURL, hook)
		fmt.Fprintln(w, "for every contact the other flows create.")
	}
}

func printNext(w io.Writer, o Options, webURL, sbURL string) {
	cmd := o.Command
	db := o.DB
	if strings.ContainsAny(db, " \t'\"") {
		db = "'" + db + "'"
	}
	fmt.Fprintln(w, "\nLook further:")
	if o.Exit {
		// The servers have stopped: only what reads the database works.
		fmt.Fprintf(w, "  runs                 %s runs list --db %s\n", cmd, db)
		fmt.Fprintf(w, "  one run in detail    %s runs show <run id> --db %s\n", cmd, db)
		fmt.Fprintf(w, "  the dashboard        %s demo --db %s (serves until Ctrl-C)\n", cmd, db)
		return
	}
	fmt.Fprintf(w, "  dashboard            %s/\n", webURL)
	fmt.Fprintf(w, "  runs                 %s runs list --db %s\n", cmd, db)
	fmt.Fprintf(w, "  one run in detail    %s runs show <run id> --db %s\n", cmd, db)
	fmt.Fprintf(w, "  the sandbox's data   curl -s %s/_sandbox/store?kind=contacts\n", sbURL)
	fmt.Fprintln(w, "  post your own event (generic source, demo secret):")
	fmt.Fprintf(w, "    BODY='{\"id\":\"evt_my_1\",\"type\":\"contact.created\",\"data\":{\"email\":\"me@example.com\",\"first_name\":\"Me\"}}'\n")
	fmt.Fprintf(w, "    SIG=$(printf '%%s' \"$BODY\" | openssl dgst -sha256 -hmac '%s' -r | cut -d' ' -f1)\n", GenericSecret)
	fmt.Fprintf(w, "    curl -s -X POST %s/hooks/sync-contacts-generic -H \"X-Ghlsync-Signature: sha256=$SIG\" --data-binary \"$BODY\"\n", webURL)
}

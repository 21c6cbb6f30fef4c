package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/sandbox"
)

func init() { flowsSubcommands = append(flowsSubcommands, newFlowsTestCmd) }

type flowsTestOptions struct {
	flowsDir   string
	event      string
	against    string
	dryRun     bool
	anyType    bool
	baseURL    string
	token      string
	locationID string
	companyID  string
	output     string
	timeout    time.Duration
}

func newFlowsTestCmd() *cobra.Command {
	o := &flowsTestOptions{}
	cmd := &cobra.Command{
		Use:   "test FLOW --event @sample.json",
		Short: "Run a flow once for one event and print each step's request and response",
		Long: `Test runs a flow once, outside the queue, for the event given with --event, and
prints each step's request and GoHighLevel's answer. Nothing is recorded in the
database. FLOW is a flow file or the name of a flow in --flows.

--event is the delivery body as the webhook source would receive it (for a poll
flow, one listed item): @file.json, - for stdin, or inline JSON. Its "id" and
"type" fields become the event's id and type.

--against sandbox (the default) runs against a fresh built-in sandbox in this
process, so nothing real changes. --against live uses --base-url, GHLSYNC_TOKEN
(or --token) and --location-id. --dry-run sends no request that changes anything
and prints what would be sent; later steps that need an earlier step's answer
are reported as not evaluable.`,
		Example: `  ghlsync flows test examples/flows/sync-contacts.yaml --event @testdata/contact-created.json
  ghlsync flows test sync-contacts --flows examples/flows --event @event.json --against live --dry-run`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := bindEnvAndConfig(cmd.Flags(), ""); err != nil {
				return &exitError{code: 2, err: err}
			}
			return runFlowsTest(cmd.Context(), o, args[0], cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.flowsDir, "flows", "flows", "folder of flow files, when FLOW is a name")
	f.StringVar(&o.event, "event", "", "the event: @file.json, - for stdin, or inline JSON (required)")
	f.StringVar(&o.against, "against", "sandbox", "sandbox (built-in, nothing real changes) or live")
	f.BoolVar(&o.dryRun, "dry-run", false, "send nothing that changes anything; print what would be sent")
	f.BoolVar(&o.anyType, "any-type", false, "run even when the event's type is not in the flow's types: (a server would acknowledge it and not run it)")
	f.StringVar(&o.baseURL, "base-url", ghl.DefaultBaseURL, "GoHighLevel API base URL, with --against live")
	f.StringVar(&o.token, "token", "", "Private Integration Token, with --against live (prefer GHLSYNC_TOKEN)")
	f.StringVar(&o.locationID, "location-id", "", "location id, with --against live")
	f.StringVar(&o.companyID, "company-id", "", "company id, with --against live")
	f.StringVarP(&o.output, "output", "o", "text", "text or json")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long")
	_ = cmd.MarkFlagRequired("event")
	return cmd
}

func runFlowsTest(ctx context.Context, o *flowsTestOptions, name string, stdin io.Reader, out io.Writer) error {
	if o.output != "text" && o.output != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--output %q: expected text or json", o.output)}
	}
	f, err := findFlow(name, o.flowsDir)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	in, err := readTestEvent(o.event, stdin)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	in.Flow = f.Name
	switch {
	case f.Trigger.Webhook != nil:
		in.Source = f.Trigger.Webhook.Source
		if w := f.Trigger.Webhook; !o.anyType && in.Type != "" && !w.Accepts(in.Type) {
			return &exitError{code: 1, err: fmt.Errorf("flow %s takes types %s, not %q: a server would acknowledge this event and not run it (pass --any-type to run it anyway)",
				f.Name, strings.Join(w.Types, ", "), in.Type)}
		}
	case f.Trigger.Poll != nil:
		in.Source, in.Type = "poll", f.Trigger.Poll.Op
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	var conns engine.Connections
	switch o.against {
	case "sandbox":
		base, info, stop, err := startEmbeddedSandbox()
		if err != nil {
			return err
		}
		defer stop()
		conns = &engine.StaticConnections{Token: info.Token, LocationID: info.LocationID,
			Config: ghl.Config{BaseURL: base, Limiter: ghl.NewLimiter(ghl.LimiterOptions{Disabled: true})}}
		fmt.Fprintf(out, "against a fresh built-in sandbox (%s, location %s)\n", base, info.LocationID)
	case "live":
		tok := o.token
		if tok == "" {
			return &exitError{code: 2, err: errors.New("--against live needs a token: set GHLSYNC_TOKEN (or --token) to a Private Integration Token")}
		}
		if o.locationID == "" {
			return &exitError{code: 2, err: errors.New("--against live needs --location-id (or GHLSYNC_LOCATION_ID)")}
		}
		conns = &engine.StaticConnections{Token: tok, LocationID: o.locationID, CompanyID: o.companyID,
			Config: ghl.Config{BaseURL: o.baseURL}}
		fmt.Fprintf(out, "against %s (location %s)\n", o.baseURL, o.locationID)
	default:
		return &exitError{code: 2, err: fmt.Errorf("--against %q: expected sandbox or live", o.against)}
	}
	if o.dryRun {
		fmt.Fprintln(out, "dry run: nothing that changes anything is sent")
	}
	reports, err := engine.TryFlow(ctx, f, in, conns, engine.TryOptions{DryRun: o.dryRun})
	if err != nil {
		return err
	}
	failed := false
	for _, r := range reports {
		if r.Error != "" && !o.dryRun {
			failed = true
		}
	}
	if o.output == "json" {
		if err := printJSON(out, map[string]any{"flow": f.Name, "dryRun": o.dryRun, "steps": reports}); err != nil {
			return err
		}
	} else {
		printReports(out, f, reports)
	}
	if failed {
		return &exitError{code: 1, err: fmt.Errorf("flow %s: a step failed", f.Name)}
	}
	return nil
}

// findFlow loads FLOW as a file, or by name from dir.
func findFlow(name, dir string) (*flow.Flow, error) {
	ext := strings.ToLower(filepath.Ext(name))
	if ext == ".yaml" || ext == ".yml" {
		return flow.LoadFile(name)
	}
	loaded, err := flow.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	if f, ok := loaded.Flow(name); ok {
		return f, nil
	}
	for _, p := range loaded.Errors {
		if strings.TrimSuffix(filepath.Base(p.Pos.File), filepath.Ext(p.Pos.File)) == name {
			return nil, loaded.Errors.ForFile(p.Pos.File)
		}
	}
	return nil, fmt.Errorf("no flow named %q in %s (give a file path or set --flows)", name, dir)
}

// readTestEvent reads --event: @file, - for stdin, or inline JSON.
func readTestEvent(arg string, stdin io.Reader) (engine.Incoming, error) {
	var data []byte
	var err error
	switch {
	case arg == "-":
		data, err = io.ReadAll(io.LimitReader(stdin, 8<<20))
	case strings.HasPrefix(arg, "@"):
		data, err = os.ReadFile(arg[1:])
	default:
		data = []byte(arg)
	}
	if err != nil {
		return engine.Incoming{}, fmt.Errorf("--event: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var payload map[string]any
	if err := dec.Decode(&payload); err != nil {
		return engine.Incoming{}, fmt.Errorf("--event: not a JSON object: %w", err)
	}
	in := engine.Incoming{Payload: payload, Raw: data, OccurredAt: time.Now().UTC()}
	if id, ok := payload["id"]; ok {
		in.ID = fmt.Sprint(id)
	}
	if t, ok := payload["type"].(string); ok {
		in.Type = t
	}
	return in, nil
}

type sandboxLogin struct {
	Token, LocationID string
}

// startEmbeddedSandbox serves a fresh sandbox on a loopback port.
func startEmbeddedSandbox() (string, sandboxLogin, func(), error) {
	sb, err := sandbox.New(sandbox.Options{RateLimit: sandbox.RateLimitOptions{Disabled: true},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", sandboxLogin{}, nil, err
	}
	var login sandboxLogin
	for _, t := range sb.Info().Tokens {
		if t.LocationID != "" {
			login = sandboxLogin{Token: t.Token, LocationID: t.LocationID}
			break
		}
	}
	if login.Token == "" {
		sb.Close()
		return "", login, nil, errors.New("the built-in sandbox has no location token")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sb.Close()
		return "", login, nil, err
	}
	srv := &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		sb.Close()
	}
	return "http://" + ln.Addr().String(), login, stop, nil
}

func printReports(out io.Writer, f *flow.Flow, reports []engine.StepReport) {
	fmt.Fprintf(out, "flow %s: %d step(s)\n", f.Name, len(f.Steps))
	for _, r := range reports {
		fmt.Fprintf(out, "\n== %s  %s", r.ID, r.Op)
		switch {
		case len(r.NeedsAnswerOf) > 0:
			fmt.Fprintf(out, "  not evaluable in a dry run: needs the answer of step %s\n", strings.Join(r.NeedsAnswerOf, ", step "))
			continue
		case r.Skipped:
			fmt.Fprintln(out, "  skipped (when: is false)")
			continue
		case r.Status != 0:
			fmt.Fprintf(out, "  HTTP %d  %d ms", r.Status, r.DurationMS)
		}
		fmt.Fprintln(out)
		if r.Key != "" {
			fmt.Fprintf(out, "key: %s\n", r.Key)
		}
		if r.Note != "" {
			fmt.Fprintf(out, "note: %s\n", r.Note)
		}
		if len(r.Request) > 0 {
			fmt.Fprintf(out, "request:\n%s\n", indentJSON(r.Request, "  "))
		}
		if len(r.Response) > 0 {
			fmt.Fprintf(out, "response:\n%s\n", indentJSON(r.Response, "  "))
		}
		if r.Error != "" {
			fmt.Fprintf(out, "error: %s\n", r.Error)
		}
	}
}

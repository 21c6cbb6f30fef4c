package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlsync/ghlsync/internal/engine"
	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/store"
)

func init() { commands = append(commands, newRunsCmd) }

type runsOptions struct {
	db, databaseURL string
	redactFields    []string
	config          string
	output          string
}

func newRunsCmd() *cobra.Command {
	o := &runsOptions{}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show and replay runs",
		Long: "Runs reads the run history from the database a server uses (--db or --database-url,\n" +
			"or GHLSYNC_DB / GHLSYNC_DATABASE_URL); it works while the server runs. Requests,\n" +
			"responses and events are shown with tokens, secrets and the --redact-fields masked.",
	}
	pf := cmd.PersistentFlags()
	addDBFlags(pf, &o.db, &o.databaseURL)
	pf.StringSliceVar(&o.redactFields, "redact-fields", nil, "personal-data fields to mask, e.g. email,phone")
	pf.StringVarP(&o.output, "output", "o", "table", "table or json")
	pf.StringVar(&o.config, "config", "", "YAML config file whose keys are flag names")
	cmd.AddCommand(newRunsListCmd(o), newRunsShowCmd(o), newRunsReplayCmd(o))
	return groupCommand(cmd)
}

func (o *runsOptions) open(cmd *cobra.Command) (*store.Store, error) {
	if err := bindEnvAndConfig(cmd.Flags(), o.config); err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if o.output != "table" && o.output != "json" {
		return nil, &exitError{code: 2, err: fmt.Errorf("--output %q: expected table or json", o.output)}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	return openExisting(ctx, store.Options{Path: o.db, URL: o.databaseURL})
}

// openExisting opens a database that must exist already: commands that only
// read (or act on what is stored) never create one, so a mistyped --db is
// not taken for an empty history.
func openExisting(ctx context.Context, opts store.Options) (*store.Store, error) {
	opts.MustExist = true
	st, err := store.Open(ctx, opts)
	if errors.Is(err, store.ErrNoDatabase) {
		path := opts.Path
		if path == "" {
			path = store.DefaultPath
		}
		if u := opts.URL; u != "" {
			path = strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "//")
		}
		return nil, &exitError{code: 1, err: fmt.Errorf("no database at %s (start `ghlsync serve` or pass --db)", path)}
	}
	return st, err
}

func newRunsListCmd(o *runsOptions) *cobra.Command {
	var (
		flowName, status string
		limit            int
		captures         bool
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List recent runs, newest first",
		Example: "  ghlsync runs list --flow sync-contacts --status failed\n  ghlsync runs list -o json --limit 500",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 {
				return &exitError{code: 2, err: fmt.Errorf("--limit %d: expected at least 1", limit)}
			}
			if status != "" && !validRunStatus(status) {
				return &exitError{code: 2, err: fmt.Errorf("--status %q: expected one of %s", status, strings.Join(store.RunStatuses, ", "))}
			}
			st, err := o.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if captures {
				return listCaptures(cmd.OutOrStdout(), cmd.Context(), st, o, flowName, limit)
			}
			runs, err := st.ListRuns(cmd.Context(), store.RunFilter{Flow: flowName, Status: status, Limit: limit})
			if err != nil {
				return err
			}
			views := make([]engine.RunView, 0, len(runs))
			for _, r := range runs {
				views = append(views, engine.ViewRun(r))
			}
			if o.output == "json" {
				return printJSON(cmd.OutOrStdout(), views)
			}
			printRunTable(cmd.OutOrStdout(), views)
			return nil
		},
	}
	cmd.Flags().StringVar(&flowName, "flow", "", "only runs of this flow")
	cmd.Flags().StringVar(&status, "status", "", "only runs in this status ("+strings.Join(store.RunStatuses, ", ")+")")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many runs (up to 1000)")
	cmd.Flags().BoolVar(&captures, "captures", false, "list the deliveries stored by capture-mode endpoints instead, with what their signature check found")
	return cmd
}

func listCaptures(w io.Writer, ctx context.Context, st *store.Store, o *runsOptions, flowName string, limit int) error {
	evs, err := st.ListEvents(ctx, store.EventFilter{Flow: flowName, CapturedOnly: true, Limit: limit})
	if err != nil {
		return err
	}
	red, err := engine.WithStoredRedaction(ctx, st, redact.New(o.redactFields...))
	if err != nil {
		return err
	}
	views := make([]*engine.EventView, 0, len(evs))
	for _, e := range evs {
		views = append(views, engine.ViewEvent(e, red))
	}
	if o.output == "json" {
		return printJSON(w, views)
	}
	if len(views) == 0 {
		fmt.Fprintln(w, "no captured deliveries")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tFLOW\tRECEIVED\tSIZE\tSIGNATURE")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", v.ID, v.Flow, v.ReceivedAt.Local().Format("2006-01-02 15:04:05"), v.Size, v.Signature())
	}
	return tw.Flush()
}

func validRunStatus(s string) bool {
	for _, v := range store.RunStatuses {
		if v == s {
			return true
		}
	}
	return false
}

func printRunTable(w io.Writer, runs []engine.RunView) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "no runs")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tFLOW\tSTATUS\tATTEMPTS\tCREATED\tDURATION\tERROR")
	for _, r := range runs {
		dur := ""
		if r.FinishedAt != nil && r.StartedAt != nil {
			dur = r.FinishedAt.Sub(*r.StartedAt).Round(time.Millisecond).String()
		}
		errText := r.Error
		if len(errText) > 80 {
			errText = errText[:80] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Flow, r.Status, r.Attempts,
			r.CreatedAt.Local().Format("2006-01-02 15:04:05"), dur, errText)
	}
	tw.Flush()
}

func newRunsShowCmd(o *runsOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show RUN_ID|EVENT_ID",
		Short: "Show a run (its trigger event and each step's request and response) or an event",
		Long: "Show prints a run with its trigger event (and how the event's signature was verified)\n" +
			"and each step's request and response. Given an event id (ev_...), such as a capture-mode\n" +
			"sample listed by `runs list --captures`, it prints the event: headers, body and what the\n" +
			"signature check found.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if strings.HasPrefix(args[0], "ev_") {
				ev, err := engine.EventDetailOf(cmd.Context(), st, redact.New(o.redactFields...), args[0])
				if errors.Is(err, store.ErrNotFound) {
					return &exitError{code: 1, err: fmt.Errorf("no event %s", args[0])}
				}
				if err != nil {
					return err
				}
				if o.output == "json" {
					return printJSON(cmd.OutOrStdout(), ev)
				}
				printEvent(cmd.OutOrStdout(), ev, true)
				return nil
			}
			d, err := engine.RunDetailOf(cmd.Context(), st, redact.New(o.redactFields...), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return &exitError{code: 1, err: fmt.Errorf("no run %s", args[0])}
			}
			if err != nil {
				return err
			}
			if o.output == "json" {
				return printJSON(cmd.OutOrStdout(), d)
			}
			printRunDetail(cmd.OutOrStdout(), d)
			return nil
		},
	}
}

func printRunDetail(w io.Writer, d *engine.RunDetail) {
	r := d.Run
	fmt.Fprintf(w, "Run %s  %s\n", r.ID, strings.ToUpper(r.Status))
	fmt.Fprintf(w, "  flow      %s\n  attempts  %d\n  created   %s\n", r.Flow, r.Attempts, r.CreatedAt.Local().Format(time.RFC3339))
	if r.FinishedAt != nil {
		fmt.Fprintf(w, "  finished  %s (%d ms)\n", r.FinishedAt.Local().Format(time.RFC3339), r.DurationMS)
	}
	if r.ReplayOf != "" {
		fmt.Fprintf(w, "  replay of %s\n", r.ReplayOf)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error     %s\n", r.Error)
	}
	if ev := d.Event; ev != nil {
		fmt.Fprintln(w)
		printEvent(w, ev, false)
	}
	fmt.Fprintln(w, "\nSteps")
	if len(d.Steps) == 0 {
		fmt.Fprintln(w, "  (none has run yet)")
	}
	for _, s := range d.Steps {
		fmt.Fprintf(w, "- %s  %s  %s", s.ID, s.Op, strings.ToUpper(s.Status))
		if s.HTTPStatus != 0 {
			fmt.Fprintf(w, "  HTTP %d", s.HTTPStatus)
		}
		fmt.Fprintf(w, "  %d attempt(s), %d ms\n", s.Attempts, s.DurationMS)
		if s.OutcomeUnknown {
			fmt.Fprintf(w, "  outcome was unknown; %s\n", s.Reconciled)
		}
		if s.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", s.Error)
		}
		if len(s.Request) > 0 {
			fmt.Fprintf(w, "  request:\n%s\n", indentJSON(s.Request, "    "))
		}
		if len(s.Response) > 0 {
			fmt.Fprintf(w, "  response:\n%s\n", indentJSON(s.Response, "    "))
		}
	}
}

// printEvent prints an event: where it came from, how its signature was
// checked, (with headers) the headers kept, and its body.
func printEvent(w io.Writer, ev *engine.EventView, headers bool) {
	kind := "Event"
	if ev.Captured {
		kind = "Captured delivery"
	}
	fmt.Fprintf(w, "%s %s from %s", kind, ev.ID, ev.Source)
	if ev.Type != "" {
		fmt.Fprintf(w, " (%s)", ev.Type)
	}
	if ev.SourceEventID != "" {
		fmt.Fprintf(w, ", source id %s", ev.SourceEventID)
	}
	fmt.Fprintf(w, ", flow %s, received %s, %d bytes\n", ev.Flow, ev.ReceivedAt.Local().Format(time.RFC3339), ev.Size)
	if sig := ev.Signature(); sig != "" {
		fmt.Fprintf(w, "  signature: %s\n", sig)
	}
	if headers && len(ev.Headers) > 0 {
		names := make([]string, 0, len(ev.Headers))
		for k := range ev.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		fmt.Fprintln(w, "  headers:")
		for _, k := range names {
			fmt.Fprintf(w, "    %s: %s\n", k, ev.Headers[k])
		}
	}
	fmt.Fprintln(w, indentJSON(ev.Payload, "  "))
}

func indentJSON(raw json.RawMessage, prefix string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, prefix, "  "); err != nil {
		return prefix + string(raw)
	}
	return prefix + b.String()
}

func newRunsReplayCmd(o *runsOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "replay RUN_ID",
		Short: "Queue the run's trigger event again as a new run",
		Long: "Replay stores a new run of the same event and queues it; a running server picks it\n" +
			"up. Steps run again from the start (creating objects again where the flow creates\n" +
			"them), so replay runs that failed or were asked to be checked. A run that is still\n" +
			"queued, running or retrying is always refused (wait for it or cancel it first); a\n" +
			"succeeded run is refused unless --force is given.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := o.open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			eng, err := engine.New(engine.Config{Store: st, InsertOnly: true})
			if err != nil {
				return err
			}
			run, err := eng.Replay(cmd.Context(), args[0], force)
			if errors.Is(err, store.ErrNotFound) {
				return &exitError{code: 1, err: fmt.Errorf("no run %s", args[0])}
			}
			if errors.Is(err, engine.ErrReplaySucceeded) || errors.Is(err, engine.ErrReplayUnfinished) {
				return &exitError{code: 1, err: err}
			}
			if err != nil {
				return err
			}
			if o.output == "json" {
				return printJSON(cmd.OutOrStdout(), engine.ViewRun(run))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "queued %s (replay of %s, flow %s)\n", run.ID, args[0], run.Flow)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replay a succeeded run too, repeating every step and creating its objects again")
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlsync/ghlsync/internal/demo"
)

func init() { commands = append(commands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	o := demo.Options{}
	var logLevel string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the main job offline: engine + GoHighLevel sandbox + example flows, fed with sample events",
		Long: `Demo starts, in one process, the built-in GoHighLevel sandbox, the engine with a SQLite
database and the example flows (examples/flows), and the web server (dashboard, JSON API,
/hooks/{flow}, /metrics). It prints the webhook URLs and the demo-only secrets, then posts the
sample ChangeTower and generic deliveries of testdata/events over HTTP, signed as their senders
sign them, one at a time, waiting for each run. The sandbox's own signed GoHighLevel webhooks
go to the auto-tag flow, so every contact created gets tagged. When every run has finished it
posts every delivery again (all must be recognised as duplicates) and prints a summary: runs by
status and the contacts, tags, custom fields, notes, tasks and appointments the sandbox holds.

Then it keeps serving, so you can open the dashboard and post your own events, until Ctrl-C;
--exit ends after the summary instead.

The database (--db) and the sandbox's state beside it (<db>.sandbox.json) are kept: a second
demo on the same database shows the same records and reports every delivery as a duplicate.
--fresh deletes both first.

Run it from the root of the repository (or pass --flows and --events).`,
		Example: `  go run ./cmd/ghlsync demo
  ghlsync demo --exit
  ghlsync demo --fresh --addr 127.0.0.1:9080 --sandbox-addr 127.0.0.1:9089`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), logLevel, "text")
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			o.Out = cmd.OutOrStdout()
			o.Logger = log
			o.Command = invokedAs()
			o.UserAgent = "ghlsync/" + version
			return demo.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", demo.DefaultAddr, "address ghlsync listens on (dashboard, API, /hooks)")
	f.StringVar(&o.SandboxAddr, "sandbox-addr", demo.DefaultSandboxAddr, "address the GoHighLevel sandbox listens on")
	f.StringVar(&o.DB, "db", demo.DefaultDB, "SQLite database file (the sandbox's state is kept beside it)")
	f.BoolVar(&o.Fresh, "fresh", false, "delete the database and the sandbox state first")
	f.StringVar(&o.Flows, "flows", demo.DefaultFlows, "folder of flow files")
	f.StringVar(&o.Events, "events", demo.DefaultEvents, "folder of sample deliveries (with deliveries.json)")
	f.BoolVar(&o.Exit, "exit", false, "stop after the summary instead of serving until Ctrl-C")
	f.DurationVar(&o.Wait, "wait", 60*time.Second, "how long to wait for the runs to finish before the summary")
	f.StringVar(&logLevel, "log-level", "warn", "server log level on stderr: debug, info, warn or error")
	return cmd
}

// invokedAs is how the user ran this program, for the commands the demo
// suggests: "go run ./cmd/ghlsync" when it was built by go run.
func invokedAs() string {
	exe := os.Args[0]
	if strings.Contains(filepath.ToSlash(exe), "/go-build") {
		return "go run ./cmd/ghlsync"
	}
	if filepath.Base(exe) == exe {
		return exe
	}
	if _, err := os.Stat(filepath.Base(exe)); err == nil && filepath.Dir(exe) == "." {
		return "./" + filepath.Base(exe)
	}
	return exe
}

package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/source"
)

// flowsSubcommands holds the subcommands of `ghlsync flows` defined in
// other files (for example `flows test`); each file appends its
// constructor in an init function.
var flowsSubcommands []func() *cobra.Command

func init() { commands = append(commands, newFlowsCmd) }

func newFlowsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Check and try flow files",
		Long: "Flows are YAML files, one flow each: a trigger (a webhook source or a polling\n" +
			"operation) and steps (GoHighLevel operations with mapped fields).\n" +
			"See docs/flows.md for the file format.",
	}
	cmd.AddCommand(newFlowsValidateCmd())
	for _, sub := range flowsSubcommands {
		cmd.AddCommand(sub())
	}
	return groupCommand(cmd)
}

func newFlowsValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate DIR|FILE...",
		Short: "Check flow files and report every problem with file:line:column",
		Long: "Validate reads each flow file (every *.yaml and *.yml in a folder) and checks\n" +
			"YAML syntax, keys, operations and their required parameters, expressions,\n" +
			"step references and poll intervals. It prints OK or the problems of each file\n" +
			"and exits with status 1 when any file has a problem.",
		Example: "  ghlsync flows validate examples/flows\n  ghlsync flows validate flows/sync-contacts.yaml",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return validateFlows(cmd.OutOrStdout(), args)
		},
	}
}

// validateFlows checks the given folders and files and prints one verdict
// per file.
func validateFlows(w io.Writer, paths []string) error {
	var files, bad int
	names := map[string]string{} // flow name → file, across every argument
	for _, path := range paths {
		st, err := os.Stat(path)
		if err != nil {
			return &exitError{code: 2, err: fmt.Errorf("flows validate: %w", err)}
		}
		var loaded *flow.Loaded
		if st.IsDir() {
			if loaded, err = flow.LoadDir(path); err != nil {
				return &exitError{code: 2, err: err}
			}
			if len(loaded.Files) == 0 {
				fmt.Fprintf(w, "%s: no flow files (*.yaml, *.yml)\n", path)
			}
		} else {
			loaded = &flow.Loaded{Files: []string{path}}
			f, err := flow.LoadFile(path)
			if list, ok := err.(flow.ErrorList); ok {
				loaded.Errors = list
			} else if err != nil {
				return &exitError{code: 2, err: err}
			} else {
				loaded.Flows = []*flow.Flow{f}
			}
		}
		// A webhook source's options are checked as serve checks them
		// (secret references are not resolved).
		loaded.CheckSources(source.Check)
		for _, file := range loaded.Files {
			files++
			errs := loaded.Errors.ForFile(file)
			var f *flow.Flow
			for _, lf := range loaded.Flows {
				if lf.File == file {
					f = lf
				}
			}
			if f != nil {
				if prev, dup := names[f.Name]; dup && prev != file {
					errs = append(errs, &flow.Error{Pos: f.Pos, Msg: fmt.Sprintf("flow name %q is already used by %s; flow names must be unique", f.Name, prev)})
				} else {
					names[f.Name] = file
				}
			}
			if len(errs) > 0 {
				bad++
				for _, e := range errs {
					fmt.Fprintln(w, e.Error())
				}
				continue
			}
			if f != nil {
				fmt.Fprintf(w, "%s: OK (%s)\n", file, flowSummary(f))
			}
		}
	}
	if bad > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d flow %s failed validation", bad, files, flowsPlural(files, "file", "files"))}
	}
	return nil
}

func flowSummary(f *flow.Flow) string {
	trigger := "no trigger"
	switch {
	case f.Trigger.Webhook != nil:
		trigger = "webhook " + f.Trigger.Webhook.Source
		if len(f.Trigger.Webhook.Types) > 0 {
			trigger += " [" + strings.Join(f.Trigger.Webhook.Types, ", ") + "]"
		}
	case f.Trigger.Poll != nil:
		trigger = fmt.Sprintf("poll %s every %s", f.Trigger.Poll.Op, f.Trigger.Poll.Every)
	}
	return fmt.Sprintf("flow %s, %s, %d %s", f.Name, trigger, len(f.Steps), flowsPlural(len(f.Steps), "step", "steps"))
}

func flowsPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

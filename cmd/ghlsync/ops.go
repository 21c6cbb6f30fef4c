package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

func init() { commands = append(commands, newOpsCmd) }

func newOpsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ops",
		Short: "Browse the GoHighLevel operations ghlsync knows",
		Long: "The catalog holds the 126 GoHighLevel API v2 operations that flows can use as\n" +
			"polling triggers and actions, with their method, path, Version header, scopes,\n" +
			"parameters, pagination and how safe each is to repeat.",
	}
	cmd.AddCommand(newOpsListCmd(), newOpsShowCmd())
	return groupCommand(cmd)
}

// groupCommand makes a command that only groups subcommands refuse an
// unknown subcommand (`ghlsync runs lsit` must not succeed by printing
// help) and print its help when called alone.
func groupCommand(cmd *cobra.Command) *cobra.Command {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += " (did you mean " + strings.Join(s, " or ") + "?)"
		}
		return &exitError{code: 2, err: fmt.Errorf("%s; run '%s --help' for its commands", msg, c.CommandPath())}
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}

// exactArgs is cobra.ExactArgs with a message that names the command and
// its usage: "usage: ghlsync ops show OP".
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		use := c.Use
		if c.HasParent() {
			use = c.Parent().CommandPath() + " " + use
		}
		what := "too many arguments"
		if len(args) < n {
			what = "missing argument"
		}
		return &exitError{code: 2, err: fmt.Errorf("%s; usage: %s", what, use)}
	}
}

func newOpsListCmd() *cobra.Command {
	var category, kind, output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the operations of the catalog",
		Example: "  ghlsync ops list\n  ghlsync ops list --category calendars --kind action\n" +
			"  ghlsync ops list -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ops, err := filterOps(category, kind)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			switch output {
			case "table", "":
				return writeOpsTable(cmd.OutOrStdout(), ops)
			case "json":
				return writeJSON(cmd.OutOrStdout(), ops)
			}
			return &exitError{code: 2, err: fmt.Errorf("ops list: -o %q: want table or json", output)}
		},
	}
	cmd.Flags().StringVar(&category, "category", "", "only this category (for example contacts, calendars, conversations)")
	cmd.Flags().StringVar(&kind, "kind", "", "only triggers or actions: trigger|action")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table|json")
	return cmd
}

// categoryKey makes "Conversations & Messages" match "conversations".
func categoryKey(c string) string {
	c = strings.ToLower(strings.TrimSpace(c))
	if i := strings.IndexAny(c, " &"); i > 0 {
		c = c[:i]
	}
	return c
}

func filterOps(category, kind string) ([]*catalog.Operation, error) {
	if kind != "" && kind != string(catalog.Trigger) && kind != string(catalog.Action) {
		return nil, fmt.Errorf("ops list: --kind %q: want trigger or action", kind)
	}
	if category != "" {
		found := false
		for _, c := range catalog.Categories() {
			if strings.EqualFold(c, category) || categoryKey(c) == categoryKey(category) {
				found = true
			}
		}
		if !found {
			var names []string
			for _, c := range catalog.Categories() {
				names = append(names, categoryKey(c))
			}
			return nil, fmt.Errorf("ops list: unknown category %q (categories: %s)", category, strings.Join(names, ", "))
		}
	}
	var out []*catalog.Operation
	for _, op := range catalog.All() {
		if category != "" && !strings.EqualFold(op.Category, category) && categoryKey(op.Category) != categoryKey(category) {
			continue
		}
		if kind != "" && string(op.Kind) != kind {
			continue
		}
		out = append(out, op)
	}
	return out, nil
}

func writeOpsTable(w io.Writer, ops []*catalog.Operation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tMETHOD\tPATH\tVERSION\tIDEMPOTENCY\tNAME")
	for _, op := range ops {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", op.ID, op.Kind, op.Method, op.Path, op.Version, op.Idempotency, op.Name)
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newOpsShowCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "show OP",
		Short:   "Show one operation: method, path, version, scopes, parameters, paging, idempotency",
		Example: "  ghlsync ops show contacts.upsert\n  ghlsync ops show calendars.getFreeSlots -o json",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := catalog.Lookup(args[0])
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("ops show: %w", err)}
			}
			switch output {
			case "text", "":
				return writeOp(cmd.OutOrStdout(), op)
			case "json":
				return writeJSON(cmd.OutOrStdout(), showJSON(op))
			}
			return &exitError{code: 2, err: fmt.Errorf("ops show: -o %q: want text or json", output)}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text|json")
	return cmd
}

var tokenHelp = map[string]string{
	catalog.TokenLocation: "location (sub-account OAuth token or sub-account Private Integration Token)",
	catalog.TokenAgency:   "agency (agency OAuth token or agency Private Integration Token)",
	catalog.TokenAny:      "location or agency",
}

var idempotencyHelp = map[catalog.Idempotency]string{
	catalog.Safe:      "safe to repeat",
	catalog.Reconcile: "repeat only after looking the effect up by its natural key",
	catalog.Unsafe:    "never repeated automatically when the outcome is unknown",
}

func writeOp(w io.Writer, op *catalog.Operation) error {
	// Keys padded by hand (not one tabwriter) so the body field table in
	// the middle keeps its own columns.
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%-15s%s\n", k+":", v) }
	none := func(s []string) string {
		if len(s) == 0 {
			return "(none)"
		}
		return strings.Join(s, ", ")
	}
	fmt.Fprintf(&b, "%s — %s\n", op.ID, op.Name)
	row("category", op.Category)
	row("kind", string(op.Kind))
	row("method", op.Method)
	row("path", op.Path)
	row("version", op.Version)
	row("scopes", none(op.Scopes))
	row("token", tokenHelp[op.Token])
	row("path params", none(op.PathParams))
	var q []string
	for _, p := range op.Query {
		if p.Required {
			q = append(q, p.Name+" (required)")
		} else {
			q = append(q, p.Name)
		}
	}
	row("query params", none(q))
	if op.Form {
		row("body", "form (application/x-www-form-urlencoded)")
	}
	names := bodyFieldNames(op)
	if len(names) == 0 {
		row("body fields", "(none)")
	} else {
		row("body fields", "")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, n := range names {
			f, _ := op.Field(n)
			typ := f.Type
			if typ == "" {
				typ = "any"
			}
			req := ""
			if containsString(op.BodyRequired, n) {
				req = "required"
			}
			enum := ""
			if len(f.Enum) > 0 {
				enum = "one of: " + strings.Join(f.Enum, ", ")
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", n, typ, req, enum)
		}
		tw.Flush()
	}
	row("pagination", describePagination(op.Pagination))
	row("idempotency", fmt.Sprintf("%s: %s (%s)", op.Idempotency, idempotencyHelp[op.Idempotency], op.IdempotencyReason))
	if len(op.NaturalKey) > 0 {
		row("natural key", strings.Join(op.NaturalKey, ", "))
	}
	spec := "operationId " + op.OperationID
	if op.SpecStatus != "" {
		spec += "; " + op.SpecStatus
	}
	if op.Deprecated {
		spec += "; deprecated"
	}
	row("spec", spec)
	if op.Notes != "" {
		row("notes", op.Notes)
	}
	// Trailing spaces from empty table cells are noise.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

// bodyFieldNames lists the declared body fields, then required ones the
// spec lists without declaring them.
func bodyFieldNames(op *catalog.Operation) []string {
	names := append([]string(nil), op.Body...)
	for _, n := range op.BodyRequired {
		if !containsString(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// opJSON is ops show -o json: the catalog entry plus the body fields as a
// list with their types, enums and whether they are required.
type opJSON struct {
	*catalog.Operation
	BodyFields []bodyFieldJSON `json:"bodyFields"`
}

type bodyFieldJSON struct {
	Name     string   `json:"name"`
	Type     string   `json:"type,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Required bool     `json:"required,omitempty"`
}

func showJSON(op *catalog.Operation) opJSON {
	out := opJSON{Operation: op, BodyFields: []bodyFieldJSON{}}
	for _, n := range bodyFieldNames(op) {
		f, _ := op.Field(n)
		out.BodyFields = append(out.BodyFields, bodyFieldJSON{Name: n, Type: f.Type, Enum: f.Enum, Required: containsString(op.BodyRequired, n)})
	}
	return out
}

func describePagination(p *catalog.Pagination) string {
	if p == nil {
		return "single object"
	}
	list := p.List
	if list == "" {
		list = "(bare array)"
	}
	switch p.Style {
	case catalog.PageNone:
		return fmt.Sprintf("none: one request returns the list %s, item id %s", list, p.ItemID)
	case catalog.PageWindow:
		s := fmt.Sprintf("time window %s..%s (epoch ms)", p.StartParam, p.EndParam)
		if p.MaxWindowDays > 0 {
			s += fmt.Sprintf(", at most %d days per request", p.MaxWindowDays)
		}
		if p.List != "" {
			s += ", list " + p.List + ", item id " + p.ItemID
		}
		return s
	}
	where := "query"
	if p.In == "body" {
		where = "body"
	}
	cursor := p.CursorParam
	switch p.Style {
	case catalog.PagePage:
		cursor = p.PageParam + " (searchAfter past 10,000)"
	case catalog.PageStartAfter:
		cursor = "startAfter + startAfterId from meta"
	}
	return fmt.Sprintf("%s: %s + %s (max %d) in the %s; list %s, item id %s", p.Style, cursor, p.LimitParam, p.MaxLimit, where, list, p.ItemID)
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

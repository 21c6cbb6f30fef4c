package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ghlsync/ghlsync/internal/ghl"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

func init() { commands = append(commands, newCallCmd) }

type callOptions struct {
	params     []string
	data       string
	baseURL    string
	token      string
	location   string
	company    string
	method     string
	path       string
	apiVersion string
	timeout    time.Duration
	all        bool
	maxPages   int
	verbose    bool
}

func newCallCmd() *cobra.Command {
	o := &callOptions{}
	cmd := &cobra.Command{
		Use:   "call [OP] [--param k=v ...] [--data @file.json | --data -]",
		Short: "Call one GoHighLevel operation and print its JSON",
		Long: "Call sends one request to the GoHighLevel API v2 with the same client flows use:\n" +
			"Version header per operation, per-location rate limits, retries and GHL's error\n" +
			"messages. The token is a Private Integration Token (or OAuth access token) from\n" +
			"--token or GHLSYNC_TOKEN; legacy v1 API keys are refused.\n\n" +
			"--param name=value goes where the catalog says the operation takes it (path,\n" +
			"query or body); name:=json sends a JSON value in the body (numbers, arrays);\n" +
			"path.name=, query.name= and body.name= force the place. --data gives the whole\n" +
			"JSON body (@file, - for stdin, or inline); --param body fields are merged into it.\n" +
			"A body field typed boolean, number or integer in the catalog is sent typed\n" +
			"(completed=false); arrays and objects only as name:=json.\n" +
			"The location (--location or GHLSYNC_LOCATION_ID) fills locationId when the\n" +
			"operation needs one and keys the rate limiter; --company fills companyId\n" +
			"wherever the operation takes it.\n\n" +
			"Without OP, --method and --path call any API v2 endpoint outside the catalog.",
		Example: "  ghlsync call contacts.get --param contactId=abc123\n" +
			"  ghlsync call contacts.upsert --location LOC --param email=ana@example.com --param tags:='[\"vip\"]'\n" +
			"  ghlsync call calendars.getFreeSlots --param calendarId=CAL --param startDate=1772600000000 --param endDate=1773200000000\n" +
			"  ghlsync call contacts.search --location LOC --data @query.json --all\n" +
			"  ghlsync call --method GET --path /products/ --param locationId=LOC",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCall(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.params, "param", "p", nil, "parameter name=value, name:=json, or path.|query.|body.name=value (repeatable)")
	f.StringVarP(&o.data, "data", "d", "", "JSON body: @file.json, - for stdin, or inline JSON")
	f.StringVar(&o.baseURL, "base-url", "", "API base URL (default $GHLSYNC_BASE_URL or "+ghl.DefaultBaseURL+")")
	f.StringVar(&o.token, "token", "", "access token (default $GHLSYNC_TOKEN)")
	f.StringVar(&o.location, "location", "", "locationId the call acts for (default $GHLSYNC_LOCATION_ID)")
	f.StringVar(&o.company, "company", "", "companyId the call acts for: fills companyId wherever the operation takes it")
	f.StringVar(&o.method, "method", "", "HTTP method, for an endpoint outside the catalog")
	f.StringVar(&o.path, "path", "", "API path such as /products/, for an endpoint outside the catalog")
	f.StringVar(&o.apiVersion, "api-version", "", "override the Version header")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long (rate-limit waits and retries included)")
	f.BoolVar(&o.all, "all", false, "page through a list operation and print every item as one JSON array")
	f.IntVar(&o.maxPages, "max-pages", 100, "with --all: stop with an error after this many pages")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print status, attempts, traceId and rate-limit headers on stderr")
	return cmd
}

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf("call: "+format, args...)}
}

// httpMethods are the methods --method accepts.
var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

func runCall(cmd *cobra.Command, o *callOptions, args []string) error {
	if o.timeout <= 0 {
		return usageErr("--timeout %s: expected a positive duration such as 30s", o.timeout)
	}
	if o.method != "" {
		m := strings.ToUpper(strings.TrimSpace(o.method))
		if !slices.Contains(httpMethods, m) {
			return usageErr("--method %q: expected one of %s", o.method, strings.Join(httpMethods, ", "))
		}
		o.method = m
	}
	var op *catalog.Operation
	switch {
	case len(args) == 1 && (o.method != "" || o.path != ""):
		return usageErr("give either an operation id or --method/--path, not both")
	case len(args) == 1:
		var err error
		if op, err = catalog.Lookup(args[0]); err != nil {
			return usageErr("%w", err)
		}
	case o.path == "":
		return usageErr("give an operation id (see `ghlsync ops list`) or --method and --path")
	}

	tok := o.token
	if tok == "" {
		tok = os.Getenv("GHLSYNC_TOKEN")
	}
	tok = strings.TrimSpace(tok)
	if err := ghl.CheckToken(tok); err != nil {
		if errors.Is(err, ghl.ErrNoToken) {
			return usageErr("no token: pass --token or set GHLSYNC_TOKEN to a Private Integration Token")
		}
		return &exitError{code: 2, err: fmt.Errorf("call: %w", err)}
	}
	base := o.baseURL
	if base == "" {
		base = os.Getenv("GHLSYNC_BASE_URL")
	}
	location := o.location
	if location == "" {
		location = os.Getenv("GHLSYNC_LOCATION_ID")
	}

	body, err := readData(o.data, cmd.InOrStdin())
	if err != nil {
		return usageErr("--data: %w", err)
	}
	p, err := routeParams(op, o.params, body)
	if err != nil {
		return usageErr("%w", err)
	}
	p.Version = o.apiVersion
	fillCompany(op, &p, o.company)

	// The resource keys the rate limiter and fills locationId/companyId.
	resource := location
	if o.company != "" && (location == "" || (op != nil && op.Token == catalog.TokenAgency)) {
		resource = o.company
	}
	if resource == "" { // key the limiter by the location the call names
		resource = firstNonEmpty(p.Query.Get("locationId"), p.Query.Get("location_id"), p.Path["locationId"], p.Query.Get("companyId"))
	}
	if op != nil {
		fillsLocation := op.Token == catalog.TokenLocation && location != "" && resource == location
		if err := missingParams(op, p, fillsLocation); err != nil {
			return usageErr("%w", err)
		}
	}
	client := ghl.New(ghl.Config{BaseURL: base, UserAgent: "ghlsync/" + version, AppID: "cli"}, ghl.StaticToken(tok), resource)

	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	out := cmd.OutOrStdout()

	if o.all {
		if op == nil || op.Pagination == nil {
			return usageErr("--all needs a list operation from the catalog")
		}
		items := []json.RawMessage{}
		for item, err := range client.Items(ctx, op.ID, p, ghl.PageOptions{MaxPages: o.maxPages}) {
			if err != nil {
				if len(items) > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "read %d items before the error\n", len(items))
				}
				return &exitError{code: 1, err: err}
			}
			items = append(items, item)
		}
		data, _ := json.Marshal(items)
		return writePretty(out, data)
	}

	var resp *ghl.Response
	if op != nil {
		resp, err = client.Do(ctx, op.ID, p)
	} else {
		resp, err = client.Raw(ctx, o.method, o.path, p)
	}
	if resp != nil {
		if o.verbose {
			describeResponse(cmd.ErrOrStderr(), resp)
		}
		if werr := writePretty(out, resp.Body); werr != nil {
			return werr
		}
	}
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// readData reads the --data argument: @file, - (stdin) or inline JSON.
func readData(arg string, stdin io.Reader) (json.RawMessage, error) {
	if arg == "" {
		return nil, nil
	}
	var data []byte
	var err error
	src := "inline JSON"
	switch {
	case arg == "-":
		src = "stdin"
		data, err = io.ReadAll(io.LimitReader(stdin, 32<<20))
	case strings.HasPrefix(arg, "@"):
		src = arg[1:]
		data, err = os.ReadFile(arg[1:])
	default:
		data = []byte(arg)
	}
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		var v any
		jerr := json.Unmarshal(data, &v)
		return nil, fmt.Errorf("%s is not valid JSON: %v", src, jerr)
	}
	return data, nil
}

// routeParams puts each --param where the operation takes it.
func routeParams(op *catalog.Operation, raw []string, data json.RawMessage) (ghl.Params, error) {
	p := ghl.Params{Path: map[string]string{}, Query: url.Values{}}
	var body map[string]any
	if len(data) > 0 {
		p.Body = data
	}
	setBody := func(k string, v any) error {
		if body == nil {
			body = map[string]any{}
			if len(data) > 0 {
				if err := json.Unmarshal(data, &body); err != nil {
					return fmt.Errorf("--param %s: body fields can only be merged into a JSON object body", k)
				}
			}
		}
		body[k] = v
		return nil
	}
	for _, kv := range raw {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return p, fmt.Errorf("--param %q: want name=value", kv)
		}
		if strings.HasSuffix(k, ":") { // name:=json
			k = strings.TrimSuffix(k, ":")
			var jv any
			if err := json.Unmarshal([]byte(v), &jv); err != nil {
				return p, fmt.Errorf("--param %s:=%s: not JSON: %v", k, v, err)
			}
			if err := setBody(strings.TrimPrefix(k, "body."), jv); err != nil {
				return p, err
			}
			continue
		}
		place, name := "", k
		if before, after, found := strings.Cut(k, "."); found && (before == "path" || before == "query" || before == "body") {
			place, name = before, after
		}
		if place == "" {
			place = guessPlace(op, name)
		}
		switch place {
		case "path":
			p.Path[name] = v
		case "query":
			p.Query.Add(name, v)
		case "body":
			tv, err := typedBodyValue(op, name, v)
			if err != nil {
				return p, err
			}
			if err := setBody(name, tv); err != nil {
				return p, err
			}
		}
	}
	if body != nil {
		p.Body = body
	}
	return p, nil
}

// typedBodyValue converts a name=value body field to the JSON type the
// catalog gives it, so completed=false is sent as false, not "false".
// Arrays and objects are taken only as explicit JSON (name:=json): a comma
// list is ambiguous (a tag may contain a comma).
func typedBodyValue(op *catalog.Operation, name, v string) (any, error) {
	if op == nil {
		return v, nil
	}
	f, ok := op.Field(name)
	if !ok {
		return v, nil
	}
	switch f.Type {
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("--param %s=%s: %s is a boolean body field of %s; want true or false", name, v, name, op.ID)
	case "integer":
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--param %s=%s: %s is an integer body field of %s; want a whole number", name, v, name, op.ID)
		}
		return n, nil
	case "number":
		t := strings.TrimSpace(v)
		if !json.Valid([]byte(t)) {
			return nil, fmt.Errorf("--param %s=%s: %s is a number body field of %s; want a number such as 12.5", name, v, name, op.ID)
		}
		var n json.Number
		if err := json.Unmarshal([]byte(t), &n); err != nil {
			return nil, fmt.Errorf("--param %s=%s: %s is a number body field of %s; want a number such as 12.5", name, v, name, op.ID)
		}
		return n, nil
	case "array":
		return nil, fmt.Errorf("--param %s=%s: %s is an array body field of %s; pass it as JSON: -p '%s:=[\"a\",\"b\"]'", name, v, name, op.ID, name)
	case "object":
		return nil, fmt.Errorf("--param %s=%s: %s is an object body field of %s; pass it as JSON: -p '%s:={...}'", name, v, name, op.ID, name)
	}
	return v, nil
}

// fillCompany puts companyId wherever the operation takes it (path, query
// or body) and the caller left it out, as --location does for locationId.
func fillCompany(op *catalog.Operation, p *ghl.Params, company string) {
	if op == nil || company == "" {
		return
	}
	const n = "companyId"
	switch {
	case containsString(op.PathParams, n):
		if p.Path[n] == "" {
			p.Path[n] = company
		}
	case op.HasQuery(n):
		if p.Query.Get(n) == "" {
			p.Query.Set(n, company)
		}
	case op.HasBodyField(n) || containsString(op.BodyRequired, n):
		switch b := p.Body.(type) {
		case nil:
			p.Body = map[string]any{n: company}
		case map[string]any:
			if _, has := b[n]; !has {
				b[n] = company
			}
		case json.RawMessage:
			var m map[string]any
			if json.Unmarshal(b, &m) == nil && m != nil {
				if _, has := m[n]; !has {
					m[n] = company
					p.Body = m
				}
			}
		}
	}
}

// missingParams reports the required path and query parameters nothing
// fills, with how to pass each one. locationId is left to the client when
// it fills it from --location.
func missingParams(op *catalog.Operation, p ghl.Params, clientFillsLocation bool) error {
	if op == nil {
		return nil
	}
	var missing []string
	check := func(name, place, have string) {
		if have != "" {
			return
		}
		if clientFillsLocation && (name == "locationId" || name == "location_id") {
			return
		}
		hint := fmt.Sprintf("-p %s=...", name)
		switch name {
		case "companyId":
			hint += " or --company ID"
		case "locationId", "location_id":
			hint += " or --location ID (or GHLSYNC_LOCATION_ID)"
		}
		missing = append(missing, fmt.Sprintf("%s parameter %s (pass %s)", place, name, hint))
	}
	for _, n := range op.PathParams {
		check(n, "path", p.Path[n])
	}
	for _, n := range op.RequiredQuery() {
		check(n, "query", p.Query.Get(n))
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s: missing required %s", op.ID, strings.Join(missing, "; "))
}

// guessPlace uses the catalog: path parameter, declared query parameter,
// declared body field; otherwise query for reads and body for writes.
func guessPlace(op *catalog.Operation, name string) string {
	if op == nil {
		return "query"
	}
	switch {
	case containsString(op.PathParams, name):
		return "path"
	case op.HasQuery(name):
		return "query"
	case op.HasBodyField(name) || containsString(op.BodyRequired, name):
		return "body"
	case op.Method == "GET" || op.Method == "DELETE" && len(op.Body) == 0:
		return "query"
	}
	return "body"
}

func writePretty(w io.Writer, data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if json.Indent(&buf, data, "", "  ") == nil {
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	_, err := w.Write(data)
	if err == nil && !bytes.HasSuffix(data, []byte("\n")) {
		_, err = io.WriteString(w, "\n")
	}
	return err
}

func describeResponse(w io.Writer, r *ghl.Response) {
	fmt.Fprintf(w, "HTTP %d, %d attempt(s)", r.Status, r.Attempts)
	if r.TraceID != "" {
		fmt.Fprintf(w, ", traceId %s", r.TraceID)
	}
	fmt.Fprintln(w)
	for _, h := range []string{"X-RateLimit-Remaining", "X-RateLimit-Max", "X-RateLimit-Interval-Milliseconds", "X-RateLimit-Daily-Remaining", "X-RateLimit-Limit-Daily"} {
		if v := r.Header.Get(h); v != "" {
			fmt.Fprintf(w, "%s: %s\n", h, v)
		}
	}
}

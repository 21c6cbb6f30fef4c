package flow

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// Event is the trigger of one run as the engine hands it to a flow: a
// verified webhook delivery, or one item found by a poll.
type Event struct {
	ID         string         // source event id (delivery id, webhookId, item id)
	Type       string         // e.g. "contact.created", "ContactCreate", or the poll op id
	Source     string         // changetower, generic, ghl, or "poll"
	Payload    map[string]any // decoded JSON; json.Number values are accepted
	ReceivedAt time.Time
	OccurredAt time.Time // when the source says it happened; zero = ReceivedAt
}

// Connection is what expressions see of the connection a flow runs through.
// It carries no credentials.
type Connection struct {
	Name       string
	LocationID string
	CompanyID  string
	Timezone   string // IANA zone of the location, e.g. America/New_York
	// PhoneRegion is the region phone() reads numbers without a country
	// code in (ISO 3166, e.g. "US", "BR"); "" falls back to Env.PhoneRegion,
	// then US.
	PhoneRegion string
}

// Env is everything a step's expressions may read during one run. The
// engine builds one per run with NewEnv and records each finished step's
// decoded response with SetStep.
type Env struct {
	Event      Event
	Connection Connection
	// Vars are the environment variables visible as env.<NAME>; NewEnv
	// fills them with EnvVars(os.Environ()).
	Vars map[string]string
	// Now is the run's clock, fixed for the run so a retried step computes
	// the same due dates; NewEnv sets time.Now().
	Now time.Time
	// Fields resolves custom field names and keys to ids; required by steps
	// that map customFields.
	Fields FieldResolver
	// PhoneRegion is the default region for phone() when the connection
	// has none; "" = US.
	PhoneRegion string
	// Keys answers mapped(key) in expressions: the GoHighLevel id a keyed
	// step stored for key (in the connection's location), "" when none.
	// nil makes mapped() return nil.
	Keys KeyLookup

	steps   map[string]any
	payload map[string]any // normalised copy of Event.Payload
}

// NewEnv returns the environment of one run.
func NewEnv(ev Event, conn Connection) *Env {
	return &Env{Event: ev, Connection: conn, Vars: EnvVars(os.Environ()), Now: time.Now()}
}

// SetStep records the decoded response body of a finished step, visible to
// later steps as steps.<id>. A nil result (a skipped or failed step) reads
// as nil.
func (e *Env) SetStep(id string, result any) {
	if e.steps == nil {
		e.steps = map[string]any{}
	}
	if raw, ok := result.(json.RawMessage); ok {
		result = decodeJSON(raw)
	} else if b, ok := result.([]byte); ok {
		result = decodeJSON(b)
	}
	e.steps[id] = normalizeIn(result)
}

// StepResult returns what SetStep recorded for id.
func (e *Env) StepResult(id string) (any, bool) {
	v, ok := e.steps[id]
	return v, ok
}

func decodeJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(b)
	}
	return v
}

// EnvVars picks the GHLSYNC_FLOW_* entries out of an os.Environ() list.
func EnvVars(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvVarPrefix) {
			out[k] = v
		}
	}
	return out
}

func (e *Env) view(flowName string) *exprEnv {
	if e.payload == nil {
		p, _ := normalizeIn(e.Event.Payload).(map[string]any)
		if p == nil {
			p = map[string]any{}
		}
		// The payload's own keys win: a GHL ContactCreate's "id" is the
		// contact's id. meta.* always holds the delivery's values.
		for k, v := range map[string]any{"id": e.Event.ID, "type": e.Event.Type, "received_at": e.Event.ReceivedAt} {
			if _, ok := p[k]; !ok {
				p[k] = v
			}
		}
		e.payload = p
	}
	occurred := e.Event.OccurredAt
	if occurred.IsZero() {
		occurred = e.Event.ReceivedAt
	}
	now := e.Now
	if now.IsZero() {
		now = time.Now()
	}
	vars := make(map[string]any, len(e.Vars))
	for k, v := range e.Vars {
		vars[k] = v
	}
	return &exprEnv{
		Event: e.payload,
		Meta: metaEnv{ID: e.Event.ID, Type: e.Event.Type, Source: e.Event.Source, Flow: flowName,
			ReceivedAt: e.Event.ReceivedAt, OccurredAt: occurred},
		Steps: e.steps,
		Connection: connectionEnv{Name: e.Connection.Name, LocationID: e.Connection.LocationID,
			CompanyID: e.Connection.CompanyID, Timezone: e.Connection.Timezone,
			PhoneRegion: cmp.Or(e.Connection.PhoneRegion, e.PhoneRegion, DefaultPhoneRegion)},
		Env:    vars,
		Now:    now,
		Mapped: e.mapped,
	}
}

// KeyLookup returns the GoHighLevel id stored for an external key, "" when
// the key is not mapped. Its errors are the store's (see LookupError).
type KeyLookup func(key string) (string, error)

// LookupError is a failure of Env.Keys while evaluating mapped(): the
// database, not the flow's data, so the step is worth trying again.
type LookupError struct{ Err error }

func (e *LookupError) Error() string { return "mapped(): " + e.Err.Error() }
func (e *LookupError) Unwrap() error { return e.Err }

func (e *Env) mapped(key any) any {
	if key == nil || e.Keys == nil {
		return nil
	}
	k, err := toString(normalizeOut(key))
	if err != nil {
		panic(fmt.Errorf("mapped(): the key must be text: %w", err))
	}
	if strings.TrimSpace(k) == "" {
		return nil
	}
	id, err := e.Keys(k)
	if err != nil {
		panic(&LookupError{Err: err})
	}
	if id == "" {
		return nil
	}
	return id
}

// normalizeIn makes decoded JSON easy to compute with: json.Number becomes
// an int when whole (and small enough), else a float64.
func normalizeIn(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil && i >= -1<<53 && i <= 1<<53 {
			return int(i)
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = normalizeIn(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = normalizeIn(val)
		}
		return out
	}
	return v
}

// normalizeOut turns expression results into JSON-ready values: times
// become RFC 3339 text with their offset, typed slices and maps become
// []any and map[string]any.
func normalizeOut(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int64, float64, json.Number:
		return x
	case time.Time:
		return x.Format(time.RFC3339)
	case time.Duration:
		return x.String()
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = normalizeOut(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = normalizeOut(val)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalizeOut(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			out := make(map[string]any, rv.Len())
			for _, k := range rv.MapKeys() {
				out[k.String()] = normalizeOut(rv.MapIndex(k).Interface())
			}
			return out
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int(rv.Uint())
	case reflect.Float32:
		return rv.Float()
	}
	return v
}

// Request is one evaluated step (or poll), ready for the GHL client:
// ghl.Params{Path: r.Path, Query: r.Query, Body: r.Body}.
type Request struct {
	Op        string             `json:"op"`
	Operation *catalog.Operation `json:"-"` // nil for an http step
	// Skipped is true when the step's when: condition was false; nothing
	// else is set then and nothing must be sent.
	Skipped bool `json:"skipped,omitempty"`

	Path  map[string]string `json:"path,omitempty"`
	Query url.Values        `json:"query,omitempty"`
	// Body is nil when the operation takes no body or nothing was mapped
	// into it.
	Body map[string]any `json:"body,omitempty"`

	// AddTags holds the tags a contacts.upsert or contacts.update step
	// mapped. They are not in Body (GoHighLevel would replace all tags);
	// after the operation succeeds the engine sends TagsRequest's
	// contacts.addTags so existing tags are kept. Empty with replace_tags.
	AddTags []string `json:"addTags,omitempty"`

	// CustomFields lists the resolved custom fields also placed in
	// Body["customFields"], for run records and dry runs.
	CustomFields []CustomFieldValue `json:"customFields,omitempty"`

	// Omitted lists mapped fields left out because they evaluated empty
	// (never clobber), as dotted paths.
	Omitted []string `json:"omitted,omitempty"`

	// HTTP is set for an http step instead of Path, Query and Body.
	HTTP *HTTPRequest `json:"http,omitempty"`

	// Key is the evaluated key of a keyed step, set by the engine for run
	// records.
	Key string `json:"key,omitempty"`
}

// HTTPRequest is the outbound request of an http step.
type HTTPRequest struct {
	Method string            `json:"method"`
	URL    string            `json:"url"` // with the query already encoded
	Header map[string]string `json:"header,omitempty"`
	// Body is sent as JSON when not nil (a string is sent as is).
	Body any `json:"body,omitempty"`
}

// TagsRequest returns the contacts.addTags request completing r once its
// operation succeeded; response is that operation's decoded body (or raw
// JSON). ok is false when there are no tags to add.
func (r *Request) TagsRequest(response any) (tags *Request, ok bool, err error) {
	if r == nil || len(r.AddTags) == 0 {
		return nil, false, nil
	}
	id := r.Path["contactId"]
	if id == "" {
		switch b := response.(type) {
		case json.RawMessage:
			response = decodeJSON(b)
		case []byte:
			response = decodeJSON(b)
		}
		if m, ok := response.(map[string]any); ok {
			if c, ok := m["contact"].(map[string]any); ok {
				id, _ = c["id"].(string)
			}
			if id == "" {
				id, _ = m["id"].(string)
			}
		}
	}
	if id == "" {
		return nil, false, fmt.Errorf("%s: cannot add tags: no contact id in the response", r.Op)
	}
	op, _ := catalog.Get("contacts.addTags")
	return &Request{
		Op:        op.ID,
		Operation: op,
		Path:      map[string]string{"contactId": id},
		Query:     url.Values{},
		Body:      map[string]any{"tags": slices.Clone(r.AddTags)},
	}, true, nil
}

// tagOps are the operations whose tags field replaces every tag of an
// existing contact.
var tagOps = []string{"contacts.upsert", "contacts.update"}

// Skip evaluates the step's when: condition; true means the step must not
// run. A condition that reads nil counts as false.
func (s *Step) Skip(env *Env) (bool, error) {
	if s.when == nil {
		return false, nil
	}
	v, err := s.when.run(env.view(s.flow))
	if err != nil {
		return false, &EvalError{Flow: s.flow, Step: s.ID, Field: "when", Pos: s.when.pos, Err: err}
	}
	switch b := v.(type) {
	case bool:
		return !b, nil
	case nil:
		return true, nil
	}
	return false, &EvalError{Flow: s.flow, Step: s.ID, Field: "when", Pos: s.when.pos,
		Err: fmt.Errorf("expected true or false, got %s", describe(v))}
}

// Request evaluates the step for env: its condition, then its mapping into
// path, query and body for the operation. Empty values are left out unless
// listed in clear_empty; locationId/companyId are filled from the
// connection when required and not mapped; tags of contacts.upsert/update
// become AddTags unless replace_tags; customFields are resolved through
// env.Fields. A problem with the data or the mapping is an *EvalError (not
// worth retrying); an error of env.Fields is returned wrapped, as is, so
// the caller can tell a transient lookup failure from bad data.
func (s *Step) Request(ctx context.Context, env *Env) (*Request, error) {
	skip, err := s.Skip(env)
	if err != nil {
		return nil, err
	}
	if skip {
		return &Request{Op: s.Op, Operation: s.Operation, Skipped: true}, nil
	}
	b := &builder{flow: s.flow, step: s.ID, clear: s.ClearEmpty, env: env}
	vals, err := b.evalMapping(s.With)
	if err != nil {
		return nil, err
	}
	if s.Op == OpHTTP {
		return b.httpRequest(s, vals)
	}
	req, err := b.opRequest(s.Operation, s.With, vals, false)
	if err != nil {
		return nil, err
	}
	if err := b.tags(s, req, vals); err != nil {
		return nil, err
	}
	if err := b.customFields(ctx, s, req); err != nil {
		return nil, err
	}
	return req, nil
}

// Request evaluates the poll's params for env (whose Event is ignored). The
// poller adds its own paging parameters.
func (t *PollTrigger) Request(env *Env) (*Request, error) {
	b := &builder{env: env, section: "params"}
	vals, err := b.evalMapping(t.Params)
	if err != nil {
		return nil, err
	}
	return b.opRequest(t.Operation, t.Params, vals, true)
}

type builder struct {
	flow, step string
	// section names the mapping being built in error messages: "with" for
	// steps, "params" for poll triggers.
	section string
	clear   []string
	env     *Env
	omitted []string
}

func (b *builder) fail(field string, pos Position, err error) error {
	return &EvalError{Flow: b.flow, Step: b.step, Field: field, Pos: pos, Err: err}
}

// field names key k of the mapping being built, e.g. "with.email".
func (b *builder) field(k string) string {
	if b.section == "" {
		return "with." + k
	}
	return b.section + "." + k
}

// evalMapping evaluates every top-level key, keeping nil values for now.
func (b *builder) evalMapping(m *Mapping) (map[string]any, error) {
	out := map[string]any{}
	if m == nil || m.root == nil {
		return out, nil
	}
	view := b.env.view(b.flow)
	for i, k := range m.root.keys {
		if k == "customFields" {
			continue // evaluated per field by customFields
		}
		v, f := m.root.vals[i].eval(view)
		if f != nil {
			return nil, b.fail(b.field(k), f.pos, f.err)
		}
		out[k] = v
	}
	return out, nil
}

func (b *builder) cleared(path string) bool { return slices.Contains(b.clear, path) }

// prune applies never-clobber to one value: empty values (nil, blank text,
// empty list or object) are dropped unless their path is in clear_empty, in
// which case nil is sent as "". Objects and lists are pruned inside too.
func (b *builder) prune(path string, v any) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if pv, keep := b.prune(path+"."+k, x[k]); keep {
				out[k] = pv
			}
		}
		if len(out) == 0 && !b.cleared(path) {
			if len(x) > 0 || v != nil {
				b.omitted = append(b.omitted, path)
			}
			return nil, false
		}
		return out, true
	case []any:
		out := make([]any, 0, len(x))
		for i, it := range x {
			if m, ok := it.(map[string]any); ok {
				if pv, keep := b.prune(fmt.Sprintf("%s[%d]", path, i), m); keep {
					out = append(out, pv)
				}
				continue
			}
			if !isEmpty(it) {
				out = append(out, it)
			}
		}
		if len(out) == 0 && !b.cleared(path) {
			b.omitted = append(b.omitted, path)
			return nil, false
		}
		return out, true
	}
	if isEmpty(v) {
		if b.cleared(path) {
			if v == nil {
				return "", true
			}
			return v, true
		}
		b.omitted = append(b.omitted, path)
		return nil, false
	}
	return v, true
}

func (b *builder) opRequest(op *catalog.Operation, m *Mapping, vals map[string]any, poll bool) (*Request, error) {
	req := &Request{Op: op.ID, Operation: op, Path: map[string]string{}, Query: url.Values{}}
	body := map[string]any{}
	keys := m.Keys()
	for _, k := range keys {
		if k == "customFields" {
			continue
		}
		v, keep := b.prune(k, vals[k])
		pos := m.Pos(k)
		switch {
		case slices.Contains(op.PathParams, k):
			if !keep {
				return nil, b.fail(b.field(k), pos, fmt.Errorf("path parameter %s is empty; %s cannot be called without it", k, op.ID))
			}
			s, err := toString(v)
			if err != nil {
				return nil, b.fail(b.field(k), pos, fmt.Errorf("path parameter %s: %w", k, err))
			}
			req.Path[k] = s
		case op.HasQuery(k):
			if !keep {
				continue
			}
			if err := addQuery(req.Query, k, v); err != nil {
				return nil, b.fail(b.field(k), pos, err)
			}
		default:
			if keep {
				body[k] = v
			}
		}
	}
	// Required location and company ids come from the connection.
	for _, n := range requiredNames(op) {
		src, auto := AutoParams[n]
		if !auto || m.Has(n) {
			continue
		}
		val := b.env.Connection.LocationID
		if src == "companyId" {
			val = b.env.Connection.CompanyID
		}
		if val == "" {
			return nil, b.fail(b.field(n), m.root.pos, fmt.Errorf("%s needs %s and connection %q has no %s; map it under %s:", op.ID, n, b.env.Connection.Name, src, strings.TrimSuffix(b.field(""), ".")))
		}
		switch {
		case slices.Contains(op.PathParams, n):
			req.Path[n] = val
		case op.HasQuery(n):
			req.Query.Set(n, val)
		default:
			body[n] = val
		}
	}
	// Required fields that evaluated empty would be rejected by GHL with a
	// vaguer message; say which mapping produced nothing.
	for _, n := range requiredNames(op) {
		if _, auto := AutoParams[n]; auto || !m.Has(n) {
			continue
		}
		if poll && slices.Contains(PagingParams(op), n) {
			continue
		}
		_, inPath := req.Path[n]
		_, inBody := body[n]
		if !inPath && !inBody && !req.Query.Has(n) {
			return nil, b.fail(b.field(n), m.Pos(n), fmt.Errorf("%s requires %s, and its mapping evaluated empty%s", op.ID, n, clearEmptyHint(n, vals[n])))
		}
	}
	if len(body) > 0 {
		req.Body = body
	}
	req.Omitted = b.omitted
	return req, nil
}

// clearEmptyHint suggests clear_empty when an empty list (or text) is
// what the step means to send: never-clobber drops it otherwise.
func clearEmptyHint(field string, v any) string {
	if l, ok := v.([]any); ok && len(l) == 0 {
		return fmt.Sprintf(" (an empty list is left out so nothing is clobbered; to send it empty, add clear_empty: [%s] to the step)", field)
	}
	if s, ok := v.(string); ok && s == "" {
		return fmt.Sprintf(" (to send it empty on purpose, add clear_empty: [%s] to the step)", field)
	}
	return ""
}

func addQuery(q url.Values, k string, v any) error {
	if l, ok := toList(v); ok && v != nil {
		for _, it := range l {
			s, err := toString(it)
			if err != nil {
				return fmt.Errorf("query parameter %s: %w", k, err)
			}
			q.Add(k, s)
		}
		return nil
	}
	s, err := toString(v)
	if err != nil {
		return fmt.Errorf("query parameter %s: %w", k, err)
	}
	q.Set(k, s)
	return nil
}

// tags moves the tags of contacts.upsert/update out of the body into
// AddTags, unless the step asked to replace all tags.
func (b *builder) tags(s *Step, req *Request, vals map[string]any) error {
	return b.tagsFor(s.Operation, s.With, s.ReplaceTags, req, vals)
}

func (b *builder) tagsFor(op *catalog.Operation, m *Mapping, replace bool, req *Request, vals map[string]any) error {
	raw, mapped := vals["tags"]
	if !mapped || op == nil || !op.HasBodyField("tags") {
		return nil
	}
	tags, err := tagList(raw)
	if err != nil {
		return b.fail("with.tags", m.Pos("tags"), err)
	}
	if replace {
		if len(tags) > 0 || b.cleared("tags") {
			if req.Body == nil {
				req.Body = map[string]any{}
			}
			req.Body["tags"] = toAnyList(tags)
		}
		return nil
	}
	if slices.Contains(tagOps, op.ID) {
		delete(req.Body, "tags")
		if len(req.Body) == 0 {
			req.Body = nil
		}
		req.AddTags = tags
		return nil
	}
	if req.Body != nil && len(tags) > 0 {
		req.Body["tags"] = toAnyList(tags)
	}
	return nil
}

// tagList flattens a tags value: a list, or text with comma-separated tags.
// Blank and repeated tags are dropped.
func tagList(v any) ([]string, error) {
	var parts []string
	var err error
	if s, ok := v.(string); ok {
		for _, t := range strings.Split(s, ",") {
			parts = append(parts, t)
		}
	} else if parts, err = flatten(v, nil); err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	var out []string
	for _, t := range parts {
		t = strings.TrimSpace(t)
		if t != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, t) }) {
			out = append(out, t)
		}
	}
	return out, nil
}

func toAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (b *builder) httpRequest(s *Step, vals map[string]any) (*Request, error) {
	h := &HTTPRequest{Method: http.MethodGet, Header: map[string]string{}}
	u, keep := b.prune("url", vals["url"])
	if !keep {
		return nil, b.fail("with.url", s.With.Pos("url"), fmt.Errorf("url is empty"))
	}
	us, err := toString(u)
	if err != nil {
		return nil, b.fail("with.url", s.With.Pos("url"), err)
	}
	parsed, err := url.Parse(us)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return nil, b.fail("with.url", s.With.Pos("url"), fmt.Errorf("expected an absolute http(s) URL"))
	}
	if body, keep := b.prune("body", vals["body"]); keep {
		h.Body = body
		h.Method = http.MethodPost
	}
	if m, keep := b.prune("method", vals["method"]); keep {
		ms, _ := toString(m)
		h.Method = strings.ToUpper(ms)
		if !slices.Contains(httpMethods, h.Method) {
			return nil, b.fail("with.method", s.With.Pos("method"), fmt.Errorf("method %q: expected one of %s", ms, strings.Join(httpMethods, ", ")))
		}
	}
	if hv, keep := b.prune("headers", vals["headers"]); keep {
		hm, _ := hv.(map[string]any)
		for k, v := range hm {
			sv, err := toString(v)
			if err != nil {
				return nil, b.fail("with.headers."+k, s.With.Pos("headers"), err)
			}
			h.Header[http.CanonicalHeaderKey(k)] = sv
		}
	}
	if qv, keep := b.prune("query", vals["query"]); keep {
		q := parsed.Query()
		qm, _ := qv.(map[string]any)
		for k, v := range qm {
			if err := addQuery(q, k, v); err != nil {
				return nil, b.fail("with.query."+k, s.With.Pos("query"), err)
			}
		}
		parsed.RawQuery = q.Encode()
	}
	h.URL = parsed.String()
	return &Request{Op: OpHTTP, HTTP: h, Omitted: b.omitted}, nil
}

package flow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// MaxFileSize bounds a flow file; flows are small, and the limit keeps a
// stray large file from stalling a load.
const MaxFileSize = 1 << 20

var (
	flowKeys    = []string{"name", "connection", "description", "trigger", "steps"}
	triggerKeys = []string{"webhook", "poll"}
	pollKeys    = []string{"op", "every", "params", "updated", "max_pages"}
	stepKeys    = []string{"id", "name", "op", "when", "key", "update", "on_missing", "with", "clear_empty", "replace_tags", "on_error"}
	updateKeys  = []string{"op", "id_param"}
	onMissings  = []string{string(OnMissingFail), string(OnMissingCreate), string(OnMissingSkip)}
	httpKeys    = []string{"method", "url", "headers", "query", "body"}
	onErrors    = []string{string(OnErrorFail), string(OnErrorContinue), string(OnErrorSkip)}

	flowNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$`)
	stepIDRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// Loaded is the result of reading a folder of flows.
type Loaded struct {
	// Flows holds every valid flow, sorted by name.
	Flows []*Flow
	// Files lists every flow file read, sorted.
	Files []string
	// Errors holds the problems of all files, sorted by file and position.
	// A file with problems contributes no flow; the others still load.
	Errors ErrorList
}

// Flow returns the loaded flow with the given name.
func (l *Loaded) Flow(name string) (*Flow, bool) {
	for _, f := range l.Flows {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// LoadDir reads every *.yaml and *.yml file directly in dir (not in
// sub-folders; files starting with "." or "_" are ignored). It returns the
// valid flows and the problems of the others; the error is non-nil only when
// the folder itself cannot be read. Two files declaring the same flow name
// are a problem of the later file.
func LoadDir(dir string) (*Loaded, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("flows: %w", err)
	}
	out := &Loaded{}
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		out.Files = append(out.Files, filepath.Join(dir, name))
	}
	sort.Strings(out.Files)
	seen := map[string]string{}
	for _, path := range out.Files {
		f, err := LoadFile(path)
		if err != nil {
			var list ErrorList
			if errors.As(err, &list) {
				out.Errors = append(out.Errors, list...)
			} else {
				out.Errors = append(out.Errors, &Error{Pos: Position{File: path, Line: 1, Column: 1}, Msg: err.Error()})
			}
			continue
		}
		if prev, dup := seen[f.Name]; dup {
			out.Errors = append(out.Errors, &Error{Pos: f.Pos, Msg: fmt.Sprintf("flow name %q is already used by %s; flow names must be unique", f.Name, prev)})
			continue
		}
		seen[f.Name] = path
		out.Flows = append(out.Flows, f)
	}
	sort.Slice(out.Flows, func(i, j int) bool { return out.Flows[i].Name < out.Flows[j].Name })
	out.Errors.Sort()
	return out, nil
}

// LoadFile reads and parses one flow file.
func LoadFile(path string) (*Flow, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, ErrorList{{Pos: Position{File: path, Line: 1, Column: 1}, Msg: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}}
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, ErrorList{{Pos: Position{File: path, Line: 1, Column: 1}, Msg: fmt.Sprintf("cannot read: %v", err)}}
	}
	return Parse(path, data)
}

// Parse reads one flow from data; file names it in positions and supplies
// the default flow name. The error, when not nil, is an ErrorList holding
// every problem found, each with its file, line and column.
func Parse(file string, data []byte) (*Flow, error) {
	p := &parser{file: file}
	f := p.parse(data)
	if len(p.errs) > 0 {
		p.errs.Sort()
		return nil, p.errs
	}
	return f, nil
}

type parser struct {
	file string
	errs ErrorList
}

func (p *parser) pos(n *yaml.Node) Position {
	return Position{File: p.file, Line: max(n.Line, 1), Column: max(n.Column, 1)}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: p.pos(n), Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) errorAt(pos Position, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

func (p *parser) yamlError(err error) {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	p.errs = append(p.errs, &Error{Pos: Position{File: p.file, Line: line, Column: 1}, Msg: "YAML syntax: " + msg})
}

func (p *parser) decodeYAML(data []byte) (doc *yaml.Node) {
	defer func() {
		if r := recover(); r != nil {
			p.errs = append(p.errs, &Error{Pos: Position{File: p.file, Line: 1, Column: 1}, Msg: fmt.Sprintf("YAML syntax: cannot parse: %v", r)})
			doc = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var d yaml.Node
	if err := dec.Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			p.errs = append(p.errs, &Error{Pos: Position{File: p.file, Line: 1, Column: 1}, Msg: "empty file: expected a flow with name, trigger and steps"})
			return nil
		}
		p.yamlError(err)
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "a second YAML document: a flow file holds one flow (remove the --- separator or split the file)")
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
	}
	return &d
}

func (p *parser) parse(data []byte) *Flow {
	if len(data) > MaxFileSize {
		p.errorAt(Position{File: p.file, Line: 1, Column: 1}, "file is larger than %d bytes", MaxFileSize)
		return nil
	}
	doc := p.decodeYAML(data)
	if doc == nil {
		return nil
	}
	if !p.noAliases(doc) {
		return nil
	}
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			p.errorAt(Position{File: p.file, Line: 1, Column: 1}, "empty file: expected a flow with name, trigger and steps")
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "expected a flow (a mapping with name, trigger and steps), got %s", kindName(root))
		return nil
	}
	f := &Flow{File: p.file, Hash: hashBytes(data), Pos: p.pos(root), Connection: DefaultConnection}
	keys := p.keys(root, flowKeys, "flow")

	base := filepath.Base(p.file)
	f.Name = strings.TrimSuffix(base, filepath.Ext(base))
	if n, ok := keys["name"]; ok {
		if s, ok := p.str(n.val, "name"); ok {
			f.Name = s
			if !flowNameRe.MatchString(s) {
				p.errorf(n.val, "name %q: expected letters, digits, - and _ (it becomes the webhook URL /hooks/<name>)", s)
			}
		}
	} else if !flowNameRe.MatchString(f.Name) {
		p.errorf(root, "the file name %q is not a usable flow name: add name: with letters, digits, - and _", base)
	}
	if n, ok := keys["connection"]; ok {
		if s, ok := p.str(n.val, "connection"); ok && s != "" {
			f.Connection = s
		}
	}
	if n, ok := keys["description"]; ok {
		f.Description, _ = p.str(n.val, "description")
	}
	if n, ok := keys["trigger"]; ok {
		f.Trigger = p.trigger(n.val)
	} else {
		p.errorf(root, "missing trigger: expected trigger: {webhook: ...} or trigger: {poll: ...}")
	}
	if n, ok := keys["steps"]; ok {
		f.Steps = p.steps(n.val, f.Name)
	} else {
		p.errorf(root, "missing steps: expected a list of steps, each with id and op")
	}
	return f
}

// noAliases rejects anchors and aliases: they make positions ambiguous and
// can expand a small file into a huge one.
func (p *parser) noAliases(n *yaml.Node) bool {
	ok := true
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode || n.Anchor != "" {
			p.errorf(n, "anchors and aliases (& and *) are not supported in flow files; repeat the value instead")
			ok = false
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return ok
}

type keyed struct {
	key, val *yaml.Node
}

// keys checks a mapping's keys against the allowed ones (nil = any) and
// returns them; unknown keys get a suggestion, duplicates an error.
func (p *parser) keys(n *yaml.Node, allowed []string, where string) map[string]keyed {
	out := map[string]keyed{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "expected a %s key, got %s", where, kindName(k))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			p.errorf(k, "duplicate key %q (first at line %d)", k.Value, prev.key.Line)
			continue
		}
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			p.errorf(k, "unknown %s key %q%s", where, k.Value, suggestion(k.Value, allowed, true))
			continue
		}
		out[k.Value] = keyed{k, v}
	}
	return out
}

// str reads a scalar as text.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "%s: expected text, got %s", what, kindName(n))
		return "", false
	}
	if n.ShortTag() == "!!null" {
		return "", true
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.errorf(n, "%s: expected true or false, got %s", what, describeNode(n))
		return false
	}
	var b bool
	_ = n.Decode(&b)
	return b
}

func (p *parser) strList(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode {
		s, _ := p.str(n, what)
		if s == "" {
			return nil
		}
		return []string{s}
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: expected a list of text, got %s", what, kindName(n))
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if s, ok := p.str(c, what); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return describeNode(n)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func describeNode(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return kindName(n)
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing (null)"
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return strconv.Quote(n.Value)
}

func (p *parser) trigger(n *yaml.Node) Trigger {
	t := Trigger{Pos: p.pos(n)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "trigger: expected webhook: or poll:, got %s", kindName(n))
		return t
	}
	keys := p.keys(n, triggerKeys, "trigger")
	w, hasW := keys["webhook"]
	pl, hasP := keys["poll"]
	if hasW && hasP {
		p.errorf(pl.key, "trigger: expected exactly one of webhook or poll, got both")
	}
	if hasW {
		t.Webhook = p.webhook(w.val)
	}
	if hasP {
		t.Poll = p.poll(pl.val)
	}
	if !hasW && !hasP && len(n.Content) == 0 {
		p.errorf(n, "trigger: expected webhook: or poll:")
	}
	return t
}

func (p *parser) webhook(n *yaml.Node) *WebhookTrigger {
	w := &WebhookTrigger{Pos: p.pos(n)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "webhook: expected a mapping with source: (%s), got %s", strings.Join(Sources, ", "), kindName(n))
		return w
	}
	keys := p.keys(n, nil, "webhook")
	if err := n.Decode(&w.Config); err != nil {
		p.errorf(n, "webhook: %v", err)
	}
	w.KeyPos = make(map[string]Position, len(keys))
	for k, kv := range keys {
		w.KeyPos[k] = p.pos(kv.key)
	}
	if s, ok := keys["source"]; ok {
		if v, ok := p.str(s.val, "source"); ok {
			w.Source = v
			if !slices.Contains(Sources, v) {
				p.errorf(s.val, "unknown webhook source %q: expected one of %s%s", v, strings.Join(Sources, ", "), suggestion(v, Sources, false))
			}
		}
	} else {
		p.errorf(n, "webhook: missing source: expected one of %s", strings.Join(Sources, ", "))
	}
	if t, ok := keys["types"]; ok {
		w.Types = p.strList(t.val, "types")
	}
	if s, ok := keys["secret"]; ok {
		w.Secret, _ = p.str(s.val, "secret")
	}
	return w
}

func (p *parser) poll(n *yaml.Node) *PollTrigger {
	t := &PollTrigger{Pos: p.pos(n), Params: &Mapping{root: &vnode{kind: vMap, pos: p.pos(n)}}}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "poll: expected a mapping with op: and every:, got %s", kindName(n))
		return t
	}
	keys := p.keys(n, pollKeys, "poll")
	if o, ok := keys["op"]; ok {
		if id, ok := p.str(o.val, "op"); ok {
			t.Op = id
			switch op, found := catalog.Get(id); {
			case !found:
				p.errorf(o.val, "%s", unknownOp(id, true))
			case op.Kind != catalog.Trigger:
				p.errorf(o.val, "poll op %q is an action; a poll needs a trigger operation that lists items (see `ghlsync ops list`)", id)
			case !op.IsList():
				p.errorf(o.val, "poll op %q does not return a list of items; a poll needs a list operation such as contacts.search", id)
			default:
				t.Operation = op
			}
		}
	} else {
		p.errorf(n, "poll: missing op: expected a trigger operation such as contacts.search")
	}
	if e, ok := keys["every"]; ok {
		if s, ok := p.str(e.val, "every"); ok {
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.errorf(e.val, "every: %q is not a duration: expected a value from 1m to 15m such as 5m", s)
			case d < MinPollInterval || d > MaxPollInterval:
				p.errorf(e.val, "every: %s is outside the allowed range: expected 1m to 15m", s)
			default:
				t.Every = d
			}
		}
	} else {
		p.errorf(n, "poll: missing every: expected an interval from 1m to 15m such as 5m")
	}
	if u, ok := keys["updated"]; ok {
		t.Updated = p.boolean(u.val, "updated")
	}
	if m, ok := keys["max_pages"]; ok {
		var v int
		if m.val.Kind != yaml.ScalarNode || m.val.ShortTag() != "!!int" || m.val.Decode(&v) != nil || v < 1 || v > MaxPollPages {
			p.errorf(m.val, "max_pages: expected a whole number from 1 to %d, got %s", MaxPollPages, describeNode(m.val))
		} else {
			t.MaxPages = v
		}
	}
	if pr, ok := keys["params"]; ok {
		t.Params = p.mapping(pr.val, "params")
	}
	if t.Operation != nil {
		p.checkParams(t.Params, t.Operation, true, "params")
	}
	for _, c := range t.Params.allExprs() {
		p.checkRefs(c, nil, "", true)
	}
	return t
}

func (p *parser) mapping(n *yaml.Node, what string) *Mapping {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return &Mapping{root: &vnode{kind: vMap, pos: p.pos(n)}}
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: expected a mapping of field: value, got %s", what, kindName(n))
		return &Mapping{root: &vnode{kind: vMap, pos: p.pos(n)}}
	}
	p.keys(n, nil, what) // duplicates
	v := p.compileValue(n)
	if v.kind != vMap {
		return &Mapping{root: &vnode{kind: vMap, pos: p.pos(n)}}
	}
	return &Mapping{root: v}
}

func (m *Mapping) allExprs() []*compiled {
	var out []*compiled
	if m != nil && m.root != nil {
		m.root.exprs(func(c *compiled) { out = append(out, c) })
	}
	return out
}

func (p *parser) steps(n *yaml.Node, flowName string) []*Step {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "steps: expected a list of steps, got %s", kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, "steps: expected at least one step")
		return nil
	}
	var out []*Step
	ids := map[string]Position{}
	for i, sn := range n.Content {
		s := p.step(sn, i, flowName)
		if s == nil {
			continue
		}
		if s.ID != "" {
			if prev, dup := ids[s.ID]; dup {
				p.errorAt(s.Pos, "duplicate step id %q (first at line %d)", s.ID, prev.Line)
			} else {
				ids[s.ID] = s.Pos
			}
		}
		out = append(out, s)
	}
	// References to later steps are found in a second pass so the message
	// can say "later" rather than "unknown".
	all := make([]string, 0, len(out))
	for _, s := range out {
		all = append(all, s.ID)
	}
	for i, s := range out {
		prior := all[:i]
		for _, c := range s.exprs() {
			p.checkRefs(c, prior, s.ID, false, all...)
		}
	}
	return out
}

func (s *Step) exprs() []*compiled {
	var out []*compiled
	if s.when != nil {
		out = append(out, s.when)
	}
	if s.key != nil {
		s.key.exprs(func(c *compiled) { out = append(out, c) })
	}
	return append(out, s.With.allExprs()...)
}

func (p *parser) step(n *yaml.Node, index int, flowName string) *Step {
	s := &Step{Pos: p.pos(n), OnError: OnErrorFail, flow: flowName, With: &Mapping{root: &vnode{kind: vMap, pos: p.pos(n)}}}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "step %d: expected a mapping with id and op, got %s", index+1, kindName(n))
		return nil
	}
	keys := p.keys(n, stepKeys, "step")
	if k, ok := keys["id"]; ok {
		if id, ok := p.str(k.val, "id"); ok {
			s.ID = id
			if !stepIDRe.MatchString(id) {
				p.errorf(k.val, "step id %q: expected a letter or _ then letters, digits and _ (it is read as steps.%s)", id, id)
			}
		}
	} else {
		p.errorf(n, "step %d: missing id: expected a name such as contact (later steps read its result as steps.<id>)", index+1)
	}
	if k, ok := keys["name"]; ok {
		s.Name, _ = p.str(k.val, "name")
	}
	if k, ok := keys["op"]; ok {
		if id, ok := p.str(k.val, "op"); ok {
			s.Op = id
			if id != OpHTTP {
				if op, found := catalog.Get(id); found {
					s.Operation = op
				} else {
					p.errorf(k.val, "%s", unknownOp(id, false))
				}
			}
		}
	} else {
		p.errorf(n, "step %d: missing op: expected a catalog operation such as contacts.upsert, or http", index+1)
	}
	if k, ok := keys["when"]; ok {
		if src, ok := p.str(k.val, "when"); ok {
			s.When = src
			p.compileWhen(s, k.val)
		}
	}
	if k, ok := keys["with"]; ok {
		s.With = p.mapping(k.val, "with")
	}
	if k, ok := keys["on_error"]; ok {
		if v, ok := p.str(k.val, "on_error"); ok {
			if slices.Contains(onErrors, v) {
				s.OnError = OnError(v)
			} else {
				p.errorf(k.val, "on_error %q: expected one of %s%s", v, strings.Join(onErrors, ", "), suggestion(v, onErrors, false))
			}
		}
	}
	if k, ok := keys["replace_tags"]; ok {
		s.ReplaceTags = p.boolean(k.val, "replace_tags")
		if s.ReplaceTags && s.Operation != nil && !s.Operation.HasBodyField("tags") {
			p.errorf(k.key, "replace_tags: %s has no tags field", s.Op)
		}
	}
	if k, ok := keys["clear_empty"]; ok {
		s.ClearEmpty = p.strList(k.val, "clear_empty")
		p.checkClearEmpty(s, k.val)
	}
	switch {
	case s.Op == OpHTTP:
		p.checkHTTP(s, n)
	case s.Operation != nil:
		p.checkParams(s.With, s.Operation, false, "with")
		p.checkCustomFields(s)
	}
	p.keyed(s, n, keys)
	return s
}

func (p *parser) compileWhen(s *Step, n *yaml.Node) {
	src := strings.TrimSpace(s.When)
	start, exact := p.contentStart(n)
	if !exact {
		start = p.pos(n)
	}
	// "{{ cond }}" is accepted too, for symmetry with with: values.
	if strings.HasPrefix(src, "{{") && strings.HasSuffix(src, "}}") && strings.Count(src, "{{") == 1 {
		inner := src[2 : len(src)-2]
		start.Column += 2 + leadingSpace(inner)
		src = strings.TrimSpace(inner)
	}
	c, err := compileExpr(src, start)
	if err != nil {
		p.errs = append(p.errs, err)
		return
	}
	switch c.resultKind() {
	case reflect.Bool, reflect.Interface:
		s.when = c
	default:
		p.errorf(n, "when: expected a condition that is true or false, got an expression of type %s", c.prog.Node().Type())
	}
}

// checkRefs verifies the environment an expression reads: steps.<id> must
// be an earlier step, env.<NAME> must carry the GHLSYNC_FLOW_ prefix, and a
// poll's params may not read the event or steps.
func (p *parser) checkRefs(c *compiled, prior []string, self string, poll bool, all ...string) {
	if poll {
		for _, name := range []string{"event", "steps", "meta"} {
			if c.refs.names[name] {
				p.errorAt(c.pos, "expression %q: a poll's params cannot read %s (only connection, env and now)", c.src, name)
			}
		}
	}
	for _, r := range c.refs.steps {
		pos := c.at(r.line, r.col)
		switch {
		case poll:
		case slices.Contains(prior, r.name):
		case r.name == self:
			p.errorAt(pos, "steps.%s: a step cannot read its own result", r.name)
		case slices.Contains(all, r.name):
			p.errorAt(pos, "steps.%s: step %q runs after this one; a step can read only earlier steps", r.name, r.name)
		default:
			p.errorAt(pos, "steps.%s: no earlier step has id %q%s", r.name, r.name, suggestion(r.name, prior, true))
		}
	}
	for _, r := range c.refs.env {
		if !strings.HasPrefix(r.name, EnvVarPrefix) {
			p.errorAt(c.at(r.line, r.col), "env.%s: flows can read only environment variables named %s*", r.name, EnvVarPrefix)
		}
	}
}

func unknownOp(id string, trigger bool) string {
	var sug []string
	for _, s := range catalog.Suggest(id) {
		if op, _ := catalog.Get(s); !trigger || op.Kind == catalog.Trigger {
			sug = append(sug, s)
		}
	}
	if !trigger && levenshtein(strings.ToLower(id), OpHTTP) <= 1 {
		sug = append(sug, OpHTTP)
	}
	if len(sug) > 0 {
		return fmt.Sprintf("unknown operation %q (did you mean %s?)", id, strings.Join(sug, ", "))
	}
	return fmt.Sprintf("unknown operation %q: expected a catalog operation id such as contacts.upsert (see `ghlsync ops list`)", id)
}

// suggestion returns " (did you mean "x"?)" for the closest candidate, or,
// when list is set and nothing is close, " (expected one of a, b, c)".
func suggestion(got string, candidates []string, list bool) string {
	best, bestD := "", 1<<30
	low := strings.ToLower(got)
	for _, c := range candidates {
		d := levenshtein(low, strings.ToLower(c))
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if best != "" && (bestD <= 2 || bestD <= len(got)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if list && len(candidates) > 0 {
		shown := candidates
		more := ""
		if len(shown) > 12 {
			shown, more = shown[:12], ", ..."
		}
		return " (expected one of " + strings.Join(shown, ", ") + more + ")"
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

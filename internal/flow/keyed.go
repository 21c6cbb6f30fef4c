package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// OnMissing says what a keyed step does when its update operation answers
// 404: the object its key maps to was deleted in GoHighLevel.
type OnMissing string

const (
	// OnMissingFail fails the step (the default): a person decides.
	OnMissingFail OnMissing = "fail"
	// OnMissingCreate creates the object again and maps the key to it.
	OnMissingCreate OnMissing = "create"
	// OnMissingSkip records the step as skipped and goes on.
	OnMissingSkip OnMissing = "skip"
)

// StepUpdate is the update half of a keyed create-or-update step.
type StepUpdate struct {
	// Op is the catalog operation that changes the existing object.
	Op        string
	Operation *catalog.Operation
	// IDParam is the path parameter of Op that takes the object's id.
	IDParam string
	// With is the step's with: restricted to the fields Op takes; Dropped
	// lists the other keys (sent on create only, such as contactId).
	With    *Mapping
	Dropped []string
	Pos     Position
}

// Keyed reports whether the step has a key: it creates its object once per
// key value and remembers the object's id (see KeyFor).
func (s *Step) Keyed() bool { return s.key != nil }

// KeyFor evaluates the step's key for env. An empty key is an *EvalError:
// the event lacks what the key is made of.
func (s *Step) KeyFor(env *Env) (string, error) {
	if s.key == nil {
		return "", nil
	}
	v, f := s.key.eval(env.view(s.flow))
	if f != nil {
		return "", &EvalError{Flow: s.flow, Step: s.ID, Field: "key", Pos: f.pos, Err: f.err}
	}
	k, err := toString(v)
	if err != nil {
		return "", &EvalError{Flow: s.flow, Step: s.ID, Field: "key", Pos: s.key.pos, Err: err}
	}
	if strings.TrimSpace(k) == "" || s.key.kind == vTemplate && strings.TrimSpace(k) == strings.TrimSpace(s.keyLiteralText()) {
		return "", &EvalError{Flow: s.flow, Step: s.ID, Field: "key", Pos: s.key.pos,
			Err: fmt.Errorf("key %q evaluated empty: the event lacks what the key is made of", s.Key)}
	}
	return k, nil
}

// keyLiteralText is the key template with every expression left out: a key
// that evaluates to just that has no part from the event.
func (s *Step) keyLiteralText() string {
	var b strings.Builder
	for _, p := range s.key.parts {
		if p.expr == nil {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// UpdateRequest evaluates the step's update for the object with the given
// GoHighLevel id: the update operation with the step's mapping (fields the
// update operation does not take are left out) and IDParam set to id. The
// caller has already evaluated when:.
func (s *Step) UpdateRequest(ctx context.Context, env *Env, id string) (*Request, error) {
	u := s.Update
	if u == nil {
		return nil, fmt.Errorf("step %q has no update", s.ID)
	}
	b := &builder{flow: s.flow, step: s.ID, clear: s.ClearEmpty, env: env}
	vals, err := b.evalMapping(u.With)
	if err != nil {
		return nil, err
	}
	req, err := b.opRequest(u.Operation, u.With, vals, false)
	if err != nil {
		return nil, err
	}
	req.Path[u.IDParam] = id
	if err := b.tagsFor(u.Operation, u.With, s.ReplaceTags, req, vals); err != nil {
		return nil, err
	}
	if err := b.customFieldsOf(ctx, u.With, u.Op, req); err != nil {
		return nil, err
	}
	return req, nil
}

// Needs lists the earlier steps whose answers the step's when:, key and
// with: read, in flow order.
func (s *Step) Needs() []string {
	var out []string
	for _, c := range s.exprs() {
		for _, r := range c.refs.steps {
			if !slices.Contains(out, r.name) {
				out = append(out, r.name)
			}
		}
	}
	return out
}

// keyed parses and checks key:, update: and on_missing: of a step.
func (p *parser) keyed(s *Step, n *yaml.Node, keys map[string]keyed) {
	k, hasKey := keys["key"]
	u, hasUpdate := keys["update"]
	m, hasMissing := keys["on_missing"]
	if !hasKey {
		if hasUpdate {
			p.errorf(u.key, "update: needs key: (the external id that says which object to update)")
		}
		if hasMissing {
			p.errorf(m.key, "on_missing: applies only to a keyed step with update:")
		}
		return
	}
	s.OnMissing = OnMissingFail
	if src, ok := p.str(k.val, "key"); ok {
		s.Key = src
		before := len(p.errs)
		v := p.compileValue(k.val)
		if v.kind != vExpr && v.kind != vTemplate {
			if len(p.errs) == before { // else the expression's own error says it
				p.errorf(k.val, "key: expected an expression such as \"apt:{{ event.data.id }}\": a fixed key would map every event to one object")
			}
		} else {
			s.key = v
		}
	}
	switch {
	case s.Op == OpHTTP:
		p.errorf(k.key, "key: needs a GoHighLevel operation that creates an object, not http")
	case s.Operation != nil && s.Operation.Method != "POST":
		p.errorf(k.key, "key: %s does not create anything (%s); a keyed step's op creates the object, and update: changes it", s.Op, s.Operation.Method)
	}
	if hasUpdate {
		s.Update = p.update(s, u.val)
	}
	if hasMissing {
		if v, ok := p.str(m.val, "on_missing"); ok {
			switch {
			case !slices.Contains(onMissings, v):
				p.errorf(m.val, "on_missing %q: expected one of %s%s", v, strings.Join(onMissings, ", "), suggestion(v, onMissings, false))
			case !hasUpdate:
				p.errorf(m.key, "on_missing: applies only when the step has update: (without it an existing key means the object exists and is reused)")
			default:
				s.OnMissing = OnMissing(v)
			}
		}
	}
}

// update parses update: {op, id_param} and restricts the step's mapping to
// the fields the update operation takes.
func (p *parser) update(s *Step, n *yaml.Node) *StepUpdate {
	u := &StepUpdate{Pos: p.pos(n)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "update: expected a mapping such as {op: calendars.updateAppointment, id_param: eventId}, got %s", kindName(n))
		return nil
	}
	keys := p.keys(n, updateKeys, "update")
	if o, ok := keys["op"]; ok {
		if id, ok := p.str(o.val, "op"); ok {
			u.Op = id
			if op, found := catalog.Get(id); found {
				u.Operation = op
			} else {
				p.errorf(o.val, "update: %s", unknownOp(id, false))
			}
		}
	} else {
		p.errorf(n, "update: missing op: expected the operation that changes the object, such as calendars.updateAppointment")
	}
	if u.Operation == nil {
		return nil
	}
	op := u.Operation
	if ip, ok := keys["id_param"]; ok {
		if v, ok := p.str(ip.val, "id_param"); ok {
			if slices.Contains(op.PathParams, v) {
				u.IDParam = v
			} else {
				p.errorf(ip.val, "update: id_param %q is not a path parameter of %s%s", v, op.ID, suggestion(v, op.PathParams, true))
			}
		}
	} else if len(op.PathParams) == 1 {
		u.IDParam = op.PathParams[0]
	} else {
		p.errorf(n, "update: missing id_param: name the path parameter of %s that takes the object's id (one of %s)", op.ID, strings.Join(op.PathParams, ", "))
	}
	if u.IDParam == "" {
		return nil
	}
	// The update sends what both operations take; the id comes from the key.
	names := fieldNames(op)
	w := &vnode{kind: vMap, pos: s.With.root.pos}
	for i, key := range s.With.root.keys {
		if key == u.IDParam || !slices.Contains(names, key) {
			u.Dropped = append(u.Dropped, key)
			continue
		}
		w.keys = append(w.keys, key)
		w.keyPos = append(w.keyPos, s.With.root.keyPos[i])
		w.vals = append(w.vals, s.With.root.vals[i])
	}
	u.With = &Mapping{root: w}
	if s.With.Has(u.IDParam) {
		p.errorAt(s.With.Pos(u.IDParam), "with: %s is set from the key's stored id when the step updates; do not map it", u.IDParam)
	}
	var missing []string
	for _, r := range requiredNames(op) {
		if r == u.IDParam || u.With.Has(r) {
			continue
		}
		if _, auto := AutoParams[r]; auto {
			continue
		}
		missing = append(missing, r)
	}
	if len(missing) > 0 {
		p.errorAt(u.Pos, "update: %s needs %s, which with: does not map", op.ID, strings.Join(missing, ", "))
	}
	if len(u.With.Keys()) == 0 {
		p.errorAt(u.Pos, "update: none of the with: fields (%s) is a field of %s, so an update would change nothing", strings.Join(s.With.Keys(), ", "), op.ID)
	}
	return u
}

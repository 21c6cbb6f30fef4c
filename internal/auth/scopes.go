package auth

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ghlsync/ghlsync/internal/flow"
	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// ScopeName strips the catalog's remarks from a scope
// ("snapshots.readonly (docs/...)" → "snapshots.readonly").
func ScopeName(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, " \t("); i >= 0 {
		s = s[:i]
	}
	return s
}

// RequiredScopes returns the scopes the operations need, sorted, without
// duplicates.
func RequiredScopes(ops []*catalog.Operation) []string {
	set := map[string]bool{}
	for _, op := range ops {
		if op == nil {
			continue
		}
		for _, s := range op.Scopes {
			if n := ScopeName(s); n != "" {
				set[n] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// MissingScopes returns the scopes the operations need that granted lacks,
// sorted. GoHighLevel scopes do not imply each other: contacts.write does
// not grant contacts.readonly.
func MissingScopes(granted []string, ops []*catalog.Operation) []string {
	have := map[string]bool{}
	for _, g := range granted {
		have[ScopeName(g)] = true
	}
	var out []string
	for _, s := range RequiredScopes(ops) {
		if !have[s] {
			out = append(out, s)
		}
	}
	return out
}

// FlowOperations returns the catalog operations a flow calls: its poll
// trigger's, each step's, and the ones the engine calls on a step's behalf
// (the custom field list when a step maps customFields).
func FlowOperations(f *flow.Flow) []*catalog.Operation {
	var ops []*catalog.Operation
	add := func(op *catalog.Operation) {
		if op != nil && !slices.Contains(ops, op) {
			ops = append(ops, op)
		}
	}
	if f.Trigger.Poll != nil {
		add(f.Trigger.Poll.Operation)
	}
	for _, s := range f.Steps {
		add(s.Operation)
		if s.Update != nil { // a keyed step's update of an existing object
			add(s.Update.Operation)
		}
		if s.Operation != nil && s.With != nil && s.With.Has("customFields") {
			if op, ok := catalog.Get("customFields.list"); ok {
				add(op)
			}
		}
		if s.Operation != nil && s.With != nil && s.With.Has("tags") && (s.Op == "contacts.upsert" || s.Op == "contacts.update") {
			if op, ok := catalog.Get("contacts.addTags"); ok {
				add(op)
			}
		}
	}
	return ops
}

// TimezoneScope lets the engine read the location's time zone, which date
// helpers (due dates, appointment times) compute in. It is not tied to any
// step, so FlowScopes adds it on its own.
const TimezoneScope = "locations.readonly"

// FlowScopes returns every scope the flows need, sorted: what `ghlsync auth
// login` asks for by default. Besides the scopes of the flows' operations it
// asks for TimezoneScope, without which dates would be computed in UTC.
func FlowScopes(flows []*flow.Flow) []string {
	if len(flows) == 0 {
		return nil
	}
	var ops []*catalog.Operation
	for _, f := range flows {
		ops = append(ops, FlowOperations(f)...)
	}
	scopes := RequiredScopes(ops)
	if !slices.Contains(scopes, TimezoneScope) {
		scopes = append(scopes, TimezoneScope)
		slices.Sort(scopes)
	}
	return scopes
}

// ScopeError names a flow, its connection and the scopes it lacks.
type ScopeError struct {
	Flow       string
	File       string
	Connection string
	Missing    []string
	// Ops maps each missing scope to the operations needing it.
	Ops map[string][]string
}

func (e *ScopeError) Error() string {
	var parts []string
	for _, s := range e.Missing {
		parts = append(parts, fmt.Sprintf("%s (for %s)", s, strings.Join(e.Ops[s], ", ")))
	}
	where := "flow " + e.Flow
	if e.File != "" {
		where = e.File + ": " + where
	}
	return fmt.Sprintf("%s: connection %q lacks scope %s; authorise it again with these scopes (`ghlsync auth login --name %s --scope ...`) or use a token that has them",
		where, e.Connection, strings.Join(parts, ", "), e.Connection)
}

// Unwrap makes errors.Is(err, ErrMissingScopes) true.
func (e *ScopeError) Unwrap() error { return ErrMissingScopes }

// CheckScopes reports, as a *ScopeError, the scopes of ops that the
// connection lacks. A Private Integration Token whose scopes were never
// declared cannot be judged and passes.
func CheckScopes(info ConnInfo, flowName string, ops []*catalog.Operation) error {
	if !info.ScopesKnown {
		return nil
	}
	missing := MissingScopes(info.Scopes, ops)
	if len(missing) == 0 {
		return nil
	}
	e := &ScopeError{Flow: flowName, Connection: info.Name, Missing: missing, Ops: map[string][]string{}}
	for _, op := range ops {
		for _, s := range op.Scopes {
			n := ScopeName(s)
			if slices.Contains(missing, n) && !slices.Contains(e.Ops[n], op.ID) {
				e.Ops[n] = append(e.Ops[n], op.ID)
			}
		}
	}
	return e
}

// DefaultConnection is the connection a flow without `connection:` uses.
const DefaultConnection = "default"

// FlowConnection returns the connection name a flow uses.
func FlowConnection(f *flow.Flow) string {
	if f.Connection == "" {
		return DefaultConnection
	}
	return f.Connection
}

// CheckFlow checks that the flow's connection exists and holds every scope
// its operations need. The engine calls it when loading flows; the error is
// a *ScopeError listing the missing scopes, or a *ConnError.
func (m *Manager) CheckFlow(ctx context.Context, f *flow.Flow) error {
	info, err := m.Status(ctx, FlowConnection(f))
	if err != nil {
		return fmt.Errorf("flow %s: %w", f.Name, err)
	}
	if err := CheckScopes(info, f.Name, FlowOperations(f)); err != nil {
		se := err.(*ScopeError)
		se.File = f.File
		return se
	}
	return nil
}

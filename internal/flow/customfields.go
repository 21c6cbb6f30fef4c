package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CustomField is one custom field definition of a location, as listed by
// GET /locations/{locationId}/customFields.
type CustomField struct {
	ID       string
	Name     string
	FieldKey string // e.g. "contact.resumo"
	DataType string // TEXT, LARGE_TEXT, NUMERICAL, MONETORY, CHECKBOX, DATE, ...
	Model    string // contact or opportunity
}

// FieldResolver lists a location's custom fields for a model ("contact" or
// "opportunity"). The engine supplies one backed by the GHL client and
// caches its answers.
type FieldResolver interface {
	Fields(ctx context.Context, locationID, model string) ([]CustomField, error)
}

// CustomFieldValue is one resolved custom field of a request.
type CustomFieldValue struct {
	Ref      string `json:"ref"` // as written under customFields: (name, key or id)
	ID       string `json:"id"`
	Name     string `json:"name"`
	FieldKey string `json:"fieldKey"`
	DataType string `json:"dataType"`
	Value    any    `json:"value"` // typed for DataType; what is sent as field_value
}

// CustomFieldModel returns the custom field model an operation writes:
// "opportunity" for opportunities.*, else "contact".
func CustomFieldModel(opID string) string {
	if strings.HasPrefix(opID, "opportunities.") {
		return "opportunity"
	}
	return "contact"
}

func (b *builder) customFields(ctx context.Context, s *Step, req *Request) error {
	return b.customFieldsOf(ctx, s.With, s.Op, req)
}

func (b *builder) customFieldsOf(ctx context.Context, m *Mapping, opID string, req *Request) error {
	cf := m.child("customFields")
	if cf == nil || cf.kind != vMap {
		return nil
	}
	view := b.env.view(b.flow)
	type pending struct {
		ref   string
		pos   Position
		value any
		clear bool
	}
	var todo []pending
	for i, ref := range cf.keys {
		v, f := cf.vals[i].eval(view)
		if f != nil {
			return b.fail("customFields."+ref, f.pos, f.err)
		}
		v = normalizeOut(v)
		if isEmpty(v) {
			if !b.cleared("customFields."+ref) && !b.cleared("customFields") {
				b.omitted = append(b.omitted, "customFields."+ref)
				continue
			}
			todo = append(todo, pending{ref, cf.keyPos[i], v, true})
			continue
		}
		todo = append(todo, pending{ref, cf.keyPos[i], v, false})
	}
	req.Omitted = b.omitted
	if len(todo) == 0 {
		return nil
	}
	if b.env.Fields == nil {
		return b.fail("customFields", cf.pos, fmt.Errorf("custom fields need a field resolver (none configured)"))
	}
	model := CustomFieldModel(opID)
	loc := b.env.Connection.LocationID
	fields, err := b.env.Fields.Fields(ctx, loc, model)
	if err != nil {
		// Not an EvalError: the lookup failed, not the data; the engine
		// classifies (and may retry) the resolver's error itself.
		return fmt.Errorf("%s: step %q: listing %s custom fields of location %s: %w", cf.pos, b.step, model, loc, err)
	}
	var items []any
	for _, t := range todo {
		f, err := findField(fields, t.ref)
		if err != nil {
			return b.fail("customFields."+t.ref, t.pos, err)
		}
		var val any
		if t.clear {
			val = clearedValue(f.DataType)
		} else if val, err = typedFieldValue(f, t.value); err != nil {
			return b.fail("customFields."+t.ref, t.pos, err)
		}
		req.CustomFields = append(req.CustomFields, CustomFieldValue{Ref: t.ref, ID: f.ID, Name: f.Name, FieldKey: f.FieldKey, DataType: f.DataType, Value: val})
		items = append(items, map[string]any{"id": f.ID, "field_value": val})
	}
	if req.Body == nil {
		req.Body = map[string]any{}
	}
	req.Body["customFields"] = items
	return nil
}

// findField matches ref against a field's id, key (with or without the
// "contact." prefix) and name (exact, then ignoring case).
func findField(fields []CustomField, ref string) (CustomField, error) {
	ref = strings.TrimSpace(ref)
	for _, f := range fields {
		if f.ID == ref || f.FieldKey == ref {
			return f, nil
		}
	}
	for _, f := range fields {
		if _, short, ok := strings.Cut(f.FieldKey, "."); ok && short == ref {
			return f, nil
		}
	}
	for _, f := range fields {
		if f.Name == ref {
			return f, nil
		}
	}
	var found []CustomField
	for _, f := range fields {
		if strings.EqualFold(f.Name, ref) {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		var names []string
		for _, f := range fields {
			names = append(names, f.Name, f.FieldKey)
		}
		return CustomField{}, fmt.Errorf("no custom field with name, key or id %q in this location%s", ref, suggestion(ref, names, false))
	}
	var ids []string
	for _, f := range found {
		ids = append(ids, f.ID)
	}
	return CustomField{}, fmt.Errorf("custom field name %q matches %d fields (%s); use the field key or id", ref, len(found), strings.Join(ids, ", "))
}

func clearedValue(dataType string) any {
	switch strings.ToUpper(dataType) {
	case "CHECKBOX", "MULTIPLE_OPTIONS", "TEXTBOX_LIST":
		return []any{}
	}
	return ""
}

// typedFieldValue converts v to the JSON type GoHighLevel expects for the
// field's data type; a value that cannot be converted is an error naming
// the field.
func typedFieldValue(f CustomField, v any) (any, error) {
	label := fmt.Sprintf("custom field %q (%s)", f.Name, f.DataType)
	switch strings.ToUpper(f.DataType) {
	case "NUMERICAL", "MONETORY", "MONETARY":
		n, ok, err := parseNumber(v)
		if err != nil || !ok {
			return nil, fmt.Errorf("%s: expected a number, got %s", label, shortValue(v))
		}
		return numberValue(n), nil
	case "CHECKBOX", "MULTIPLE_OPTIONS":
		var out []any
		var parts []string
		var err error
		if s, ok := v.(string); ok {
			parts = []string{s}
		} else if parts, err = flatten(v, nil); err != nil {
			return nil, fmt.Errorf("%s: expected a list of options, got %s", label, describe(v))
		}
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, any(p)) {
				out = append(out, p)
			}
		}
		return out, nil
	case "TEXTBOX_LIST":
		// One text per box, in order: sent as a list of text, the array
		// form of GHL's custom field input.
		var parts []string
		var err error
		if s, ok := v.(string); ok {
			parts = []string{s}
		} else if l, ok := toList(v); ok && v != nil {
			if parts, err = flatten(l, nil); err != nil {
				return nil, fmt.Errorf("%s: expected text or a list of text, got %s", label, describe(v))
			}
		} else {
			s, err := toString(v)
			if err != nil {
				return nil, fmt.Errorf("%s: expected text or a list of text, got %s", label, describe(v))
			}
			parts = []string{s}
		}
		out := []any{}
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case "DATE":
		t, ok, err := toTime(v, "")
		if err != nil || !ok {
			return nil, fmt.Errorf("%s: expected a date such as 2026-03-02, got %s", label, shortValue(v))
		}
		return t.Format(time.DateOnly), nil
	case "TEXT", "LARGE_TEXT", "SINGLE_OPTIONS", "RADIO", "PHONE", "EMAIL":
		if l, ok := toList(v); ok && v != nil {
			parts, err := flatten(l, nil)
			if err != nil {
				return nil, fmt.Errorf("%s: expected text, got %s", label, describe(v))
			}
			return strings.Join(parts, ", "), nil
		}
		s, err := toString(v)
		if err != nil {
			return nil, fmt.Errorf("%s: expected text, got %s", label, describe(v))
		}
		return s, nil
	}
	// FILE_UPLOAD and types not known here are passed through unchanged.
	return v, nil
}

// shortValue quotes a value for an error message, cut to a readable length.
func shortValue(v any) string {
	s, err := toString(v)
	if err != nil {
		return describe(v)
	}
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "..."
	}
	return fmt.Sprintf("%q", s)
}

// CheckCustomFields resolves every custom field a flow maps against the
// location's definitions and checks literal values against their data
// types. Problems (an unknown or ambiguous name, "abc" for a number) come
// back as an ErrorList with positions; the error reports a resolver failure.
// The engine calls it when it starts a flow, once the connection is known.
func (f *Flow) CheckCustomFields(ctx context.Context, r FieldResolver, locationID string) (ErrorList, error) {
	var problems ErrorList
	cache := map[string][]CustomField{}
	for _, s := range f.Steps {
		cf := s.With.child("customFields")
		if cf == nil || cf.kind != vMap {
			continue
		}
		model := CustomFieldModel(s.Op)
		fields, ok := cache[model]
		if !ok {
			var err error
			if fields, err = r.Fields(ctx, locationID, model); err != nil {
				return nil, fmt.Errorf("flow %s: listing %s custom fields of location %s: %w", f.Name, model, locationID, err)
			}
			cache[model] = fields
		}
		for i, ref := range cf.keys {
			field, err := findField(fields, ref)
			if err != nil {
				problems = append(problems, &Error{Pos: cf.keyPos[i], Msg: fmt.Sprintf("step %q: customFields: %v", s.ID, err)})
				continue
			}
			if v := cf.vals[i]; v.isLiteral() && !isEmpty(v.literalValue()) {
				if _, err := typedFieldValue(field, v.literalValue()); err != nil {
					problems = append(problems, &Error{Pos: v.pos, Msg: fmt.Sprintf("step %q: %v", s.ID, err)})
				}
			}
		}
	}
	problems.Sort()
	return problems, nil
}

package flow

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// AutoParams maps the parameter names the engine fills from the connection
// (when an operation requires them and the mapping leaves them out) to the
// connection field supplying them.
var AutoParams = map[string]string{
	"locationId":  "locationId",
	"location_id": "locationId",
	"companyId":   "companyId",
	"company_id":  "companyId",
}

// extraBodyFields lists body fields an operation accepts that the catalog
// leaves out because the official spec declares an empty body schema (the
// catalog's notes describe them).
var extraBodyFields = map[string][]string{
	"contacts.search": {"page", "searchAfter", "filters", "sort", "query"},
}

// fieldNames returns every name a mapping may use for op, in the order
// path, query, body.
func fieldNames(op *catalog.Operation) []string {
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range op.PathParams {
		add(n)
	}
	for _, q := range op.Query {
		add(q.Name)
	}
	for _, b := range op.Body {
		add(b)
	}
	for _, b := range extraBodyFields[op.ID] {
		add(b)
	}
	return out
}

// PagingParams lists the parameters the poller sets itself while paging
// through op (limit, cursor, page, window bounds).
func PagingParams(op *catalog.Operation) []string {
	pg := op.Pagination
	if pg == nil {
		return nil
	}
	var out []string
	for _, n := range []string{pg.LimitParam, pg.CursorParam, pg.PageParam, pg.StartParam, pg.EndParam} {
		if n != "" {
			out = append(out, n)
		}
	}
	if pg.Style == catalog.PageStartAfter {
		out = append(out, "startAfter", "startAfterId")
	}
	return out
}

// requiredNames lists the parameters op cannot be sent without.
func requiredNames(op *catalog.Operation) []string {
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range op.PathParams {
		add(n)
	}
	for _, n := range op.RequiredQuery() {
		add(n)
	}
	for _, n := range op.BodyRequired {
		add(n)
	}
	return out
}

func (p *parser) checkParams(m *Mapping, op *catalog.Operation, poll bool, what string) {
	names := fieldNames(op)
	paging := PagingParams(op)
	for i, k := range m.root.keys {
		if slices.Contains(names, k) {
			continue
		}
		msg := fmt.Sprintf("%s: %s has no parameter or body field %q", what, op.ID, k)
		if len(names) == 0 {
			msg += " (it takes no parameters)"
		} else {
			msg += suggestion(k, names, true)
		}
		p.errorAt(m.root.keyPos[i], "%s", msg)
	}
	var missing []string
	for _, n := range requiredNames(op) {
		if m.Has(n) {
			continue
		}
		if _, auto := AutoParams[n]; auto {
			continue
		}
		if poll && slices.Contains(paging, n) {
			continue
		}
		missing = append(missing, n)
	}
	if len(missing) > 0 {
		p.errorAt(m.root.pos, "%s: %s needs %s: add %s under %s:", what, op.ID, strings.Join(missing, ", "),
			plural(len(missing), "it", "them"), what)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (p *parser) checkCustomFields(s *Step) {
	cf := s.With.child("customFields")
	if cf == nil {
		return
	}
	if cf.kind != vMap {
		p.errorAt(cf.pos, "customFields: expected a mapping of field key, name or id to value, such as contact.resumo: \"{{ event.summary }}\"")
		return
	}
	for i, k := range cf.keys {
		if strings.TrimSpace(k) == "" {
			p.errorAt(cf.keyPos[i], "customFields: empty field name")
		}
	}
}

func (p *parser) checkClearEmpty(s *Step, n *yaml.Node) {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	keys := s.With.Keys()
	for _, it := range items {
		if it.Kind != yaml.ScalarNode || it.Value == "" {
			continue
		}
		name := it.Value
		top, rest, nested := strings.Cut(name, ".")
		if !s.With.Has(top) {
			p.errorf(it, "clear_empty: %q is not mapped under with:%s", top, suggestion(top, keys, true))
			continue
		}
		if top == "customFields" && nested {
			cf := s.With.child("customFields")
			if cf != nil && cf.kind == vMap && !slices.Contains(cf.keys, rest) {
				p.errorf(it, "clear_empty: custom field %q is not mapped under with.customFields:%s", rest, suggestion(rest, cf.keys, true))
			}
		}
	}
}

var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (p *parser) checkHTTP(s *Step, n *yaml.Node) {
	for i, k := range s.With.root.keys {
		if !slices.Contains(httpKeys, k) {
			p.errorAt(s.With.root.keyPos[i], "with: an http step takes %s, not %q%s", strings.Join(httpKeys, ", "), k, suggestion(k, httpKeys, false))
		}
	}
	if !s.With.Has("url") {
		p.errorAt(s.With.root.pos, "with: an http step needs url:")
	}
	if m := s.With.child("method"); m != nil && m.kind == vLiteral {
		method, _ := m.lit.(string)
		if !slices.Contains(httpMethods, strings.ToUpper(method)) {
			p.errorAt(m.pos, "method %q: expected one of %s", method, strings.Join(httpMethods, ", "))
		}
	}
	for _, k := range []string{"headers", "query"} {
		if c := s.With.child(k); c != nil && c.kind != vMap {
			p.errorAt(c.pos, "%s: expected a mapping of name: value", k)
		}
	}
	if u := s.With.child("url"); u != nil && u.kind == vLiteral {
		url, _ := u.lit.(string)
		if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
			p.errorAt(u.pos, "url %q: expected an absolute http:// or https:// URL", url)
		}
	}
}

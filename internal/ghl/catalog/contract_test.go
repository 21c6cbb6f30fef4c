package catalog_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
	"github.com/ghlsync/ghlsync/internal/testutil"
)

// The contract test maps every catalog operation onto the official GHL API
// v2 OpenAPI specs (../shared/ghl-openapi/apps/*.json) and checks method,
// path, Version header, scopes, token type and path parameters. Where the
// specs are known to be wrong or silent, the exception is listed below with
// its reason; an exception that no longer matches a real mismatch fails the
// test, so the list cannot go stale and nothing is skipped silently.

// Check names used in the exception table.
const (
	chkPath      = "path"      // method + path not found in any spec
	chkVersion   = "version"   // spec declares no Version header
	chkSecurity  = "security"  // spec declares no security (so no scopes, no token type)
	chkScopes    = "scopes"    // spec scopes differ from the catalog's
	chkPathParam = "pathParam" // a {param} of the path is not declared in the spec
	chkBody      = "body"      // a catalog body field the spec's request body does not declare
)

type exception struct {
	check  string
	reason string
}

// knownDefects lists every place where the catalog deliberately differs from
// the specs, or the specs cannot say, with the reason.
var knownDefects = map[string][]exception{
	"contacts.bulkUpdateTags": {
		{chkPathParam, "the spec dropped the declaration of the {type} segment (add|remove) in 2026-05; the path still needs it"},
		{chkSecurity, "the spec has no security block for bulk tag update (v2 and v3); the catalog uses contacts.write, the scope of every other contact write"},
	},
	"contacts.bulkBusinessUpdate": {
		{chkSecurity, "the spec has no security block for bulk business update; the catalog uses contacts.write like other contact writes"},
	},
	"conversations.getEmail": {
		{chkSecurity, "the v2 spec has no security block; the v3 spec of the same endpoint requires conversations/message.readonly"},
		{chkVersion, "the v2 spec declares no Version header; the conversations service uses 2021-04-15"},
		{chkPathParam, "the spec does not declare the {id} path parameter"},
	},
	"conversations.getMessage": {
		{chkPathParam, "the spec does not declare the {id} path parameter"},
	},
	"calendars.updateAppointmentNote": {
		{chkPathParam, "the spec does not declare the {noteId} path parameter"},
	},
	"calendars.deleteAppointmentNote": {
		{chkPathParam, "the spec does not declare the {noteId} path parameter"},
	},
	"users.update": {
		{chkPathParam, "the spec does not declare the {userId} path parameter"},
	},
	"users.delete": {
		{chkPathParam, "the spec does not declare the {userId} path parameter"},
	},
	"blogs.updatePost": {
		{chkPathParam, "the spec does not declare the {postId} path parameter"},
	},
	"opportunities.upsert": {
		{chkBody, "contactId: the spec's body has no contact, yet every opportunity belongs to one; GHL needs contactId to create when nothing matches"},
	},
	"snapshots.list": {
		{chkScopes, "the spec's security requirement lists no scope; docs/oauth/Scopes.md names snapshots.readonly"},
	},
}

// mappedOps are catalog entries whose product name has no endpoint of its
// own; the test proves the claim each time it runs.
var mappedOps = map[string]struct {
	reason string
	absent []string // endpoints that must NOT exist in the specs
	uses   []string // endpoints that must exist
}{
	"contactsApiPage.createAppointment": {
		reason: "the Contacts API page names POST /contacts/{contactId}/appointments, which no spec has (only GET); appointments are created with POST /calendars/events/appointments and contactId in the body",
		absent: []string{"POST /contacts/{}/appointments"},
		uses:   []string{"POST /calendars/events/appointments", "GET /contacts/{}/appointments"},
	},
	"contacts.find": {
		reason: "\"Find Contact (by email, phone, or ID)\" has no single endpoint: by id it is GET /contacts/{contactId}, by email or phone the duplicate search GET /contacts/search/duplicate (the catalog row)",
		uses:   []string{"GET /contacts/{}", "GET /contacts/search/duplicate"},
	},
}

type specOp struct {
	file string
	path string
	op   *openapi3.Operation
	item *openapi3.PathItem
	doc  *openapi3.T
}

var paramRe = regexp.MustCompile(`\{[^}]*\}`)

func normPath(p string) string { return paramRe.ReplaceAllString(p, "{}") }

// loadSpecs loads every v2 spec. Specs kin-openapi refuses as they are are
// repaired first (object-valued "examples" inside schemas, references to
// schemas that do not exist); each repair is logged.
func loadSpecs(t *testing.T, dir string) map[string]*specOp {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "apps", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no specs under %s/apps (err %v)", dir, err)
	}
	index := map[string]*specOp{}
	for _, f := range files {
		doc, repairs, err := loadSpec(f)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if len(repairs) > 0 {
			t.Logf("%s: loaded leniently after %d repairs (%s)", filepath.Base(f), len(repairs), strings.Join(firstN(repairs, 3), "; "))
		}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				key := method + " " + normPath(path)
				if _, dup := index[key]; !dup {
					index[key] = &specOp{file: filepath.Base(f), path: path, op: op, item: item, doc: doc}
				}
			}
		}
	}
	return index
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

func loadSpec(file string) (*openapi3.T, []string, error) {
	newLoader := func() *openapi3.Loader {
		l := openapi3.NewLoader()
		l.IsExternalRefsAllowed = true
		return l
	}
	doc, err := newLoader().LoadFromFile(file)
	if err == nil {
		return doc, nil, nil
	}
	raw, rerr := os.ReadFile(file)
	if rerr != nil {
		return nil, nil, rerr
	}
	var tree map[string]any
	if jerr := json.Unmarshal(raw, &tree); jerr != nil {
		return nil, nil, fmt.Errorf("not JSON: %w (loader: %v)", jerr, err)
	}
	repairs := repairSpec(tree)
	fixed, _ := json.Marshal(tree)
	doc, err2 := newLoader().LoadFromDataWithPath(fixed, &url.URL{Path: file})
	if err2 != nil {
		return nil, repairs, fmt.Errorf("load failed even after repairs: %w (first error: %v)", err2, err)
	}
	return doc, repairs, nil
}

// repairSpec fixes what the loader cannot parse without changing what the
// contract test reads (paths, methods, parameters, security).
func repairSpec(tree map[string]any) []string {
	var repairs []string
	schemas := map[string]any{}
	if c, ok := tree["components"].(map[string]any); ok {
		if s, ok := c["schemas"].(map[string]any); ok {
			schemas = s
		}
	}
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch n := v.(type) {
		case map[string]any:
			if ex, ok := n["examples"].(map[string]any); ok && ex != nil && n["in"] == nil && n["schema"] == nil && isSchemaPlace(n, where) {
				delete(n, "examples")
				repairs = append(repairs, "object examples in schema "+where)
			}
			if ref, ok := n["$ref"].(string); ok && strings.HasPrefix(ref, "#/components/schemas/") {
				if _, ok := schemas[strings.TrimPrefix(ref, "#/components/schemas/")]; !ok {
					delete(n, "$ref")
					n["description"] = "unresolved reference " + ref
					repairs = append(repairs, "missing schema "+ref)
				}
			}
			keys := make([]string, 0, len(n))
			for k := range n {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(n[k], where+"/"+k)
			}
		case []any:
			for i, e := range n {
				walk(e, fmt.Sprintf("%s/%d", where, i))
			}
		}
	}
	walk(tree, "")
	return repairs
}

// isSchemaPlace reports whether the object at where is a schema (where an
// "examples" object is invalid) rather than a parameter or media type
// (where it is the Examples map).
func isSchemaPlace(n map[string]any, where string) bool {
	return n["type"] != nil || strings.Contains(where, "/components/schemas/") ||
		strings.Contains(where, "/properties/") || strings.HasSuffix(where, "/schema")
}

func TestCatalogAgainstSpecs(t *testing.T) {
	dir := testutil.SharedDir(t, "ghl-openapi")
	index := loadSpecs(t, dir)
	t.Logf("%d operations in the specs", len(index))

	used := map[string]map[string]bool{}
	mismatch := func(op *catalog.Operation, check, format string, args ...any) {
		for _, e := range knownDefects[op.ID] {
			if e.check == check {
				if used[op.ID] == nil {
					used[op.ID] = map[string]bool{}
				}
				used[op.ID][check] = true
				return
			}
		}
		t.Errorf("%s (%s %s): %s: %s", op.ID, op.Method, op.Path, check, fmt.Sprintf(format, args...))
	}

	mapped := 0
	for _, op := range catalog.All() {
		key := op.Method + " " + normPath(op.Path)
		so := index[key]
		if so == nil {
			mismatch(op, chkPath, "no spec has this endpoint")
			continue
		}
		if m, ok := mappedOps[op.ID]; ok {
			mapped++
			for _, a := range m.absent {
				if index[a] != nil {
					t.Errorf("%s: mapped because %q does not exist, but %s now has it: map the op to it", op.ID, a, index[a].file)
				}
			}
			for _, u := range m.uses {
				if index[u] == nil {
					t.Errorf("%s: the mapping relies on %q, which no spec has", op.ID, u)
				}
			}
		}

		// Version header.
		if v := specVersion(so); v == "" {
			mismatch(op, chkVersion, "spec declares no Version header (catalog %s)", op.Version)
		} else if v != op.Version {
			t.Errorf("%s: Version %s, spec %s (%s)", op.ID, op.Version, v, so.file)
		}

		// Security: scopes and token type.
		reqs := so.op.Security
		if reqs == nil {
			reqs = &so.doc.Security
		}
		if reqs == nil || len(*reqs) == 0 {
			mismatch(op, chkSecurity, "spec has no security requirement (catalog %v)", op.Scopes)
		} else {
			var scopes []string
			schemes := map[string]bool{}
			for _, r := range *reqs {
				for scheme, ss := range r {
					schemes[scheme] = true
					for _, s := range ss {
						if !slices.Contains(scopes, s) {
							scopes = append(scopes, s)
						}
					}
				}
			}
			want := slices.Clone(op.Scopes)
			slices.Sort(scopes)
			slices.Sort(want)
			if !slices.Equal(scopes, want) {
				mismatch(op, chkScopes, "catalog %v, spec %v (%s)", want, scopes, so.file)
			}
			if tok := tokenType(schemes); tok != op.Token {
				t.Errorf("%s: token %s, spec schemes %v imply %s", op.ID, op.Token, keys(schemes), tok)
			}
		}

		// Path parameters: the catalog's are exactly the template's, and
		// the spec declares each.
		var tmpl []string
		for _, m := range paramRe.FindAllString(op.Path, -1) {
			tmpl = append(tmpl, strings.Trim(m, "{}"))
		}
		if !slices.Equal(tmpl, op.PathParams) {
			t.Errorf("%s: pathParams %v, template has %v", op.ID, op.PathParams, tmpl)
		}
		specParams := paramRe.FindAllString(so.path, -1)
		for i, p := range specParams {
			name := strings.Trim(p, "{}")
			if !declaresPathParam(so, name) {
				mismatch(op, chkPathParam, "spec path %s does not declare {%s}", so.path, name)
			}
			if i < len(tmpl) && tmpl[i] != name {
				t.Logf("%s: path parameter {%s} is {%s} in the spec (names differ, position matches)", op.ID, tmpl[i], name)
			}
		}

		// Body fields: each is declared by the spec's request body, and the
		// types and enums the catalog records are the spec's.
		if len(op.Body) > 0 && !op.Form {
			checkBody(t, op, so, mismatch)
		}

		// Required query parameters the spec marks required are required in
		// the catalog too.
		for _, p := range allParams(so) {
			if p.In == "query" && p.Required && !slices.Contains(op.RequiredQuery(), p.Name) {
				t.Errorf("%s: spec requires query %s, catalog does not", op.ID, p.Name)
			}
		}
	}

	for id, exs := range knownDefects {
		if _, ok := catalog.Get(id); !ok {
			t.Errorf("exception for unknown operation %s", id)
			continue
		}
		for _, e := range exs {
			if !used[id][e.check] {
				t.Errorf("%s: listed spec defect %q (%s) no longer occurs: remove it from knownDefects", id, e.check, e.reason)
			}
		}
	}
	if mapped != len(mappedOps) {
		t.Errorf("checked %d mapped operations, table has %d", mapped, len(mappedOps))
	}
	n := 0
	for _, exs := range knownDefects {
		n += len(exs)
	}
	t.Logf("%d catalog operations mapped onto the specs; %d known spec defects and %d mapped operations listed with reasons",
		len(catalog.All()), n, len(mappedOps))
}

func specVersion(so *specOp) string {
	for _, p := range allParams(so) {
		if p.In == "header" && strings.EqualFold(p.Name, "Version") && p.Schema != nil && p.Schema.Value != nil {
			if len(p.Schema.Value.Enum) > 0 {
				return fmt.Sprint(p.Schema.Value.Enum[0])
			}
			if p.Schema.Value.Default != nil {
				return fmt.Sprint(p.Schema.Value.Default)
			}
		}
	}
	return ""
}

func allParams(so *specOp) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, ps := range []openapi3.Parameters{so.item.Parameters, so.op.Parameters} {
		for _, r := range ps {
			if r != nil && r.Value != nil {
				out = append(out, r.Value)
			}
		}
	}
	return out
}

func declaresPathParam(so *specOp, name string) bool {
	for _, p := range allParams(so) {
		if p.In == "path" && p.Name == name {
			return true
		}
	}
	return false
}

func tokenType(schemes map[string]bool) string {
	loc := schemes["bearer"] || schemes["Location-Access"] || schemes["Location-Access-Only"]
	ag := schemes["Agency-Access"] || schemes["Agency-Access-Only"]
	switch {
	case loc && ag:
		return catalog.TokenAny
	case ag:
		return catalog.TokenAgency
	default:
		return catalog.TokenLocation
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkBody compares the catalog's body fields with the spec's JSON request
// body schema.
func checkBody(t *testing.T, op *catalog.Operation, so *specOp, mismatch func(*catalog.Operation, string, string, ...any)) {
	t.Helper()
	if so.op.RequestBody == nil || so.op.RequestBody.Value == nil {
		return
	}
	mt := so.op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return
	}
	props := map[string]*openapi3.SchemaRef{}
	for n, p := range mt.Schema.Value.Properties {
		props[n] = p
	}
	for _, a := range mt.Schema.Value.AllOf {
		if a.Value != nil {
			for n, p := range a.Value.Properties {
				props[n] = p
			}
		}
	}
	if len(props) == 0 {
		return // the spec does not describe the body's fields
	}
	var extra []string
	for _, f := range op.Body {
		p, ok := props[f]
		if !ok {
			extra = append(extra, f)
			continue
		}
		got, _ := op.Field(f)
		want := catalog.Field{}
		if p.Value != nil {
			want = fieldOf(p.Value)
		}
		if got.Type != want.Type || !slices.Equal(got.Enum, want.Enum) {
			t.Errorf("%s: body field %s: catalog %+v, spec %+v (%s)", op.ID, f, got, want, so.file)
		}
	}
	if len(extra) > 0 {
		mismatch(op, chkBody, "body fields %v are not in the spec's request body (%s)", extra, so.file)
	}
}

// fieldOf reads the type and enum of a property schema the way the catalog
// records them (an array's enum is its items').
func fieldOf(s *openapi3.Schema) catalog.Field {
	var f catalog.Field
	if s.Type != nil && len(*s.Type) > 0 {
		f.Type = (*s.Type)[0]
	} else if len(s.Properties) > 0 || len(s.AllOf) > 0 {
		f.Type = "object"
	}
	if len(s.AnyOf) > 0 || len(s.OneOf) > 0 {
		if f.Type == "" {
			return catalog.Field{}
		}
	}
	enum := s.Enum
	if f.Type == "array" && s.Items != nil && s.Items.Value != nil && len(s.Items.Value.Enum) > 0 {
		enum = s.Items.Value.Enum
	}
	for _, e := range enum {
		f.Enum = append(f.Enum, fmt.Sprint(e))
	}
	return f
}

// Package catalog holds the GoHighLevel API v2 operations that ghlsync
// exposes as polling triggers and actions. It is data and lookups only: no
// HTTP lives here.
//
// The table in operations.json was written from the official OpenAPI specs
// (method, path, Version header, scopes, parameters and body fields) plus
// facts the specs leave out: pagination style, list and item id fields, and
// how safe an operation is to repeat when its outcome is unknown.
package catalog

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/ghlsync/ghlsync/internal/textdist"
)

//go:embed operations.json
var operationsJSON []byte

// Kind says how a flow may use an operation.
type Kind string

const (
	// Trigger operations read data and can drive a polling trigger.
	Trigger Kind = "trigger"
	// Action operations are steps a flow performs.
	Action Kind = "action"
)

// Idempotency classes tell the engine what it may do when a request's
// outcome is unknown (for example a timeout after the request was sent).
type Idempotency string

const (
	// Safe operations may simply be sent again.
	Safe Idempotency = "safe"
	// Reconcile operations must first be looked up by their natural key;
	// only when nothing is found may the request be sent again.
	Reconcile Idempotency = "reconcile"
	// Unsafe operations are never resent once their outcome is unknown;
	// the run stops and asks for a human.
	Unsafe Idempotency = "unsafe"
)

// Token types an operation accepts.
const (
	TokenLocation = "location" // sub-account OAuth token or sub-account Private Integration Token
	TokenAgency   = "agency"   // agency (company) token
	TokenAny      = "any"      // either
)

// Pagination styles found across the catalog.
const (
	PageNone           = "none"           // one request returns the whole list
	PagePage           = "page"           // page + page size (POST /contacts/search, in the body)
	PageStartAfter     = "startAfter"     // startAfter (epoch ms) + startAfterId from meta
	PageSkip           = "skip"           // skip + limit
	PageOffset         = "offset"         // offset + limit
	PageLastID         = "lastId"         // cursor is the id of the last item (lastMessageId)
	PageStartAfterDate = "startAfterDate" // cursor is the sort value of the last item
	PageWindow         = "window"         // a time window (epoch ms), no paging inside it
)

// Param is a query parameter an operation takes.
type Param struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
}

// Pagination describes how a list operation pages.
type Pagination struct {
	Style string `json:"style"`
	// List is the dotted path of the item array in the response body ("" for
	// a bare array).
	List string `json:"list"`
	// ItemID is the field of an item that identifies it.
	ItemID string `json:"itemId"`
	// In is "body" when paging parameters travel in a JSON body.
	In            string `json:"in,omitempty"`
	LimitParam    string `json:"limitParam,omitempty"`
	CursorParam   string `json:"cursorParam,omitempty"`
	PageParam     string `json:"pageParam,omitempty"`
	MaxLimit      int    `json:"maxLimit,omitempty"`
	StartParam    string `json:"startParam,omitempty"`
	EndParam      string `json:"endParam,omitempty"`
	MaxWindowDays int    `json:"maxWindowDays,omitempty"`
}

// Operation is one GHL API v2 operation.
type Operation struct {
	ID           string   `json:"id"`
	Category     string   `json:"category"`
	Name         string   `json:"name"`
	Kind         Kind     `json:"kind"`
	Method       string   `json:"method"`
	Path         string   `json:"path"`
	Version      string   `json:"version"`
	Scopes       []string `json:"scopes"`
	Token        string   `json:"token"`
	PathParams   []string `json:"pathParams"`
	Query        []Param  `json:"query"`
	Body         []string `json:"body,omitempty"`
	BodyRequired []string `json:"bodyRequired,omitempty"`
	// Fields gives the JSON type and allowed values of body fields, where
	// the spec states them.
	Fields      map[string]Field `json:"fields,omitempty"`
	Form        bool             `json:"form,omitempty"`
	Idempotency Idempotency      `json:"idempotency"`
	// IdempotencyReason says in a few words why the class was chosen.
	IdempotencyReason string      `json:"idempotencyReason"`
	NaturalKey        []string    `json:"naturalKey,omitempty"`
	Pagination        *Pagination `json:"pagination,omitempty"`
	SpecStatus        string      `json:"specStatus,omitempty"`
	Notes             string      `json:"notes,omitempty"`
	Deprecated        bool        `json:"deprecated,omitempty"`
	OperationID       string      `json:"operationId"`
}

// RequiredQuery lists the names of the required query parameters.
func (o *Operation) RequiredQuery() []string {
	var out []string
	for _, q := range o.Query {
		if q.Required {
			out = append(out, q.Name)
		}
	}
	return out
}

// HasQuery reports whether the operation declares the query parameter.
func (o *Operation) HasQuery(name string) bool {
	for _, q := range o.Query {
		if q.Name == name {
			return true
		}
	}
	return false
}

// HasBodyField reports whether the operation's JSON body declares the field.
func (o *Operation) HasBodyField(name string) bool {
	for _, b := range o.Body {
		if b == name {
			return true
		}
	}
	return false
}

// Field is what the spec says about one top-level body field.
type Field struct {
	// Type is the JSON schema type: string, number, integer, boolean,
	// array or object ("" when the spec leaves it open).
	Type string `json:"type,omitempty"`
	// Enum lists the allowed values (of the items, for an array).
	Enum []string `json:"enum,omitempty"`
}

// Field returns what the catalog knows about a body field.
func (o *Operation) Field(name string) (Field, bool) {
	f, ok := o.Fields[name]
	return f, ok
}

// IsList reports whether the operation returns a list of items.
func (o *Operation) IsList() bool {
	return o.Pagination != nil && (o.Pagination.List != "" || o.Pagination.Style != PageWindow)
}

// Paged reports whether the list needs more than one request to read.
func (o *Operation) Paged() bool {
	return o.Pagination != nil && o.Pagination.Style != PageNone && o.Pagination.Style != PageWindow
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// Expand fills the path template with values, escaping each one. A missing
// value is an error naming the parameter.
func (o *Operation) Expand(values map[string]string, escape func(string) string) (string, error) {
	var missing []string
	out := pathParam.ReplaceAllStringFunc(o.Path, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := values[name]
		if !ok || v == "" {
			missing = append(missing, name)
			return m
		}
		return escape(v)
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%s: missing path parameter %s", o.ID, strings.Join(missing, ", "))
	}
	return out, nil
}

var (
	loadOnce sync.Once
	all      []*Operation
	byID     map[string]*Operation
	loadErr  error
)

func load() {
	var ops []*Operation
	if err := json.Unmarshal(operationsJSON, &ops); err != nil {
		loadErr = fmt.Errorf("catalog: %w", err)
		return
	}
	byID = make(map[string]*Operation, len(ops))
	for _, op := range ops {
		if _, dup := byID[op.ID]; dup {
			loadErr = fmt.Errorf("catalog: duplicate operation %q", op.ID)
			return
		}
		byID[op.ID] = op
	}
	all = ops
}

func mustLoad() {
	loadOnce.Do(load)
	if loadErr != nil {
		// The table is embedded at build time; a broken table is a build defect.
		panic(loadErr)
	}
}

// All returns every operation in catalog order. Callers must not modify them.
func All() []*Operation {
	mustLoad()
	return all
}

// Get returns the operation with the given id.
func Get(id string) (*Operation, bool) {
	mustLoad()
	op, ok := byID[id]
	return op, ok
}

// Lookup returns the operation or an error that suggests close ids.
func Lookup(id string) (*Operation, error) {
	if op, ok := Get(id); ok {
		return op, nil
	}
	if s := Suggest(id); len(s) > 0 {
		return nil, fmt.Errorf("unknown operation %q (did you mean %s?)", id, strings.Join(s, ", "))
	}
	return nil, fmt.Errorf("unknown operation %q (see `ghlsync ops list`)", id)
}

// Suggest returns up to three ids that resemble id.
func Suggest(id string) []string {
	mustLoad()
	type cand struct {
		id string
		d  int
	}
	var cs []cand
	low := strings.ToLower(id)
	for _, op := range all {
		d := textdist.Distance(low, strings.ToLower(op.ID))
		if d <= 3 || (len(low) >= 4 && strings.Contains(strings.ToLower(op.ID), low)) {
			cs = append(cs, cand{op.ID, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].d < cs[j].d || cs[i].d == cs[j].d && cs[i].id < cs[j].id })
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].id)
	}
	return out
}

// Categories returns the category names in catalog order.
func Categories() []string {
	mustLoad()
	seen := map[string]bool{}
	var out []string
	for _, op := range all {
		if !seen[op.Category] {
			seen[op.Category] = true
			out = append(out, op.Category)
		}
	}
	return out
}

// Package flow reads declarative flow files: "when this happens, do these
// GoHighLevel operations with these fields".
//
// A flow is one YAML file with a trigger (a webhook source or a polling
// operation) and an ordered list of steps, each a catalog operation (or a
// plain outbound "http" request) whose fields are mapped with expressions.
// Parse and LoadDir check everything that can be checked without the
// network — YAML syntax, keys, operations and their required parameters,
// expressions, step references, poll intervals — and report each problem as
// "file:line:column: message".
//
// At run time the engine builds an Env for one event and asks each Step for
// its Request: the evaluated path, query and body for the operation, with
// empty values left out (never clobber), tags turned into an add-tags intent
// and custom fields resolved to ids and typed through a FieldResolver.
//
// The syntax of flow files is documented in docs/flows.md.
package flow

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/ghlsync/ghlsync/internal/ghl/catalog"
)

// DefaultConnection is the connection a flow uses when it names none.
const DefaultConnection = "default"

// OpHTTP is the step operation for a plain outbound HTTP request outside
// the GoHighLevel catalog.
const OpHTTP = "http"

// Poll interval bounds.
const (
	MinPollInterval = time.Minute
	MaxPollInterval = 15 * time.Minute
	// MaxPollPages caps max_pages of a poll trigger.
	MaxPollPages = 100
)

// Flow is one parsed and validated flow file.
type Flow struct {
	// Name identifies the flow (and its webhook URL, /hooks/{name}). It
	// defaults to the file name without its extension.
	Name string
	// Connection names the GoHighLevel connection (location credentials) the
	// steps act through.
	Connection  string
	Description string
	Trigger     Trigger
	Steps       []*Step

	// File is the path the flow was read from; Hash is the hex SHA-256 of
	// its bytes, so a run can record which version of the flow it ran.
	File string
	Hash string
	Pos  Position
}

// Step returns the step with the given id.
func (f *Flow) Step(id string) (*Step, bool) {
	for _, s := range f.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return nil, false
}

// Trigger says what starts a run: exactly one of Webhook and Poll is set.
type Trigger struct {
	Webhook *WebhookTrigger
	Poll    *PollTrigger
	Pos     Position
}

// Webhook source names a flow may use.
const (
	SourceChangeTower = "changetower"
	SourceGeneric     = "generic"
	SourceGHL         = "ghl"
)

// Sources lists the webhook sources a flow may name.
var Sources = []string{SourceChangeTower, SourceGeneric, SourceGHL}

// WebhookTrigger starts a run for each verified delivery to /hooks/{flow}.
type WebhookTrigger struct {
	// Source is changetower, generic or ghl.
	Source string
	// Types, when not empty, keeps only events of these types.
	Types []string
	// Secret is the reference to the signing secret, for example
	// "env:GHLSYNC_CT_SECRET"; never the secret itself.
	Secret string
	// Config is every key of the webhook block as decoded YAML (source,
	// types and secret included), handed to the source's constructor.
	Config map[string]any
	// KeyPos says where each key of Config is written.
	KeyPos map[string]Position
	Pos    Position
}

// Accepts reports whether an event type passes the Types filter.
func (w *WebhookTrigger) Accepts(eventType string) bool {
	if len(w.Types) == 0 {
		return true
	}
	for _, t := range w.Types {
		if t == eventType {
			return true
		}
	}
	return false
}

// PollTrigger lists items with a catalog operation on a schedule and starts
// a run for each item not seen before.
type PollTrigger struct {
	Op        string
	Operation *catalog.Operation
	Every     time.Duration
	// Updated makes the poll compare dateUpdated, so changed items run
	// again; otherwise only new items run.
	Updated bool
	// MaxPages caps the pages read per poll; 0 means the engine's default.
	MaxPages int
	// Params is the parameter mapping (expressions allowed over connection,
	// env and now); Request evaluates it.
	Params *Mapping
	Pos    Position
}

// OnError says what a failed step does to its run.
type OnError string

const (
	// OnErrorFail stops the run; it is marked failed (the default).
	OnErrorFail OnError = "fail"
	// OnErrorContinue records the step as failed and goes on with the next
	// step; steps.<id> of the failed step is nil.
	OnErrorContinue OnError = "continue"
	// OnErrorSkip records the step as failed and ends the run without
	// running the remaining steps; the run is marked skipped, not failed.
	OnErrorSkip OnError = "skip"
)

// Step is one operation of a flow.
type Step struct {
	ID   string
	Name string
	// Op is a catalog operation id or OpHTTP; Operation is nil for OpHTTP.
	Op        string
	Operation *catalog.Operation
	// When is the source of the condition ("" = always run).
	When string
	// Key, when set, is the source of the step's external key ("apt:{{
	// event.data.id }}"): the step creates its object once per key value
	// and the engine remembers the object's id; when the key is known
	// again, Update (if any) changes that object instead, else the object
	// is reused. See Keyed, KeyFor and UpdateRequest.
	Key       string
	Update    *StepUpdate
	OnMissing OnMissing
	// With maps the operation's parameters and body fields.
	With        *Mapping
	ClearEmpty  []string
	ReplaceTags bool
	OnError     OnError
	Pos         Position

	flow string
	when *compiled
	key  *vnode
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

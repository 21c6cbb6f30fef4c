package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ghlsync/ghlsync/internal/engine/redact"
	"github.com/ghlsync/ghlsync/internal/store"
)

// RunView is a run as shown to people (JSON API, dashboard, `ghlsync runs`).
type RunView struct {
	ID         string     `json:"id"`
	Flow       string     `json:"flow"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	EventID    string     `json:"eventId"`
	ReplayOf   string     `json:"replayOf,omitempty"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	DurationMS int64      `json:"durationMs,omitempty"`
}

// EventView is a trigger event with personal data and secrets redacted.
type EventView struct {
	ID            string            `json:"id"`
	Flow          string            `json:"flow"`
	Source        string            `json:"source"`
	Type          string            `json:"type,omitempty"`
	SourceEventID string            `json:"sourceEventId,omitempty"`
	BodyHash      string            `json:"bodyHash"`
	Size          int               `json:"size"`
	Headers       map[string]string `json:"headers,omitempty"`
	Payload       json.RawMessage   `json:"payload"`
	OccurredAt    time.Time         `json:"occurredAt"`
	ReceivedAt    time.Time         `json:"receivedAt"`
	// Unsigned: the endpoint is configured unsigned, nothing was verified.
	Unsigned bool `json:"unsigned,omitempty"`
	// Captured: a capture-mode sample, stored for inspection; no run.
	Captured     bool                `json:"captured,omitempty"`
	Verification *store.Verification `json:"verification,omitempty"`
}

// Signature describes how the event was verified, for people: "unsigned
// endpoint", "verified (hmac-sha256, secret #1)", plus the source's note.
func (v *EventView) Signature() string {
	var b strings.Builder
	switch ver := v.Verification; {
	case v.Unsigned:
		b.WriteString("not verified: the endpoint is configured unsigned")
	case ver == nil:
		return ""
	case ver.Verified:
		b.WriteString("verified (" + ver.Scheme)
		// The source's note names the key itself when it has one.
		if ver.KeyIndex >= 0 && ver.Detail == "" {
			fmt.Fprintf(&b, ", secret or key #%d", ver.KeyIndex+1)
		}
		b.WriteString(")")
	case v.Captured:
		b.WriteString("captured without a matching signature")
		if ver.Scheme != "" {
			b.WriteString(" (" + ver.Scheme + " checked)")
		}
	default:
		b.WriteString("not verified (" + ver.Scheme + ")")
	}
	if v.Verification != nil && v.Verification.Detail != "" {
		b.WriteString(": " + v.Verification.Detail)
	}
	return b.String()
}

// StepView is one step checkpoint with its redacted request and response.
type StepView struct {
	ID             string          `json:"id"`
	Op             string          `json:"op"`
	Status         string          `json:"status"`
	Attempts       int             `json:"attempts"`
	HTTPStatus     int             `json:"httpStatus,omitempty"`
	OutcomeUnknown bool            `json:"outcomeUnknown,omitempty"`
	Reconciled     string          `json:"reconciled,omitempty"`
	Error          string          `json:"error,omitempty"`
	Request        json.RawMessage `json:"request,omitempty"`
	Response       json.RawMessage `json:"response,omitempty"`
	StartedAt      *time.Time      `json:"startedAt,omitempty"`
	FinishedAt     *time.Time      `json:"finishedAt,omitempty"`
	DurationMS     int64           `json:"durationMs"`
}

// RunDetail is a run with its event and steps.
type RunDetail struct {
	Run   RunView    `json:"run"`
	Event *EventView `json:"event,omitempty"`
	Steps []StepView `json:"steps"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ViewRun converts a stored run.
func ViewRun(r *store.Run) RunView {
	v := RunView{ID: r.ID, Flow: r.Flow, Status: r.Status, Attempts: r.Attempts, EventID: r.EventID,
		ReplayOf: r.ReplayOf, Error: r.Error, CreatedAt: r.CreatedAt, StartedAt: timePtr(r.StartedAt),
		FinishedAt: timePtr(r.FinishedAt)}
	if !r.StartedAt.IsZero() && !r.FinishedAt.IsZero() {
		v.DurationMS = r.FinishedAt.Sub(r.StartedAt).Milliseconds()
	}
	return v
}

// ViewEvent converts a stored event, redacting its payload and headers.
func ViewEvent(e *store.Event, red *redact.Redactor) *EventView {
	return &EventView{ID: e.ID, Flow: e.Flow, Source: e.Source, Type: e.Type, SourceEventID: e.SourceEventID,
		BodyHash: e.BodyHash, Size: e.RawSize, Headers: red.Headers(e.Headers), Payload: jsonOrString(red.JSON(e.Payload)),
		OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt, Unsigned: e.Unsigned, Captured: e.Captured,
		Verification: e.Verification}
}

// SaveRedaction stores the personal-data fields red masks as the server's
// redaction (store.SettingRedactFields), so that every command reading this
// database shows history masked the same way.
func SaveRedaction(ctx context.Context, st *store.Store, red *redact.Redactor) error {
	fields := red.Fields()
	sort.Strings(fields)
	return st.SetSetting(ctx, store.SettingRedactFields, strings.Join(fields, ","))
}

// WithStoredRedaction returns a redactor masking what red masks plus the
// fields the server stored with SaveRedaction. When the setting cannot be
// read, red is returned with the error.
func WithStoredRedaction(ctx context.Context, st *store.Store, red *redact.Redactor) (*redact.Redactor, error) {
	stored, ok, err := st.Setting(ctx, store.SettingRedactFields)
	if err != nil || !ok || stored == "" {
		return red, err
	}
	return redact.New(append(red.Fields(), strings.Split(stored, ",")...)...), nil
}

// EventDetailOf loads one event, redacted for display (a capture-mode
// sample, or the trigger of a run) with red and the server's stored
// redaction.
func EventDetailOf(ctx context.Context, st *store.Store, red *redact.Redactor, eventID string) (*EventView, error) {
	e, err := st.GetEvent(ctx, eventID)
	if err != nil {
		return nil, err
	}
	if red, err = WithStoredRedaction(ctx, st, red); err != nil {
		return nil, err
	}
	return ViewEvent(e, red), nil
}

// ViewStep converts a step checkpoint. Records were redacted when written;
// red masks the fields configured for display as well.
func ViewStep(s *store.Step, red *redact.Redactor) StepView {
	return StepView{ID: s.StepID, Op: s.Op, Status: s.Status, Attempts: s.Attempts, HTTPStatus: s.HTTPStatus,
		OutcomeUnknown: s.OutcomeUnknown, Reconciled: s.Reconciled, Error: s.Error,
		Request: jsonOrString(red.JSON([]byte(s.Request))), Response: jsonOrString(red.JSON([]byte(s.Response))),
		StartedAt: timePtr(s.StartedAt), FinishedAt: timePtr(s.FinishedAt), DurationMS: s.Duration().Milliseconds()}
}

func jsonOrString(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	if json.Valid(b) {
		return b
	}
	out, _ := json.Marshal(string(b))
	return out
}

// RunDetailOf loads a run with its event and steps, redacted for display
// with red and the server's stored redaction.
func RunDetailOf(ctx context.Context, st *store.Store, red *redact.Redactor, runID string) (*RunDetail, error) {
	r, err := st.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	if red, err = WithStoredRedaction(ctx, st, red); err != nil {
		return nil, err
	}
	d := &RunDetail{Run: ViewRun(r), Steps: []StepView{}}
	if ev, err := st.GetEvent(ctx, r.EventID); err == nil {
		d.Event = ViewEvent(ev, red)
	}
	steps, err := st.ListSteps(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	for _, s := range steps {
		d.Steps = append(d.Steps, ViewStep(s, red))
	}
	return d, nil
}

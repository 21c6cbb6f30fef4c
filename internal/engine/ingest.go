package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/ghlsync/ghlsync/internal/store"
)

// Incoming is a verified trigger event for one flow: a webhook delivery
// after its source checked and normalised it, or an item found by a poll.
type Incoming struct {
	Flow   string
	Source string // changetower, generic, ghl, poll
	// ID is the source's event id; "" de-duplicates by the hash of Raw.
	ID         string
	Type       string
	Payload    map[string]any
	Raw        []byte
	Headers    map[string]string // already free of credentials; redacted again here
	OccurredAt time.Time
	// Capture stores the event for an operator to inspect and runs nothing
	// (a source's capture mode). Only the newest Config.KeepCaptures
	// captures of a flow are kept.
	Capture bool
	// Unsigned says the flow's endpoint is configured unsigned: the
	// delivery was taken without a signature check.
	Unsigned bool
	// Verification is how the source checked the delivery (nil for polls).
	Verification *store.Verification
}

// Ingested says what Ingest did.
type Ingested struct {
	EventID string
	RunID   string // "" for a duplicate
	// Duplicate is true when the flow already had this event; nothing new
	// was stored or queued.
	Duplicate bool
}

// ErrUnknownFlow is returned by Ingest for a flow that is not loaded.
var ErrUnknownFlow = errors.New("unknown flow")

// StorageError says the event could not be stored durably; the sender must
// try again later (webhooks answer 429 with Retry-After).
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "event not stored: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// InvalidEventError says an event can never be stored as it was sent (a NUL
// character, an id of only spaces): the sender must not try again (webhooks
// answer 422).
type InvalidEventError struct{ Msg string }

func (e *InvalidEventError) Error() string { return e.Msg }

// nulMessage is the answer to an event holding a NUL character, which
// PostgreSQL cannot store in text; SQLite refuses it too, so both databases
// answer alike.
const nulMessage = `JSON contains a NUL character (\u0000), which cannot be stored`

// checkStorable refuses what no database can keep or no sender should
// retry: a NUL character anywhere, an event id of only whitespace.
func checkStorable(in Incoming) error {
	if in.ID != "" && strings.TrimSpace(in.ID) == "" {
		return &InvalidEventError{Msg: fmt.Sprintf("event id %q is only whitespace; send a real id or none", in.ID)}
	}
	if strings.ContainsRune(in.ID, 0) || strings.ContainsRune(in.Type, 0) || hasNUL(in.Payload) {
		return &InvalidEventError{Msg: nulMessage}
	}
	for k, v := range in.Headers {
		if strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0) {
			return &InvalidEventError{Msg: nulMessage}
		}
	}
	return nil
}

// hasNUL reports whether a decoded JSON value holds a NUL character in any
// string or key.
func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case map[string]any:
		for k, x := range v {
			if strings.ContainsRune(k, 0) || hasNUL(x) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if hasNUL(x) {
				return true
			}
		}
	}
	return false
}

// RunArgs is the River job of one run.
type RunArgs struct {
	RunID string `json:"run_id"`
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return "ghlsync.run" }

// InsertOpts puts runs on the runs queue.
func (RunArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueRuns} }

// Ingest stores a trigger event and queues its run in one transaction. It
// returns only after the commit, so an acknowledged event is never lost. A
// repeated event (same source id, else same body hash) is reported as a
// duplicate and not run again.
func (e *Engine) Ingest(ctx context.Context, in Incoming) (Ingested, error) {
	if _, ok := e.Flow(in.Flow); !ok {
		return Ingested{}, fmt.Errorf("%w %q", ErrUnknownFlow, in.Flow)
	}
	if err := checkStorable(in); err != nil {
		e.metrics.Events.WithLabelValues(in.Flow, EventRejected).Inc()
		return Ingested{}, err
	}
	ev, err := e.eventRow(in)
	if err != nil {
		e.metrics.Events.WithLabelValues(in.Flow, EventRejected).Inc()
		return Ingested{}, err
	}
	var out Ingested
	err = e.st.InTx(ctx, func(tx *store.Tx) error {
		if in.Capture {
			_, id, err := tx.InsertEvent(ctx, ev)
			if err != nil {
				return err
			}
			out = Ingested{EventID: id}
			_, err = tx.TrimCaptures(ctx, in.Flow, e.cfg.KeepCaptures)
			return err
		}
		var err error
		out, err = e.ingestTx(ctx, tx, ev)
		return err
	})
	if err != nil {
		e.metrics.Events.WithLabelValues(in.Flow, EventUnavailable).Inc()
		e.log.Error("event not stored", "flow", in.Flow, "source", in.Source, "error", err)
		return Ingested{}, &StorageError{Err: err}
	}
	if out.Duplicate {
		e.metrics.Events.WithLabelValues(in.Flow, EventDuplicate).Inc()
	} else {
		e.metrics.Events.WithLabelValues(in.Flow, EventAccepted).Inc()
	}
	return out, nil
}

// ingestTx stores an event and, unless it is a duplicate, its run and job,
// inside the caller's transaction.
func (e *Engine) ingestTx(ctx context.Context, tx *store.Tx, ev *store.Event) (Ingested, error) {
	inserted, id, err := tx.InsertEvent(ctx, ev)
	if err != nil {
		return Ingested{}, err
	}
	if !inserted {
		// The same id with another body: still the same event for the
		// sender's retries, but a sender reusing ids would lose events, so
		// say so.
		if ev.SourceEventID != "" {
			if prev, err := tx.GetEvent(ctx, id); err == nil && prev.BodyHash != ev.BodyHash {
				e.log.Warn("duplicate event id with a different body: acknowledged as a duplicate, not run",
					"flow", ev.Flow, "source", ev.Source, "event", id, "sourceEventId", ev.SourceEventID,
					"storedBodyHash", prev.BodyHash, "newBodyHash", ev.BodyHash)
			}
		}
		return Ingested{EventID: id, Duplicate: true}, nil
	}
	run := &store.Run{EventID: id, Flow: ev.Flow}
	if err := tx.InsertRun(ctx, run); err != nil {
		return Ingested{}, err
	}
	if _, err := e.river.InsertTx(ctx, tx.Tx, RunArgs{RunID: run.ID}, &river.InsertOpts{MaxAttempts: e.cfg.MaxAttempts}); err != nil {
		return Ingested{}, fmt.Errorf("queue run: %w", err)
	}
	return Ingested{EventID: id, RunID: run.ID}, nil
}

// eventRow builds the stored form of an incoming event.
func (e *Engine) eventRow(in Incoming) (*store.Event, error) {
	payload := in.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	pj, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("event payload: %w", err)
	}
	raw := in.Raw
	if raw == nil {
		raw = pj
	}
	ev := &store.Event{
		Flow:          in.Flow,
		Source:        in.Source,
		Type:          in.Type,
		SourceEventID: in.ID,
		BodyHash:      store.HashBody(raw),
		Payload:       pj,
		RawSize:       len(raw),
		Headers:       e.red.Headers(in.Headers),
		OccurredAt:    in.OccurredAt.UTC(),
		ReceivedAt:    e.cfg.Now().UTC(),
		Unsigned:      in.Unsigned,
		Captured:      in.Capture,
	}
	if in.Verification != nil {
		v := *in.Verification
		v.Detail = e.red.Text(v.Detail)
		ev.Verification = &v
	}
	if len(raw) <= e.cfg.RawLimit {
		ev.Raw = raw
	} else {
		ev.Raw = raw[:e.cfg.RawLimit]
	}
	return ev, nil
}

// ErrReplaySucceeded is returned by Replay for a run that succeeded when
// the replay is not forced: its steps run again from the start, so every
// object the flow creates would be created a second time.
var ErrReplaySucceeded = errors.New("run succeeded")

// ErrReplayUnfinished is returned by Replay for a run that is queued,
// running or retrying (including one waiting on a paused connection or a
// held flow): its job is still scheduled, so a replay would run the same
// steps twice. force does not override it.
var ErrReplayUnfinished = errors.New("the run is still in progress")

// Replay queues a new run of the event of an earlier run. The new run
// records which run it replays. A run that has not finished is always
// refused with ErrReplayUnfinished; a succeeded run is refused with
// ErrReplaySucceeded unless force is set.
func (e *Engine) Replay(ctx context.Context, runID string, force bool) (*store.Run, error) {
	old, err := e.st.GetRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	if !store.Terminal(old.Status) {
		return nil, fmt.Errorf("%w: run %s is %s; wait for it to finish or cancel it first, then replay it",
			ErrReplayUnfinished, runID, old.Status)
	}
	if old.Status == store.RunSucceeded && !force {
		return nil, fmt.Errorf("%w: replaying %s would repeat every step and create its contacts, notes, tasks and other objects again; force it (ghlsync runs replay %s --force, or ?force=true) only if that is what you want",
			ErrReplaySucceeded, runID, runID)
	}
	run := &store.Run{EventID: old.EventID, Flow: old.Flow, ReplayOf: old.ID}
	err = e.st.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertRun(ctx, run); err != nil {
			return err
		}
		_, err := e.river.InsertTx(ctx, tx.Tx, RunArgs{RunID: run.ID}, &river.InsertOpts{MaxAttempts: e.cfg.MaxAttempts})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", runID, err)
	}
	return run, nil
}

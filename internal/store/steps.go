package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Step statuses. A step is written as StepSending before its request leaves,
// so a crash mid-request leaves a row that says the outcome is unknown.
const (
	StepSending   = "sending"   // request about to be or being sent
	StepPending   = "pending"   // last try was answered with a retryable error; nothing was done
	StepUnknown   = "unknown"   // sent, but no answer was read: reconcile before resending
	StepSucceeded = "succeeded" // done; Result holds what later steps see
	StepSkipped   = "skipped"   // its when: condition was false
	StepFailed    = "failed"    // failed permanently
)

// StepDone reports whether a step in this status is finished for good.
func StepDone(status string) bool {
	return status == StepSucceeded || status == StepSkipped || status == StepFailed
}

// Step is the checkpoint of one step of one run.
type Step struct {
	RunID          string
	StepID         string
	Index          int
	Op             string
	Status         string
	Attempts       int
	OutcomeUnknown bool   // an attempt's outcome was unknown at some point
	Reconciled     string // how an unknown outcome was settled ("found existing", "resent", ...)
	HTTPStatus     int
	Request        string // redacted request, for people
	Response       string // redacted response, for people
	Result         string // JSON result later steps read as steps.<id>; kept for resuming
	Error          string
	StartedAt      time.Time
	FinishedAt     time.Time
}

// Duration is how long the last attempt of the step took.
func (s *Step) Duration() time.Duration {
	if s.StartedAt.IsZero() || s.FinishedAt.IsZero() {
		return 0
	}
	return s.FinishedAt.Sub(s.StartedAt)
}

const stepColumns = `run_id, step_id, idx, op, status, attempts, outcome_unknown, reconciled, http_status,
	request, response, result, error, started_at, finished_at`

// ListSteps returns a run's step checkpoints in flow order.
func (q queries) ListSteps(ctx context.Context, runID string) ([]*Step, error) {
	rows, err := q.query(ctx, `SELECT `+stepColumns+` FROM steps WHERE run_id = ? ORDER BY idx`, runID)
	if err != nil {
		return nil, fmt.Errorf("run %s steps: %w", runID, err)
	}
	defer rows.Close()
	var out []*Step
	for rows.Next() {
		var (
			s                 Step
			started, finished sql.NullInt64
		)
		if err := rows.Scan(&s.RunID, &s.StepID, &s.Index, &s.Op, &s.Status, &s.Attempts, &s.OutcomeUnknown,
			&s.Reconciled, &s.HTTPStatus, &s.Request, &s.Response, &s.Result, &s.Error, &started, &finished); err != nil {
			return nil, fmt.Errorf("run %s steps: %w", runID, err)
		}
		s.StartedAt = fromNullMicros(started)
		s.FinishedAt = fromNullMicros(finished)
		out = append(out, &s)
	}
	return out, rows.Err()
}

// BeginStep checkpoints a step as StepSending (attempts+1) with its redacted
// request, before the request is sent. It must be durable before sending.
func (q queries) BeginStep(ctx context.Context, s *Step) error {
	if s.StartedAt.IsZero() {
		s.StartedAt = time.Now().UTC()
	}
	s.Status = StepSending
	_, err := q.exec(ctx, `INSERT INTO steps (run_id, step_id, idx, op, status, attempts, request, started_at)
		VALUES (?, ?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT (run_id, step_id) DO UPDATE SET
			op = excluded.op, status = excluded.status, attempts = steps.attempts + 1, request = excluded.request,
			started_at = excluded.started_at, finished_at = NULL, error = ''`,
		s.RunID, s.StepID, s.Index, s.Op, StepSending, s.Request, micros(s.StartedAt))
	if err != nil {
		return fmt.Errorf("checkpoint step %s of run %s: %w", s.StepID, s.RunID, err)
	}
	return nil
}

// SaveStep writes a step's outcome (status, response, result, error...). The
// row is created if BeginStep never ran (skipped steps, and operations safe
// to repeat, which need no durable "sending" mark). Attempts only grow.
func (q queries) SaveStep(ctx context.Context, s *Step) error {
	if s.FinishedAt.IsZero() && s.Status != StepSending {
		s.FinishedAt = time.Now().UTC()
	}
	if s.StartedAt.IsZero() {
		s.StartedAt = s.FinishedAt
	}
	_, err := q.exec(ctx, `INSERT INTO steps (run_id, step_id, idx, op, status, attempts, outcome_unknown, reconciled,
			http_status, request, response, result, error, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, step_id) DO UPDATE SET
			op = excluded.op, status = excluded.status, outcome_unknown = excluded.outcome_unknown OR steps.outcome_unknown,
			attempts = CASE WHEN excluded.attempts > steps.attempts THEN excluded.attempts ELSE steps.attempts END,
			started_at = COALESCE(excluded.started_at, steps.started_at),
			reconciled = excluded.reconciled, http_status = excluded.http_status,
			request = CASE WHEN excluded.request = '' THEN steps.request ELSE excluded.request END,
			response = excluded.response, result = excluded.result, error = excluded.error,
			finished_at = excluded.finished_at`,
		s.RunID, s.StepID, s.Index, s.Op, s.Status, s.Attempts, s.OutcomeUnknown, s.Reconciled, s.HTTPStatus,
		s.Request, s.Response, s.Result, s.Error, nullMicros(s.StartedAt), nullMicros(s.FinishedAt))
	if err != nil {
		return fmt.Errorf("checkpoint step %s of run %s: %w", s.StepID, s.RunID, err)
	}
	return nil
}

// ClearStepResults drops the resume data of a finished run; the redacted
// request and response stay for people to read.
func (q queries) ClearStepResults(ctx context.Context, runID string) error {
	if _, err := q.exec(ctx, `UPDATE steps SET result = '' WHERE run_id = ?`, runID); err != nil {
		return fmt.Errorf("clear results of run %s: %w", runID, err)
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Run statuses.
const (
	RunQueued    = "queued"    // stored, waiting for a worker
	RunRunning   = "running"   // a worker is executing it
	RunRetrying  = "retrying"  // an attempt failed transiently; River will try again
	RunSucceeded = "succeeded" // every step finished
	RunFailed    = "failed"    // a step failed permanently or attempts ran out
	RunCancelled = "cancelled" // stopped by an operator or a missing flow
	RunSkipped   = "skipped"   // a step with on_error: skip failed; the rest was not run
)

// RunStatuses lists every run status in display order.
var RunStatuses = []string{RunQueued, RunRunning, RunRetrying, RunSucceeded, RunFailed, RunSkipped, RunCancelled}

// Terminal reports whether a run in this status will not run again by itself.
func Terminal(status string) bool {
	return status == RunSucceeded || status == RunFailed || status == RunCancelled || status == RunSkipped
}

// Run is one execution of a flow for one event.
type Run struct {
	ID         string
	EventID    string
	Flow       string
	Status     string
	Attempts   int
	JobID      int64
	ReplayOf   string // the run this one replays, if any
	Error      string
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	UpdatedAt  time.Time
}

// Duration is how long the run took from its first start to its finish (or
// until now while it is unfinished).
func (r *Run) Duration() time.Duration {
	if r.StartedAt.IsZero() {
		return 0
	}
	end := r.FinishedAt
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(r.StartedAt)
}

// InsertRun stores a new run in status queued. r.ID and r.CreatedAt are filled
// in when empty.
func (q queries) InsertRun(ctx context.Context, r *Run) error {
	if r.ID == "" {
		r.ID = NewID("run")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	if r.Status == "" {
		r.Status = RunQueued
	}
	r.UpdatedAt = r.CreatedAt
	_, err := q.exec(ctx, `INSERT INTO runs (id, event_id, flow, status, attempts, replay_of, error, created_at, updated_at)
		VALUES (?, ?, ?, ?, 0, ?, '', ?, ?)`,
		r.ID, r.EventID, r.Flow, r.Status, r.ReplayOf, micros(r.CreatedAt), micros(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("insert run: %w", err)
	}
	return nil
}

const runColumns = `id, event_id, flow, status, attempts, job_id, replay_of, error, created_at, started_at, finished_at, updated_at`

func scanRun(sc interface{ Scan(...any) error }) (*Run, error) {
	var (
		r                 Run
		jobID             sql.NullInt64
		created, updated  int64
		started, finished sql.NullInt64
	)
	if err := sc.Scan(&r.ID, &r.EventID, &r.Flow, &r.Status, &r.Attempts, &jobID, &r.ReplayOf, &r.Error,
		&created, &started, &finished, &updated); err != nil {
		return nil, err
	}
	r.JobID = jobID.Int64
	r.CreatedAt = fromMicros(created)
	r.UpdatedAt = fromMicros(updated)
	r.StartedAt = fromNullMicros(started)
	r.FinishedAt = fromNullMicros(finished)
	return &r, nil
}

// GetRun returns the run with the given id or ErrNotFound.
func (q queries) GetRun(ctx context.Context, id string) (*Run, error) {
	r, err := scanRun(q.queryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	return r, nil
}

// RunFilter selects runs for ListRuns. Zero fields match everything.
type RunFilter struct {
	Flow   string
	Status string
	// EventID matches the run's event by its id or by the source's event id.
	EventID string
	// Before lists runs created before this run id (for paging newest-first).
	Before string
	Limit  int // default 50, at most 1000
}

// ListRuns returns runs newest first.
func (q queries) ListRuns(ctx context.Context, f RunFilter) ([]*Run, error) {
	var (
		where []string
		args  []any
	)
	if f.Flow != "" {
		where = append(where, "flow = ?")
		args = append(args, f.Flow)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if f.EventID != "" {
		// Our event id, or the source's (what a sender knows).
		where = append(where, "(event_id = ? OR event_id IN (SELECT id FROM events WHERE source_event_id = ?))")
		args = append(args, f.EventID, f.EventID)
	}
	if f.Before != "" {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	query := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	// Ids sort by creation time (see NewID).
	query += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limit)
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []*Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// StartRun records that a worker picked the run up for the given River job
// and attempt number.
func (q queries) StartRun(ctx context.Context, id string, jobID int64, attempt int) error {
	now := micros(time.Now())
	_, err := q.exec(ctx, `UPDATE runs SET status = ?, job_id = ?, attempts = ?,
		started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ?`,
		RunRunning, jobID, attempt, now, now, id)
	if err != nil {
		return fmt.Errorf("start run %s: %w", id, err)
	}
	return nil
}

// SetRunStatus changes a run's status and error; a terminal status also sets
// finished_at.
func (q queries) SetRunStatus(ctx context.Context, id, status, errMsg string) error {
	now := micros(time.Now())
	var err error
	if Terminal(status) {
		_, err = q.exec(ctx, `UPDATE runs SET status = ?, error = ?, finished_at = ?, updated_at = ? WHERE id = ?`,
			status, errMsg, now, now, id)
	} else {
		_, err = q.exec(ctx, `UPDATE runs SET status = ?, error = ?, updated_at = ? WHERE id = ?`,
			status, errMsg, now, id)
	}
	if err != nil {
		return fmt.Errorf("run %s: set status %s: %w", id, status, err)
	}
	return nil
}

// FinishRun records a run's final status and drops its steps' resume data
// in one transaction.
func (s *Store) FinishRun(ctx context.Context, id, status, errMsg string) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if err := tx.SetRunStatus(ctx, id, status, errMsg); err != nil {
			return err
		}
		return tx.ClearStepResults(ctx, id)
	})
}

// CountRunsByStatus returns the number of runs in each status.
func (q queries) CountRunsByStatus(ctx context.Context) (map[string]int, error) {
	rows, err := q.query(ctx, `SELECT status, COUNT(*) FROM runs GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count runs: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var (
			s string
			n int
		)
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// QueueDepth counts River jobs waiting or running (available, scheduled,
// retryable, running).
func (q queries) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'running')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queue depth: %w", err)
	}
	return n, nil
}

// WaitingJobs counts River jobs waiting to start: available, scheduled or
// retryable. Jobs being worked are not counted (a run's status says that).
func (q queries) WaitingJobs(ctx context.Context) (int, error) {
	var n int
	err := q.queryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("waiting jobs: %w", err)
	}
	return n, nil
}

// FlowStats summarises the runs of one flow.
type FlowStats struct {
	// Counts by run status.
	Counts map[string]int
	// LastSuccess is when the newest succeeded run finished (zero if none).
	LastSuccess time.Time
}

// FlowRunStats returns run counts by status and the last success of every
// flow that has runs.
func (q queries) FlowRunStats(ctx context.Context) (map[string]*FlowStats, error) {
	rows, err := q.query(ctx, `SELECT flow, status, COUNT(*), MAX(finished_at) FROM runs GROUP BY flow, status`)
	if err != nil {
		return nil, fmt.Errorf("flow run stats: %w", err)
	}
	defer rows.Close()
	out := map[string]*FlowStats{}
	for rows.Next() {
		var (
			flow, status string
			n            int
			last         sql.NullInt64
		)
		if err := rows.Scan(&flow, &status, &n, &last); err != nil {
			return nil, fmt.Errorf("flow run stats: %w", err)
		}
		fs := out[flow]
		if fs == nil {
			fs = &FlowStats{Counts: map[string]int{}}
			out[flow] = fs
		}
		fs.Counts[status] = n
		if status == RunSucceeded {
			fs.LastSuccess = fromNullMicros(last)
		}
	}
	return out, rows.Err()
}

// PurgeResult says what a retention pass deleted.
type PurgeResult struct {
	Events int
	Runs   int
}

// PurgeBefore deletes up to batch events received before cutoff, with their
// runs and steps, skipping events that still have an unfinished run.
func (s *Store) PurgeBefore(ctx context.Context, cutoff time.Time, batch int) (PurgeResult, error) {
	if batch <= 0 {
		batch = 500
	}
	var res PurgeResult
	err := s.InTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, fmt.Sprintf(`SELECT id FROM events e WHERE received_at < ?
			AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.event_id = e.id AND r.status IN (?, ?, ?))
			ORDER BY received_at LIMIT %d`, batch),
			micros(cutoff), RunQueued, RunRunning, RunRetrying)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		in := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM runs WHERE event_id IN `+in, ids...).Scan(&res.Runs); err != nil {
			return err
		}
		// Steps and runs go first explicitly, so the purge does not depend on
		// foreign-key cascades being enabled on the connection.
		if _, err := tx.exec(ctx, `DELETE FROM steps WHERE run_id IN (SELECT id FROM runs WHERE event_id IN `+in+`)`, ids...); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM runs WHERE event_id IN `+in, ids...); err != nil {
			return err
		}
		r, err := tx.exec(ctx, `DELETE FROM events WHERE id IN `+in, ids...)
		if err != nil {
			return err
		}
		n, _ := r.RowsAffected()
		res.Events = int(n)
		return nil
	})
	if err != nil {
		return PurgeResult{}, fmt.Errorf("purge before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return res, nil
}

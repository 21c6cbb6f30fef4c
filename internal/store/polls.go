package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// PollState is a polling trigger's durable position.
type PollState struct {
	Flow string
	// TriggerKey identifies the trigger's op and parameters; when a flow's
	// trigger changes, its old checkpoint no longer applies.
	TriggerKey string
	// CursorTime and CursorID are the newest item emitted so far; items at the
	// same time are ordered by id.
	CursorTime time.Time
	CursorID   string
	// Seen holds the keys of recently emitted items (bounded, newest last), so
	// an item whose timestamp does not move is never emitted twice.
	Seen       []string
	BaselineAt time.Time // when the first poll recorded the starting point
	LastPollAt time.Time // the last poll, failed or not
	// LastError is why the last poll failed ("" after a success), and
	// LastErrorAt when a poll last failed.
	LastError   string
	LastErrorAt time.Time
}

// GetPollState returns a flow's poll state, or ErrNotFound before its first
// poll.
func (q queries) GetPollState(ctx context.Context, flow string) (*PollState, error) {
	var (
		p                PollState
		cursor           int64
		seen             string
		baseline, polled sql.NullInt64
		errAt            sql.NullInt64
		updated          int64
	)
	err := q.queryRow(ctx, `SELECT flow, trigger_key, cursor_ts, cursor_id, seen, baseline_at, last_poll_at, last_error, last_error_at, updated_at
		FROM poll_state WHERE flow = ?`, flow).Scan(&p.Flow, &p.TriggerKey, &cursor, &p.CursorID, &seen,
		&baseline, &polled, &p.LastError, &errAt, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("poll state of %s: %w", flow, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("poll state of %s: %w", flow, err)
	}
	p.CursorTime = fromMicros(cursor)
	p.BaselineAt = fromNullMicros(baseline)
	p.LastPollAt = fromNullMicros(polled)
	p.LastErrorAt = fromNullMicros(errAt)
	if err := json.Unmarshal([]byte(seen), &p.Seen); err != nil {
		return nil, fmt.Errorf("poll state of %s: seen set: %w", flow, err)
	}
	return &p, nil
}

// SavePollState writes a flow's poll state.
func (q queries) SavePollState(ctx context.Context, p *PollState) error {
	seen := p.Seen
	if seen == nil {
		seen = []string{}
	}
	b, err := json.Marshal(seen)
	if err != nil {
		return err
	}
	_, err = q.exec(ctx, `INSERT INTO poll_state (flow, trigger_key, cursor_ts, cursor_id, seen, baseline_at, last_poll_at, last_error, last_error_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (flow) DO UPDATE SET trigger_key = excluded.trigger_key, cursor_ts = excluded.cursor_ts,
			cursor_id = excluded.cursor_id, seen = excluded.seen, baseline_at = excluded.baseline_at,
			last_poll_at = excluded.last_poll_at, last_error = excluded.last_error, last_error_at = excluded.last_error_at, updated_at = excluded.updated_at`,
		p.Flow, p.TriggerKey, micros(p.CursorTime), p.CursorID, string(b), nullMicros(p.BaselineAt),
		nullMicros(p.LastPollAt), p.LastError, nullMicros(p.LastErrorAt), micros(time.Now()))
	if err != nil {
		return fmt.Errorf("save poll state of %s: %w", p.Flow, err)
	}
	return nil
}

// ListPollStates returns every flow's poll state.
func (q queries) ListPollStates(ctx context.Context) ([]*PollState, error) {
	rows, err := q.query(ctx, `SELECT flow FROM poll_state ORDER BY flow`)
	if err != nil {
		return nil, fmt.Errorf("list poll states: %w", err)
	}
	var flows []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return nil, err
		}
		flows = append(flows, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []*PollState
	for _, f := range flows {
		p, err := q.GetPollState(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Event is one trigger event: a webhook delivery or a polled item.
type Event struct {
	ID            string
	Flow          string
	Source        string
	Type          string
	SourceEventID string // the source's delivery or item id; "" when it has none
	BodyHash      string // hex sha256 of the raw body
	Payload       []byte // the normalised JSON the steps read
	Raw           []byte // the bytes received, up to the configured limit
	RawSize       int    // the full size of the body received
	Headers       map[string]string
	OccurredAt    time.Time
	ReceivedAt    time.Time
	// Unsigned is true when the flow's endpoint is configured unsigned and
	// the delivery was taken without a signature check.
	Unsigned bool
	// Captured marks a capture-mode delivery: stored for inspection, no run.
	Captured bool
	// Verification is how the source checked the delivery (nil when not
	// recorded, e.g. for polled items).
	Verification *Verification
}

// Verification records a source's signature check of one delivery.
type Verification struct {
	// Scheme is the scheme checked ("standard-webhooks", "hmac-sha256",
	// "ed25519", "rsa-sha256", "none").
	Scheme   string `json:"scheme,omitempty"`
	Verified bool   `json:"verified"`
	// KeyIndex is the matching secret or key (0-based), -1 when none.
	KeyIndex int `json:"keyIndex"`
	// Detail is the source's note: for a capture, which scheme the sample
	// matches. It never holds a secret.
	Detail string `json:"detail,omitempty"`
}

// HashBody returns the hex sha256 used as BodyHash.
func HashBody(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DedupeKey is what makes two deliveries "the same event" for one flow: the
// source's event id when it has one, else the body hash.
func (e *Event) DedupeKey() string {
	if e.SourceEventID != "" {
		return "id:" + e.SourceEventID
	}
	return "sha256:" + e.BodyHash
}

// InsertEvent stores e unless the flow already has an event with the same
// dedupe key. It returns inserted=false and the stored event's id for a
// repeat. e.ID and e.ReceivedAt are filled in when empty.
func (q queries) InsertEvent(ctx context.Context, e *Event) (inserted bool, id string, err error) {
	if e.ID == "" {
		e.ID = NewID("ev")
	}
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = time.Now().UTC()
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = e.ReceivedAt
	}
	if e.BodyHash == "" {
		e.BodyHash = HashBody(e.Raw)
	}
	if len(e.Payload) == 0 {
		e.Payload = []byte("{}")
	}
	hdr, err := json.Marshal(nonNilMap(e.Headers))
	if err != nil {
		return false, "", fmt.Errorf("event headers: %w", err)
	}
	ver := ""
	if e.Verification != nil {
		b, err := json.Marshal(e.Verification)
		if err != nil {
			return false, "", fmt.Errorf("event verification: %w", err)
		}
		ver = string(b)
	}
	res, err := q.exec(ctx, `INSERT INTO events
		(id, flow, source, type, source_event_id, body_hash, dedupe_key, payload, raw, raw_size, headers, occurred_at, received_at,
		 unsigned, captured, verification)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (flow, dedupe_key) DO NOTHING`,
		e.ID, e.Flow, e.Source, e.Type, e.SourceEventID, e.BodyHash, e.DedupeKey(), string(e.Payload),
		e.Raw, e.RawSize, string(hdr), micros(e.OccurredAt), micros(e.ReceivedAt), e.Unsigned, e.Captured, ver)
	if err != nil {
		return false, "", fmt.Errorf("insert event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, "", fmt.Errorf("insert event: %w", err)
	}
	if n == 1 {
		return true, e.ID, nil
	}
	err = q.queryRow(ctx, `SELECT id FROM events WHERE flow = ? AND dedupe_key = ?`, e.Flow, e.DedupeKey()).Scan(&id)
	if err != nil {
		return false, "", fmt.Errorf("find duplicate event: %w", err)
	}
	return false, id, nil
}

const eventColumns = `id, flow, source, type, source_event_id, body_hash, payload, raw, raw_size, headers, occurred_at, received_at,
	unsigned, captured, verification`

func scanEvent(sc interface{ Scan(...any) error }) (*Event, error) {
	var (
		e        Event
		payload  string
		headers  string
		occurred int64
		received int64
		ver      string
	)
	if err := sc.Scan(&e.ID, &e.Flow, &e.Source, &e.Type, &e.SourceEventID, &e.BodyHash, &payload, &e.Raw,
		&e.RawSize, &headers, &occurred, &received, &e.Unsigned, &e.Captured, &ver); err != nil {
		return nil, err
	}
	if ver != "" {
		e.Verification = &Verification{}
		if err := json.Unmarshal([]byte(ver), e.Verification); err != nil {
			return nil, fmt.Errorf("event %s verification: %w", e.ID, err)
		}
	}
	e.Payload = []byte(payload)
	if headers != "" {
		if err := json.Unmarshal([]byte(headers), &e.Headers); err != nil {
			return nil, fmt.Errorf("event %s headers: %w", e.ID, err)
		}
	}
	e.OccurredAt = fromMicros(occurred)
	e.ReceivedAt = fromMicros(received)
	return &e, nil
}

// GetEvent returns the event with the given id or ErrNotFound.
func (q queries) GetEvent(ctx context.Context, id string) (*Event, error) {
	e, err := scanEvent(q.queryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	return e, nil
}

// CountEvents returns how many events a flow has ("" = all flows).
func (q queries) CountEvents(ctx context.Context, flow string) (int, error) {
	var n int
	var err error
	if flow == "" {
		err = q.queryRow(ctx, `SELECT COUNT(*) FROM events`).Scan(&n)
	} else {
		err = q.queryRow(ctx, `SELECT COUNT(*) FROM events WHERE flow = ?`, flow).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// EventFilter selects events for ListEvents.
type EventFilter struct {
	Flow string // "" = every flow
	// CapturedOnly keeps capture-mode samples only.
	CapturedOnly bool
	Limit        int // default 50, at most 1000
}

// ListEvents returns events newest first.
func (q queries) ListEvents(ctx context.Context, f EventFilter) ([]*Event, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	where, args := []string{"1 = 1"}, []any{}
	if f.Flow != "" {
		where, args = append(where, "flow = ?"), append(args, f.Flow)
	}
	if f.CapturedOnly {
		where, args = append(where, "captured = ?"), append(args, true)
	}
	rows, err := q.query(ctx, fmt.Sprintf(`SELECT `+eventColumns+` FROM events WHERE %s ORDER BY received_at DESC, id DESC LIMIT %d`,
		strings.Join(where, " AND "), limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []*Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// GetEvents returns the events with the given ids (those that exist),
// keyed by id.
func (q queries) GetEvents(ctx context.Context, ids []string) (map[string]*Event, error) {
	out := map[string]*Event{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.query(ctx, `SELECT `+eventColumns+` FROM events WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("get events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("get events: %w", err)
		}
		out[e.ID] = e
	}
	return out, rows.Err()
}

// TrimCaptures keeps the newest keep capture-mode samples of a flow and
// deletes the older ones; it returns how many were deleted.
func (q queries) TrimCaptures(ctx context.Context, flow string, keep int) (int, error) {
	if keep < 0 {
		keep = 0
	}
	res, err := q.exec(ctx, fmt.Sprintf(`DELETE FROM events WHERE flow = ? AND captured = ? AND id NOT IN
		(SELECT id FROM events WHERE flow = ? AND captured = ? ORDER BY received_at DESC, id DESC LIMIT %d)`, keep),
		flow, true, flow, true)
	if err != nil {
		return 0, fmt.Errorf("trim captures of %s: %w", flow, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	res, err := q.exec(ctx, `INSERT INTO events
		(id, flow, source, type, source_event_id, body_hash, dedupe_key, payload, raw, raw_size, headers, occurred_at, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (flow, dedupe_key) DO NOTHING`,
		e.ID, e.Flow, e.Source, e.Type, e.SourceEventID, e.BodyHash, e.DedupeKey(), string(e.Payload),
		e.Raw, e.RawSize, string(hdr), micros(e.OccurredAt), micros(e.ReceivedAt))
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

const eventColumns = `id, flow, source, type, source_event_id, body_hash, payload, raw, raw_size, headers, occurred_at, received_at`

func scanEvent(sc interface{ Scan(...any) error }) (*Event, error) {
	var (
		e        Event
		payload  string
		headers  string
		occurred int64
		received int64
	)
	if err := sc.Scan(&e.ID, &e.Flow, &e.Source, &e.Type, &e.SourceEventID, &e.BodyHash, &payload, &e.Raw,
		&e.RawSize, &headers, &occurred, &received); err != nil {
		return nil, err
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

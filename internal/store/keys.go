package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ObjectKey maps an external key (a source's appointment id, say) to the
// GoHighLevel object a keyed step created for it, within a scope (a
// location). While GHLID is empty the row is a claim: RunID is creating the
// object, and other runs needing the same key wait for it.
type ObjectKey struct {
	Scope string
	Key   string
	// GHLID is the id of the object in GoHighLevel; "" while claimed.
	GHLID string
	// IDPath is where the id sits in the create operation's answer
	// ("id", "note.id"), to rebuild a minimal answer when the object is
	// reused.
	IDPath    string
	Op        string
	Flow      string
	RunID     string // the run that claimed or created it
	ClaimedAt time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Claimed reports whether the row is a claim without an object yet.
func (k *ObjectKey) Claimed() bool { return k.GHLID == "" }

const keyColumns = `scope, ext_key, ghl_id, id_path, op, flow, run_id, claimed_at, created_at, updated_at`

func scanKey(sc interface{ Scan(...any) error }) (*ObjectKey, error) {
	var (
		out              ObjectKey
		claimed          sql.NullInt64
		created, updated int64
	)
	if err := sc.Scan(&out.Scope, &out.Key, &out.GHLID, &out.IDPath, &out.Op, &out.Flow, &out.RunID, &claimed, &created, &updated); err != nil {
		return nil, err
	}
	out.ClaimedAt = fromNullMicros(claimed)
	out.CreatedAt = fromMicros(created)
	out.UpdatedAt = fromMicros(updated)
	return &out, nil
}

// GetKey returns the mapping of key in scope, or ErrNotFound.
func (q queries) GetKey(ctx context.Context, scope, key string) (*ObjectKey, error) {
	k, err := scanKey(q.queryRow(ctx, `SELECT `+keyColumns+` FROM object_keys WHERE scope = ? AND ext_key = ?`, scope, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	return k, nil
}

// ClaimKey inserts a claim on k.Scope/k.Key for k.RunID unless the key
// already has a row. It returns the row as it now stands and whether this
// call created the claim. The insert is atomic under the primary key, so of
// two runs claiming the same key at once exactly one wins.
func (q queries) ClaimKey(ctx context.Context, k *ObjectKey) (*ObjectKey, bool, error) {
	now := time.Now().UTC()
	res, err := q.exec(ctx, `INSERT INTO object_keys (scope, ext_key, ghl_id, id_path, op, flow, run_id, claimed_at, created_at, updated_at)
		VALUES (?, ?, '', '', ?, ?, ?, ?, ?, ?)
		ON CONFLICT (scope, ext_key) DO NOTHING`,
		k.Scope, k.Key, k.Op, k.Flow, k.RunID, micros(now), micros(now), micros(now))
	if err != nil {
		return nil, false, fmt.Errorf("claim key %q: %w", k.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, fmt.Errorf("claim key %q: %w", k.Key, err)
	}
	cur, err := q.GetKey(ctx, k.Scope, k.Key)
	if err != nil {
		return nil, false, err
	}
	return cur, n == 1, nil
}

// TakeOverKey moves a claim without an object from fromRun (finished, or
// gone) to toRun. It reports false when the row changed meanwhile (another
// run took it over, or the object was created).
func (q queries) TakeOverKey(ctx context.Context, scope, key, fromRun, toRun string) (bool, error) {
	now := micros(time.Now())
	res, err := q.exec(ctx, `UPDATE object_keys SET run_id = ?, claimed_at = ?, updated_at = ?
		WHERE scope = ? AND ext_key = ? AND run_id = ? AND ghl_id = ''`, toRun, now, now, scope, key, fromRun)
	return affectedOne(res, err, "take over key "+key)
}

// ReclaimKey turns a mapping whose object no longer exists in GoHighLevel
// (staleID) back into a claim of runID, so the run can create the object
// again. It reports false when the row no longer maps to staleID.
func (q queries) ReclaimKey(ctx context.Context, scope, key, staleID, runID string) (bool, error) {
	now := micros(time.Now())
	res, err := q.exec(ctx, `UPDATE object_keys SET ghl_id = '', run_id = ?, claimed_at = ?, updated_at = ?
		WHERE scope = ? AND ext_key = ? AND ghl_id = ?`, runID, now, now, scope, key, staleID)
	return affectedOne(res, err, "reclaim key "+key)
}

// SetKeyID records the object created for a key claimed by runID. Call it
// in the transaction that checkpoints the creating step, so the step and
// the mapping commit together.
func (q queries) SetKeyID(ctx context.Context, scope, key, runID, ghlID, idPath string) error {
	if ghlID == "" {
		return fmt.Errorf("set key %q: empty id", key)
	}
	now := micros(time.Now())
	res, err := q.exec(ctx, `UPDATE object_keys SET ghl_id = ?, id_path = ?, claimed_at = NULL, updated_at = ?
		WHERE scope = ? AND ext_key = ? AND run_id = ? AND ghl_id = ''`, ghlID, idPath, now, scope, key, runID)
	ok, err := affectedOne(res, err, "set key "+key)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("set key %q: run %s no longer holds its claim", key, runID)
	}
	return nil
}

// ReleaseKey drops runID's claim on a key that has no object (the create
// failed for good), so another run may try.
func (q queries) ReleaseKey(ctx context.Context, scope, key, runID string) error {
	_, err := q.exec(ctx, `DELETE FROM object_keys WHERE scope = ? AND ext_key = ? AND run_id = ? AND ghl_id = ''`, scope, key, runID)
	if err != nil {
		return fmt.Errorf("release key %q: %w", key, err)
	}
	return nil
}

// CountKeys returns how many keys a scope maps ("" = every scope),
// claims included.
func (q queries) CountKeys(ctx context.Context, scope string) (int, error) {
	var n int
	var err error
	if scope == "" {
		err = q.queryRow(ctx, `SELECT COUNT(*) FROM object_keys`).Scan(&n)
	} else {
		err = q.queryRow(ctx, `SELECT COUNT(*) FROM object_keys WHERE scope = ?`, scope).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	return n, nil
}

func affectedOne(res sql.Result, err error, what string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n == 1, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SettingRedactFields holds the personal-data field names (comma
// separated) the server masks when it shows or exports history; `ghlsync
// runs` masks them too.
const SettingRedactFields = "redact_fields"

// SetSetting stores a server setting, replacing its previous value.
func (q queries) SetSetting(ctx context.Context, key, value string) error {
	_, err := q.exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, micros(time.Now()))
	if err != nil {
		return fmt.Errorf("store setting %s: %w", key, err)
	}
	return nil
}

// Setting returns a stored server setting; ok is false when it was never
// set.
func (q queries) Setting(ctx context.Context, key string) (value string, ok bool, err error) {
	err = q.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&value)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return value, true, nil
}

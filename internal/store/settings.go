package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/audit"
)

// GetSetting returns a server setting's JSON value, or ErrNotFound.
func (db *DB) GetSetting(ctx context.Context, key string) (json.RawMessage, error) {
	var v string
	err := db.r().queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("setting %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading setting %q: %w", key, err)
	}
	return json.RawMessage(v), nil
}

// PutSetting stores a server setting (a JSON value) with its audit event.
func (db *DB) PutSetting(ctx context.Context, key string, value json.RawMessage) error {
	if err := validateText("setting key", key); err != nil {
		return err
	}
	if key == "" {
		return invalid("setting key", "", "must not be empty")
	}
	if err := validateJSON("setting value", value, true); err != nil {
		return err
	}
	err := db.inTx(ctx, func(r runner) error {
		var before string
		err := r.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`+r.forUpdate(), key).Scan(&before)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		ts, at := db.timestamp()
		if _, err := r.exec(ctx, `INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			key, string(value), ts, audit.Actor(ctx)); err != nil {
			return err
		}
		var b any
		if before != "" {
			b = json.RawMessage(before)
		}
		return db.audit(ctx, r, audit.Change{Action: "setting.put", Object: "setting/" + key, Before: b, After: value, At: at})
	})
	if err != nil {
		return fmt.Errorf("storing setting %q: %w", key, err)
	}
	return nil
}

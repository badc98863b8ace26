package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SaveBanditState stores an endpoint's bandit state (opaque JSON),
// replacing what was there.
func (db *DB) SaveBanditState(ctx context.Context, endpoint string, state []byte) error {
	now := time.Now().UnixNano()
	return db.inTx(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE bandit_state SET state = ?, updated_at = ? WHERE endpoint = ?`, string(state), now, endpoint)
		if err != nil {
			return fmt.Errorf("saving bandit state of %s: %w", endpoint, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		if _, err := r.exec(ctx, `INSERT INTO bandit_state (endpoint, state, updated_at) VALUES (?, ?, ?)`, endpoint, string(state), now); err != nil {
			return fmt.Errorf("saving bandit state of %s: %w", endpoint, err)
		}
		return nil
	})
}

// LoadBanditState returns an endpoint's saved bandit state, or nil when
// there is none.
func (db *DB) LoadBanditState(ctx context.Context, endpoint string) ([]byte, error) {
	var s string
	err := db.r().queryRow(ctx, `SELECT state FROM bandit_state WHERE endpoint = ?`, endpoint).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading bandit state of %s: %w", endpoint, err)
	}
	return []byte(s), nil
}

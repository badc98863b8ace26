package store

import (
	"context"
	"fmt"
)

// Revision returns the serving revision: a counter bumped by every change
// that can change routing (endpoint create/update/delete, alias moves and
// deletions, new versions, which move "latest"). Gateways on several nodes
// poll it, one indexed single-row read, and rebuild their routing table when
// it moves.
func (db *DB) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := db.r().queryRow(ctx, `SELECT value FROM serving_revision WHERE id = 1`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("reading serving revision: %w", err)
	}
	return rev, nil
}

// bumpRevision increments the serving revision inside the caller's
// transaction and returns the new value. On PostgreSQL the UPDATE holds the
// row until commit, so every serving change is ordered; callers take it after
// any model or endpoint row lock, always in that order, so transactions
// cannot deadlock on it.
func bumpRevision(ctx context.Context, r runner) (int64, error) {
	var rev int64
	if err := r.queryRow(ctx, `UPDATE serving_revision SET value = value + 1 WHERE id = 1 RETURNING value`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("bumping serving revision: %w", err)
	}
	return rev, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// Token is an API token's record. The token itself is never stored: only
// its sha256 (Hash), looked up when a request presents it.
type Token struct {
	// ID is a short random identifier, shown in lists and usable to revoke.
	ID string
	// Name is unique: who or what holds the token ("ci", "alice"). It is the
	// actor recorded in the audit log for the token's changes.
	Name string
	// Role is viewer, deployer, approver or admin (checked by the caller).
	Role string
	// Hash is the lowercase hex sha256 of the token.
	Hash string
	// CreatedAt and CreatedBy say when and by whom it was made.
	CreatedAt time.Time
	CreatedBy string
	// ExpiresAt is when it stops working; zero means never.
	ExpiresAt time.Time
	// RevokedAt is when it was revoked; zero means it was not.
	RevokedAt time.Time
}

const tokenColumns = `id, name, role, hash, created_at, created_by, expires_at, revoked_at`

func scanToken(s scanner) (Token, error) {
	var t Token
	var created, expires, revoked int64
	if err := s.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &created, &t.CreatedBy, &expires, &revoked); err != nil {
		return t, err
	}
	t.CreatedAt = fromNanos(created)
	if expires != 0 {
		t.ExpiresAt = fromNanos(expires)
	}
	if revoked != 0 {
		t.RevokedAt = fromNanos(revoked)
	}
	return t, nil
}

// tokenAudit is what token events record: never the hash.
func tokenAudit(t Token) map[string]any {
	m := map[string]any{"id": t.ID, "name": t.Name, "role": t.Role}
	if !t.ExpiresAt.IsZero() {
		m["expires_at"] = t.ExpiresAt
	}
	if !t.RevokedAt.IsZero() {
		m["revoked_at"] = t.RevokedAt
	}
	return m
}

func validateToken(t Token) error {
	if err := ValidateName("token name", t.Name); err != nil {
		return err
	}
	if err := validateDigest("token hash", t.Hash); err != nil {
		return err
	}
	if t.ID == "" {
		return invalid("token id", "", "must not be empty")
	}
	if t.Role == "" {
		return invalid("role", "", "must not be empty")
	}
	return validateText("created by", t.CreatedBy)
}

// CreateToken stores a new token record, with its audit event. A taken
// name is ErrAlreadyExists.
func (db *DB) CreateToken(ctx context.Context, t Token) (Token, error) {
	if err := validateToken(t); err != nil {
		return Token{}, err
	}
	ts, at := db.timestamp()
	t.CreatedAt, t.RevokedAt = at, time.Time{}
	var expires int64
	if !t.ExpiresAt.IsZero() {
		expires = t.ExpiresAt.UnixNano()
		t.ExpiresAt = fromNanos(expires)
	}
	err := db.inTx(ctx, func(r runner) error {
		if err := insertToken(ctx, r, t, ts, expires); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "token.create", Object: "token/" + t.Name, After: tokenAudit(t), At: at})
	})
	if err != nil {
		return Token{}, fmt.Errorf("creating token %q: %w", t.Name, err)
	}
	return t, nil
}

func insertToken(ctx context.Context, r runner, t Token, ts, expires int64) error {
	var one int
	err := r.queryRow(ctx, `SELECT 1 FROM api_tokens WHERE name = ?`, t.Name).Scan(&one)
	if err == nil {
		return fmt.Errorf("token %q: %w", t.Name, ErrAlreadyExists)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if _, err := r.exec(ctx, `INSERT INTO api_tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
		t.ID, t.Name, t.Role, t.Hash, ts, t.CreatedBy, expires); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("token %q: %w", t.Name, ErrAlreadyExists)
		}
		return err
	}
	return nil
}

// BootstrapToken stores t as the first token of a new store, once: it
// returns created=false, and stores nothing, when the store was bootstrapped
// before (by this node or another sharing the store). The "auth.bootstrap"
// setting's primary key decides between nodes starting together.
func (db *DB) BootstrapToken(ctx context.Context, t Token) (created bool, err error) {
	if err := validateToken(t); err != nil {
		return false, err
	}
	ts, at := db.timestamp()
	t.CreatedAt = at
	err = db.inTx(ctx, func(r runner) error {
		res, err := r.exec(ctx, `INSERT INTO settings (key, value, updated_at, updated_by) VALUES ('auth.bootstrap', ?, ?, ?)
			ON CONFLICT (key) DO NOTHING`, `"`+t.Name+`"`, ts, audit.System)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		var count int
		if err := r.queryRow(ctx, `SELECT COUNT(*) FROM api_tokens`).Scan(&count); err != nil {
			return err
		}
		if count > 0 {
			return nil
		}
		if err := insertToken(ctx, r, t, ts, 0); err != nil {
			return err
		}
		created = true
		return db.audit(audit.WithActor(ctx, audit.System), r, audit.Change{Action: "token.create", Object: "token/" + t.Name, After: tokenAudit(t), At: at})
	})
	if err != nil {
		return false, fmt.Errorf("creating the first admin token: %w", err)
	}
	return created, nil
}

// TokenByHash returns the token whose sha256 is hash, revoked or expired
// ones included (the caller says why they fail). Unknown is ErrNotFound.
func (db *DB) TokenByHash(ctx context.Context, hash string) (Token, error) {
	t, err := scanToken(db.r().queryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("looking up token: %w", err)
	}
	return t, nil
}

// ListTokens returns every token record, sorted by name.
func (db *DB) ListTokens(ctx context.Context) ([]Token, error) {
	out, err := queryAll(ctx, db.r(), "tokens", scanToken, `SELECT `+tokenColumns+` FROM api_tokens`)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RevokeToken revokes the token named nameOrID (its name or its ID). A
// revoked token stays listed. Revoking twice changes nothing.
func (db *DB) RevokeToken(ctx context.Context, nameOrID string) (Token, error) {
	if err := validateText("token", nameOrID); err != nil {
		return Token{}, err
	}
	var t Token
	err := db.inTx(ctx, func(r runner) error {
		var err error
		t, err = scanToken(r.queryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE name = ? OR id = ?`+r.forUpdate(), nameOrID, nameOrID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token %q: %w", nameOrID, ErrNotFound)
		}
		if err != nil || !t.RevokedAt.IsZero() {
			return err
		}
		before := tokenAudit(t)
		ts, at := db.timestamp()
		if _, err := r.exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ?`, ts, t.ID); err != nil {
			return err
		}
		t.RevokedAt = at
		return db.audit(ctx, r, audit.Change{Action: "token.revoke", Object: "token/" + t.Name, Before: before, After: tokenAudit(t), At: at})
	})
	if err != nil {
		return Token{}, fmt.Errorf("revoking token: %w", err)
	}
	return t, nil
}

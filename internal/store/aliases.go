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

// AliasChange records one move or deletion of an alias.
type AliasChange struct {
	// Model and Alias name the alias.
	Model, Alias string
	// Version is where the alias points after the change; 0 means it was
	// deleted.
	Version int
	// Previous is where it pointed before; 0 means it did not exist.
	Previous int
	// ChangedAt is when the change happened, in UTC.
	ChangedAt time.Time
	// ChangedBy is the actor who made it.
	ChangedBy string
	// Revision is the serving revision the change produced. It orders alias
	// changes across all models.
	Revision int64
}

// SetAlias points alias at version, recording the move in the alias history
// and bumping the serving revision. The version must exist (else
// ErrNotFound). Setting an alias to the version it already points at changes
// nothing and returns the change that put it there.
func (db *DB) SetAlias(ctx context.Context, model, alias string, version int, actor string) (AliasChange, error) {
	if err := ValidateName("model name", model); err != nil {
		return AliasChange{}, err
	}
	if err := ValidateAlias(alias); err != nil {
		return AliasChange{}, err
	}
	if err := validateVersionNumber(version); err != nil {
		return AliasChange{}, err
	}
	if err := validateText("actor", actor); err != nil {
		return AliasChange{}, err
	}
	ch := AliasChange{Model: model, Alias: alias, Version: version, ChangedBy: actor}
	err := db.inTx(ctx, func(r runner) error {
		if err := lockModel(ctx, r, model); err != nil {
			return err
		}
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM versions WHERE model = ? AND version = ?`, model, version).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("model %q version %d: %w", model, version, ErrNotFound)
		}
		if err != nil {
			return err
		}
		prev, err := currentAlias(ctx, r, model, alias)
		if err != nil {
			return err
		}
		if prev == version {
			// No-op: report the change that made the alias what it is.
			var at int64
			err := r.queryRow(ctx, `SELECT previous, changed_at, changed_by, revision FROM alias_history
				WHERE model = ? AND alias = ? ORDER BY revision DESC LIMIT 1`, model, alias).
				Scan(&ch.Previous, &at, &ch.ChangedBy, &ch.Revision)
			ch.ChangedAt = fromNanos(at)
			if errors.Is(err, sql.ErrNoRows) { // set before history was kept
				return nil
			}
			return err
		}
		ts, at := db.timestamp()
		ch.Previous, ch.ChangedAt = prev, at
		if _, err := r.exec(ctx, `INSERT INTO aliases (model, alias, version, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version,
			updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			model, alias, version, ts, actor); err != nil {
			return err
		}
		if ch.Revision, err = recordAliasChange(ctx, r, ch, ts); err != nil {
			return err
		}
		return db.audit(ctx, r, aliasAudit("alias.set", ch))
	})
	if err != nil {
		return AliasChange{}, fmt.Errorf("setting alias %q of model %q: %w", alias, model, err)
	}
	return ch, nil
}

// DeleteAlias removes an alias, recording the deletion in the alias history
// and bumping the serving revision. A missing alias is ErrNotFound.
func (db *DB) DeleteAlias(ctx context.Context, model, alias, actor string) error {
	if err := ValidateName("model name", model); err != nil {
		return err
	}
	if err := ValidateAlias(alias); err != nil {
		return err
	}
	if err := validateText("actor", actor); err != nil {
		return err
	}
	err := db.inTx(ctx, func(r runner) error {
		if err := lockModel(ctx, r, model); err != nil {
			return err
		}
		prev, err := currentAlias(ctx, r, model, alias)
		if err != nil {
			return err
		}
		if prev == 0 {
			return fmt.Errorf("model %q alias %q: %w", model, alias, ErrNotFound)
		}
		if _, err := r.exec(ctx, `DELETE FROM aliases WHERE model = ? AND alias = ?`, model, alias); err != nil {
			return err
		}
		ts, at := db.timestamp()
		ch := AliasChange{Model: model, Alias: alias, Previous: prev, ChangedAt: at, ChangedBy: actor}
		if _, err = recordAliasChange(ctx, r, ch, ts); err != nil {
			return err
		}
		return db.audit(ctx, r, aliasAudit("alias.delete", ch))
	})
	if err != nil {
		return fmt.Errorf("deleting alias %q of model %q: %w", alias, model, err)
	}
	return nil
}

// AliasHistory returns every change to the model's aliases, oldest first.
func (db *DB) AliasHistory(ctx context.Context, model string) ([]AliasChange, error) {
	if err := ValidateName("model name", model); err != nil {
		return nil, err
	}
	r := db.r()
	if err := db.modelExists(ctx, r, model); err != nil {
		return nil, err
	}
	rows, err := r.query(ctx, `SELECT model, alias, version, previous, changed_at, changed_by, revision
		FROM alias_history WHERE model = ? ORDER BY revision`, model)
	if err != nil {
		return nil, fmt.Errorf("model %q: alias history: %w", model, err)
	}
	defer rows.Close()
	var hist []AliasChange
	for rows.Next() {
		var ch AliasChange
		var at int64
		if err := rows.Scan(&ch.Model, &ch.Alias, &ch.Version, &ch.Previous, &at, &ch.ChangedBy, &ch.Revision); err != nil {
			return nil, fmt.Errorf("model %q: alias history: %w", model, err)
		}
		ch.ChangedAt = fromNanos(at)
		hist = append(hist, ch)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("model %q: alias history: %w", model, err)
	}
	return hist, nil
}

// aliasAudit is the audit record of an alias move or deletion.
func aliasAudit(action string, ch AliasChange) audit.Change {
	c := audit.Change{Action: action, Object: "model/" + ch.Model + "/alias/" + ch.Alias, At: ch.ChangedAt}
	if ch.Previous != 0 {
		c.Before = map[string]int{"version": ch.Previous}
	}
	if ch.Version != 0 {
		c.After = map[string]int{"version": ch.Version}
	}
	return c
}

// lockModel checks that the model exists and, on PostgreSQL, locks its row
// so alias changes to one model happen one at a time.
func lockModel(ctx context.Context, r runner, model string) error {
	var latest int
	err := r.queryRow(ctx, `SELECT latest_version FROM models WHERE name = ?`+r.forUpdate(), model).Scan(&latest)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("model %q: %w", model, ErrNotFound)
	}
	return err
}

// currentAlias returns the version alias points at, or 0.
func currentAlias(ctx context.Context, r runner, model, alias string) (int, error) {
	var v int
	err := r.queryRow(ctx, `SELECT version FROM aliases WHERE model = ? AND alias = ?`, model, alias).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// recordAliasChange bumps the serving revision, appends ch to the history
// under it and touches the model. It returns the new revision.
func recordAliasChange(ctx context.Context, r runner, ch AliasChange, ts int64) (int64, error) {
	rev, err := bumpRevision(ctx, r)
	if err != nil {
		return 0, err
	}
	if _, err := r.exec(ctx, `INSERT INTO alias_history (revision, model, alias, version, previous, changed_at, changed_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, rev, ch.Model, ch.Alias, ch.Version, ch.Previous, ts, ch.ChangedBy); err != nil {
		return 0, err
	}
	if _, err := r.exec(ctx, `UPDATE models SET updated_at = ? WHERE name = ?`, ts, ch.Model); err != nil {
		return 0, err
	}
	return rev, nil
}

// aliasesByVersion maps each version of model to its aliases, sorted.
func (db *DB) aliasesByVersion(ctx context.Context, r runner, model string) (map[int][]string, error) {
	rows, err := r.query(ctx, `SELECT alias, version FROM aliases WHERE model = ?`, model)
	if err != nil {
		return nil, fmt.Errorf("model %q: reading aliases: %w", model, err)
	}
	defer rows.Close()
	m := map[int][]string{}
	for rows.Next() {
		var alias string
		var v int
		if err := rows.Scan(&alias, &v); err != nil {
			return nil, fmt.Errorf("model %q: reading aliases: %w", model, err)
		}
		m[v] = append(m[v], alias)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("model %q: reading aliases: %w", model, err)
	}
	for _, as := range m {
		sort.Strings(as) // in Go: database collations differ
	}
	return m, nil
}

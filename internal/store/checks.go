package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sluicehq/sluice/internal/audit"
	"time"
)

// VersionCheck is one run of checks on a model version (the pre-deployment
// gates of a rollout).
type VersionCheck struct {
	Model   string          `json:"model"`
	Version int             `json:"version"`
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Source  string          `json:"source"`
	Passed  bool            `json:"passed"`
	Results json.RawMessage `json:"results"`
}

// AddVersionCheck records a run of checks on a version.
func (db *DB) AddVersionCheck(ctx context.Context, c VersionCheck) (VersionCheck, error) {
	if err := ValidateName("model name", c.Model); err != nil {
		return VersionCheck{}, err
	}
	if err := validateJSON("check results", c.Results, true); err != nil {
		return VersionCheck{}, err
	}
	ts, at := db.timestamp()
	c.At = at
	passed := 0
	if c.Passed {
		passed = 1
	}
	err := db.inTx(ctx, func(r runner) error {
		var one int
		if err := r.queryRow(ctx, `SELECT 1 FROM versions WHERE model = ? AND version = ?`, c.Model, c.Version).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("model %q version %d: %w", c.Model, c.Version, ErrNotFound)
			}
			return err
		}
		if err := r.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM version_checks WHERE model = ? AND version = ?`, c.Model, c.Version).Scan(&c.Seq); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO version_checks (model, version, seq, at, source, passed, results) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.Model, c.Version, c.Seq, ts, c.Source, passed, string(c.Results)); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "model.check", Object: fmt.Sprintf("model/%s@%d", c.Model, c.Version),
			After: map[string]any{"source": c.Source, "passed": c.Passed, "seq": c.Seq}, At: at})
	})
	if err != nil {
		return VersionCheck{}, fmt.Errorf("recording checks of %s version %d: %w", c.Model, c.Version, err)
	}
	return c, nil
}

// VersionChecks returns the checks run on a version, oldest first.
func (db *DB) VersionChecks(ctx context.Context, model string, version int) ([]VersionCheck, error) {
	rows, err := db.r().query(ctx, `SELECT model, version, seq, at, source, passed, results FROM version_checks
		WHERE model = ? AND version = ? ORDER BY seq`, model, version)
	if err != nil {
		return nil, fmt.Errorf("checks of %s version %d: %w", model, version, err)
	}
	defer rows.Close()
	out := []VersionCheck{}
	for rows.Next() {
		var c VersionCheck
		var at int64
		var passed int
		var res string
		if err := rows.Scan(&c.Model, &c.Version, &c.Seq, &at, &c.Source, &passed, &res); err != nil {
			return nil, fmt.Errorf("checks of %s version %d: %w", model, version, err)
		}
		c.At, c.Passed, c.Results = fromNanos(at), passed != 0, json.RawMessage(res)
		out = append(out, c)
	}
	return out, rows.Err()
}

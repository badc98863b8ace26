package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/sluicehq/sluice/internal/audit"
	"sort"
	"time"
)

// Rollout is a rollout's stored document: its spec and its state, both JSON
// the rollout package owns, and the phase, copied out of the state so that
// active rollouts can be listed without decoding every one.
type Rollout struct {
	Name     string
	Endpoint string
	Spec     json.RawMessage
	Status   json.RawMessage
	Phase    string
	// Generation is 1 when the rollout is created and grows by one with
	// every write; writes name the generation they read.
	Generation int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	CreatedBy  string
}

// RolloutEvent is one entry of a rollout's transition log.
type RolloutEvent struct {
	Rollout string          `json:"rollout"`
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Kind    string          `json:"kind"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
	Actor   string          `json:"actor,omitempty"`
}

// RolloutWrite is one transition of a rollout: its new state, the events
// that explain it and, optionally, the change it makes to its endpoint, all
// written in one transaction.
type RolloutWrite struct {
	// Generation is the generation the writer read; the write fails with
	// ErrConflict if the rollout has moved on since.
	Generation int64
	// Spec replaces the rollout's spec when not nil.
	Spec   json.RawMessage
	Status json.RawMessage
	Phase  string
	Events []RolloutEvent
	// Endpoint, when not nil, is applied to the rollout's endpoint in the
	// same transaction (see UpdateEndpoint); its error aborts the write.
	Endpoint func(cur Endpoint) (json.RawMessage, error)
}

const rolloutColumns = `name, endpoint, spec, status, phase, generation, created_at, updated_at, created_by`

func scanRollout(s scanner) (Rollout, error) {
	var ro Rollout
	var spec, status string
	var created, updated int64
	if err := s.Scan(&ro.Name, &ro.Endpoint, &spec, &status, &ro.Phase, &ro.Generation, &created, &updated, &ro.CreatedBy); err != nil {
		return Rollout{}, err
	}
	ro.Spec, ro.Status = json.RawMessage(spec), json.RawMessage(status)
	ro.CreatedAt, ro.UpdatedAt = fromNanos(created), fromNanos(updated)
	return ro, nil
}

// CreateRollout stores a new rollout with its first events. A taken name is
// ErrAlreadyExists.
func (db *DB) CreateRollout(ctx context.Context, ro Rollout, events []RolloutEvent) (Rollout, error) {
	if err := ValidateName("rollout name", ro.Name); err != nil {
		return Rollout{}, err
	}
	if err := ValidateName("endpoint name", ro.Endpoint); err != nil {
		return Rollout{}, err
	}
	if err := validateJSON("rollout spec", ro.Spec, true); err != nil {
		return Rollout{}, err
	}
	if err := validateJSON("rollout status", ro.Status, true); err != nil {
		return Rollout{}, err
	}
	ts, at := db.timestamp()
	ro.Generation, ro.CreatedAt, ro.UpdatedAt = 1, at, at
	ro.Spec, ro.Status = clone(ro.Spec), clone(ro.Status)
	err := db.inTx(ctx, func(r runner) error {
		if _, err := getRollout(ctx, r, ro.Name, false); err == nil {
			return fmt.Errorf("rollout %q: %w", ro.Name, ErrAlreadyExists)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO rollouts (`+rolloutColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ro.Name, ro.Endpoint, string(ro.Spec), string(ro.Status), ro.Phase, ro.Generation, ts, ts, ro.CreatedBy); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("rollout %q: %w", ro.Name, ErrAlreadyExists)
			}
			return err
		}
		if err := appendRolloutEvents(ctx, r, ro.Name, ts, events); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "rollout.create", Object: "rollout/" + ro.Name, After: ro.Spec, At: at})
	})
	if err != nil {
		return Rollout{}, fmt.Errorf("creating rollout %q: %w", ro.Name, err)
	}
	return ro, nil
}

// GetRollout returns one rollout.
func (db *DB) GetRollout(ctx context.Context, name string) (Rollout, error) {
	if err := ValidateName("rollout name", name); err != nil {
		return Rollout{}, err
	}
	return getRollout(ctx, db.r(), name, false)
}

func getRollout(ctx context.Context, r runner, name string, lock bool) (Rollout, error) {
	q := `SELECT ` + rolloutColumns + ` FROM rollouts WHERE name = ?`
	if lock {
		q += r.forUpdate()
	}
	ro, err := scanRollout(r.queryRow(ctx, q, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, fmt.Errorf("rollout %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("rollout %q: %w", name, err)
	}
	return ro, nil
}

// ListRollouts returns every rollout, or those of one endpoint when
// endpoint is not "", sorted by name.
func (db *DB) ListRollouts(ctx context.Context, endpoint string) ([]Rollout, error) {
	q, args := `SELECT `+rolloutColumns+` FROM rollouts`, []any{}
	if endpoint != "" {
		q, args = q+` WHERE endpoint = ?`, append(args, endpoint)
	}
	out, err := queryAll(ctx, db.r(), "rollouts", scanRollout, q, args...)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// WriteRollout applies one transition to a rollout (and, if w.Endpoint is
// set, to its endpoint) in a single transaction. It returns the rollout as
// written and the endpoint as it is after the write (zero if w.Endpoint is
// nil). A rollout whose generation is no longer w.Generation is ErrConflict;
// an error from w.Endpoint is returned as is and nothing is written.
func (db *DB) WriteRollout(ctx context.Context, name string, w RolloutWrite) (Rollout, Endpoint, error) {
	if err := ValidateName("rollout name", name); err != nil {
		return Rollout{}, Endpoint{}, err
	}
	if err := validateJSON("rollout status", w.Status, true); err != nil {
		return Rollout{}, Endpoint{}, err
	}
	if w.Spec != nil {
		if err := validateJSON("rollout spec", w.Spec, true); err != nil {
			return Rollout{}, Endpoint{}, err
		}
	}
	var out Rollout
	var ep Endpoint
	var fnErr error
	err := db.inTx(ctx, func(r runner) error {
		cur, err := getRollout(ctx, r, name, true)
		if err != nil {
			return err
		}
		if cur.Generation != w.Generation {
			return fmt.Errorf("rollout %q is at generation %d, not %d: %w", name, cur.Generation, w.Generation, ErrConflict)
		}
		if w.Endpoint != nil {
			if ep, fnErr, err = db.updateEndpointTx(ctx, r, cur.Endpoint, w.Endpoint); err != nil {
				return err
			}
		}
		ts, at := db.timestamp()
		out = cur
		if w.Spec != nil {
			out.Spec = clone(w.Spec)
		}
		out.Status, out.Phase, out.Generation, out.UpdatedAt = clone(w.Status), w.Phase, cur.Generation+1, at
		if _, err := r.exec(ctx, `UPDATE rollouts SET spec = ?, status = ?, phase = ?, generation = ?, updated_at = ? WHERE name = ?`,
			string(out.Spec), string(out.Status), out.Phase, out.Generation, ts, name); err != nil {
			return err
		}
		if err := appendRolloutEvents(ctx, r, name, ts, w.Events); err != nil {
			return err
		}
		// Status refreshes are not audited; a new phase, a new spec or a
		// traffic change is.
		if out.Phase == cur.Phase && w.Spec == nil && w.Endpoint == nil {
			return nil
		}
		return db.audit(ctx, r, audit.Change{Action: "rollout.update", Object: "rollout/" + name,
			Before: map[string]any{"phase": cur.Phase, "generation": cur.Generation},
			After:  map[string]any{"phase": out.Phase, "generation": out.Generation}, At: at})
	})
	if fnErr != nil {
		return Rollout{}, Endpoint{}, fnErr
	}
	if err != nil {
		return Rollout{}, Endpoint{}, fmt.Errorf("writing rollout %q: %w", name, err)
	}
	return out, ep, nil
}

// DeleteRollout removes a rollout and its events.
func (db *DB) DeleteRollout(ctx context.Context, name string) error {
	if err := ValidateName("rollout name", name); err != nil {
		return err
	}
	err := db.inTx(ctx, func(r runner) error {
		cur, err := getRollout(ctx, r, name, true)
		if err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM rollout_events WHERE rollout = ?`, name); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM rollouts WHERE name = ?`, name); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "rollout.delete", Object: "rollout/" + name, Before: cur.Spec})
	})
	if err != nil {
		return fmt.Errorf("deleting rollout %q: %w", name, err)
	}
	return nil
}

// RolloutEvents returns a rollout's events with Seq > after, oldest first.
func (db *DB) RolloutEvents(ctx context.Context, name string, after int64) ([]RolloutEvent, error) {
	if err := ValidateName("rollout name", name); err != nil {
		return nil, err
	}
	rows, err := db.r().query(ctx, `SELECT rollout, seq, at, kind, message, data, actor FROM rollout_events
		WHERE rollout = ? AND seq > ? ORDER BY seq`, name, after)
	if err != nil {
		return nil, fmt.Errorf("rollout %q: events: %w", name, err)
	}
	defer rows.Close()
	var out []RolloutEvent
	for rows.Next() {
		var ev RolloutEvent
		var at int64
		var data string
		if err := rows.Scan(&ev.Rollout, &ev.Seq, &at, &ev.Kind, &ev.Message, &data, &ev.Actor); err != nil {
			return nil, fmt.Errorf("rollout %q: events: %w", name, err)
		}
		ev.At, ev.Data = fromNanos(at), json.RawMessage(data)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rollout %q: events: %w", name, err)
	}
	return out, nil
}

func appendRolloutEvents(ctx context.Context, r runner, name string, ts int64, events []RolloutEvent) error {
	if len(events) == 0 {
		return nil
	}
	var seq int64
	if err := r.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM rollout_events WHERE rollout = ?`, name).Scan(&seq); err != nil {
		return err
	}
	for _, ev := range events {
		seq++
		data := ev.Data
		if len(data) == 0 {
			data = json.RawMessage(`{}`)
		}
		if err := validateJSON("rollout event data", data, false); err != nil {
			return err
		}
		at := ts
		if !ev.At.IsZero() {
			at = ev.At.UnixNano()
		}
		if _, err := r.exec(ctx, `INSERT INTO rollout_events (rollout, seq, at, kind, message, data, actor) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			name, seq, at, ev.Kind, ev.Message, string(data), ev.Actor); err != nil {
			return err
		}
	}
	return nil
}

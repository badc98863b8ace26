package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// Endpoint is a named, revisioned spec document. The store does not
// interpret Spec beyond checking it is JSON; the API layer owns its shape.
type Endpoint struct {
	// Name is the endpoint name.
	Name string
	// Spec is the endpoint's JSON document (model, version ref, traffic
	// policy...), stored and returned verbatim.
	Spec json.RawMessage
	// Revision is 1 when the endpoint is first created and grows by one with
	// each change. Numbering survives deletion: a re-created endpoint
	// continues after its last revision, so a revision never means two specs.
	Revision int64
	// CreatedAt is when this incarnation of the endpoint was created.
	CreatedAt time.Time
	// UpdatedAt is when this revision was written.
	UpdatedAt time.Time
	// Deleted is set only in EndpointHistory, on the entry that records the
	// deletion; its Spec is the last spec before it.
	Deleted bool
	// ChangedBy is the actor who wrote this revision; set only in
	// EndpointHistory.
	ChangedBy string
}

// CreateEndpoint stores a new endpoint. A taken name is ErrAlreadyExists.
func (db *DB) CreateEndpoint(ctx context.Context, name string, spec json.RawMessage) (Endpoint, error) {
	if err := ValidateName("endpoint name", name); err != nil {
		return Endpoint{}, err
	}
	if err := validateJSON("endpoint spec", spec, true); err != nil {
		return Endpoint{}, err
	}
	ts, at := db.timestamp()
	ep := Endpoint{Name: name, Spec: clone(spec), CreatedAt: at, UpdatedAt: at}
	err := db.inTx(ctx, func(r runner) error {
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM endpoints WHERE name = ?`, name).Scan(&one)
		if err == nil {
			return fmt.Errorf("endpoint %q: %w", name, ErrAlreadyExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := r.queryRow(ctx, `SELECT COALESCE(MAX(revision), 0) + 1 FROM endpoint_history WHERE name = ?`, name).Scan(&ep.Revision); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO endpoints (name, spec, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			name, string(ep.Spec), ep.Revision, ts, ts); err != nil {
			if isUniqueViolation(err) { // a concurrent create won
				return fmt.Errorf("endpoint %q: %w", name, ErrAlreadyExists)
			}
			return err
		}
		if err := recordEndpointChange(ctx, r, ep, ts, false); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "endpoint.create", Object: "endpoint/" + name, After: ep.Spec, At: at})
	})
	if err != nil {
		return Endpoint{}, fmt.Errorf("creating endpoint %q: %w", name, err)
	}
	return ep, nil
}

const endpointColumns = `name, spec, revision, created_at, updated_at`

func scanEndpoint(s scanner) (Endpoint, error) {
	var ep Endpoint
	var spec string
	var created, updated int64
	if err := s.Scan(&ep.Name, &spec, &ep.Revision, &created, &updated); err != nil {
		return Endpoint{}, err
	}
	ep.Spec = json.RawMessage(spec)
	ep.CreatedAt, ep.UpdatedAt = fromNanos(created), fromNanos(updated)
	return ep, nil
}

// GetEndpoint returns the current revision of an endpoint.
func (db *DB) GetEndpoint(ctx context.Context, name string) (Endpoint, error) {
	if err := ValidateName("endpoint name", name); err != nil {
		return Endpoint{}, err
	}
	return getEndpoint(ctx, db.r(), name, false)
}

func getEndpoint(ctx context.Context, r runner, name string, lock bool) (Endpoint, error) {
	q := `SELECT ` + endpointColumns + ` FROM endpoints WHERE name = ?`
	if lock {
		q += r.forUpdate()
	}
	ep, err := scanEndpoint(r.queryRow(ctx, q, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, fmt.Errorf("endpoint %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %q: %w", name, err)
	}
	return ep, nil
}

// ListEndpoints returns every endpoint, sorted by name.
func (db *DB) ListEndpoints(ctx context.Context) ([]Endpoint, error) {
	eps, err := queryAll(ctx, db.r(), "endpoints", scanEndpoint, `SELECT `+endpointColumns+` FROM endpoints`)
	if err != nil {
		return nil, err
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Name < eps[j].Name })
	return eps, nil
}

// UpdateEndpoint runs fn on the current endpoint inside a transaction, with
// the row locked on PostgreSQL (SQLite runs one writer at a time), and stores
// the spec fn returns as the next revision. An error from fn aborts the
// update and is returned as is. A spec equal to the current one, ignoring
// insignificant whitespace, changes nothing and returns the current revision.
func (db *DB) UpdateEndpoint(ctx context.Context, name string, fn func(cur Endpoint) (json.RawMessage, error)) (Endpoint, error) {
	if err := ValidateName("endpoint name", name); err != nil {
		return Endpoint{}, err
	}
	var out Endpoint
	var fnErr error
	err := db.inTx(ctx, func(r runner) error {
		var err error
		out, fnErr, err = db.updateEndpointTx(ctx, r, name, fn)
		return err
	})
	if fnErr != nil {
		return Endpoint{}, fnErr
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("updating endpoint %q: %w", name, err)
	}
	return out, nil
}

// updateEndpointTx is UpdateEndpoint inside the caller's transaction. fn's
// error is returned both as fnErr and as err, so the caller rolls back and
// can still tell it apart from a store failure.
func (db *DB) updateEndpointTx(ctx context.Context, r runner, name string, fn func(cur Endpoint) (json.RawMessage, error)) (out Endpoint, fnErr, err error) {
	cur, err := getEndpoint(ctx, r, name, true)
	if err != nil {
		return Endpoint{}, nil, err
	}
	given := cur
	given.Spec = clone(cur.Spec)
	spec, err := fn(given)
	if err != nil {
		return Endpoint{}, err, err
	}
	if err := validateJSON("endpoint spec", spec, true); err != nil {
		return Endpoint{}, nil, err
	}
	if sameJSON(spec, cur.Spec) {
		return cur, nil, nil
	}
	ts, at := db.timestamp()
	out = Endpoint{Name: name, Spec: clone(spec), Revision: cur.Revision + 1, CreatedAt: cur.CreatedAt, UpdatedAt: at}
	if _, err := r.exec(ctx, `UPDATE endpoints SET spec = ?, revision = ?, updated_at = ? WHERE name = ?`,
		string(out.Spec), out.Revision, ts, name); err != nil {
		return Endpoint{}, nil, err
	}
	if err := recordEndpointChange(ctx, r, out, ts, false); err != nil {
		return Endpoint{}, nil, err
	}
	return out, nil, db.audit(ctx, r, audit.Change{Action: "endpoint.update", Object: "endpoint/" + name, Before: cur.Spec, After: out.Spec, At: at})
}

// ReplaceEndpoint stores spec as the endpoint's next revision if the
// endpoint is still at ifRevision (0 means any revision); otherwise it
// returns ErrConflict. It serves conditional writes (HTTP If-Match).
func (db *DB) ReplaceEndpoint(ctx context.Context, name string, ifRevision int64, spec json.RawMessage) (Endpoint, error) {
	return db.UpdateEndpoint(ctx, name, func(cur Endpoint) (json.RawMessage, error) {
		if ifRevision != 0 && cur.Revision != ifRevision {
			return nil, fmt.Errorf("endpoint %q is at revision %d, not %d: %w", name, cur.Revision, ifRevision, ErrConflict)
		}
		return spec, nil
	})
}

// DeleteEndpoint removes an endpoint. Its history stays, ending with an
// entry marked Deleted.
func (db *DB) DeleteEndpoint(ctx context.Context, name string) error {
	if err := ValidateName("endpoint name", name); err != nil {
		return err
	}
	err := db.inTx(ctx, func(r runner) error {
		cur, err := getEndpoint(ctx, r, name, true)
		if err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM endpoints WHERE name = ?`, name); err != nil {
			return err
		}
		ts, _ := db.timestamp()
		cur.Revision++
		if err := recordEndpointChange(ctx, r, cur, ts, true); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "endpoint.delete", Object: "endpoint/" + name, Before: cur.Spec, At: fromNanos(ts)})
	})
	if err != nil {
		return fmt.Errorf("deleting endpoint %q: %w", name, err)
	}
	return nil
}

// EndpointHistory returns every revision of an endpoint, oldest first,
// including revisions from before a deletion. An endpoint that never
// existed is ErrNotFound.
func (db *DB) EndpointHistory(ctx context.Context, name string) ([]Endpoint, error) {
	if err := ValidateName("endpoint name", name); err != nil {
		return nil, err
	}
	rows, err := db.r().query(ctx, `SELECT name, spec, revision, created_at, changed_at, deleted, changed_by
		FROM endpoint_history WHERE name = ? ORDER BY revision`, name)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: history: %w", name, err)
	}
	defer rows.Close()
	var hist []Endpoint
	for rows.Next() {
		var ep Endpoint
		var spec string
		var created, changed int64
		var deleted int
		if err := rows.Scan(&ep.Name, &spec, &ep.Revision, &created, &changed, &deleted, &ep.ChangedBy); err != nil {
			return nil, fmt.Errorf("endpoint %q: history: %w", name, err)
		}
		ep.Spec = json.RawMessage(spec)
		ep.CreatedAt, ep.UpdatedAt, ep.Deleted = fromNanos(created), fromNanos(changed), deleted != 0
		hist = append(hist, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("endpoint %q: history: %w", name, err)
	}
	if len(hist) == 0 {
		return nil, fmt.Errorf("endpoint %q: %w", name, ErrNotFound)
	}
	return hist, nil
}

// recordEndpointChange appends ep to the endpoint history and bumps the
// serving revision, naming the actor in ctx as its author.
func recordEndpointChange(ctx context.Context, r runner, ep Endpoint, ts int64, deleted bool) error {
	del := 0
	if deleted {
		del = 1
	}
	if _, err := r.exec(ctx, `INSERT INTO endpoint_history (name, revision, spec, deleted, created_at, changed_at, changed_by)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ep.Name, ep.Revision, string(ep.Spec), del, ep.CreatedAt.UnixNano(), ts, audit.Actor(ctx)); err != nil {
		return err
	}
	_, err := bumpRevision(ctx, r)
	return err
}

// sameJSON reports whether a and b are the same document up to
// insignificant whitespace.
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

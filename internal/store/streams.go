package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// Stream is a stored stream pipeline: its document (JSON the stream
// package owns) and a generation that grows with every change.
type Stream struct {
	Name       string
	Spec       json.RawMessage
	Generation int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	CreatedBy  string
}

const streamColumns = `name, spec, generation, created_at, updated_at, created_by`

func scanStream(s scanner) (Stream, error) {
	var st Stream
	var spec string
	var created, updated int64
	if err := s.Scan(&st.Name, &spec, &st.Generation, &created, &updated, &st.CreatedBy); err != nil {
		return Stream{}, err
	}
	st.Spec = json.RawMessage(spec)
	st.CreatedAt, st.UpdatedAt = fromNanos(created), fromNanos(updated)
	return st, nil
}

// CreateStream stores a new stream. A taken name is ErrAlreadyExists.
func (db *DB) CreateStream(ctx context.Context, st Stream) (Stream, error) {
	if err := ValidateName("stream name", st.Name); err != nil {
		return Stream{}, err
	}
	if err := validateJSON("stream spec", st.Spec, true); err != nil {
		return Stream{}, err
	}
	ts, at := db.timestamp()
	st.Generation, st.CreatedAt, st.UpdatedAt, st.Spec = 1, at, at, clone(st.Spec)
	err := db.inTx(ctx, func(r runner) error {
		if _, err := getStream(ctx, r, st.Name, false); err == nil {
			return fmt.Errorf("stream %q: %w", st.Name, ErrAlreadyExists)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO streams (`+streamColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			st.Name, string(st.Spec), st.Generation, ts, ts, st.CreatedBy); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("stream %q: %w", st.Name, ErrAlreadyExists)
			}
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "stream.create", Object: "stream/" + st.Name, After: st.Spec, At: at})
	})
	if err != nil {
		return Stream{}, fmt.Errorf("creating stream %q: %w", st.Name, err)
	}
	return st, nil
}

// GetStream returns one stream.
func (db *DB) GetStream(ctx context.Context, name string) (Stream, error) {
	if err := ValidateName("stream name", name); err != nil {
		return Stream{}, err
	}
	return getStream(ctx, db.r(), name, false)
}

func getStream(ctx context.Context, r runner, name string, lock bool) (Stream, error) {
	q := `SELECT ` + streamColumns + ` FROM streams WHERE name = ?`
	if lock {
		q += r.forUpdate()
	}
	st, err := scanStream(r.queryRow(ctx, q, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Stream{}, fmt.Errorf("stream %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Stream{}, fmt.Errorf("stream %q: %w", name, err)
	}
	return st, nil
}

// ListStreams returns every stream, sorted by name.
func (db *DB) ListStreams(ctx context.Context) ([]Stream, error) {
	out, err := queryAll(ctx, db.r(), "streams", scanStream, `SELECT `+streamColumns+` FROM streams`)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// UpdateStream replaces a stream's spec with what fn returns for the
// current one, in one transaction, and moves its generation on. An error
// from fn is returned as is and nothing is written; returning the same
// spec writes nothing and keeps the generation.
func (db *DB) UpdateStream(ctx context.Context, name string, action string, fn func(cur Stream) (json.RawMessage, error)) (Stream, error) {
	if err := ValidateName("stream name", name); err != nil {
		return Stream{}, err
	}
	var out Stream
	var fnErr error
	err := db.inTx(ctx, func(r runner) error {
		cur, err := getStream(ctx, r, name, true)
		if err != nil {
			return err
		}
		spec, err := fn(cur)
		if err != nil {
			fnErr = err
			return err
		}
		if err := validateJSON("stream spec", spec, true); err != nil {
			fnErr = err
			return err
		}
		if string(spec) == string(cur.Spec) {
			out = cur
			return nil
		}
		ts, at := db.timestamp()
		out = cur
		out.Spec, out.Generation, out.UpdatedAt = clone(spec), cur.Generation+1, at
		if _, err := r.exec(ctx, `UPDATE streams SET spec = ?, generation = ?, updated_at = ? WHERE name = ?`,
			string(out.Spec), out.Generation, ts, name); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: action, Object: "stream/" + name, Before: cur.Spec, After: out.Spec, At: at})
	})
	if fnErr != nil {
		return Stream{}, fnErr
	}
	if err != nil {
		return Stream{}, fmt.Errorf("updating stream %q: %w", name, err)
	}
	return out, nil
}

// DeleteStream removes a stream with its window state and lease.
func (db *DB) DeleteStream(ctx context.Context, name string) error {
	if err := ValidateName("stream name", name); err != nil {
		return err
	}
	err := db.inTx(ctx, func(r runner) error {
		cur, err := getStream(ctx, r, name, true)
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM stream_state WHERE stream = ?`, `DELETE FROM stream_checkpoints WHERE stream = ?`,
			`DELETE FROM stream_leases WHERE stream = ?`, `DELETE FROM streams WHERE name = ?`} {
			if _, err := r.exec(ctx, q, name); err != nil {
				return err
			}
		}
		return db.audit(ctx, r, audit.Change{Action: "stream.delete", Object: "stream/" + name, Before: cur.Spec})
	})
	if err != nil {
		return fmt.Errorf("deleting stream %q: %w", name, err)
	}
	return nil
}

// SaveStreamState writes a windowed stream's changed keys (a nil value
// deletes the key) and its checkpoint record in one transaction. Like the
// bandit state it is runtime data, written with every batch, and not
// audited.
func (db *DB) SaveStreamState(ctx context.Context, stream string, keys map[string][]byte, meta []byte) error {
	now := db.now().UnixNano()
	err := db.inTx(ctx, func(r runner) error {
		for k, v := range keys {
			if _, err := r.exec(ctx, `DELETE FROM stream_state WHERE stream = ? AND state_key = ?`, stream, k); err != nil {
				return err
			}
			if v == nil {
				continue
			}
			if _, err := r.exec(ctx, `INSERT INTO stream_state (stream, state_key, state, updated_at) VALUES (?, ?, ?, ?)`, stream, k, string(v), now); err != nil {
				return err
			}
		}
		if meta == nil {
			return nil
		}
		if _, err := r.exec(ctx, `DELETE FROM stream_checkpoints WHERE stream = ?`, stream); err != nil {
			return err
		}
		_, err := r.exec(ctx, `INSERT INTO stream_checkpoints (stream, meta, updated_at) VALUES (?, ?, ?)`, stream, string(meta), now)
		return err
	})
	if err != nil {
		return fmt.Errorf("saving window state of stream %s: %w", stream, err)
	}
	return nil
}

// LoadStreamState returns a stream's saved keys and checkpoint record.
func (db *DB) LoadStreamState(ctx context.Context, stream string) (map[string][]byte, []byte, error) {
	rows, err := db.r().query(ctx, `SELECT state_key, state FROM stream_state WHERE stream = ?`, stream)
	if err != nil {
		return nil, nil, fmt.Errorf("loading window state of stream %s: %w", stream, err)
	}
	defer rows.Close()
	keys := map[string][]byte{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, nil, fmt.Errorf("loading window state of stream %s: %w", stream, err)
		}
		keys[k] = []byte(v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("loading window state of stream %s: %w", stream, err)
	}
	var meta string
	err = db.r().queryRow(ctx, `SELECT meta FROM stream_checkpoints WHERE stream = ?`, stream).Scan(&meta)
	if errors.Is(err, sql.ErrNoRows) {
		return keys, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("loading checkpoint of stream %s: %w", stream, err)
	}
	return keys, []byte(meta), nil
}

// AcquireStreamLease gives holder the stream's lease for ttl when it is
// free, expired or already holder's (a renewal), and reports whether
// holder has it.
func (db *DB) AcquireStreamLease(ctx context.Context, stream, holder string, ttl time.Duration) (bool, error) {
	now := db.now().UnixNano()
	got := false
	err := db.inTx(ctx, func(r runner) error {
		var cur string
		var exp int64
		err := r.queryRow(ctx, `SELECT holder, expires_at FROM stream_leases WHERE stream = ?`+r.forUpdate(), stream).Scan(&cur, &exp)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := r.exec(ctx, `INSERT INTO stream_leases (stream, holder, expires_at) VALUES (?, ?, ?)`, stream, holder, now+int64(ttl)); err != nil {
				if isUniqueViolation(err) {
					return nil // another node won the race
				}
				return err
			}
			got = true
			return nil
		case err != nil:
			return err
		}
		if cur != holder && exp > now {
			return nil
		}
		if _, err := r.exec(ctx, `UPDATE stream_leases SET holder = ?, expires_at = ? WHERE stream = ?`, holder, now+int64(ttl), stream); err != nil {
			return err
		}
		got = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("stream %s lease: %w", stream, err)
	}
	return got, nil
}

// ReleaseStreamLease gives up holder's lease of the stream, if it has it.
func (db *DB) ReleaseStreamLease(ctx context.Context, stream, holder string) error {
	return db.inTx(ctx, func(r runner) error {
		_, err := r.exec(ctx, `DELETE FROM stream_leases WHERE stream = ? AND holder = ?`, stream, holder)
		return err
	})
}

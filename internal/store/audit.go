package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// Every change the store makes writes an audit event in the same
// transaction as the change, with this one line before the transaction
// function returns:
//
//	return db.audit(ctx, r, audit.Change{Action: "rollout.start", Object: "rollout/" + id, Before: old, After: cur})
//
// The actor comes from ctx (audit.WithActor, set by the API from the
// caller's token). The event is numbered and chained under the audit head's
// row lock, taken last in the transaction (after any model, endpoint or
// serving-revision lock), so appends are ordered and cannot deadlock with
// the other writes. If the change rolls back, so does its event; if the
// event cannot be written, the change fails.

// audit appends the event for c inside the caller's transaction.
func (db *DB) audit(ctx context.Context, r runner, c audit.Change) error {
	before, err := audit.Encode(c.Before)
	if err != nil {
		return err
	}
	after, err := audit.Encode(c.After)
	if err != nil {
		return err
	}
	var head audit.Head
	if err := r.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+r.forUpdate()).Scan(&head.Seq, &head.Hash); err != nil {
		return fmt.Errorf("reading audit head: %w", err)
	}
	var ns int64
	if c.At.IsZero() {
		ns, _ = db.timestamp()
	} else {
		ns = c.At.UnixNano()
	}
	e := audit.Event{Time: fromNanos(ns), Actor: audit.Actor(ctx), Action: c.Action, Object: c.Object, Before: before, After: after}
	audit.Seal(&e, head.Seq, head.Hash)
	if _, err := r.exec(ctx, `INSERT INTO audit_events (seq, at, actor, action, object, before, after, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, ns, e.Actor, e.Action, e.Object, string(e.Before), string(e.After), e.PrevHash, e.Hash); err != nil {
		return fmt.Errorf("writing audit event: %w", err)
	}
	if _, err := r.exec(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, e.Seq, e.Hash); err != nil {
		return fmt.Errorf("moving audit head: %w", err)
	}
	return nil
}

// Record writes an audit event on its own, for actions that change nothing
// else in the store (a rollback run by hand, a key rotation).
func (db *DB) Record(ctx context.Context, c audit.Change) error {
	return db.inTx(ctx, func(r runner) error { return db.audit(ctx, r, c) })
}

// AuditFilter selects audit events.
type AuditFilter struct {
	// Object, when set, keeps events whose object is Object or starts with
	// Object + "/" or Object + "@" ("model/fraud" matches "model/fraud@3").
	Object string
	// Since keeps events at or after it; zero keeps all.
	Since time.Time
	// AfterSeq keeps events numbered above it (paging).
	AfterSeq int64
	// Limit caps the events returned; 0 means no cap.
	Limit int
}

const auditColumns = `seq, at, actor, action, object, before, after, prev_hash, hash`

func scanEvent(s scanner) (audit.Event, error) {
	var e audit.Event
	var at int64
	var before, after string
	if err := s.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Object, &before, &after, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.Time = fromNanos(at)
	if before != "" {
		e.Before = json.RawMessage(before)
	}
	if after != "" {
		e.After = json.RawMessage(after)
	}
	return e, nil
}

// AuditEvents calls fn for each event f selects, in sequence order. It
// streams: memory stays flat however long the log is.
func (db *DB) AuditEvents(ctx context.Context, f AuditFilter, fn func(audit.Event) error) error {
	q := `SELECT ` + auditColumns + ` FROM audit_events WHERE seq > ?`
	args := []any{f.AfterSeq}
	if f.Object != "" {
		q += ` AND (object = ? OR substr(object, 1, ?) = ? OR substr(object, 1, ?) = ?)`
		n := len(f.Object) + 1
		args = append(args, f.Object, n, f.Object+"/", n, f.Object+"@")
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, f.Since.UnixNano())
	}
	q += ` ORDER BY seq`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := db.r().query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading audit events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return fmt.Errorf("reading audit events: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading audit events: %w", err)
	}
	return nil
}

// AuditHead returns the head the store records: the last event's number
// and hash (0 and "" before the first event).
func (db *DB) AuditHead(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	if err := db.r().queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash); err != nil {
		return h, fmt.Errorf("reading audit head: %w", err)
	}
	return h, nil
}

// VerifyAudit checks the whole chain in the database against itself and
// its recorded head.
func (db *DB) VerifyAudit(ctx context.Context) (audit.Report, error) {
	head, err := db.AuditHead(ctx)
	if err != nil {
		return audit.Report{}, err
	}
	var v audit.Verifier
	err = db.AuditEvents(ctx, AuditFilter{}, func(e audit.Event) error {
		v.Add(e)
		return nil
	})
	if err != nil {
		return audit.Report{}, err
	}
	v.CheckHead(head)
	return v.Report(), nil
}

// SignedHead is a chain head signed with the server's audit key.
type SignedHead struct {
	audit.Head
	// SignedAt is when it was signed, unix nanoseconds (part of the
	// signed message).
	SignedAt int64 `json:"signed_at"`
	// KeyID and Signature are the ed25519 signature (see package signing).
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// SaveSignedHead stores a signed head; a head already signed is kept.
func (db *DB) SaveSignedHead(ctx context.Context, h SignedHead) error {
	_, err := db.r().exec(ctx, `INSERT INTO audit_signatures (seq, hash, signed_at, key_id, signature) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (seq) DO NOTHING`, h.Seq, h.Hash, h.SignedAt, h.KeyID, h.Signature)
	if err != nil {
		return fmt.Errorf("saving signed audit head %d: %w", h.Seq, err)
	}
	return nil
}

// LatestSignedHead returns the newest signed head, or ErrNotFound.
func (db *DB) LatestSignedHead(ctx context.Context) (SignedHead, error) {
	var h SignedHead
	err := db.r().queryRow(ctx, `SELECT seq, hash, signed_at, key_id, signature FROM audit_signatures ORDER BY seq DESC LIMIT 1`).
		Scan(&h.Seq, &h.Hash, &h.SignedAt, &h.KeyID, &h.Signature)
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("signed audit head: %w", ErrNotFound)
	}
	if err != nil {
		return h, fmt.Errorf("reading signed audit head: %w", err)
	}
	return h, nil
}

// SignedHeads returns every signed head, oldest first.
func (db *DB) SignedHeads(ctx context.Context) ([]SignedHead, error) {
	rows, err := db.r().query(ctx, `SELECT seq, hash, signed_at, key_id, signature FROM audit_signatures ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("reading signed audit heads: %w", err)
	}
	defer rows.Close()
	var out []SignedHead
	for rows.Next() {
		var h SignedHead
		if err := rows.Scan(&h.Seq, &h.Hash, &h.SignedAt, &h.KeyID, &h.Signature); err != nil {
			return nil, fmt.Errorf("reading signed audit heads: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

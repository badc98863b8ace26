package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
)

// Approval states.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
)

// ErrForbidden: the caller may not do this whatever its role, e.g. approve
// its own request (the two-person rule).
var ErrForbidden = errors.New("forbidden")

// Approval is a request for a second person to approve a change.
type Approval struct {
	// ID is random, e.g. "ap-3f2a9c01d4e5".
	ID string
	// Object names what is to change ("endpoint/fraud", "rollout/42").
	Object string
	// Summary says what the change is, for the approver.
	Summary string
	// Requester is the actor who asked.
	Requester string
	// Status is pending, approved or rejected.
	Status string
	// DecidedBy and Reason record the decision.
	DecidedBy, Reason string
	// CreatedAt and DecidedAt (zero while pending).
	CreatedAt, DecidedAt time.Time
}

const approvalColumns = `id, object, summary, requester, status, decided_by, reason, created_at, decided_at`

func scanApproval(s scanner) (Approval, error) {
	var a Approval
	var created, decided int64
	if err := s.Scan(&a.ID, &a.Object, &a.Summary, &a.Requester, &a.Status, &a.DecidedBy, &a.Reason, &created, &decided); err != nil {
		return a, err
	}
	a.CreatedAt = fromNanos(created)
	if decided != 0 {
		a.DecidedAt = fromNanos(decided)
	}
	return a, nil
}

func approvalAudit(a Approval) map[string]any {
	m := map[string]any{"id": a.ID, "object": a.Object, "summary": a.Summary, "requester": a.Requester, "status": a.Status}
	if a.DecidedBy != "" {
		m["decided_by"] = a.DecidedBy
		m["reason"] = a.Reason
	}
	return m
}

// CreateApproval records a pending request to change object, asked by the
// actor in ctx, and returns it with its ID.
func (db *DB) CreateApproval(ctx context.Context, object, summary string) (Approval, error) {
	if object == "" {
		return Approval{}, invalid("object", "", "must not be empty")
	}
	for f, v := range map[string]string{"object": object, "summary": summary} {
		if err := validateText(f, v); err != nil {
			return Approval{}, err
		}
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return Approval{}, err
	}
	ts, at := db.timestamp()
	a := Approval{ID: "ap-" + hex.EncodeToString(rnd[:]), Object: object, Summary: summary, Requester: audit.Actor(ctx), Status: ApprovalPending, CreatedAt: at}
	err := db.inTx(ctx, func(r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO approvals (`+approvalColumns+`) VALUES (?, ?, ?, ?, ?, '', '', ?, 0)`,
			a.ID, a.Object, a.Summary, a.Requester, a.Status, ts); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: "approval.request", Object: a.Object, After: approvalAudit(a), At: at})
	})
	if err != nil {
		return Approval{}, fmt.Errorf("requesting approval for %s: %w", object, err)
	}
	return a, nil
}

// GetApproval returns one approval request.
func (db *DB) GetApproval(ctx context.Context, id string) (Approval, error) {
	return getApproval(ctx, db.r(), id, false)
}

func getApproval(ctx context.Context, r runner, id string, lock bool) (Approval, error) {
	q := `SELECT ` + approvalColumns + ` FROM approvals WHERE id = ?`
	if lock {
		q += r.forUpdate()
	}
	a, err := scanApproval(r.queryRow(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("approval %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("approval %q: %w", id, err)
	}
	return a, nil
}

// ListApprovals returns approval requests, newest first; status "" lists
// every state.
func (db *DB) ListApprovals(ctx context.Context, status string) ([]Approval, error) {
	q, args := `SELECT `+approvalColumns+` FROM approvals`, []any{}
	if status != "" {
		q += ` WHERE status = ?`
		args = append(args, status)
	}
	return queryAll(ctx, db.r(), "approvals", scanApproval, q+` ORDER BY created_at DESC, id`, args...)
}

// DecideApproval approves or rejects a pending request as the actor in ctx.
// The two-person rule: the requester cannot decide their own request
// (ErrForbidden). A decided request cannot be decided again (ErrConflict).
// A rejection needs a reason.
func (db *DB) DecideApproval(ctx context.Context, id string, approve bool, reason string) (Approval, error) {
	if err := validateText("reason", reason); err != nil {
		return Approval{}, err
	}
	if !approve && reason == "" {
		return Approval{}, invalid("reason", "", "a rejection must give a reason")
	}
	actor := audit.Actor(ctx)
	var a Approval
	err := db.inTx(ctx, func(r runner) error {
		var err error
		if a, err = getApproval(ctx, r, id, true); err != nil {
			return err
		}
		if a.Status != ApprovalPending {
			return fmt.Errorf("approval %s was already %s by %s: %w", id, a.Status, a.DecidedBy, ErrConflict)
		}
		if a.Requester == actor {
			return fmt.Errorf("approval %s: %s requested it and cannot also decide it (two-person rule): %w", id, actor, ErrForbidden)
		}
		before := approvalAudit(a)
		ts, at := db.timestamp()
		a.Status, a.DecidedBy, a.Reason, a.DecidedAt = ApprovalRejected, actor, reason, at
		action := "approval.reject"
		if approve {
			a.Status, action = ApprovalApproved, "approval.approve"
		}
		if _, err := r.exec(ctx, `UPDATE approvals SET status = ?, decided_by = ?, reason = ?, decided_at = ? WHERE id = ?`,
			a.Status, a.DecidedBy, a.Reason, ts, id); err != nil {
			return err
		}
		return db.audit(ctx, r, audit.Change{Action: action, Object: a.Object, Before: before, After: approvalAudit(a), At: at})
	})
	if err != nil {
		return Approval{}, fmt.Errorf("deciding approval %s: %w", id, err)
	}
	return a, nil
}

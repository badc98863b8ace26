package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

// Approvals implement the two-person rule for production changes. A
// controller that needs approval (an endpoint whose spec says
// approval: required) asks with RequestApproval, keeps the returned ID with
// its own state (a rollout waiting in AwaitingApproval), and checks it with
// Approval or waits with WaitApproval. A person with the approver role other
// than the requester decides with DecideApproval. Each step is an audit
// event written with it.

// NeedsApproval reports whether changes to the endpoint's traffic need a
// second person's approval.
func (sp EndpointSpec) NeedsApproval() bool { return sp.Approval == ApprovalRequired }

// RequestApproval records a pending request to change object (e.g.
// "endpoint/fraud" or "rollout/42"), asked by the actor in ctx, with a
// summary the approver reads.
func (s *Service) RequestApproval(ctx context.Context, object, summary string) (store.Approval, error) {
	if object == "" {
		return store.Approval{}, fmt.Errorf("%w: object: must name what is to change, e.g. endpoint/fraud", ErrInvalid)
	}
	return s.db.CreateApproval(ctx, object, summary)
}

// Approval returns an approval request's current state.
func (s *Service) Approval(ctx context.Context, id string) (store.Approval, error) {
	return s.db.GetApproval(ctx, id)
}

// DecideApproval approves or rejects as the actor in ctx; the requester
// cannot decide (store.ErrForbidden), a rejection needs a reason.
func (s *Service) DecideApproval(ctx context.Context, id string, approve bool, reason string) (store.Approval, error) {
	return s.db.DecideApproval(ctx, id, approve, reason)
}

// WaitApproval polls an approval request every interval until it is
// decided or ctx ends, and returns it decided.
func (s *Service) WaitApproval(ctx context.Context, id string, interval time.Duration) (store.Approval, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		a, err := s.db.GetApproval(ctx, id)
		if err != nil || a.Status != store.ApprovalPending {
			return a, err
		}
		select {
		case <-ctx.Done():
			return a, ctx.Err()
		case <-t.C:
		}
	}
}

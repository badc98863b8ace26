package registry

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/store"
	"github.com/sluicehq/sluice/internal/traffic"
)

// Served answers "which version served this endpoint at time T, and who
// changed it": the endpoint revision in effect at T and who wrote it, the
// versions its spec sent traffic to with their shares, and, when the spec
// follows an alias or "latest", where that pointed at T and who moved it.
type Served struct {
	Endpoint string `json:"endpoint"`
	// At is the moment asked about.
	At time.Time `json:"at"`
	// Revision is the endpoint revision in effect at At, written at
	// RevisionAt by RevisionBy.
	Revision   int64        `json:"revision"`
	RevisionAt time.Time    `json:"revision_at"`
	RevisionBy string       `json:"revision_by"`
	Spec       EndpointSpec `json:"spec"`
	// Versions are the versions the revision sent requests to, with their
	// roles and shares (a bandit's shares are its starting shares; they
	// moved with rewards).
	Versions []traffic.Share `json:"versions"`
	// Ref is set when the spec named an alias or "latest": the reference,
	// and the change that made it point where it did at At.
	Ref *RefResolution `json:"ref,omitempty"`
	// ChangedAt and ChangedBy are the last change, to the endpoint or to the
	// alias it follows, that decided what served at At.
	ChangedAt time.Time `json:"changed_at"`
	ChangedBy string    `json:"changed_by"`
}

// RefResolution is where a version reference pointed at a moment.
type RefResolution struct {
	Ref       string    `json:"ref"`
	Version   int       `json:"version"`
	ChangedAt time.Time `json:"changed_at"`
	ChangedBy string    `json:"changed_by"`
}

// ServedAt reports what served endpoint name at time at. A moment before the
// endpoint existed, or while it was deleted, is store.ErrNotFound.
func (s *Service) ServedAt(ctx context.Context, name string, at time.Time) (Served, error) {
	hist, err := s.db.EndpointHistory(ctx, name)
	if err != nil {
		return Served{}, err
	}
	var cur *store.Endpoint
	for i := range hist {
		if hist[i].UpdatedAt.After(at) {
			break
		}
		cur = &hist[i]
	}
	if cur == nil || cur.Deleted {
		return Served{}, fmt.Errorf("endpoint %q did not exist at %s: %w", name, at.UTC().Format(time.RFC3339), store.ErrNotFound)
	}
	sp, err := decodeSpec(*cur)
	if err != nil {
		return Served{}, err
	}
	out := Served{Endpoint: name, At: at.UTC(), Revision: cur.Revision, RevisionAt: cur.UpdatedAt, RevisionBy: cur.ChangedBy, Spec: sp,
		ChangedAt: cur.UpdatedAt, ChangedBy: cur.ChangedBy}
	if sp.Traffic != nil {
		out.Versions, err = policyShares(*sp.Traffic)
		return out, err
	}
	res, err := s.resolveAt(ctx, sp.Model, sp.Version, at)
	if err != nil {
		return Served{}, err
	}
	out.Versions = []traffic.Share{{Version: res.Version, Role: traffic.RoleStable, Share: 1}}
	if !isNumber(sp.Version) {
		out.Ref = &res
		if res.ChangedAt.After(out.ChangedAt) {
			out.ChangedAt, out.ChangedBy = res.ChangedAt, res.ChangedBy
		}
	}
	return out, nil
}

func isNumber(ref string) bool {
	_, err := strconv.Atoi(ref)
	return err == nil
}

// resolveAt resolves a version reference as it stood at time at: a number
// is itself, "latest" the newest version pushed by then, an alias the
// version its last move before then set.
func (s *Service) resolveAt(ctx context.Context, model, ref string, at time.Time) (RefResolution, error) {
	if n, err := strconv.Atoi(ref); err == nil {
		return RefResolution{Ref: ref, Version: n}, nil
	}
	if ref == "latest" {
		vs, err := s.db.ListVersions(ctx, model)
		if err != nil {
			return RefResolution{}, err
		}
		res := RefResolution{Ref: ref}
		for _, v := range vs {
			if !v.CreatedAt.After(at) && v.Version > res.Version {
				res.Version, res.ChangedAt, res.ChangedBy = v.Version, v.CreatedAt, v.CreatedBy
			}
		}
		if res.Version == 0 {
			return res, fmt.Errorf("model %q had no version at %s: %w", model, at.UTC().Format(time.RFC3339), store.ErrNotFound)
		}
		return res, nil
	}
	hist, err := s.db.AliasHistory(ctx, model)
	if err != nil {
		return RefResolution{}, err
	}
	res := RefResolution{Ref: ref}
	for _, ch := range hist {
		if ch.Alias != ref || ch.ChangedAt.After(at) {
			continue
		}
		res.Version, res.ChangedAt, res.ChangedBy = ch.Version, ch.ChangedAt, ch.ChangedBy
	}
	if res.Version == 0 {
		return res, fmt.Errorf("alias %q of model %q pointed nowhere at %s: %w", ref, model, at.UTC().Format(time.RFC3339), store.ErrNotFound)
	}
	return res, nil
}

// policyShares lists the versions a traffic policy sends requests to.
func policyShares(p traffic.Policy) ([]traffic.Share, error) {
	var state traffic.BanditState
	if p.Bandit != nil {
		var err error
		if state, err = traffic.NewBandit(*p.Bandit, nil); err != nil {
			return nil, err
		}
	}
	plan, err := traffic.Compile(p, state)
	if err != nil {
		return nil, err
	}
	return plan.Shares(), nil
}

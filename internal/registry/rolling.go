package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/traffic"
)

// Rolling is a stepwise shift of an endpoint's traffic from one version to
// another in equal increments, with a health check of the candidate between
// steps; it halts, sending all traffic back to From, when the check fails.
// The controller (Service.Run) advances it and records its progress here.
type Rolling struct {
	// From is the stable version, To the candidate.
	From int `json:"from"`
	To   int `json:"to"`
	// Steps is the number of equal increments (4: 25%, 50%, 75%, 100%).
	Steps int `json:"steps"`
	// Interval is the time between steps, e.g. "30s".
	Interval traffic.Duration `json:"interval"`
	// MaxErrorRate is the largest share of failed candidate requests in a
	// step that lets the rollout continue; 0 means 0.05.
	MaxErrorRate float64 `json:"maxErrorRate,omitempty"`
	// Step is the step reached (set by the controller).
	Step int `json:"step"`
	// StepStarted is when the current step began.
	StepStarted time.Time `json:"stepStarted"`
	// Baseline holds the candidate's request and error counts when the step
	// began, so each check looks at that step's requests only.
	BaselineRequests int64 `json:"baselineRequests"`
	BaselineErrors   int64 `json:"baselineErrors"`
	// State is "progressing", "done" or "halted"; Reason says why it halted.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// VersionCounter reports how many requests a version of an endpoint served
// and how many failed (the gateway's live counters).
type VersionCounter interface {
	Counts(endpoint string, version int) (requests, errors int64)
}

func (r *Rolling) validate() error {
	switch {
	case r.From <= 0 || r.To <= 0 || r.From == r.To:
		return fmt.Errorf("%w: rolling: from and to must be two different versions", ErrInvalid)
	case r.Steps < 1 || r.Steps > 100:
		return fmt.Errorf("%w: rolling.steps: must be 1..100, got %d", ErrInvalid, r.Steps)
	case r.Interval <= 0:
		return fmt.Errorf("%w: rolling.interval: must be positive", ErrInvalid)
	case r.MaxErrorRate < 0 || r.MaxErrorRate > 1:
		return fmt.Errorf("%w: rolling.maxErrorRate: must be 0..1", ErrInvalid)
	}
	return nil
}

// split returns the traffic split of step k.
func (r *Rolling) split(k int) []traffic.Split {
	w := 100 * k / r.Steps
	return []traffic.Split{{Version: r.From, Weight: 100 - w}, {Version: r.To, Weight: w}}
}

// StartRolling begins a rolling shift of an endpoint to version to.
func (s *Service) StartRolling(ctx context.Context, name string, r Rolling) (Endpoint, error) {
	return s.UpdateEndpoint(ctx, name, func(sp *EndpointSpec) error {
		if r.From == 0 {
			from, err := s.currentStable(ctx, sp)
			if err != nil {
				return err
			}
			r.From = from
		}
		if err := r.validate(); err != nil {
			return err
		}
		r.Step, r.State, r.Reason = 1, "progressing", ""
		r.StepStarted = time.Now().UTC()
		if s.counter != nil {
			r.BaselineRequests, r.BaselineErrors = s.counter.Counts(name, r.To)
		}
		sp.Rolling = &r
		sp.Traffic = &traffic.Policy{Split: r.split(1)}
		return nil
	})
}

// currentStable is the version an endpoint serves now (its single version
// or the first split entry).
func (s *Service) currentStable(ctx context.Context, sp *EndpointSpec) (int, error) {
	if sp.Traffic == nil {
		v, err := s.db.ResolveVersion(ctx, sp.Model, sp.Version)
		if err != nil {
			return 0, err
		}
		return v.Version, nil
	}
	if v := stableVersion(sp.Traffic); v > 0 {
		return v, nil
	}
	return 0, fmt.Errorf("%w: rolling: give --from: the endpoint has no stable version", ErrInvalid)
}

// advanceRollings moves every progressing rolling shift whose step is over
// to its next step, or halts it, and expires blue-green previous versions.
func (s *Service) advanceRollings(ctx context.Context, now time.Time) {
	es, err := s.ListEndpoints(ctx)
	if err != nil {
		return
	}
	for _, e := range es {
		sp := e.Spec
		switch {
		case sp.Rolling != nil && sp.Rolling.State == "progressing" && now.Sub(sp.Rolling.StepStarted) >= time.Duration(sp.Rolling.Interval):
			_, err = s.UpdateEndpoint(ctx, e.Name, func(sp *EndpointSpec) error {
				return s.stepRolling(e.Name, sp, now)
			})
		case sp.Traffic != nil && sp.Traffic.BlueGreen != nil && sp.Traffic.BlueGreen.Previous != 0 && now.Sub(e.UpdatedAt) >= time.Duration(sp.Traffic.BlueGreen.KeepPrevious):
			_, err = s.UpdateEndpoint(ctx, e.Name, func(sp *EndpointSpec) error {
				if sp.Traffic == nil || sp.Traffic.BlueGreen == nil {
					return errNoChange
				}
				sp.Traffic.BlueGreen.Previous = 0 // unload it
				return nil
			})
		default:
			continue
		}
		if err != nil && !errors.Is(err, errNoChange) {
			s.log.Warn("advancing endpoint", "endpoint", e.Name, "err", err)
		}
	}
}

var errNoChange = errors.New("no change")

// stepRolling checks the candidate's step and moves on, finishes or halts.
func (s *Service) stepRolling(name string, sp *EndpointSpec, now time.Time) error {
	r := sp.Rolling
	if r == nil || r.State != "progressing" {
		return errNoChange
	}
	maxRate := r.MaxErrorRate
	if maxRate == 0 {
		maxRate = 0.05
	}
	var reqs, errs int64
	if s.counter != nil {
		reqs, errs = s.counter.Counts(name, r.To)
		reqs -= r.BaselineRequests
		errs -= r.BaselineErrors
	}
	if reqs > 0 && float64(errs)/float64(reqs) > maxRate {
		r.State = "halted"
		r.Reason = fmt.Sprintf("step %d: version %d failed %d of %d requests (%.1f%% > %.1f%%); all traffic back to version %d",
			r.Step, r.To, errs, reqs, 100*float64(errs)/float64(reqs), 100*maxRate, r.From)
		sp.Traffic = &traffic.Policy{Split: []traffic.Split{{Version: r.From, Weight: 100}, {Version: r.To, Weight: 0}}}
		s.log.Warn("rolling shift halted", "endpoint", name, "reason", r.Reason)
		return nil
	}
	r.Step++
	r.StepStarted = now.UTC()
	r.BaselineRequests += reqs
	r.BaselineErrors += errs
	sp.Traffic = &traffic.Policy{Split: r.split(r.Step)}
	if r.Step >= r.Steps {
		r.Step, r.State = r.Steps, "done"
		sp.Traffic = &traffic.Policy{Split: []traffic.Split{{Version: r.To, Weight: 100}}}
	}
	s.log.Info("rolling shift step", "endpoint", name, "step", r.Step, "of", r.Steps, "candidate_weight", 100*r.Step/r.Steps)
	return nil
}

package rollout

import (
	"time"

	"github.com/sluicehq/sluice/internal/monitor"
)

// Source reads what the monitors counted for two versions of an endpoint.
type Source interface {
	Observe(endpoint string, stable, candidate int, now time.Time) *Mark
}

// DriftSource scores how far a version's recent inputs on an endpoint are
// from the baseline recorded with the version: the worst feature's PSI,
// that feature, and the rows in the live window. ok is false when the
// version has no baseline.
type DriftSource interface {
	InputDrift(endpoint string, version int, now time.Time) (psi float64, feature string, rows int64, ok bool)
}

// LiveDrift is the DriftSource over this process's live drift windows.
type LiveDrift struct{ *monitor.Drift }

// InputDrift implements DriftSource.
func (d LiveDrift) InputDrift(endpoint string, version int, now time.Time) (float64, string, int64, bool) {
	if d.Drift == nil {
		return 0, "", 0, false
	}
	sc, ok := d.Drift.InputDrift(endpoint, version, now)
	return sc.MaxPSI, sc.Feature, sc.Rows, ok
}

// Monitors is the Source over this process's monitors.
type Monitors struct {
	Live       *monitor.Live
	Comparison *monitor.Comparison
	Outcomes   *monitor.Outcomes
	Drift      DriftSource
}

// Observe implements Source.
func (m Monitors) Observe(endpoint string, stable, candidate int, now time.Time) *Mark {
	mk := &Mark{At: now}
	if m.Live != nil {
		mk.Stable.Requests, mk.Stable.Errors = m.Live.Counts(endpoint, stable)
		mk.Candidate.Requests, mk.Candidate.Errors = m.Live.Counts(endpoint, candidate)
		mk.Stable.Latency = m.Live.Histogram(endpoint, stable)
		mk.Candidate.Latency = m.Live.Histogram(endpoint, candidate)
	}
	if m.Outcomes != nil {
		for _, vo := range m.Outcomes.Versions(endpoint) {
			var vm *VersionMark
			switch vo.Version {
			case stable:
				vm = &mk.Stable
			case candidate:
				vm = &mk.Candidate
			default:
				continue
			}
			vm.ClassRows, vm.Correct = vo.ClassRows, vo.Correct
			vm.MSEN, vm.MSESum, vm.MSESumSq = vo.MSEN, vo.MSESum, vo.MSESumSq
			vm.Rewards, vm.RewardSum, vm.RewardSq = vo.Rewards, vo.SumReward, vo.SumRewardSq
		}
		for _, p := range m.Outcomes.Pairs(endpoint) {
			if p.Champion == stable && p.Challenger == candidate {
				// The monitor's difference is champion loss minus
				// challenger loss; analysis wants candidate minus stable.
				mk.Paired = momentsFromSums(p.N, -p.SumDiff, p.SumDiffSq)
			}
		}
	}
	if m.Comparison != nil {
		for _, p := range m.Comparison.Stats(endpoint) {
			if p.Primary == stable && p.Mirror == candidate && p.Segment == "" {
				mk.Shadow = ShadowMark{ClassRows: p.ClassRows, Agreed: p.AgreedRows, Values: p.Values, SumAbs: p.SumAbsDiff, SumSqAbs: p.SumSqAbsDiff}
			}
		}
	}
	if m.Drift != nil {
		for _, v := range []struct {
			version int
			into    *VersionMark
		}{{stable, &mk.Stable}, {candidate, &mk.Candidate}} {
			if psi, feature, rows, ok := m.Drift.InputDrift(endpoint, v.version, now); ok {
				v.into.Drift = &DriftMark{PSI: psi, Feature: feature, Rows: rows}
			}
		}
	}
	return mk
}

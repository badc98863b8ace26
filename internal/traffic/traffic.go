// Package traffic decides which model version answers a request.
//
// An endpoint's traffic Plan is immutable: the control plane builds a new one
// whenever the endpoint changes and the gateway swaps it in atomically, so
// routing never takes a lock and never touches the store. Everything here is
// pure computation, tested by tables and benchmarked.
package traffic

import (
	"fmt"
	"sort"
)

// Split gives one version a share of an endpoint's traffic.
type Split struct {
	// Version is the model version number.
	Version int `json:"version"`
	// Weight is the version's relative share; weights need not sum to 100.
	Weight int `json:"weight"`
}

// Plan is an immutable routing decision table for one endpoint.
type Plan struct {
	splits []Split
	cum    []uint64 // cum[i] is the sum of weights of splits[0..i]
}

// NewPlan returns a plan dividing traffic among splits by weight. Versions
// must be distinct and positive, weights non-negative, and at least one
// weight positive.
func NewPlan(splits []Split) (*Plan, error) {
	if len(splits) == 0 {
		return nil, fmt.Errorf("traffic: a plan needs at least one version")
	}
	p := &Plan{splits: append([]Split(nil), splits...), cum: make([]uint64, len(splits))}
	seen := make(map[int]bool, len(splits))
	var total uint64
	for i, s := range p.splits {
		if s.Version <= 0 {
			return nil, fmt.Errorf("traffic: splits[%d].version: must be positive, got %d", i, s.Version)
		}
		if seen[s.Version] {
			return nil, fmt.Errorf("traffic: splits[%d].version: version %d appears twice", i, s.Version)
		}
		seen[s.Version] = true
		if s.Weight < 0 {
			return nil, fmt.Errorf("traffic: splits[%d].weight: must not be negative, got %d", i, s.Weight)
		}
		total += uint64(s.Weight)
		p.cum[i] = total
	}
	if total == 0 {
		return nil, fmt.Errorf("traffic: at least one version needs a positive weight")
	}
	return p, nil
}

// Single returns a plan sending all traffic to version.
func Single(version int) *Plan {
	p, err := NewPlan([]Split{{Version: version, Weight: 1}})
	if err != nil {
		panic(err) // unreachable for version > 0; callers validate versions first
	}
	return p
}

// Pick returns the version for a request, given u, a uniformly distributed
// random number. It allocates nothing.
func (p *Plan) Pick(u uint64) int {
	if len(p.splits) == 1 {
		return p.splits[0].Version
	}
	x := u % p.cum[len(p.cum)-1]
	i := sort.Search(len(p.cum), func(i int) bool { return p.cum[i] > x })
	return p.splits[i].Version
}

// Splits returns a copy of the plan's splits.
func (p *Plan) Splits() []Split { return append([]Split(nil), p.splits...) }

// Versions returns the versions that receive traffic (weight > 0), in plan order.
func (p *Plan) Versions() []int {
	vs := make([]int, 0, len(p.splits))
	for _, s := range p.splits {
		if s.Weight > 0 {
			vs = append(vs, s.Version)
		}
	}
	return vs
}

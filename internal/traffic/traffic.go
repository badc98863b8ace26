package traffic

import (
	"errors"
)

// Split gives one version a share of an endpoint's traffic.
type Split struct {
	// Version is the model version number.
	Version int `json:"version"`
	// Weight is the version's relative share, 0..MaxWeight; weights need
	// not sum to 100.
	Weight int `json:"weight"`
}

// Role is the part a version plays in a plan. Its values are stable: they
// label metrics (sluice_..._total{role="canary"}).
type Role string

// The roles.
const (
	// RoleStable is the first version of a split: the one a canary is measured against.
	RoleStable Role = "stable"
	// RoleCanary is any later version of a split.
	RoleCanary Role = "canary"
	// RoleShadow receives mirrored requests and never answers.
	RoleShadow Role = "shadow"
	// RoleChallenger scores every answered request and never answers.
	RoleChallenger Role = "challenger"
	// RoleArm is a version competing in a bandit.
	RoleArm Role = "arm"
	// RolePreview is blue-green's standby, reachable by the preview route only.
	RolePreview Role = "preview"
	// RoleActive is blue-green's answering version.
	RoleActive Role = "active"
	// RolePrevious is blue-green's last active version, kept loaded for switch-back; it answers nothing.
	RolePrevious Role = "previous"
)

// Share is one line of a plan's display: what a version does and how much
// of the traffic it sees.
type Share struct {
	// Version is the model version.
	Version int `json:"version"`
	// Role is what the version does.
	Role Role `json:"role"`
	// Share is the fraction of requests the version answers (stable,
	// canary, arm, active), or the fraction mirrored to it (shadow,
	// challenger); 0 for preview and previous.
	Share float64 `json:"share"`
}

type planKind uint8

const (
	kindSplit planKind = iota
	kindBlueGreen
	kindBandit
)

// Plan is an immutable routing table for one endpoint, built by Compile.
// All its methods are safe for concurrent use.
type Plan struct {
	kind planKind

	// Split (also used for blue-green's single active version).
	splits []Split
	cum    []uint64  // cum[i] is the sum of the weights of splits[0..i]
	weight []float64 // float weights for rendezvous hashing
	total  uint64
	sticky *Sticky // nil when not sticky

	// Blue-green.
	preview, previous int

	// Bandit.
	bandit BanditState
	arms   []int

	// Mirrors.
	shadows     []shadowRule
	challengers []int

	static []Share // Shares for non-bandit plans, computed once
	loaded []int
}

// shadowRule is a compiled Shadow: mirror when the request's uniform word
// is below threshold, or always.
type shadowRule struct {
	version   int
	always    bool
	threshold uint64
	rate      float64 // Percent/100, for display
}

// NewPlan returns a plan dividing traffic among splits by weight, the
// first being the stable version. It is Compile(Policy{Split: splits}, nil).
func NewPlan(splits []Split) (*Plan, error) {
	if len(splits) == 0 {
		return nil, errors.New("traffic: a plan needs at least one version")
	}
	return Compile(Policy{Split: splits}, nil)
}

// Single returns a plan sending all traffic to version, which must be
// positive.
func Single(version int) *Plan {
	p, err := NewPlan([]Split{{Version: version, Weight: 1}})
	if err != nil {
		panic(err) // unreachable for version > 0; callers validate versions first
	}
	return p
}

// Pick returns the version that answers a request without a sticky key,
// given u, a uniformly distributed random number. It allocates nothing.
// Route does the same and also says which versions see the request.
func (p *Plan) Pick(u uint64) int {
	v, _ := p.answer("", u)
	return v
}

// Splits returns a copy of the answering split: the weighted versions of a
// split plan, the active version (weight 1) of a blue-green plan, every arm
// (weight 1) of a bandit plan — Shares has a bandit's live shares.
func (p *Plan) Splits() []Split {
	if p.kind == kindBandit {
		s := make([]Split, len(p.arms))
		for i, v := range p.arms {
			s[i] = Split{Version: v, Weight: 1}
		}
		return s
	}
	return append([]Split(nil), p.splits...)
}

// Versions returns the versions that can answer a request (split weight >
// 0, the active version, the arms), in plan order.
func (p *Plan) Versions() []int {
	if p.kind == kindBandit {
		return append([]int(nil), p.arms...)
	}
	vs := make([]int, 0, len(p.splits))
	for _, s := range p.splits {
		if s.Weight > 0 {
			vs = append(vs, s.Version)
		}
	}
	return vs
}

// Loaded returns every version the plan needs loaded: the answering ones,
// the preview, the kept previous version, shadows and challengers (see
// Policy.Versions).
func (p *Plan) Loaded() []int { return append([]int(nil), p.loaded...) }

// Preview returns the blue-green preview version, 0 if there is none. The
// gateway serves it on the endpoint's preview route.
func (p *Plan) Preview() int { return p.preview }

// Sticky returns where the routing key comes from, and false when the plan
// is not sticky.
func (p *Plan) Sticky() (Sticky, bool) {
	if p.sticky == nil {
		return Sticky{}, false
	}
	return *p.sticky, true
}

// Bandit returns the plan's bandit state, nil if it has none. Feed it
// rewards from feedback and persist its snapshots.
func (p *Plan) Bandit() BanditState { return p.bandit }

// MaxMirrors is the most versions Route can put in Decision.Mirrors; give
// Route a dst with at least this capacity and it never allocates.
func (p *Plan) MaxMirrors() int { return len(p.shadows) + len(p.challengers) }

// Role returns the part version plays in the plan, "" if none. Mirrors are
// RoleShadow or RoleChallenger.
func (p *Plan) Role(version int) Role {
	switch p.kind {
	case kindBandit:
		for _, v := range p.arms {
			if v == version {
				return RoleArm
			}
		}
	case kindBlueGreen:
		if p.splits[0].Version == version {
			return RoleActive
		}
	default:
		for i, s := range p.splits {
			if s.Version == version {
				return splitRole(i)
			}
		}
	}
	for _, s := range p.shadows {
		if s.version == version {
			return RoleShadow
		}
	}
	for _, v := range p.challengers {
		if v == version {
			return RoleChallenger
		}
	}
	switch version {
	case 0:
	case p.preview:
		return RolePreview
	case p.previous:
		return RolePrevious
	}
	return ""
}

// Shares lists every version of the plan with its role and share, for
// display. A bandit's shares are its current estimate (BanditState.Shares).
func (p *Plan) Shares() []Share {
	if p.kind != kindBandit {
		return append([]Share(nil), p.static...)
	}
	live := p.bandit.Shares()
	out := make([]Share, 0, len(p.arms)+len(p.shadows)+len(p.challengers))
	for _, v := range p.arms {
		out = append(out, Share{Version: v, Role: RoleArm, Share: live[v]})
	}
	return p.appendMirrorShares(out)
}

func (p *Plan) appendMirrorShares(out []Share) []Share {
	for _, s := range p.shadows {
		out = append(out, Share{Version: s.version, Role: RoleShadow, Share: s.rate})
	}
	for _, v := range p.challengers {
		out = append(out, Share{Version: v, Role: RoleChallenger, Share: 1})
	}
	return out
}

func splitRole(i int) Role {
	if i == 0 {
		return RoleStable
	}
	return RoleCanary
}

package traffic

import (
	"errors"
	"math"
	"math/bits"
)

// RouteInput is what Route needs to know about one request.
type RouteInput struct {
	// Key is the sticky key's value (the header or feature the plan's
	// Sticky names), "" when the request has none or the plan is not
	// sticky. Requests without a key are routed at random.
	Key string
	// U is a uniformly distributed random number: it picks the answering
	// version when the choice is random.
	U uint64
	// U2 is a second uniform random number, independent of U: it samples
	// shadows, so mirroring is independent of who answers.
	U2 uint64
}

// Decision is where one request goes.
type Decision struct {
	// Version answers the request.
	Version int
	// Role is what Version is in the plan (stable, canary, active, arm).
	Role Role
	// Mirrors are the versions that also score the request and whose
	// answers are logged, never returned: the shadows sampled for this
	// request, then every challenger. It never holds Version. It is Route's
	// dst[:0] with the mirrors appended.
	Mirrors []int
}

// Compile validates p and builds its immutable Plan. bandit holds the
// learning state of p.Bandit (see NewBandit) and must be nil when p has no
// bandit. The plan keeps no reference to p.
func Compile(p Policy, bandit BanditState) (*Plan, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	switch {
	case p.Bandit != nil && bandit == nil:
		return nil, errors.New("traffic: a bandit policy needs its BanditState")
	case p.Bandit == nil && bandit != nil:
		return nil, errors.New("traffic: a BanditState was given but the policy has no bandit")
	}
	plan := &Plan{loaded: p.Versions()}
	switch {
	case p.BlueGreen != nil:
		plan.kind = kindBlueGreen
		plan.setSplits([]Split{{Version: p.BlueGreen.Active, Weight: 1}})
		plan.preview, plan.previous = p.BlueGreen.Preview, p.BlueGreen.Previous
	case p.Bandit != nil:
		plan.kind = kindBandit
		plan.bandit = bandit
		plan.arms = append([]int(nil), p.Bandit.Arms...)
		if err := checkArms(bandit, plan.arms); err != nil {
			return nil, err
		}
	default:
		plan.kind = kindSplit
		plan.setSplits(p.Split)
		if p.Sticky != nil {
			s := *p.Sticky
			plan.sticky = &s
		}
	}
	for _, s := range p.Shadow {
		r := shadowRule{version: s.Version, rate: s.Percent / 100}
		if s.Percent >= 100 {
			r.always = true
		} else {
			r.threshold = uint64(r.rate * 0x1p64) // rate < 1, so no overflow
		}
		plan.shadows = append(plan.shadows, r)
	}
	plan.challengers = append([]int(nil), p.Challengers...)

	if plan.kind != kindBandit {
		for i, s := range plan.splits {
			role := splitRole(i)
			if plan.kind == kindBlueGreen {
				role = RoleActive
			}
			plan.static = append(plan.static, Share{Version: s.Version, Role: role, Share: float64(s.Weight) / float64(plan.total)})
		}
		if plan.preview > 0 {
			plan.static = append(plan.static, Share{Version: plan.preview, Role: RolePreview})
		}
		if plan.previous > 0 {
			plan.static = append(plan.static, Share{Version: plan.previous, Role: RolePrevious})
		}
		plan.static = plan.appendMirrorShares(plan.static)
	}
	return plan, nil
}

func (p *Plan) setSplits(splits []Split) {
	p.splits = append([]Split(nil), splits...)
	p.cum = make([]uint64, len(splits))
	p.weight = make([]float64, len(splits))
	for i, s := range p.splits {
		p.total += uint64(s.Weight)
		p.cum[i] = p.total
		p.weight[i] = float64(s.Weight)
	}
}

// checkArms makes sure a BanditState plays the arms the policy names.
func checkArms(b BanditState, arms []int) error {
	shares := b.Shares()
	if len(shares) != len(arms) {
		return errors.New("traffic: the BanditState's arms differ from traffic.bandit.arms")
	}
	for _, v := range arms {
		if _, ok := shares[v]; !ok {
			return errors.New("traffic: the BanditState's arms differ from traffic.bandit.arms")
		}
	}
	return nil
}

// Route decides where one request goes. It appends the request's mirrors
// to dst[:0] and allocates nothing when cap(dst) >= MaxMirrors(). It is
// safe for concurrent use.
func (p *Plan) Route(in RouteInput, dst []int) Decision {
	v, role := p.answer(in.Key, in.U)
	mirrors := dst[:0]
	for i, s := range p.shadows {
		// The first shadow uses U2 itself; later ones a mix of U2 and their
		// index, so that two shadows are sampled independently.
		u := in.U2
		if i > 0 {
			u = mix64(in.U2 + uint64(i)*golden)
		}
		if s.always || u < s.threshold {
			mirrors = append(mirrors, s.version)
		}
	}
	mirrors = append(mirrors, p.challengers...)
	return Decision{Version: v, Role: role, Mirrors: mirrors}
}

// answer picks the answering version.
func (p *Plan) answer(key string, u uint64) (int, Role) {
	switch p.kind {
	case kindBlueGreen:
		return p.splits[0].Version, RoleActive
	case kindBandit:
		return p.bandit.Choose(u, mix64(u^golden)), RoleArm
	}
	if len(p.splits) == 1 {
		return p.splits[0].Version, RoleStable
	}
	var i int
	if p.sticky != nil && key != "" {
		i = p.rendezvous(key)
	} else {
		// Lemire's multiply-shift maps u onto [0, total) without division;
		// its bias is below total/2^64.
		x, _ := bits.Mul64(u, p.total)
		for i < len(p.cum)-1 && p.cum[i] <= x {
			i++
		}
	}
	return p.splits[i].Version, splitRole(i)
}

// rendezvous returns the index of the split that key sticks to, by
// weighted rendezvous hashing (Schindelhauer and Schomaker, "Weighted
// distributed hash tables", SPAA 2005): every version v gets the score
// -ln(h(key, v)) / weight_v, with h uniform in (0, 1), and the lowest score
// wins. Each score is an exponential variable with rate weight_v, so v wins
// with probability weight_v / sum(weights). Raising one weight lowers only
// that version's score, so a key can only move to the version whose weight
// grew; keys of versions whose weights are unchanged stay where they are.
// Versions of weight 0 never win.
func (p *Plan) rendezvous(key string) int {
	k := keyHash(key)
	best, bestScore := -1, math.Inf(1)
	for i, s := range p.splits {
		w := p.weight[i]
		if w == 0 {
			continue
		}
		score := -math.Log(unit(versionHash(k, s.Version))) / w
		if score < bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// keyHash is 64-bit FNV-1a of key. The hash and its constants are part of
// Sluice's behaviour: changing them would move every sticky user at once,
// so they are fixed, not seeded, and the same on every node and after every
// restart (TestStickyAssignmentsAreStable pins them).
func keyHash(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return h
}

// versionHash combines a key's hash with a version into a uniform word;
// the SplitMix64 finalizer makes the words of one key's versions look
// independent.
func versionHash(k uint64, version int) uint64 {
	return mix64(k ^ uint64(version)*golden)
}

package traffic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// BanditState is a bandit's learning state: it chooses the arm that answers
// each request and learns from the rewards that feedback brings. Choose is
// on the hot path; every method is safe for concurrent use.
type BanditState interface {
	// Choose returns the version that answers a request, given two
	// uniformly distributed random numbers. It allocates nothing.
	Choose(u1, u2 uint64) int
	// Reward records one request's reward for the version that answered
	// it. Rewards for versions that are not arms, and NaN or infinite
	// rewards, are ignored; binary rewards are clamped to [0, 1].
	Reward(version int, reward float64)
	// Shares returns each arm's current probability of being chosen.
	Shares() map[int]float64
	// Snapshot encodes the state (JSON) for NewBandit to restore.
	Snapshot() ([]byte, error)
}

// banditState implements BanditState for all three algorithms: they learn
// the same statistics and differ only in how they choose.
//
// The statistics are a seqlock: writers (Reward) serialize on mu and make
// seq odd while they update; readers (Choose, Shares) copy the O(arms)
// numbers and retry if seq was odd or moved meanwhile. Readers write no
// shared memory, so Choose scales with cores; every field is an atomic, so
// the race detector agrees.
type banditState struct {
	algo       Algorithm
	continuous bool
	epsilon    float64
	minShare   float64
	arms       []int  // immutable
	floor      uint64 // Choose explores uniformly when u1 < floor (K*minShare of the time)

	mu    sync.Mutex    // serializes writers of seq, stats, lo and hi
	seq   atomic.Uint64 // odd while a writer is updating
	stats []sharedArm   // one per arm, in arms order
	lo    atomicFloat   // smallest reward seen; +Inf before any
	hi    atomicFloat   // largest reward seen; -Inf before any
}

var _ BanditState = (*banditState)(nil)

// atomicFloat is a float64 read and written atomically.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *atomicFloat) store(x float64) { f.bits.Store(math.Float64bits(x)) }

// sharedArm holds an arm's armStats for concurrent readers.
type sharedArm struct{ n, mean, m2 atomicFloat }

func (a *sharedArm) load() armStats { return armStats{a.n.load(), a.mean.load(), a.m2.load()} }

func (a *sharedArm) store(s armStats) { a.n.store(s.n); a.mean.store(s.mean); a.m2.store(s.m2) }

// armStats are an arm's observed rewards, updated by Welford's method:
// n rewards with mean `mean` and sum of squared deviations m2. For binary
// rewards n*mean is the number of successes.
type armStats struct {
	n, mean, m2 float64
}

func (s *armStats) add(x float64) {
	s.n++
	d := x - s.mean
	s.mean += d / s.n
	s.m2 += d * (x - s.mean)
}

// minObs is how many rewards an arm needs before the algorithm can score
// it; arms with fewer are chosen first.
func (b *banditState) minObs() float64 {
	switch {
	case b.algo == Thompson && !b.continuous:
		return 0 // the Beta(1, 1) prior scores an arm with no data
	case b.algo == Thompson:
		return 2 // a sample variance needs two rewards
	default:
		return 1
	}
}

// NewBandit returns a bandit for cfg, restoring snapshot (from Snapshot)
// when it is not empty. Arms in the snapshot that cfg no longer names are
// dropped; arms cfg adds start with no rewards. A snapshot of continuous
// rewards cannot be restored into a binary bandit, nor the reverse.
func NewBandit(cfg Bandit, snapshot []byte) (BanditState, error) {
	var ps problems
	validateBandit(&ps, "traffic.bandit", &cfg)
	if err := errors.Join(ps...); err != nil {
		return nil, err
	}
	b := &banditState{
		algo:       cfg.Algorithm,
		continuous: cfg.reward() == Continuous,
		minShare:   cfg.MinShare,
		arms:       append([]int(nil), cfg.Arms...),
		stats:      make([]sharedArm, len(cfg.Arms)),
	}
	b.lo.store(math.Inf(1))
	b.hi.store(math.Inf(-1))
	if b.algo == EpsilonGreedy {
		b.epsilon = cfg.epsilon()
	}
	if f := cfg.MinShare * float64(len(cfg.Arms)); f > 0 {
		b.floor = uint64(f * 0x1p64) // f < 1 by validation
	}
	if len(snapshot) > 0 {
		if err := b.restore(snapshot, cfg.reward()); err != nil {
			return nil, fmt.Errorf("restoring bandit state: %w", err)
		}
	}
	return b, nil
}

func (b *banditState) index(version int) int {
	for i, v := range b.arms {
		if v == version {
			return i
		}
	}
	return -1
}

// Reward implements BanditState.
func (b *banditState) Reward(version int, reward float64) {
	i := b.index(version)
	if i < 0 || math.IsNaN(reward) || math.IsInf(reward, 0) {
		return
	}
	if !b.continuous {
		reward = min(max(reward, 0), 1)
	}
	b.mu.Lock()
	b.seq.Add(1) // odd: readers retry
	st := b.stats[i].load()
	st.add(reward)
	b.stats[i].store(st)
	b.lo.store(min(b.lo.load(), reward))
	b.hi.store(max(b.hi.load(), reward))
	b.seq.Add(1)
	b.mu.Unlock()
}

// view is a consistent copy of the state that choosing works on. It lives
// on the stack.
type view struct {
	k      int
	stats  [MaxArms]armStats
	total  float64 // rewards over all arms
	lo, hi float64
}

func (b *banditState) view(v *view) {
	v.k = len(b.arms)
	for spins := 0; ; spins++ {
		seq := b.seq.Load()
		if seq&1 == 0 {
			for i := range v.k {
				v.stats[i] = b.stats[i].load()
			}
			v.lo, v.hi = b.lo.load(), b.hi.load()
			if b.seq.Load() == seq {
				break
			}
		}
		if spins > 100 {
			runtime.Gosched() // the writer may have been descheduled mid-update
		}
	}
	v.total = 0
	for i := range v.k {
		v.total += v.stats[i].n
	}
}

// Choose implements BanditState. With probability K*minShare it picks an
// arm uniformly (the exploration floor); otherwise the algorithm picks.
func (b *banditState) Choose(u1, u2 uint64) int {
	r := newRNG(u1, u2)
	if u1 < b.floor {
		return b.arms[r.intn(len(b.arms))]
	}
	var v view
	b.view(&v)
	return b.arms[b.pick(&v, &r)]
}

// pick returns the index of the arm the algorithm plays for one request.
func (b *banditState) pick(v *view, r *rng) int {
	// Arms the algorithm cannot score yet go first, uniformly.
	need := b.minObs()
	unscored := 0
	for i := range v.k {
		if v.stats[i].n < need {
			unscored++
		}
	}
	if unscored > 0 {
		j := r.intn(unscored)
		for i := range v.k {
			if v.stats[i].n < need {
				if j == 0 {
					return i
				}
				j--
			}
		}
	}
	if b.algo == EpsilonGreedy && r.float() < b.epsilon {
		return r.intn(v.k)
	}
	// Ties are broken at random by starting the scan at a random arm.
	start := r.intn(v.k)
	best, bestScore := start, math.Inf(-1)
	for n := range v.k {
		i := (start + n) % v.k
		if s := b.score(v, i, r); s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// score is arm i's value to the algorithm for one request.
func (b *banditState) score(v *view, i int, r *rng) float64 {
	s := v.stats[i]
	switch b.algo {
	case Thompson:
		if !b.continuous {
			// Posterior of a success rate under a uniform prior.
			succ := s.n * s.mean
			return r.beta(1+succ, 1+max(s.n-succ, 0))
		}
		// Posterior of a mean under the non-informative Normal-Gamma
		// prior: x̄ + t(n-1) * sqrt(s²/n), s² the sample variance.
		return s.mean + r.studentT(s.n-1)*math.Sqrt(s.m2/(s.n-1)/s.n)
	case UCB1:
		return v.scaled(s.mean, b.continuous) + math.Sqrt(2*math.Log(v.total)/s.n)
	default: // EpsilonGreedy
		return s.mean
	}
}

// scaled maps a mean reward to [0, 1] for UCB1: binary rewards already are;
// continuous ones are scaled by the running minimum and maximum of every
// reward seen (0.5 while they are equal).
func (v *view) scaled(mean float64, continuous bool) float64 {
	if !continuous {
		return mean
	}
	if !(v.hi > v.lo) {
		return 0.5
	}
	return (mean - v.lo) / (v.hi - v.lo)
}

// sharesDraws is how many simulated requests estimate Thompson's shares.
const sharesDraws = 4000

// Shares implements BanditState. UCB1's and epsilon-greedy's are exact;
// Thompson's are estimated from sharesDraws simulated choices with a fixed
// seed, so equal states give equal shares.
func (b *banditState) Shares() map[int]float64 {
	var v view
	b.view(&v)
	k := float64(v.k)
	p := make([]float64, v.k) // the algorithm's own choice probabilities
	need := b.minObs()
	unscored := 0
	for i := range v.k {
		if v.stats[i].n < need {
			unscored++
		}
	}
	switch {
	case unscored > 0:
		for i := range v.k {
			if v.stats[i].n < need {
				p[i] = 1 / float64(unscored)
			}
		}
	case b.algo == Thompson:
		r := newRNG(1, 2)
		for range sharesDraws {
			p[b.pick(&v, &r)] += 1.0 / sharesDraws
		}
	default:
		// Deterministic argmax, ties shared; epsilon-greedy adds epsilon/K.
		var r rng // unused by UCB1's and epsilon-greedy's scores
		best := math.Inf(-1)
		var winners []int
		for i := range v.k {
			s := b.score(&v, i, &r)
			switch {
			case s > best:
				best, winners = s, append(winners[:0], i)
			case s == best:
				winners = append(winners, i)
			}
		}
		greedy := 1 - b.epsilon
		for _, i := range winners {
			p[i] += greedy / float64(len(winners))
		}
		for i := range v.k {
			p[i] += b.epsilon / k
		}
	}
	out := make(map[int]float64, v.k)
	explore := b.minShare * k
	for i, a := range b.arms {
		out[a] = b.minShare + (1-explore)*p[i]
	}
	return out
}

// snapshotFormat is the version of the snapshot encoding.
const snapshotFormat = 1

type banditSnapshot struct {
	// Format is snapshotFormat.
	Format int `json:"format"`
	// Reward is the reward kind the statistics hold.
	Reward RewardKind `json:"reward"`
	// Arms are each arm's statistics.
	Arms []armSnapshot `json:"arms"`
	// Min and Max are the smallest and largest rewards seen; absent before any.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

type armSnapshot struct {
	Version int     `json:"version"`
	N       float64 `json:"n"`
	Mean    float64 `json:"mean"`
	M2      float64 `json:"m2"`
}

// Snapshot implements BanditState. The encoding round-trips floats
// exactly, so a restored bandit continues bit for bit.
func (b *banditState) Snapshot() ([]byte, error) {
	s := banditSnapshot{Format: snapshotFormat, Reward: Binary, Arms: make([]armSnapshot, len(b.arms))}
	if b.continuous {
		s.Reward = Continuous
	}
	b.mu.Lock() // no writer: the numbers are consistent
	for i, a := range b.arms {
		st := b.stats[i].load()
		s.Arms[i] = armSnapshot{Version: a, N: st.n, Mean: st.mean, M2: st.m2}
	}
	if lo, hi := b.lo.load(), b.hi.load(); hi >= lo {
		s.Min, s.Max = &lo, &hi
	}
	b.mu.Unlock()
	return json.Marshal(s)
}

func (b *banditState) restore(data []byte, kind RewardKind) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s banditSnapshot
	if err := dec.Decode(&s); err != nil {
		return err
	}
	if s.Format != snapshotFormat {
		return fmt.Errorf("format %d, want %d", s.Format, snapshotFormat)
	}
	if s.Reward != kind {
		return fmt.Errorf("the snapshot holds %s rewards, the bandit takes %s ones", s.Reward, kind)
	}
	if (s.Min == nil) != (s.Max == nil) || s.Min != nil && !(*s.Min <= *s.Max) {
		return errors.New("min and max: give both, min <= max, or neither")
	}
	seen := make(map[int]bool, len(s.Arms))
	for i, a := range s.Arms {
		if seen[a.Version] {
			return fmt.Errorf("arms[%d]: version %d appears twice", i, a.Version)
		}
		seen[a.Version] = true
		if err := a.check(kind); err != nil {
			return fmt.Errorf("arms[%d]: %w", i, err)
		}
		if j := b.index(a.Version); j >= 0 {
			b.stats[j].store(armStats{n: a.N, mean: a.Mean, m2: a.M2})
		}
	}
	if s.Min != nil {
		b.lo.store(*s.Min)
		b.hi.store(*s.Max)
	}
	return nil
}

func (a armSnapshot) check(kind RewardKind) error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case !finite(a.N) || a.N < 0 || a.N != math.Trunc(a.N):
		return fmt.Errorf("n: must be a whole number >= 0, got %g", a.N)
	case !finite(a.Mean) || kind == Binary && (a.Mean < 0 || a.Mean > 1):
		return fmt.Errorf("mean: out of range: %g", a.Mean)
	case !finite(a.M2) || a.M2 < 0:
		return fmt.Errorf("m2: must be >= 0, got %g", a.M2)
	case a.N == 0 && (a.Mean != 0 || a.M2 != 0):
		return errors.New("an arm without rewards has mean and m2 0")
	}
	return nil
}

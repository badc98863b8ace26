package traffic

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// simulation is the outcome of serving n requests from a bandit whose arms
// (versions 1..K) pay known mean rewards.
type simulation struct {
	counts []int   // requests per arm
	tail   float64 // share of the last 20% of requests the best arm answered
	regret float64 // sum over requests of (best mean - chosen arm's mean)
	state  BanditState
}

// simulate serves n requests: binary rewards are Bernoulli(means[i]),
// continuous ones Normal(means[i], sd). Feedback arrives at once.
func simulate(t testing.TB, cfg Bandit, means []float64, sd float64, n int, seed uint64) simulation {
	t.Helper()
	b, err := NewBandit(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return continueSimulation(b, cfg, means, sd, n, seed)
}

func continueSimulation(b BanditState, cfg Bandit, means []float64, sd float64, n int, seed uint64) simulation {
	req := rand.New(rand.NewPCG(seed, 1))
	env := rand.New(rand.NewPCG(seed, 2))
	best, bestArm := math.Inf(-1), 0
	for i, m := range means {
		if m > best {
			best, bestArm = m, i
		}
	}
	s := simulation{counts: make([]int, len(means)), state: b}
	tailBest := 0
	for i := range n {
		v := b.Choose(req.Uint64(), req.Uint64())
		a := v - 1
		s.counts[a]++
		s.regret += best - means[a]
		if i >= n-n/5 && a == bestArm {
			tailBest++
		}
		var r float64
		switch {
		case cfg.Reward == Continuous:
			r = means[a] + sd*env.NormFloat64()
		case env.Float64() < means[a]:
			r = 1
		}
		b.Reward(v, r)
	}
	s.tail = float64(tailBest) / float64(n/5)
	return s
}

// The simulated environments: binary conversion rates, and continuous
// rewards (say revenue per request) with these means and sd 0.5.
var (
	binaryMeans     = []float64{0.05, 0.10, 0.15}
	continuousMeans = []float64{1.0, 1.5, 2.0}
)

const continuousSD = 0.5

// TestBanditLearns runs every algorithm against known rewards for
// n = 50,000 requests, five seeds each, and asserts that
//
//   - in every run the best arm answers more than 80% of the last 20% of
//     requests;
//   - the regret, averaged over the five runs, stays under:
//     Thompson sampling: 10·ln n (≈108; Lai and Robbins' asymptotic lower
//     bound for these binary arms is Σ Δ_i/KL(μ_i, μ*)·ln n ≈ 6.6·ln n);
//     UCB1: Auer, Cesa-Bianchi and Fischer's (2002, Theorem 1) bound
//     Σ (8·ln n/Δ_i + (1+π²/3)·Δ_i) for rewards in [0, 1] — for continuous
//     rewards scaled by the observed range R, Σ (8·R²·ln n/Δ_i + (1+π²/3)·Δ_i);
//     epsilon-greedy: its exploration cost ε·n·ΣΔ_i/K plus 30·ln n.
func TestBanditLearns(t *testing.T) {
	const n = 50000
	lnN := math.Log(n)
	for _, algo := range []Algorithm{Thompson, UCB1, EpsilonGreedy} {
		for _, kind := range []RewardKind{Binary, Continuous} {
			t.Run(fmt.Sprintf("%s/%s", algo, kind), func(t *testing.T) {
				means, sd := binaryMeans, 0.0
				if kind == Continuous {
					means, sd = continuousMeans, continuousSD
				}
				cfg := Bandit{Algorithm: algo, Arms: []int{1, 2, 3}, Reward: kind}
				var regrets []float64
				var mean, bound float64
				for seed := uint64(1); seed <= 5; seed++ {
					s := simulate(t, cfg, means, sd, n, seed)
					if s.tail <= 0.8 {
						t.Errorf("seed %d: the best arm answered %.1f%% of the last 20%% of requests, want > 80%% (counts %v)", seed, 100*s.tail, s.counts)
					}
					regrets = append(regrets, math.Round(s.regret))
					mean += s.regret / 5
					if b := regretBound(t, algo, cfg, means, s.state, n); b > bound {
						bound = b
					}
				}
				t.Logf("regret %v, mean %.1f = %.1f·ln n, bound %.0f", regrets, mean, mean/lnN, bound)
				if mean > bound {
					t.Errorf("mean regret %.1f over %d requests, want < %.1f", mean, n, bound)
				}
			})
		}
	}
}

func regretBound(t *testing.T, algo Algorithm, cfg Bandit, means []float64, state BanditState, n int) float64 {
	lnN := math.Log(float64(n))
	best := slicesMax(means)
	var gaps float64
	for _, m := range means {
		gaps += best - m
	}
	switch algo {
	case Thompson:
		return 10 * lnN
	case EpsilonGreedy:
		return cfg.epsilon()*float64(n)*gaps/float64(len(means)) + 30*lnN
	}
	r := 1.0
	if cfg.Reward == Continuous {
		var snap banditSnapshot
		data, err := state.Snapshot()
		if err != nil || json.Unmarshal(data, &snap) != nil || snap.Min == nil {
			t.Fatalf("reading the reward range from the snapshot: %v", err)
		}
		r = *snap.Max - *snap.Min
	}
	var bound float64
	for _, m := range means {
		if d := best - m; d > 0 {
			bound += 8*r*r*lnN/d + (1+math.Pi*math.Pi/3)*d
		}
	}
	return bound
}

func slicesMax(xs []float64) float64 {
	m := math.Inf(-1)
	for _, x := range xs {
		m = math.Max(m, x)
	}
	return m
}

// TestBanditMinShare checks the exploration floor: each arm answers at
// least minShare of requests (at the 99.9% level, a one-sided binomial
// bound of 3.09 standard deviations) even when it is clearly the worst, and
// Shares never reports less.
func TestBanditMinShare(t *testing.T) {
	const n, minShare = 20000, 0.05
	for _, algo := range []Algorithm{Thompson, UCB1, EpsilonGreedy} {
		for _, kind := range []RewardKind{Binary, Continuous} {
			t.Run(fmt.Sprintf("%s/%s", algo, kind), func(t *testing.T) {
				means, sd := binaryMeans, 0.0
				if kind == Continuous {
					means, sd = continuousMeans, continuousSD
				}
				cfg := Bandit{Algorithm: algo, Arms: []int{1, 2, 3}, Reward: kind, MinShare: minShare}
				s := simulate(t, cfg, means, sd, n, 42)
				floor := n*minShare - 3.09*math.Sqrt(n*minShare*(1-minShare))
				for i, c := range s.counts {
					if float64(c) < floor {
						t.Errorf("arm %d answered %d of %d requests, want at least %.0f", i+1, c, n, floor)
					}
				}
				var sum float64
				for v, share := range s.state.Shares() {
					sum += share
					if share < minShare-1e-12 {
						t.Errorf("Shares()[%d] = %.4f, want >= %g", v, share, minShare)
					}
				}
				if math.Abs(sum-1) > 1e-9 {
					t.Errorf("Shares() sum to %.12f, want 1", sum)
				}
				t.Logf("counts %v, shares %v", s.counts, s.state.Shares())
			})
		}
	}
}

// TestBanditShares checks Shares against what Choose does.
func TestBanditShares(t *testing.T) {
	const n = 20000
	for _, algo := range []Algorithm{Thompson, UCB1, EpsilonGreedy} {
		t.Run(string(algo), func(t *testing.T) {
			cfg := Bandit{Algorithm: algo, Arms: []int{1, 2, 3}, MinShare: 0.02}
			// Arms that are close, so Thompson's shares are not all on one.
			s := simulate(t, cfg, []float64{0.10, 0.11, 0.12}, 0, 600, 5)
			shares := s.state.Shares()
			r := rand.New(rand.NewPCG(6, 7))
			counts := make([]int, 3)
			for range n {
				counts[s.state.Choose(r.Uint64(), r.Uint64())-1]++
			}
			probs := []float64{shares[1], shares[2], shares[3]}
			if algo == Thompson {
				// Shares is itself an estimate from 4,000 draws: allow for both errors.
				for i, c := range counts {
					if d := math.Abs(float64(c)/n - probs[i]); d > 0.03 {
						t.Errorf("arm %d: chosen %.4f of the time, Shares says %.4f", i+1, float64(c)/n, probs[i])
					}
				}
				return
			}
			checkChiSquare(t, "Shares vs Choose", counts, probs)
		})
	}
}

func TestBanditUnscoredArmsFirst(t *testing.T) {
	b, err := NewBandit(Bandit{Algorithm: UCB1, Arms: []int{1, 2, 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Reward(1, 1)
	b.Reward(3, 1)
	for u := uint64(0); u < 100; u++ {
		if v := b.Choose(u*golden, u); v != 2 {
			t.Fatalf("Choose = %d, want 2, the arm without rewards", v)
		}
	}
	if diff := cmp.Diff(map[int]float64{1: 0, 2: 1, 3: 0}, b.Shares()); diff != "" {
		t.Errorf("Shares() (-want +got):\n%s", diff)
	}
}

func TestBanditRewardEdgeCases(t *testing.T) {
	b, err := NewBandit(Bandit{Algorithm: EpsilonGreedy, Arms: []int{1, 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Reward(1, math.NaN())
	b.Reward(1, math.Inf(1))
	b.Reward(9, 1)  // not an arm
	b.Reward(2, 5)  // binary: counts as 1
	b.Reward(2, -3) // binary: counts as 0
	got := snapshotOf(t, b)
	want := banditSnapshot{Format: 1, Reward: Binary, Arms: []armSnapshot{{Version: 1}, {Version: 2, N: 2, Mean: 0.5, M2: 0.5}}}
	if diff := cmp.Diff(want.Arms, got.Arms); diff != "" {
		t.Errorf("arms after odd rewards (-want +got):\n%s", diff)
	}
}

func snapshotOf(t *testing.T, b BanditState) banditSnapshot {
	t.Helper()
	data, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s banditSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBanditSnapshotRoundTrip restores a bandit mid-run and checks that it
// continues exactly as the original does.
func TestBanditSnapshotRoundTrip(t *testing.T) {
	for _, algo := range []Algorithm{Thompson, UCB1, EpsilonGreedy} {
		for _, kind := range []RewardKind{Binary, Continuous} {
			t.Run(fmt.Sprintf("%s/%s", algo, kind), func(t *testing.T) {
				means, sd := binaryMeans, 0.0
				if kind == Continuous {
					means, sd = continuousMeans, continuousSD
				}
				cfg := Bandit{Algorithm: algo, Arms: []int{1, 2, 3}, Reward: kind, MinShare: 0.01}
				orig := simulate(t, cfg, means, sd, 3000, 8).state
				data, err := orig.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				restored, err := NewBandit(cfg, data)
				if err != nil {
					t.Fatalf("NewBandit(snapshot): %v", err)
				}
				again, err := restored.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if string(again) != string(data) {
					t.Fatalf("snapshot of the restored bandit differs:\n%s\n%s", data, again)
				}
				if diff := cmp.Diff(orig.Shares(), restored.Shares()); diff != "" {
					t.Errorf("Shares() after restore (-orig +restored):\n%s", diff)
				}
				a := continueSimulation(orig, cfg, means, sd, 2000, 9)
				b := continueSimulation(restored, cfg, means, sd, 2000, 9)
				if diff := cmp.Diff(a.counts, b.counts); diff != "" {
					t.Errorf("choices after restore (-orig +restored):\n%s", diff)
				}
				da, _ := orig.Snapshot()
				db, _ := restored.Snapshot()
				if string(da) != string(db) {
					t.Errorf("states diverged after restore:\n%s\n%s", da, db)
				}
			})
		}
	}
}

func TestBanditRestoreChangedArms(t *testing.T) {
	old, _ := NewBandit(Bandit{Algorithm: Thompson, Arms: []int{1, 2, 3}}, nil)
	old.Reward(1, 1)
	old.Reward(2, 0)
	old.Reward(2, 1)
	data, _ := old.Snapshot()
	b, err := NewBandit(Bandit{Algorithm: UCB1, Arms: []int{2, 4}}, data)
	if err != nil {
		t.Fatal(err)
	}
	want := []armSnapshot{{Version: 2, N: 2, Mean: 0.5, M2: 0.5}, {Version: 4}}
	if diff := cmp.Diff(want, snapshotOf(t, b).Arms); diff != "" {
		t.Errorf("arms after restoring into [2 4] (-want +got):\n%s", diff)
	}
}

func TestBanditRestoreErrors(t *testing.T) {
	cfg := Bandit{Algorithm: Thompson, Arms: []int{1, 2}}
	tests := []struct {
		name, snapshot, want string
	}{
		{"not JSON", `{`, "unexpected EOF"},
		{"unknown field", `{"format":1,"reward":"binary","arms":[],"pulls":3}`, `json: unknown field "pulls"`},
		{"format", `{"format":2,"reward":"binary","arms":[]}`, "format 2, want 1"},
		{"reward kind", `{"format":1,"reward":"continuous","arms":[]}`, "the snapshot holds continuous rewards, the bandit takes binary ones"},
		{"duplicate arm", `{"format":1,"reward":"binary","arms":[{"version":1,"n":0,"mean":0,"m2":0},{"version":1,"n":0,"mean":0,"m2":0}]}`, "arms[1]: version 1 appears twice"},
		{"negative n", `{"format":1,"reward":"binary","arms":[{"version":1,"n":-1,"mean":0,"m2":0}]}`, "arms[0]: n: must be a whole number >= 0, got -1"},
		{"fractional n", `{"format":1,"reward":"binary","arms":[{"version":1,"n":1.5,"mean":0,"m2":0}]}`, "arms[0]: n: must be a whole number >= 0, got 1.5"},
		{"binary mean", `{"format":1,"reward":"binary","arms":[{"version":1,"n":3,"mean":1.5,"m2":0}]}`, "arms[0]: mean: out of range: 1.5"},
		{"negative m2", `{"format":1,"reward":"binary","arms":[{"version":1,"n":3,"mean":0.5,"m2":-1}]}`, "arms[0]: m2: must be >= 0, got -1"},
		{"empty arm with data", `{"format":1,"reward":"binary","arms":[{"version":1,"n":0,"mean":0.5,"m2":0}]}`, "arms[0]: an arm without rewards has mean and m2 0"},
		{"min without max", `{"format":1,"reward":"binary","arms":[],"min":0}`, "min and max: give both, min <= max, or neither"},
		{"min above max", `{"format":1,"reward":"binary","arms":[],"min":2,"max":1}`, "min and max: give both, min <= max, or neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBandit(cfg, []byte(tt.snapshot))
			want := "restoring bandit state: " + tt.want
			if err == nil || err.Error() != want {
				t.Errorf("NewBandit(%s) error = %v, want %s", tt.snapshot, err, want)
			}
		})
	}
	_, err := NewBandit(Bandit{Algorithm: "greedy", Arms: []int{1, 2}}, nil)
	if want := `traffic.bandit.algorithm: must be thompson, ucb1 or epsilon-greedy; got "greedy"`; err == nil || err.Error() != want {
		t.Errorf("NewBandit(bad config) error = %v, want %s", err, want)
	}
}

// TestBanditConcurrent has many goroutines choose and reward at once; run
// it with -race.
func TestBanditConcurrent(t *testing.T) {
	const workers, each = 4, 2000
	for _, algo := range []Algorithm{Thompson, UCB1, EpsilonGreedy} {
		b, err := NewBandit(Bandit{Algorithm: algo, Arms: []int{1, 2, 3}, Reward: Continuous, MinShare: 0.1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(w), 3))
				for range each {
					v := b.Choose(r.Uint64(), r.Uint64())
					if v < 1 || v > 3 {
						t.Errorf("Choose = %d, not an arm", v)
						return
					}
					b.Reward(v, float64(v)+r.NormFloat64())
					if r.IntN(100) == 0 {
						_ = b.Shares()
						_, _ = b.Snapshot()
					}
				}
			})
		}
		wg.Wait()
		var total float64
		for _, a := range snapshotOf(t, b).Arms {
			total += a.N
		}
		if total != workers*each {
			t.Errorf("%s: %v rewards recorded, want %d", algo, total, workers*each)
		}
	}
}

func BenchmarkBanditChoose(b *testing.B) {
	for _, algo := range []Algorithm{Thompson, UCB1, EpsilonGreedy} {
		for _, kind := range []RewardKind{Binary, Continuous} {
			b.Run(fmt.Sprintf("%s/%s", algo, kind), func(b *testing.B) {
				means, sd := binaryMeans, 0.0
				if kind == Continuous {
					means, sd = continuousMeans, continuousSD
				}
				cfg := Bandit{Algorithm: algo, Arms: []int{1, 2, 3}, Reward: kind, MinShare: 0.05}
				s := simulate(b, cfg, means, sd, 1000, 1)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					u := rand.Uint64()
					for pb.Next() {
						u += golden
						_ = s.state.Choose(u, mix64(u))
					}
				})
			})
		}
	}
}

func BenchmarkBanditReward(b *testing.B) {
	state, _ := NewBandit(Bandit{Algorithm: Thompson, Arms: []int{1, 2, 3}}, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			state.Reward(1+i%3, float64(i&1))
		}
	})
}

// FuzzNewBandit feeds arbitrary snapshots to NewBandit: it must never
// panic, and a bandit it accepts must choose arms.
func FuzzNewBandit(f *testing.F) {
	f.Add(`{"format":1,"reward":"binary","arms":[{"version":1,"n":3,"mean":0.5,"m2":0.75}]}`)
	f.Add(`{"format":1,"reward":"continuous","arms":[{"version":2,"n":2,"mean":-4,"m2":1}],"min":-5,"max":-3}`)
	f.Add(`{"format":1,"reward":"binary","arms":[{"version":1,"n":1e308,"mean":1,"m2":1e308}]}`)
	f.Fuzz(func(t *testing.T, snapshot string) {
		for _, kind := range []RewardKind{Binary, Continuous} {
			for _, algo := range []Algorithm{Thompson, UCB1, EpsilonGreedy} {
				b, err := NewBandit(Bandit{Algorithm: algo, Arms: []int{1, 2}, Reward: kind}, []byte(snapshot))
				if err != nil {
					if !strings.HasPrefix(err.Error(), "restoring bandit state: ") {
						t.Fatalf("error %q lacks context", err)
					}
					continue
				}
				for u := uint64(0); u < 4; u++ {
					if v := b.Choose(u*golden, u); v != 1 && v != 2 {
						t.Fatalf("Choose = %d, not an arm", v)
					}
				}
				_ = b.Shares()
			}
		}
	})
}
